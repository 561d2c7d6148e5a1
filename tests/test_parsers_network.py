"""resolv.conf, gai.conf and /proc/net parsers against real captures (../shared/fixtures) and
arbitrary text: they never raise, and what they read is what glibc / the kernel would."""

import types

import pytest
from conftest import fixture_text
from factories import DUMP_TWO, DUMP_V4, DUMP_V6
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from netwarden.platform.parse.gai_conf import BEGIN, effective_table, parse_gai_conf, with_ipv4_first
from netwarden.platform.parse.netfs import best_route, parse_if_inet6, parse_ipv6_route, parse_proc_route
from netwarden.platform.parse.resolv_conf import parse_resolv_conf, reordered, servers_first
from netwarden.platform.parse.rfc6724 import prefers_ipv4
from netwarden.platform.probe import parse_getent_ahosts


def prefers_ipv4_gai(gai):
    return prefers_ipv4(effective_table(gai))


LINES = st.lists(st.one_of(
    st.text(max_size=60),
    st.sampled_from(["precedence", "nameserver", "options", "search", "#", "label", "::ffff:0:0/96", "100",
                     "1.2.3.4", "fe80::1%eth0", "timeout:1", BEGIN, "# END netwarden ipv6.preference"]),
).map(str), max_size=30).map(lambda words: "\n".join(" ".join(words[i:i + 3]) for i in range(0, len(words), 3)))


def test_gai_conf_fixtures():
    one_line = parse_gai_conf(fixture_text("linux/gai-conf__1.txt"), "/etc/gai.conf")
    assert one_line.precedence == (("::ffff:0:0/96", 100),)  # the commented suggestion is not read
    assert prefers_ipv4_gai(one_line)
    explicit = parse_gai_conf(fixture_text("linux/gai-conf__2.txt"), "/etc/gai.conf")
    assert len(explicit.precedence) == 5 and prefers_ipv4_gai(explicit)
    labels_only = parse_gai_conf(fixture_text("linux/gai-conf__3.txt"), "/etc/gai.conf")
    assert labels_only.precedence == () and not prefers_ipv4_gai(labels_only)  # glibc's default: IPv6 first


def test_ipv4_first_block_replaces_itself_and_comments_out_other_precedence_lines():
    original = fixture_text("linux/gai-conf__2.txt")
    once = with_ipv4_first(original)
    assert with_ipv4_first(once) == once  # applying twice changes nothing
    parsed = parse_gai_conf(once, "g")
    assert parsed.netwarden_block and prefers_ipv4_gai(parsed)
    assert dict(parsed.precedence)["::ffff:0:0/96"] == 100 and len(parsed.precedence) == 9  # the block only
    assert "#precedence  ::1/128       50  # netwarden: replaced by the block below" in once
    assert "label ::1/128       0" in once  # other lines kept as they were


@given(LINES)
def test_gai_conf_never_raises_and_the_block_always_wins(text):
    parse_gai_conf(text, "g")
    assert prefers_ipv4_gai(parse_gai_conf(with_ipv4_first(text), "g"))


def test_resolv_conf_wsl_fixtures():
    generated = parse_resolv_conf(fixture_text("linux/wsl-resolv-conf__1.txt"), "/etc/resolv.conf")
    assert generated.manager == "wsl" and generated.nameservers == ("172.24.16.1",) and not generated.problems
    header_only = parse_resolv_conf(fixture_text("linux/wsl-resolv-conf__2.txt"), "/etc/resolv.conf")
    assert header_only.manager == "wsl" and header_only.nameservers == ()
    assert parse_resolv_conf(fixture_text("linux/wsl-resolv-conf__3.txt"), "r").manager == "wsl"
    tunneled = parse_resolv_conf(fixture_text("linux/wsl-resolv-conf__4.txt"), "r")
    assert tunneled.nameservers == ("10.255.255.254",) and tunneled.search == ("LUCASTHEISEN.COM", "lucastheisen.home")


