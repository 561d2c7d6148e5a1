"""resolv.conf, gai.conf and /proc/net parsers against real captures (../shared/fixtures) and
arbitrary text: they never raise, and what they read is what glibc / the kernel would."""

from conftest import fixture_text
from hypothesis import given
from hypothesis import strategies as st

from netwarden.platform.parse.gai_conf import BEGIN, effective_table, parse_gai_conf, with_ipv4_first
from netwarden.platform.parse.netfs import best_route, parse_if_inet6, parse_ipv6_route, parse_proc_route
from netwarden.platform.parse.resolv_conf import parse_resolv_conf, reordered
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
    assert "r:1: inline comment" in problems and "r:2: not an IP address" in problems
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


def test_reordered_keeps_nameservers_past_the_third_and_unreadable_ones():
    text = ("nameserver 10.0.0.9\nnameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n"
            "nameserver 10.0.0.4 # the admin's spare\nnameserver not-an-address\n")
    new = reordered(text, ["10.0.0.1", "10.0.0.2"], ["10.0.0.9"], [])
    assert new.splitlines() == ["nameserver 10.0.0.1", "nameserver 10.0.0.2", "nameserver 10.0.0.3",
                                "nameserver 10.0.0.4 # the admin's spare", "nameserver not-an-address",
                                "# nameserver 10.0.0.9  # netwarden: did not answer"]
    assert parse_resolv_conf(new, "r").nameservers == ("10.0.0.1", "10.0.0.2", "10.0.0.3")
