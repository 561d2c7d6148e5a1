"""The probe's own measurements besides TLS and idle survival: one DNS question per nameserver
and record type, the ephemeral ports held towards the target, the route MTU. Each returns plain
JSON types, declared with @answers, and is called through Source.call, so a support bundle carries
it. (The route MTU is platform.probe.route_mtu's.)"""

from __future__ import annotations


from netwarden.platform.parse.netfs import is_ip_address
from netwarden.platform.sockdiag import census
from netwarden.platform.source import answers


@answers({"server": is_ip_address, "name": str, "type": str, "outcome": str, "rcode": str, "ms": float,
          "addresses": [is_ip_address], "error": str})
def dns_lookup(server: str, name: str, rdtype: str, timeout: float) -> dict:
    """One UDP question straight to a nameserver, no retry: outcome "ok" for any answer (even
    NXDOMAIN: the server is alive), "timeout" or "error"; the rcode and the addresses it gave."""
    from netwarden.platform.dnswire import ask

    return {"server": server, "name": name, "type": rdtype, **ask(server, name, rdtype, timeout)}


@answers(census.answer_shape)
def held_ports(low: int, high: int, addresses: list[str], port: int) -> dict:
    """The census (sock_diag) narrowed to the target: sockets holding an ephemeral port towards
    one of its addresses on its port, per address."""
    held = census(low, high, top=1 << 30)
    held["destinations"] = [d for d in held["destinations"] if d["address"] in addresses and d["port"] == port]
    return held
