"""The probe's own measurements besides TLS and idle survival: one DNS question per nameserver
and record type, the ephemeral ports held towards the target, the route MTU. Each returns plain
JSON types and is called through Source.call, so a support bundle carries it."""

from __future__ import annotations

import socket
import time

from netwarden.platform.probe import IP_MTU

IPV6_MTU = getattr(socket, "IPV6_MTU", 24)  # <linux/in6.h>; CPython's socket module lacks it


def dns_lookup(server: str, name: str, rdtype: str, timeout: float) -> dict:
    """One UDP question straight to a nameserver, no retry: outcome "ok" for any answer (even
    NXDOMAIN: the server is alive), "timeout" or "error"; the rcode and the addresses it gave."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode

    result = {"server": server, "name": name, "type": rdtype, "outcome": "", "rcode": "", "ms": 0.0,
              "addresses": [], "error": ""}
    start = time.monotonic()
    try:
        answer = dns.query.udp(dns.message.make_query(name, rdtype), server.split("%", 1)[0], timeout=timeout)
        result.update(outcome="ok", rcode=dns.rcode.to_text(answer.rcode()),
                      addresses=sorted({item.to_text() for rrset in answer.answer for item in rrset
                                        if rrset.rdtype in (1, 28)}))  # A, AAAA
    except dns.exception.Timeout:
        result.update(outcome="timeout", error=f"no answer within {timeout:g} s")
    except (OSError, dns.exception.DNSException) as e:
        result.update(outcome="error", error=str(e) or type(e).__name__)
    result["ms"] = round((time.monotonic() - start) * 1000, 1)
    return result


def held_ports(low: int, high: int, addresses: list[str], port: int) -> dict:
    """The census (sock_diag) narrowed to the target: sockets holding an ephemeral port towards
    one of its addresses on its port, per address."""
    from netwarden.platform import sockdiag

    census = sockdiag.census(low, high, top=1 << 30)
    census["destinations"] = [d for d in census["destinations"] if d["address"] in addresses and d["port"] == port]
    return census


def route_mtu(address: str) -> int:
    """The kernel's MTU for the route to `address` (a learned path MTU when one is cached)."""
    v6 = ":" in address
    with socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.connect((address, 9))  # a UDP connect sends nothing
        return s.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU) if v6 else s.getsockopt(socket.IPPROTO_IP, IP_MTU)
