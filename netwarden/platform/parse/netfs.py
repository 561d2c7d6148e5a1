"""Parsers for the kernel's routing and address tables in /proc/net and link files in /sys/class/net."""

from __future__ import annotations

import socket

from netwarden.model import Route
from netwarden.platform.parse.numbers import as_int

RTF_GATEWAY = 0x2
RTF_REJECT = 0x200
RTF_CACHE = 0x01000000
IFA_F_DEPRECATED = 0x20
U32 = 0xFFFFFFFF
# /sys/class/net/*/type (ARPHRD_*) of the tunnels that say nothing else about themselves
ARPHRD_KINDS = {768: "ipip", 769: "ip6tnl", 776: "sit", 778: "gre", 823: "ip6gre", 512: "ppp", 772: "loopback",
                1: "ether"}


def parse_proc_route(text: str) -> list[Route]:
    """/proc/net/route: the IPv4 main table, addresses as little-endian hex."""
    routes = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        dev, metric = f[0], as_int(f[6])
        dst, gateway, flags, mask = (as_int(word, 16, maximum=U32) for word in (f[1], f[2], f[3], f[7]))
        if None in (dst, gateway, flags, metric, mask):
            continue
        if flags & RTF_REJECT:
            continue
        addr = _le_ipv4(dst)
        prefixlen = bin(mask).count("1")
        routes.append(Route(4, "default" if prefixlen == 0 else f"{addr}/{prefixlen}", dev,
                            _le_ipv4(gateway) if flags & RTF_GATEWAY else None, metric))
    return routes


def _le_ipv4(value: int) -> str:
    return ".".join(str(b) for b in value.to_bytes(4, "little"))


# socket, not ipaddress: `check` reads these tables on every run and ipaddress costs 1.5 ms to import.
def _hex6(text: str) -> str:
    return socket.inet_ntop(socket.AF_INET6, bytes.fromhex(text))


def is_ip_address(text: object) -> bool:
    """an IP address"""  # (also the form a replayed answer's address must have: source.conform says it)
    try:
        _address_bits(text)
        return True
    except (OSError, ValueError, TypeError, AttributeError):  # not text at all
        return False


def _address_bits(address: str) -> tuple[int, int]:
    """(family 4|6, the address as an integer); OSError for anything else."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return (6 if ":" in address else 4), int.from_bytes(socket.inet_pton(family, address.split("%", 1)[0]), "big")


def parse_ipv6_route(text: str) -> list[Route]:
    """/proc/net/ipv6_route: every table; local, multicast, cached and reject entries left out."""
    routes = []
    for line in text.splitlines():
        f = line.split()
        try:
            dst, gateway, dev = _hex6(f[0]), _hex6(f[4]), f[9]
        except (IndexError, ValueError):
            continue
        plen, metric, flags = as_int(f[1], 16, maximum=128), as_int(f[5], 16), as_int(f[8], 16)
        if None in (plen, metric, flags):
            continue
        if dev == "lo" or flags & (RTF_REJECT | RTF_CACHE) or dst.startswith("ff"):
            continue
        routes.append(Route(6, "default" if plen == 0 else f"{dst}/{plen}", dev,
                            gateway if flags & RTF_GATEWAY else None, metric))
    return routes


def parse_if_inet6(text: str) -> list[tuple[str, str, int, int]]:
    """/proc/net/if_inet6: (address, interface, scope, flags); scope 0 is global."""
    rows = []
    for line in text.splitlines():
        f = line.split()
        try:
            address, name = _hex6(f[0]), f[5]
        except (IndexError, ValueError):
            continue
        scope, flags = as_int(f[3], 16), as_int(f[4], 16)
        if scope is not None and flags is not None:
            rows.append((address, name, scope, flags))
    return rows


def link_kind(uevent: str, arphrd: int | None, tun_flags: int | None) -> str:
    """What a link is, from its sysfs files: tun/tap (tun_flags), DEVTYPE (wireguard, vlan,
    bridge...), else its hardware type."""
    if tun_flags is not None:
        return "tap" if tun_flags & 0x2 else "tun"
    for line in uevent.splitlines():
        if line.startswith("DEVTYPE="):
            return line.split("=", 1)[1].strip() or "other"
    return ARPHRD_KINDS.get(arphrd, "other") if arphrd is not None else "other"


def best_route(routes, address: str) -> Route | None:
    """The main-table route the kernel would pick: longest prefix, then lowest metric (policy
    routing aside). None for an `address` that is not an IP address (a replayed answer may hold
    anything); a route whose destination cannot be read is passed over."""
    try:
        family, ip = _address_bits(address)
    except (OSError, ValueError):
        return None
    width = 32 if family == 4 else 128
    best = None
    for route in routes:
        if route.family != family:
            continue
        if route.dst != "default":
            net, _, plen = route.dst.rpartition("/")
            length = as_int(plen, maximum=width)
            try:
                if length is None or _address_bits(net)[1] >> (width - length) != ip >> (width - length):
                    continue
            except (OSError, ValueError):
                continue
        key = (route.prefixlen, -route.metric)
        if best is None or key > best[0]:
            best = (key, route)
    return best[1] if best else None
