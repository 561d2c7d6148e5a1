"""Parsers for the kernel's routing and address tables in /proc/net and link files in /sys/class/net."""

from __future__ import annotations

import ipaddress

from netwarden.model import Route

RTF_GATEWAY = 0x2
RTF_REJECT = 0x200
RTF_CACHE = 0x01000000
IFA_F_DEPRECATED = 0x20
# /sys/class/net/*/type (ARPHRD_*) of the tunnels that say nothing else about themselves
ARPHRD_KINDS = {768: "ipip", 769: "ip6tnl", 776: "sit", 778: "gre", 823: "ip6gre", 512: "ppp", 772: "loopback",
                1: "ether"}


def parse_proc_route(text: str) -> list[Route]:
    """/proc/net/route: the IPv4 main table, addresses as little-endian hex."""
    routes = []
    for line in text.splitlines()[1:]:
        f = line.split()
        try:
            dev, dst, gateway, flags, metric, mask = f[0], int(f[1], 16), int(f[2], 16), int(f[3], 16), int(f[6]), int(f[7], 16)
        except (IndexError, ValueError):
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


def _hex6(text: str) -> str:
    return str(ipaddress.IPv6Address(bytes.fromhex(text)))


def parse_ipv6_route(text: str) -> list[Route]:
    """/proc/net/ipv6_route: every table; local, multicast, cached and reject entries left out."""
    routes = []
    for line in text.splitlines():
        f = line.split()
        try:
            dst, plen, gateway, metric, flags, dev = _hex6(f[0]), int(f[1], 16), _hex6(f[4]), int(f[5], 16), int(f[8], 16), f[9]
        except (IndexError, ValueError):
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
            rows.append((_hex6(f[0]), f[5], int(f[3], 16), int(f[4], 16)))
        except (IndexError, ValueError):
            continue
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
    routing aside)."""
    ip = ipaddress.ip_address(address)
    family = ip.version
    best = None
    for route in routes:
        if route.family != family:
            continue
        if route.dst != "default" and ip not in ipaddress.ip_network(route.dst, strict=False):
            continue
        key = (route.prefixlen, -route.metric)
        if best is None or key > best[0]:
            best = (key, route)
    return best[1] if best else None
