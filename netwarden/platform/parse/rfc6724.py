"""Destination-address selection (RFC 6724 / RFC 3484), the same on every platform: a policy table
of (prefix, precedence) rows, where the longest matching prefix gives a destination its
precedence and higher sorts first. glibc's gai.conf, Windows' prefix policies and macOS's
ip6addrctl are three spellings of one table."""

from __future__ import annotations

V4_MAPPED = "::ffff:0:0/96"
# RFC 3484's default table (glibc's, without a precedence line in gai.conf): IPv6 first.
RFC3484_DEFAULT = (("::1/128", 50), ("::/0", 40), ("2002::/16", 30), ("::/96", 20), (V4_MAPPED, 10))


def precedence_of(table, address: str) -> int:
    """The precedence a destination gets: the longest matching prefix's (IPv4 as ::ffff:a.b.c.d)."""
    import ipaddress  # only here: `check` on a default table never needs it

    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        ip = ipaddress.IPv6Address(f"::ffff:{ip}")
    best = (-1, 0)
    for prefix, value in table:
        try:
            net = ipaddress.IPv6Network(prefix, strict=False)
        except ValueError:
            continue
        if ip in net and net.prefixlen > best[0]:
            best = (net.prefixlen, value)
    return best[1]


def prefers_ipv4(table) -> bool:
    """Whether a global IPv4 destination sorts before a global IPv6 one under `table`."""
    if tuple(table) == RFC3484_DEFAULT:
        return False
    return precedence_of(table, "192.0.2.1") > precedence_of(table, "2001:4860::1")