def test_resolv_conf_as_glibc_reads_it():
    text = ("nameserver 10.0.0.1 # office\nnameserver 1.1.1.1:53\nnameserver fe80::1%eth0\n"
            "nameserver 10.0.0.2\nnameserver 10.0.0.3\noptions timeout:1 attempts:3 rotate\nsearch a b\nsearch c\n")
    parsed = parse_resolv_conf(text, "r", symlink_target="/run/systemd/resolve/stub-resolv.conf")
    assert parsed.nameservers == ("10.0.0.1", "fe80::1%eth0", "10.0.0.2")  # the first three usable ones
    assert parsed.search == ("c",) and parsed.option("timeout", 5, 30) == 1 and parsed.option("attempts", 2, 5) == 3
    assert parsed.manager == "systemd-resolved"
    problems = "\n".join(parsed.problems)
    assert "inline comment" not in problems  # glibc reads a nameserver line's first word only
    assert "r:2: not an IP address" in problems
    assert "10.0.0.3 is never asked" in problems


def test_reordered_keeps_every_other_line_in_place():
    text = "# mine\nsearch lab\nnameserver 10.0.0.9\nnameserver 10.0.0.1\noptions edns0\n"
    assert reordered(text, ["10.0.0.1"], ["10.0.0.9"], ["9.9.9.9"]) == (
        "# mine\nsearch lab\nnameserver 10.0.0.1\nnameserver 9.9.9.9\n"
        "# nameserver 10.0.0.9  # netwarden: did not answer\noptions edns0\n")


@given(LINES)
def test_resolv_conf_never_raises_and_reorder_keeps_live_servers(text):
    parsed = parse_resolv_conf(text, "r")
    live = list(parsed.nameservers[1:])
    again = parse_resolv_conf(reordered(text, live, list(parsed.nameservers[:1]), []), "r")
    assert list(again.nameservers) == live


