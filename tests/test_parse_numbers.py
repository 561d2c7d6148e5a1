"""Every parser in netwarden/platform/parse (Linux, macOS, Windows; found by walking the package, so
a new one is included) on numbers it cannot trust: each number of every real capture (and of the
Linux files written here, which have no capture) made huge (5,000 digits: past int()'s 4,300), a
few digits too long, localized (Arabic-Indic, fullwidth), a superscript (`²`: str.isdigit() says
yes, int() says no), negative, non-finite. A parser returns what it could read; it never raises.
Then the Linux derivations on top of the parsers (linux_facts: keepalive, conntrack, port range):
a value out of the kernel's range is unknown, with the reason."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import time

import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

import netwarden.platform.parse as parse_package

HUGE = "9" * 5000  # int() refuses more than 4,300 digits (ValueError)
NUMBER_CLASSES = {
    "huge": lambda digits: HUGE,
    "too long": lambda digits: digits + "0" * 20,
    "arabic-indic": lambda digits: digits.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
    "fullwidth": lambda digits: digits.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    "superscript": lambda digits: digits[:-1] + "²",
    "negative": lambda digits: "-" + digits,
    "not finite": lambda digits: "nan",
    "overflowing float": lambda digits: "1e999",
}
# Linux files netwarden parses that the shared fixtures have no capture of: constructed from the
# kernel's formats (net/ipv4/fib_trie.c, net/ipv6/route.c, addrconf.c, proc.c; resolv.conf(5)).
LINUX_SAMPLES = {
    "proc-net-route": "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                      "eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                      "eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n",
    "proc-net-ipv6_route": "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 "
                           "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
                           "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                           "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n",
    "proc-net-if_inet6": "20010db8000000000000000000000002 02 40 00 80 eth0\n"
                         "fe800000000000000000000000000002 02 40 20 80 eth0\n",
    "proc-net-sockstat": "sockets: used 150\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\nUDP: inuse 1 mem 0\n",
    "resolv-conf": "nameserver 198.18.0.2\nnameserver 2001:db8::53\noptions timeout:2 attempts:3 ndots:1\n",
    "gai-conf": "precedence ::1/128 50\nprecedence ::ffff:0:0/96 100\nlabel ::1/128 0\n",
    "sysctl-conf": "net.ipv4.ip_local_port_range = 32768 60999\nnet.ipv4.tcp_retries2 = 8\n",
    "reg-query": "\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\n"
                 "    KeepAliveTime    REG_DWORD    0x6ddd00\n    TcpTimedWaitDelay    REG_DWORD    30\n",
}
# What the parsers' other required arguments are given (a parser with one not named here fails
# test_every_parser_is_exercised: add it).
OTHER_ARGUMENTS = {"path": "/etc/x.conf", "symlink_target": None, "live": ["198.18.0.2"], "dead": ["198.18.0.3"],
                   "fallback": [], "family": 4, "b": "1 2", "arphrd": None, "tun_flags": None, "exit_code": 0}


def text_parsers() -> list:
    """Every public function of netwarden.platform.parse.* whose first argument is text."""
    found = []
    for info in pkgutil.walk_packages(parse_package.__path__, parse_package.__name__ + "."):
        module = importlib.import_module(info.name)
        for name, fn in sorted(vars(module).items()):
            if not inspect.isfunction(fn) or fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            params = list(inspect.signature(fn).parameters.values())
            if params and params[0].annotation in ("str", "str | None"):
                found.append(fn)
    return found


PARSERS = text_parsers()


def call(parser, text: str):
    params = list(inspect.signature(parser).parameters.values())[1:]
    return parser(text, **{p.name: OTHER_ARGUMENTS[p.name] for p in params if p.default is p.empty})


def samples() -> dict[str, str]:
    texts = dict(LINUX_SAMPLES)
    for path in sorted(FIXTURES.glob("*/*.txt")):
        texts[f"{path.parent.name}/{path.name}"] = path.read_text(encoding="utf-8")
    return texts


SAMPLES = samples()


def test_every_parser_is_exercised():
    assert len(PARSERS) >= 60, [p.__qualname__ for p in PARSERS]
    for parser in PARSERS:
        params = list(inspect.signature(parser).parameters.values())[1:]
        missing = [p.name for p in params if p.default is p.empty and p.name not in OTHER_ARGUMENTS]
        assert not missing, f"{parser.__module__}.{parser.__name__}: give {missing} in OTHER_ARGUMENTS"
    assert len(SAMPLES) > len(LINUX_SAMPLES), f"no shared fixtures at {FIXTURES}"


@pytest.mark.parametrize("number_class", NUMBER_CLASSES)
@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: f"{p.__module__.rsplit('parse.', 1)[1]}.{p.__name__}")
def test_every_number_of_every_sample_made_odd(parser, number_class):
    """Each ASCII digit run of each sample replaced by its odd form (and, for the hex fields of
    /proc/net, each long hex run): the parser returns, quickly, whatever it could read. (The
    first 200 of each sample's numbers: the largest captures would grow to megabytes.)"""
    odd = NUMBER_CLASSES[number_class]
    start = time.monotonic()
    for name, text in SAMPLES.items():
        for mutated in {re.sub(r"[0-9]+", lambda m: odd(m.group()), text, count=200),
                        re.sub(r"\b[0-9A-Fa-f]{8,}\b", lambda m: odd("F" * 8 if number_class == "huge" else "12345678"),
                               text, count=200)}:
            try:
                call(parser, mutated)
            except Exception as e:  # noqa: BLE001 - the assertion names it
                pytest.fail(f"{parser.__name__} raised {e!r:.200} on {name} with {number_class} numbers")
    assert time.monotonic() - start < 20, "a parser spends seconds on long numbers"


TOKENS = ["0", "1", "65535", "65536", "4294967296", HUGE, "F" * 5000, "-1", "٣٠", "３０", "²", "nan", "inf", "1e999",
          "0x10", "0x" + "f" * 40, ":", ".", "/", "-", ",", "=", " ", "\t", "\n", "\r\n", "eth0", "TCP:", "tw",
          "inuse", "precedence", "options", "timeout:", "nameserver", "default", "::1/", "198.18.0.2", "fe80::1%",
          "REG_DWORD", "mtu", "prefixlen", "Metric", "Interface List", "Active Routes:"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_text_made_of_numbers_and_the_samples_words_never_raises(tokens):
    text = "".join(tokens)
    for parser in PARSERS:
        call(parser, text)


# ---- the Linux derivations on top of the parsers ------------------------------------------------

@pytest.fixture
def within_a_second():
    """A hang (a loop of 10**20 steps) fails the test instead of the suite."""
    import signal

    def hung(*_):
        raise TimeoutError("still running after 1 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def derived(**sysctls: str):
    from netwarden.config import Settings
    from netwarden.model import Facts
    from netwarden.platform import linux_facts
    from factories import LINUX

    facts = Facts(platform=LINUX, sysctls=sysctls)
    linux_facts.derive(facts, ("port_range", "keepalive", "conntrack"), Settings())
    return facts


KEEPALIVE = {"net.ipv4.tcp_keepalive_time": "7200", "net.ipv4.tcp_keepalive_intvl": "75",
             "net.ipv4.tcp_keepalive_probes": "9", "net.ipv4.tcp_retries2": "15"}
CONNTRACK = {"net.netfilter.nf_conntrack_count": "10", "net.netfilter.nf_conntrack_max": "262144"}
PORTS = {"net.ipv4.ip_local_port_range": "32768\t60999", "net.ipv4.ip_local_reserved_ports": "40000,50000-50010"}
ODD_VALUES = [HUGE, "99999999999999999999", "4294967296", "-1", "٣", "２", "²", "nan", "1e999", "", " ", "7 8",
              "0x10"]


@pytest.mark.parametrize("key", sorted({**KEEPALIVE, **CONNTRACK, **PORTS}))
@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: v if len(v) < 12 else f"{len(v)} digits")
def test_a_linux_value_the_kernel_would_not_hold_is_unknown_with_the_reason(key, value, within_a_second):
    """A hand-edited bundle (or a kernel bug): the fact it feeds is Unknown naming the key, never a
    crash (exit 70) nor a hang (tcp_retries2 = 99999999999999999999 spun in retries_timeout)."""
    from netwarden.model import Unknown

    facts = derived(**{**KEEPALIVE, **CONNTRACK, **PORTS, key: value})
    fact = facts.keepalive if key in KEEPALIVE else facts.conntrack if key in CONNTRACK else facts.port_range
    if key == "net.ipv4.ip_local_reserved_ports":  # items it cannot read reserve nothing
        assert not isinstance(fact, Unknown) and fact.usable == 28232, fact
        return
    if (key, value) == ("net.ipv4.ip_local_port_range", "7 8"):  # two ports: odd, but the kernel's to hold
        assert fact.usable == 2
        return
    assert isinstance(fact, Unknown) and key in fact.reason, (key, value, fact)


def test_the_kernel_s_own_values_are_read_and_its_limits_kept():
    from netwarden.model import Conntrack, Keepalive, PortRange, Unknown

    facts = derived(**{**KEEPALIVE, **CONNTRACK, **PORTS, "net.ipv4.tcp_retries2": "255",
                       "net.ipv4.tcp_keepalive_probes": "255", "net.netfilter.nf_conntrack_max": "4294967295"})
    assert isinstance(facts.keepalive, Keepalive) and facts.keepalive.retries == facts.keepalive.probes == 255
    assert isinstance(facts.conntrack, Conntrack) and facts.conntrack.max == 4294967295
    assert isinstance(facts.port_range, PortRange) and facts.port_range.usable == 28232 - 12
    for key in ("net.ipv4.tcp_retries2", "net.ipv4.tcp_keepalive_probes"):  # u8 in the kernel
        keepalive = derived(**{**KEEPALIVE, key: "256"}).keepalive
        assert isinstance(keepalive, Unknown) and f"{key} = '256'" in keepalive.reason, keepalive


def test_retries_timeout_is_the_doubling_rto_capped_and_takes_no_time_at_any_count(within_a_second):
    from netwarden.checks.keepalive import retries_timeout

    def by_steps(retries: int) -> float:  # the definition, one retransmission at a time
        total, rto = 0.0, 0.2
        for _ in range(retries + 1):
            total += rto
            rto = min(rto * 2, 120.0)
        return total

    assert round(retries_timeout(15), 1) == 924.6 and round(retries_timeout(8), 1) == 102.2
    for retries in range(300):
        assert retries_timeout(retries) == pytest.approx(by_steps(retries), rel=1e-12), retries
    assert retries_timeout(10**20) == pytest.approx(120.0 * 10**20, rel=1e-6)


@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: v if len(v) < 12 else f"{len(v)} digits")
def test_a_resolver_option_that_is_not_a_number_keeps_glibc_s_default_and_a_large_one_its_cap(value):
    from netwarden.model import Resolvers
    from netwarden.platform import linux_facts
    from netwarden.platform.parse.resolv_conf import parse_resolv_conf

    from factories import LINUX
    from netwarden.config import Settings
    from netwarden.model import Facts

    text = f"nameserver 198.18.0.2\noptions timeout:{value} attempts:{value}\n"
    facts = Facts(platform=LINUX, resolv=parse_resolv_conf(text, "/etc/resolv.conf"))
    resolvers = linux_facts.resolvers(facts, Settings())
    expected = {"99999999999999999999": (30, 5), "4294967296": (30, 5),  # glibc's caps (RES_MAXRETRANS, RES_MAXRETRY)
                "7 8": (7, 5)}.get(value, (5, 2))  # "timeout:7", then "8": a word that is no option
    assert isinstance(resolvers, Resolvers) and (resolvers.timeout, resolvers.attempts) == expected, resolvers
