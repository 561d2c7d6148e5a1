"""Every macOS text parser on odd input: arbitrary text, the real fixtures cut at random and with
lines dropped, and the input classes (empty, CRLF, huge, non-finite numbers, localized, NUL bytes).
A parser returns its declared type and never raises; the typed helpers on top of a parse too."""

import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_parse_darwin_fixtures import PARSERS, macos_files, parser_for

from netwarden.platform.parse.darwin import ifconfig, lsof, netstat, networksetup, routes, scutil, sysctl, uptime
from netwarden.platform.parse.darwin.utun import classify_utun

EVERY_PARSER = sorted(set(PARSERS.values()) | {sysctl.parse_boottime}, key=lambda f: f.__qualname__)


def exercise(parser, text: str) -> None:
    """Run `parser` and what the backend builds on its result; fail on an exception or a wrong type."""
    result = parser(text)
    if parser is sysctl.parse_sysctl:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())
        for which in ("", "hi", "low"):
            sysctl.port_range(result, which)
        settings_read = sysctl.tcp_settings(result)
        boot = sysctl.parse_boottime(result.get("kern.boottime", ""))
        sysctl.tcp_clock_wrap_epoch(boot, settings_read.now_init)
        settings_read.time_wait_seconds
    elif parser is ifconfig.parse_ifconfig:
        for interface in result:
            assert isinstance(interface, ifconfig.Interface)
            classify_utun(interface, routes.parse_netstat_routes(text))
            [a.link_local for a in interface.inet6]
    elif parser is routes.parse_netstat_routes:
        for route in result:
            (route.cidr, route.is_default, route.carries_general_traffic, route.scoped)
    elif parser is routes.parse_route_get:
        assert isinstance(result, routes.RouteLookup) and isinstance(result.found, bool)
    elif parser is scutil.parse_scutil_dns:
        for resolver in result:
            (resolver.addresses, resolver.scoped, resolver.supplemental)
    elif parser is scutil.parse_scutil_nwi:
        assert isinstance(result, scutil.NetworkInfo)
        result.primary(4)
    elif parser is netstat.parse_netstat_tcp:
        netstat.count_by_destination(result, 0, 65535)
    elif parser is lsof.parse_lsof_utun_owners:
        [owner.interface for owner in result]
    elif parser in (sysctl.parse_boottime, uptime.parse_uptime):
        assert result is None or isinstance(result, float)
    elif parser is networksetup.parse_valid_mtu_range:
        assert result is None or result[0] <= result[1]


@pytest.mark.parametrize("parser", EVERY_PARSER, ids=lambda f: f.__name__)
@given(text=st.text(max_size=400))
def test_arbitrary_text(parser, text):
    exercise(parser, text)


# text made of the words these outputs use, so the fuzzing reaches past the first check
WORDS = ["inet", "inet6", "-->", "netmask", "0xffffff00", "prefixlen", "64", "scopeid", "0x12", "utun3:", "flags=8051<UP>",
         "mtu", "1380", "fe80::1%utun3", "10.0.0.1", "default", "link#18", "UGScIg", "0/1", "192.168", "Internet:",
         "Internet6:", "Destination", "Gateway", "Flags", "Netif", "Expire", "resolver", "#1", "nameserver[0]", ":",
         "if_index", "13", "(utun0)", "reach", "0x00000002", "(Reachable)", "*", "(Connected)", '"VPN"', "[VPN:x]",
         "tcp4", "*.*", "10.0.0.5.443", "TIME_WAIT", "Proto", "(state)", "pid", "Name", "Mtu", "Address", "<Link#1>",
         "route:", "mtu", "recvpipe", "net.inet.tcp.msl:", "kern.boottime:", "{", "sec", "=", "}", "up", "days,", "12:03,",
         "(1)", "(*)", "(Hardware Port:", "Device:", "en0)", "** Error:", "[ctl com.apple.net.utun_control id 4 unit 4]",
         "\t", "\n", " ", "nan", "inf", "-1", "99999999999999999999999", "²", "٣"]


@pytest.mark.parametrize("parser", EVERY_PARSER, ids=lambda f: f.__name__)
@given(words=st.lists(st.sampled_from(WORDS), max_size=80))
def test_text_of_the_outputs_words(parser, words):
    exercise(parser, " ".join(words))


@settings(max_examples=150)
@given(data=st.data())
def test_real_fixtures_cut_and_with_lines_dropped(data):
    path = data.draw(st.sampled_from(macos_files()))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if data.draw(st.booleans())] if lines else []
    mutated = "".join(kept)
    mutated = mutated[:data.draw(st.integers(0, len(mutated)))]
    exercise(parser_for(path), mutated)


@pytest.mark.parametrize("parser", EVERY_PARSER, ids=lambda f: f.__name__)
def test_input_classes(parser):
    for text in ("", "\n\n\n", "   \t  ", "\0\0\0", "\ufeff", "Für Wi-Fi sind keine DNS-Server festgelegt.",
                 "net.inet.tcp.msl: nan\nnet.inet.tcp.keepidle: inf\nkern.boottime: { sec = -1 }",
                 "{" * 5000 + "}" * 5000, "x" * 200_000):
        exercise(parser, text)


def test_crlf_reads_like_lf():
    for path in macos_files():
        parser = parser_for(path)
        lf = path.read_text(encoding="utf-8")
        assert parser(lf.replace("\n", "\r\n")) == parser(lf), path.name


@pytest.mark.parametrize("parser", EVERY_PARSER, ids=lambda f: f.__name__)
def test_huge_input_is_linear(parser):
    """A 2.6 MB output (30,000 sysctl lines and 30,000 route rows) reads in seconds: no quadratic step
    (about a second here for the slowest, netstat -rn with every route's CIDR worked out)."""
    line = "net.inet.tcp.msl: 15000\n192.168.1.64   e0:33:8e:68:38:d6  UHLWIi  2  470  1500  en0  753\n"
    text = "Internet:\nDestination Gateway Flags Refs Use Mtu Netif Expire\n" + line * 30_000
    started = time.perf_counter()
    exercise(parser, text)
    assert time.perf_counter() - started < 4 * (3 if sys.gettrace() else 1)


def test_parsers_import_nothing_linux_only():
    """Importing every darwin parser loads no Linux-only module (run without site: its
    editable-install hook would import more than netwarden does)."""
    import subprocess
    from pathlib import Path

    code = ("import sys\n"
            "from netwarden.platform.parse.darwin import ifconfig, lsof, netstat, networksetup, peercred, routes, "
            "route_socket, scutil, sysctl, uptime, utun\n"
            "print([m for m in ('pydantic', 'pyroute2', 'fcntl', 'netwarden.platform.linux', "
            "'netwarden.platform.linux_net', 'netwarden.platform.sockdiag', 'netwarden.platform.wsl', "
            "'netwarden.platform.parse.procfs') if m in sys.modules])\n")
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(root)}, cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_darwin_parser_imports_ipaddress():
    """Addresses are checked with socket.inet_pton (netfs.is_ip_address), not ipaddress."""
    import ast
    from pathlib import Path

    package = Path(ifconfig.__file__).parent
    for module in package.glob("*.py"):
        imported = {alias.name for node in ast.walk(ast.parse(module.read_text())) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module for node in ast.walk(ast.parse(module.read_text()))
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert "ipaddress" not in imported, module.name