PROC_ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
tun0\t000512C6\t00000000\t0001\t0\t0\t50\t00FFFFFF\t0\t0\t0
"""
IPV6_ROUTE = (
    "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0\n"
    "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n")


def test_proc_net_routes_and_longest_prefix():
    routes = parse_proc_route(PROC_ROUTE) + parse_ipv6_route(IPV6_ROUTE)
    assert [r.describe() for r in routes] == [
        "default via 192.0.2.1 dev eth0 metric 0", "192.0.2.0/24 dev eth0 metric 0",
        "198.18.5.0/24 dev tun0 metric 50", "-6 fd00::/64 dev eth0 metric 256",
        "-6 default via fd00::1 dev eth0 metric 1024"]
    assert best_route(routes, "198.18.5.7").dev == "tun0"
    assert best_route(routes, "203.0.113.1").dst == "default"
    assert best_route(routes, "fd00::9").dst == "fd00::/64"


def test_if_inet6_and_getent():
    rows = parse_if_inet6("fd000000000000000000000000000002 04 40 00 82     eth0\n"
                          "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n")
    assert rows == [("fd00::2", "eth0", 0, 0x82), ("fe80::fc:ff:fe00:1", "eth0", 0x20, 0x80)]
    assert parse_getent_ahosts("2001:db8::2    STREAM dual.lab\n2001:db8::2    DGRAM  \n"
                               "198.18.0.2      STREAM \n") == [[6, "2001:db8::2"], [4, "198.18.0.2"]]


def test_getent_keeps_a_link_local_scope_and_leaves_out_what_is_not_an_address():
    # The first line as `getent ahosts fe80::1%lo` prints it (glibc 2.36, this machine); the rest constructed.
    text = "fe80::1%1     STREAM fe80::1%lo\nfe80::1%1     DGRAM  \nlocalhost STREAM x\n1.2.3 STREAM\n::1 STREAM\n"
    assert parse_getent_ahosts(text) == [[6, "fe80::1%1"], [6, "::1"]]


@given(st.text(max_size=400))
def test_proc_parsers_never_raise(text):
    parse_proc_route(text)
    parse_ipv6_route(text)
    parse_if_inet6(text)
    parse_getent_ahosts(text)


def test_reordered_never_makes_a_server_nobody_probed_one_glibc_asks():
    text = ("nameserver 10.0.0.9\nnameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n"
            "nameserver 10.0.0.4 # the admin's spare\nnameserver not-an-address\n")
    new = reordered(text, ["10.0.0.1", "10.0.0.2"], ["10.0.0.9"], [])
    note = "  # netwarden: not probed (it was past the first 3), so not made one glibc asks"
    assert new.splitlines() == ["nameserver 10.0.0.1", "nameserver 10.0.0.2", "# nameserver 10.0.0.3" + note,
                                "# nameserver 10.0.0.4 # the admin's spare" + note, "nameserver not-an-address",
                                "# nameserver 10.0.0.9  # netwarden: did not answer"]
    assert parse_resolv_conf(new, "r").nameservers == ("10.0.0.1", "10.0.0.2")
    # with three servers made active, the ones past them stay as they were written: glibc does not ask them
    new = reordered(text, ["10.0.0.1", "10.0.0.2"], ["10.0.0.9"], ["9.9.9.9"])
    assert "nameserver 10.0.0.3\nnameserver 10.0.0.4 # the admin's spare\n" in new
    assert parse_resolv_conf(new, "r").nameservers == ("10.0.0.1", "10.0.0.2", "9.9.9.9")


def test_the_trial_s_resolv_conf_asks_only_servers_that_answered_and_lists_each_once():
    """Found in a new-user trial: .3, a fourth line nobody probed (and dead), was made second."""
    from netwarden.model import Facts, Intent
    from netwarden.platform.linux_plan import _reorder_resolvers

    text = ("nameserver 198.18.0.77\nnameserver 198.18.0.2\nnameserver 2001:db8::77\nnameserver 198.18.0.3\n")
    parsed = parse_resolv_conf(text, "/etc/resolv.conf")
    intent = Intent("reorder-resolvers", {"live": ["198.18.0.2"], "dead": ["198.18.0.77", "2001:db8::77"]})
    settings = types.SimpleNamespace(dns_fallback=("198.18.0.2",))
    [change], _ = _reorder_resolvers("dns.resolvers", intent, Facts(platform=None, resolv=parsed), settings)
    assert parse_resolv_conf(change.new, "r").nameservers == ("198.18.0.2",)
    assert change.new.count("nameserver 198.18.0.2") == 1
    assert change.summary == "live nameservers first (198.18.0.2), dead ones commented out"


SERVERS = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "2001:db8::1", "fe80::1%eth0"])


@given(LINES, st.lists(SERVERS, max_size=4), st.data())
def test_reordered_makes_active_only_the_live_ones_and_the_fallbacks_each_once(text, fallback, data):
    parsed = parse_resolv_conf(text, "r")
    asked = list(dict.fromkeys(parsed.nameservers))
    dead = data.draw(st.lists(st.sampled_from(asked), unique=True) if asked else st.just([]))
    live = [s for s in asked if s not in dead]
    again = parse_resolv_conf(reordered(text, live, dead, fallback), "r")
    expected = servers_first(live, dead, fallback)[:3]
    assert list(again.nameservers) == expected  # nothing unprobed became active, nothing twice
    assert len(set(again.nameservers)) == len(again.nameservers)


# ---- resolv.conf: the parser against glibc itself -------------------------------------------------
# Each text is bind-mounted over /etc/resolv.conf in a private mount namespace (`unshare --mount`:
# the host's file is never touched) and read by this machine's glibc (res_ninit).

RESOLV_WORDS = {
    "keyword": ["nameserver", "nameserver", "search", "domain", "options", "sortlist", "#", ";"],
    "lead": ["", "", "", " ", "\t"],
    "value": ["198.18.0.7", "198.18.0.8", "2001:db8::7", "fe80::1%lo", "198.18.0.9:53", "host.example", "a.example b.example",
              "rotate", "timeout:1", "198.18.0.0/255.255.0.0", "2001:db8::/32", "10.1&255.0.0.0", "caf\u00e9"],
    "comment": ["", "", " # dead one", " ; spare", " #x", "\t# rotate"],
    "end": ["\n", "\n", "\r\n", ""],
}
RESOLV_LINES = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in RESOLV_WORDS.items()}).map(
    lambda w: f"{w['lead']}{w['keyword']} {w['value']}{w['comment']}" + (w["end"] or "\n"))


def glibc_reads(tmp_path, text: str, timeout: float) -> dict | None:
    """What glibc read, or None when it had not finished within `timeout` (its sortlist loop can
    stall for ever)."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    from lab import TOOLS

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to show glibc a resolv.conf in a private mount namespace")
    (tmp_path / "resolv.conf").write_text(text, newline="")
    env = {k: v for k, v in os.environ.items() if k not in ("LOCALDOMAIN", "RES_OPTIONS")}
    try:  # unshare and sh exec: the process killed at the timeout is the stalled python itself
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            'mount --bind "$1" /etc/resolv.conf && exec "$2" "$3" glibc-resolv', "sh",
                            str(tmp_path / "resolv.conf"), sys.executable, str(TOOLS)],
                           capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def assert_read_as_glibc_reads(tmp_path, text: str) -> None:
    ours = parse_resolv_conf(text, "r")
    if any("never finishes reading" in p for p in ours.blocking):
        assert glibc_reads(tmp_path, text, timeout=2) is None, "glibc read it after all"
        return
    glibc = glibc_reads(tmp_path, text, timeout=20)
    assert glibc is not None, f"glibc stalled reading {text!r}"
    assert len(ours.nameservers) == glibc["nscount"] or (not ours.nameservers and glibc["nscount"] == 1), (ours, glibc)
    assert [a for a in ours.nameservers if ":" not in a] == (glibc["ipv4"] if ours.nameservers else []), (ours, glibc)
    if ours.search:  # without a search or domain line, glibc takes the domain of the host name
        assert list(ours.search)[:6] == glibc["search"], (ours, glibc)
    comments_misread = any("inline comment" in p for p in ours.problems)
    assert comments_misread == any(
        line.split()[:1] in (["search"], ["options"]) and any(w[:1] in "#;" for w in line.split()[1:])
        for line in text.split("\n") if line[:1] not in (" ", "\t")), ours.problems


