"""`ip6addrctl` (KAME's, on macOS up to 15). No real capture exists (../shared/fixtures/INDEX.md):
every sample here is CONSTRUCTED from ip6addrctl.c's printf layout and XNU's default table."""

from hypothesis import given
from hypothesis import strategies as st
from macos import IP6ADDRCTL

from netwarden.platform.parse.darwin.ip6addrctl import Policy, parse_ip6addrctl
from netwarden.platform.parse.rfc6724 import prefers_ipv4


def test_the_default_table_constructed():
    rows = parse_ip6addrctl(IP6ADDRCTL)
    assert len(rows) == 9 and rows[0] == Policy("::1/128", 50, 0)
    assert rows[2] == Policy("::ffff:0.0.0.0/96", 35, 4)
    assert not prefers_ipv4([(r.prefix, r.precedence) for r in rows])  # IPv6 first, as RFC 6724 says


def test_ipv4_raised_above_ipv6_constructed():
    text = IP6ADDRCTL.replace("::ffff:0.0.0.0/96                 35", "::ffff:0.0.0.0/96                100")
    assert prefers_ipv4([(r.prefix, r.precedence) for r in parse_ip6addrctl(text)])


def test_odd_input_classes():
    assert parse_ip6addrctl("") == [] and parse_ip6addrctl("Prefix   Prec Label      Use\n") == []
    assert parse_ip6addrctl("ip6addrctl: socket: Operation not permitted\n") == []
    assert parse_ip6addrctl(IP6ADDRCTL.replace("\n", "\r\n"))[1] == Policy("::/0", 40, 1)
    assert parse_ip6addrctl("::/0 40") == [Policy("::/0", 40, None)]  # cut after the precedence
    for bad in ("10.0.0.0/8 40 1 0", "::/129 40 1 0", "::/0 -1 1 0", "::/0 4e1 1 0", "zz::/0 40 1 0",
                "::/0 " + "9" * 30 + " 1 0", "::/x 40", "/0 40", "::1 50 0 0"):
        assert parse_ip6addrctl(bad) == [], bad
    assert parse_ip6addrctl(IP6ADDRCTL[:200])[-1].prefix == "::ffff:0.0.0.0/96"  # truncated mid-table


@given(st.text())
def test_never_raises_on_any_text(text):
    for row in parse_ip6addrctl(text):
        assert "/" in row.prefix and row.precedence >= 0
