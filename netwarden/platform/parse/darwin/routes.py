"""macOS routing tables: `netstat -rn` (also `-rnl`, `-rn -f inet|inet6`) and `route -n get <target>`.

netstat prints an `Internet:` and an `Internet6:` section, each with its own header row whose
columns differ by release and options (Refs/Use/Mtu come and go, Expire is often empty): a row
is read by the header's names, left to right, Expire being the only column that may be missing.
Destinations are BSD-abbreviated (network_cmds netstat.tproj/route.c, netname()): `127`,
`169.254`, `192.168.1` carry their classful mask, others a `/len` (`0/1`, `224.0.0/4`); host
routes (flag H) are full addresses; IPv6 ones carry `%zone`. Flag letters are netstat's
(U up, G gateway, H host, S static, C cloning, c protocol-cloning, W cloned, L link info,
I interface-scoped, i ifref, m multicast, b broadcast, r router, g global, ...).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from netwarden.platform.parse.netfs import is_ip_address
from netwarden.platform.parse.numbers import as_int

_SECTIONS = {"Internet:": 4, "Internet6:": 6}


class Route(NamedTuple):
    family: int  # 4 or 6
    destination: str  # as printed: default, 192.168.1, 0/1, fe80::%utun0/64, link-local host...
    gateway: str  # an address, link#N, a MAC address or an interface name (wg-quick's `utun0`)
    flags: str
    netif: str | None
    expire: str | None  # seconds, `!`, or None when empty
    mtu: int | None  # printed with -l

    @property
    def is_default(self) -> bool:
        return self.destination == "default" or self.cidr in ("0.0.0.0/0", "::/0")

    @property
    def scoped(self) -> bool:
        """Interface-scoped (RTF_IFSCOPE, `I`): used only for lookups scoped to that interface (a
        socket bound to it or to one of its addresses), not by the rest of the host's traffic."""
        return "I" in self.flags

    @property
    def carries_general_traffic(self) -> bool:
        """Whether ordinary sockets can take this route: not interface-scoped, and not to a
        link-local or multicast destination. The routes macOS puts on each of its own utuns
        (fe80::%utunN/64, scoped IPv6 defaults via fe80::%utunN, ff01::%utunN) all fail this."""
        if self.scoped or "m" in self.flags:
            return False
        cidr = self.cidr
        if cidr is None:
            return self.destination.partition("%")[0].lower()[:4] not in ("fe80", "ff01", "ff02")
        if self.family == 6:
            return not cidr.lower().startswith(("fe8", "fe9", "fea", "feb", "ff"))
        return not 224 <= int(cidr.split(".", 1)[0]) <= 239

    @property
    def cidr(self) -> str | None:
        """The destination as address/prefixlen (zone dropped); None for names (netstat without -n)."""
        return destination_cidr(self.destination, self.family, "H" in self.flags)


def destination_cidr(text: str, family: int, host: bool = False) -> str | None:
    """netstat's destination as CIDR: `default` -> 0.0.0.0/0 or ::/0, `192.168.1` -> 192.168.1.0/24,
    `0/1` -> 0.0.0.0/1, `fe80::%en0/64` -> fe80::/64; a host route's address -> /32 or /128."""
    if text == "default":
        return "0.0.0.0/0" if family == 4 else "::/0"
    address, _, plen = text.partition("/")
    address = address.partition("%")[0]
    if family == 6:
        if ":" not in address or not is_ip_address(address):
            return None
        prefixlen = _upto(plen, 128) if plen else 128
    else:
        octets = address.split(".")
        values = [_upto(octet, 255) for octet in octets]
        if not 1 <= len(octets) <= 4 or None in values:
            return None
        if plen:
            prefixlen = _upto(plen, 32)
        elif host or len(octets) == 4:
            prefixlen = 32
        else:  # no /len: the classful mask of the first octet (netname()'s forgemask)
            prefixlen = 8 if values[0] < 128 else 16 if values[0] < 192 else 24
        address = ".".join(octets + ["0"] * (4 - len(octets)))
    return None if prefixlen is None else f"{address}/{prefixlen}"


def _upto(text: str, highest: int) -> int | None:
    number = as_int(text)
    return number if number is not None and number <= highest else None


def parse_netstat_routes(text: str) -> list[Route]:
    """Every row of every section, in order. Rows before a section or its header are skipped."""
    routes: list[Route] = []
    family, columns = None, None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] in _SECTIONS and len(words) == 1:
            family, columns = _SECTIONS[words[0]], None
        elif words[0] == "Destination":
            columns = words
        elif family and columns and len(words) >= 2:
            routes.append(_row(family, columns, words))
    return routes


def _row(family: int, columns: list[str], words: list[str]) -> Route:
    cells = dict(zip(columns, words))
    if len(words) > len(columns):  # an odd row: the last cell takes the rest
        cells[columns[-1]] = " ".join(words[len(columns) - 1:])
    mtu = cells.get("Mtu", "")
    return Route(family, cells["Destination"], cells.get("Gateway", ""), cells.get("Flags", ""),
                 cells.get("Netif"), cells.get("Expire"), as_int(mtu))


class RouteLookup(NamedTuple):
    """`route -n get <target>`: the route the kernel picks for it, or the error route printed."""

    route_to: str | None
    destination: str | None
    mask: str | None
    gateway: str | None  # printed only for RTF_GATEWAY routes
    interface: str | None
    flags: tuple[str, ...]
    mtu: int | None  # from the metrics table; 0 means the interface's
    error: str | None  # `not in table`, `bad address: x`, ...

    @property
    def found(self) -> bool:
        return self.error is None and self.interface is not None


_KEYS = {"route to": "route_to", "destination": "destination", "mask": "mask", "gateway": "gateway",
         "interface": "interface"}


def parse_route_get(text: str) -> RouteLookup:
    found: dict[str, str] = {}
    flags: tuple[str, ...] = ()
    mtu, error, metrics_header = None, None, None
    for line in text.splitlines():
        stripped = line.strip()
        key, sep, value = stripped.partition(":")
        if stripped.startswith("route:"):  # `route: writing to routing socket: not in table`
            error = stripped[len("route:"):].strip() or stripped
        elif sep and key in _KEYS and value.strip():
            found[_KEYS[key]] = value.strip()
        elif sep and key == "flags":
            flags = tuple(f for f in re.split(r"[<>,\s]+", value) if f)
        elif "recvpipe" in stripped and "mtu" in stripped.split():
            metrics_header = stripped.split()
        elif metrics_header:
            values = stripped.split()
            if len(values) == len(metrics_header):
                cell = re.match(r"\d{1,9}", values[metrics_header.index("mtu")])
                mtu = int(cell.group()) if cell else None
            metrics_header = None
    return RouteLookup(found.get("route_to"), found.get("destination"), found.get("mask"), found.get("gateway"),
                       found.get("interface"), flags, mtu, error)