GLIBC_CLASSES = {
    "inline comment after a nameserver": "nameserver 198.18.0.77 # dead one\nnameserver 198.18.0.2 ; spare\n",
    "inline comment glued to the address": "nameserver 198.18.0.77#dead\n",
    "CRLF nameserver lines": "nameserver 198.18.0.77\r\nnameserver 198.18.0.2 # x\r\nnameserver 2001:db8::1\r\n",
    "CRLF search and options": "nameserver 198.18.0.2\noptions rotate\r\nsearch a.example b.example\r\n",
    "lines that start with a blank": " nameserver 198.18.0.77\n\tsearch a.example\nnameserver 198.18.0.2\n",
    "inline comment on search": "nameserver 198.18.0.2\nsearch a.example # b.example\n",
    "inline comment on domain": "nameserver 198.18.0.2\ndomain a.example # b.example\n",
    "inline comment on options": "nameserver 198.18.0.2\noptions timeout:1 # rotate\nsearch x.example\n",
    "sortlist with a CRLF": "nameserver 198.18.0.2\nsortlist 198.18.0.0\r\n",
    "sortlist with an IPv6 prefix": "nameserver 198.18.0.2\nsortlist 2001:db8::/32\n",
    "sortlist with address/mask pairs": "nameserver 198.18.0.2\nsortlist 198.18.0.0/255.255.0.0 10.1&255.0.0.0;x\n",
    "a fourth nameserver": "nameserver 198.18.0.1\nnameserver 2001:db8::1\nnameserver 198.18.0.3\nnameserver 198.18.0.4\n",
    "no final newline": "nameserver 198.18.0.2\nsearch a.example",
}


@pytest.mark.parametrize("name", sorted(GLIBC_CLASSES))
def test_resolv_conf_is_read_as_this_glibc_reads_it(tmp_path, name):
    assert_read_as_glibc_reads(tmp_path, GLIBC_CLASSES[name])


