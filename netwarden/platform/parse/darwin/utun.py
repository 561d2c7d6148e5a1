"""Telling macOS's own utun interfaces from a VPN's, from `ifconfig` and `netstat -rn` output.

Every Mac has a few utuns of its own (utun0-utun3 and more: iCloud Private Relay, Back to My
Mac on old releases, Continuity, IDS for iMessage/FaceTime), idle or not. Seen in the fixtures:
MTU 1380 and 2000 (ifconfig__2/__3, netstat-rn__1), 1000 with an `agent domain:ids501` line
(ifconfig-v__1); each with an IPv6 link-local address only, and routes that are all
interface-scoped or link-local. A VPN's utun (WireGuard, Tailscale, telepresence, Shadowrocket,
netmaker, sshuttle...) has an IPv4 address, a non-link-local IPv6 address, or routes ordinary
sockets take (a default, `0/1`, a ULA prefix, host routes).
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

from netwarden.platform.parse.darwin.ifconfig import Interface
from netwarden.platform.parse.darwin.routes import Route

APPLE_SYSTEM = "apple-system"
VPN_LIKE = "vpn-like"
NOT_UTUN = "not-utun"
APPLE_UTUN_MTUS = (1000, 1380, 2000)  # seen on Apple's own utuns; informative, not a criterion


class UtunVerdict(NamedTuple):
    kind: str  # APPLE_SYSTEM, VPN_LIKE or NOT_UTUN
    reasons: tuple[str, ...]  # why VPN_LIKE: the addresses and routes that make it so


def classify_utun(interface: Interface, routes: Iterable[Route] = ()) -> UtunVerdict:
    """The rule: a utun is VPN_LIKE when it has an IPv4 address, an IPv6 address that is not
    link-local (a ULA counts: Tailscale fd7a::/48, Shadowrocket fc00::, the Back to My Mac utun0
    of OS X 10.8 had one too), or one of `routes` goes through it and carries general traffic
    (Route.carries_general_traffic: not interface-scoped, not link-local, not multicast).
    Otherwise it is APPLE_SYSTEM: what macOS's own utuns look like, and harmless whoever owns
    it, since only sockets bound to it (or to its link-local address) can use it. The MTU is not part of the rule: Apple's
    vary by release (1000/1380/2000 in the fixtures) and VPNs use 1280-4000.

    Give the routes of `netstat -rn`; without them only addresses count. Whether a VPN_LIKE utun
    is stale (its VPN service not connected, no owning process) is for the backend to combine
    from `scutil --nc list` and `lsof`."""
    if not interface.is_utun:
        return UtunVerdict(NOT_UTUN, ())
    reasons = [f"IPv4 address {a.address}" for a in interface.inet]
    reasons += [f"IPv6 address {a.address}/{a.prefixlen}" for a in interface.inet6 if not a.link_local]
    reasons += [f"route {r.destination} via {r.gateway} ({r.flags})" for r in routes
                if r.netif == interface.name and r.carries_general_traffic]
    return UtunVerdict(VPN_LIKE if reasons else APPLE_SYSTEM, tuple(reasons))