# (a glibc run is a process: shrinking a failure would take minutes; six lines read well as they are)
@settings(max_examples=40, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(RESOLV_LINES, min_size=1, max_size=6).map("".join))
def test_resolv_conf_is_read_as_this_glibc_reads_it_whatever_the_lines(tmp_path_factory, text):
    assert_read_as_glibc_reads(tmp_path_factory.mktemp("r"), text)


# ---- `ip route save` dumps -------------------------------------------------------------------------
def test_route_dumps_read_as_the_kernel_wrote_them():
    from netwarden.platform.parse.route_dump import for_restore, route_message

    v4, v6 = route_message(DUMP_V4), route_message(DUMP_V6)
    assert (v4.family, v4.dst, v4.table, v4.oif, v4.metric, v4.multipath) == (4, "198.19.1.0/24", 254, 2, 5, False)
    assert (v6.family, v6.dst, v6.table, v6.oif, v6.metric) == (6, "2001:db8:1::/64", 254, 2, 5)
    restored = for_restore(DUMP_V4, v4, ifindex=7)
    assert route_message(restored).oif == 7 and len(restored) == len(DUMP_V4)
    assert restored[v4.flags_at:v4.flags_at + 4] == b"\0\0\0\0"  # LINKDOWN (0x10), the kernel's word, cleared
    assert [a for a, b in zip(restored, DUMP_V4) if a != b] == [0, 7]  # nothing else changed
    assert route_message(DUMP_TWO) == "more than one message"


ROUTE_DUMP_DAMAGE = {
    "empty": b"", "the magic only": DUMP_V4[:4], "another magic": b"\0\0\0\0" + DUMP_V4[4:],
    "not a route message": DUMP_V4[:8] + b"\x10\x00" + DUMP_V4[10:],  # RTM_NEWLINK
    "length past the end": DUMP_V4[:4] + b"\xff\x00\x00\x00" + DUMP_V4[8:],
    "length too short": DUMP_V4[:4] + b"\x08\x00\x00\x00" + DUMP_V4[8:],
    "an attribute of length 0": DUMP_V4[:32] + b"\x00\x00" + DUMP_V4[34:],
    "an attribute past the end": DUMP_V4[:32] + b"\xf0\x00" + DUMP_V4[34:],
    "another family": DUMP_V4[:20] + b"\x07" + DUMP_V4[21:],
    "a prefix longer than the address": DUMP_V4[:21] + b"\x40" + DUMP_V4[22:],
    "huge": DUMP_V4 + b"\0" * (1 << 20), "text": "24123145", "None": None,
}


@pytest.mark.parametrize("name", sorted(ROUTE_DUMP_DAMAGE))
def test_a_route_dump_that_is_not_exactly_one_route_says_why(name):
    from netwarden.platform.parse.route_dump import route_message

    assert isinstance(route_message(ROUTE_DUMP_DAMAGE[name]), str)


@given(st.binary(max_size=300), st.integers(0, 200))
def test_route_dump_reader_never_raises(noise, at):
    from netwarden.platform.parse.route_dump import route_message

    route_message(noise)
    route_message(DUMP_V6[:at] + noise)
    route_message(DUMP_V6[:4] + noise)


def test_a_moved_nameserver_keeps_its_own_line_comment_and_ending():
    """The rewrite moves the admin's lines, it does not retype them: an inline comment stays, a
    CRLF stays, and a last line without a newline gets one when it moves up."""
    from netwarden.platform.parse.resolv_conf import reordered

    text = "search lab\nnameserver 10.0.0.9 # office\r\nnameserver 10.0.0.1 # home"
    assert reordered(text, ["10.0.0.1"], ["10.0.0.9"], ["9.9.9.9"]) == (
        "search lab\nnameserver 10.0.0.1 # home\nnameserver 9.9.9.9\n"
        "# nameserver 10.0.0.9 # office  # netwarden: did not answer\r\n")
