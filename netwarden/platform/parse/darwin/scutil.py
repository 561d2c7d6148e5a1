"""macOS `scutil --dns`, `scutil --nc list` and `scutil --nwi`.

These outputs are keyed, not columnar: each parser reads `key : value` lines and keeps what it
knows, so pasted excerpts, user elisions (`...`, `[...]`), placeholders (`<dns1>`, `[uuid here]`,
`REDACTED`) and older layouts (a bare `Reachable` line instead of `reach : 0x... (Reachable)`)
read as far as they go.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from netwarden.platform.parse.netfs import is_ip_address

_KEYED = re.compile(r"\s*([A-Za-z_][A-Za-z_ ]*?)(?:\[(\d{1,6})\])?\s*:\s*(.*?)\s*")
_REACH = re.compile(r"(0x[0-9A-Fa-f]{1,8})?\s*(?:\(([^)]*)\))?")
REACHABLE = 0x2  # kSCNetworkReachabilityFlagsReachable


def _reach(text: str) -> tuple[int | None, tuple[str, ...]]:
    """`0x00020002 (Reachable,Directly Reachable Address)` -> (0x20002, ('Reachable', ...))."""
    m = _REACH.match(text.strip())
    flags = int(m.group(1), 16) if m and m.group(1) else None
    words = tuple(w.strip() for w in (m.group(2) or "").split(",") if w.strip()) if m else ()
    return flags, words


def _int(text: str) -> int | None:
    m = re.match(r"\d{1,12}", text)
    return int(m.group()) if m else None


class Resolver(NamedTuple):
    section: str  # "default" (DNS configuration) or "scoped" (... for scoped queries)
    number: int  # resolver #N within its section
    domain: str | None  # a supplemental or mdns resolver's domain
    search: tuple[str, ...]  # search domain[0], [1], ...
    nameservers: tuple[str, ...]  # in order, as printed (placeholders kept; see `addresses`)
    if_index: int | None
    interface: str | None  # the name in `if_index : 13 (utun0)`
    flags: tuple[str, ...]  # Scoped, Supplemental, Request A records, Request AAAA records
    reach: int | None  # SCNetworkReachability flags, when printed in hex
    reachable: bool | None  # from reach (or the old bare `Reachable` / `Not Reachable` line)
    order: int | None
    timeout: int | None
    options: tuple[str, ...]  # e.g. mdns

    @property
    def scoped(self) -> bool:
        return "Scoped" in self.flags

    @property
    def supplemental(self) -> bool:
        return "Supplemental" in self.flags

    @property
    def addresses(self) -> tuple[str, ...]:
        """The nameservers that are IP addresses (a zone like `%en0` allowed and kept), not placeholders."""
        return tuple(n for n in self.nameservers if is_ip_address(n))


def parse_scutil_dns(text: str) -> list[Resolver]:
    """Every resolver block of both sections, in order. A block before any section header (an
    excerpt) counts as "default": scutil prints that section first."""
    resolvers: list[Resolver] = []
    section, block = "default", None

    def close() -> None:
        if block is not None:
            indexed = {key: tuple(v for _, v in sorted(block.pop(key))) for key in ("search", "nameservers")}
            resolvers.append(Resolver(**block, **indexed))

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("DNS configuration"):
            close()
            section, block = ("scoped" if "scoped" in stripped else "default"), None
        elif m := re.fullmatch(r"resolver\s*#(\d{1,6})", stripped):
            close()
            block = dict(section=section, number=int(m.group(1)), domain=None, search=[], nameservers=[],
                         if_index=None, interface=None, flags=(), reach=None, reachable=None, order=None,
                         timeout=None, options=())
        elif block is None:
            continue
        elif stripped in ("Reachable", "Not Reachable"):
            block["reachable"] = stripped == "Reachable"
        elif m := _KEYED.fullmatch(line):
            _resolver_key(block, m.group(1).strip(), m.group(2), m.group(3))
    close()
    return resolvers


def _resolver_key(block: dict, key: str, index: str | None, value: str) -> None:
    if key == "nameserver":
        block["nameservers"].append((int(index or 0), value))
    elif key == "search domain":
        block["search"].append((int(index or 0), value))
    elif key == "domain":
        block["domain"] = value or None
    elif key == "if_index":
        m = re.fullmatch(r"(\d{1,9})\s*(?:\((.*)\))?", value)
        if m:
            block["if_index"], block["interface"] = int(m.group(1)), m.group(2) or None
    elif key == "flags":
        block["flags"] = tuple(f.strip() for f in value.split(",") if f.strip())
    elif key == "reach":
        flags, words = _reach(value)
        block["reach"] = flags
        if flags is not None:
            block["reachable"] = bool(flags & REACHABLE)
        elif words:
            block["reachable"] = "Reachable" in words
    elif key in ("order", "timeout"):
        block[key] = _int(value)
    elif key == "options":
        block["options"] = tuple(value.split())


class VpnService(NamedTuple):
    """A line of `scutil --nc list`, e.g.
    `* (Connected)      <id> VPN (io.tailscale.ipn.macsys) "Tailscale"   [VPN:io.tailscale.ipn.macsys]`."""

    enabled: bool  # the leading `*`
    state: str  # the word in parentheses: Connected, Disconnected, Connecting, Disconnecting, Invalid
    service_id: str | None  # a UUID, or what a paste left of it (`REDACTED`, `[uuid here]`)
    type: str | None  # VPN, PPP, IPSec ... (for PPP `PPP --> L2TP`)
    subtype: str | None  # `(io.tailscale.ipn.macsys)`: the provider's bundle id
    name: str | None  # the quoted service name, padding dropped
    kind: str | None  # the trailing bracket: `VPN:com.wireguard.macos`, `PPP/L2TP`

    @property
    def connected(self) -> bool:
        return self.state == "Connected"


_NC_LINE = re.compile(r"\s*(\*?)\s*\(([^()]*)\)\s+(.*?)\s*")


def parse_scutil_nc_list(text: str) -> list[VpnService]:
    """The services listed; the header line alone (no services registered) gives []."""
    services = []
    for line in text.splitlines():
        m = _NC_LINE.fullmatch(line)
        if not m or not m.group(2).strip():
            continue
        rest = m.group(3)
        kind = None
        if k := re.search(r"\[([^\[\]]*)\]$", rest):
            if '"' in rest[:k.start()]:  # after the quoted name; not a bracketed id left alone
                kind, rest = k.group(1), rest[:k.start()].rstrip()
        name = None
        if q := re.search(r'"(.*)"', rest):
            name, rest = q.group(1).strip(), rest[:q.start()].rstrip()
        service_id, rest = _leading_id(rest)
        subtype = None
        if s := re.search(r"\(([^()]*)\)$", rest):
            subtype, rest = s.group(1), rest[:s.start()].rstrip()
        services.append(VpnService(bool(m.group(1)), m.group(2).strip(), service_id, rest or None, subtype, name, kind))
    return services


def _leading_id(text: str) -> tuple[str | None, str]:
    """The service id and what follows it; an id a paste replaced with `[...]` may hold spaces."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end > 0:
            return text[:end + 1], text[end + 1:].strip()
    first, _, rest = text.partition(" ")
    return (first or None), rest.strip()


class NwiInterface(NamedTuple):
    family: int  # 4 or 6: the section it is listed in
    name: str
    flags: int | None
    flag_names: tuple[str, ...]  # IPv4, IPv6, DNS, ...
    address: str | None
    reach: int | None
    reachable: bool | None
    details: tuple[tuple[str, str], ...]  # other keys, e.g. ("VPN server", ...)


class NetworkInfo(NamedTuple):
    interfaces: tuple[NwiInterface, ...]  # per family in scutil's order: the first is primary
    reach: dict[int, int]  # family -> the section's overall REACH flags
    active: tuple[str, ...]  # `Network interfaces: en0 utun4`

    def primary(self, family: int) -> str | None:
        return next((i.name for i in self.interfaces if i.family == family), None)


def parse_scutil_nwi(text: str) -> NetworkInfo:
    interfaces: list[NwiInterface] = []
    reach: dict[int, int] = {}
    active: tuple[str, ...] = ()
    family, current = None, None

    def close() -> None:
        if current is not None:
            interfaces.append(NwiInterface(**{**current, "details": tuple(current["details"])}))

    for line in text.splitlines():
        stripped = line.strip()
        if m := re.match(r"IPv([46]) network interface information", stripped):
            close()
            family, current = int(m.group(1)), None
        elif stripped.startswith("Network interfaces:"):
            close()
            current, active = None, tuple(stripped.partition(":")[2].split())
        elif family is None:
            continue
        elif m := re.fullmatch(r"REACH\s*:\s*flags\s+(0x[0-9A-Fa-f]{1,8}).*", stripped):
            close()
            current, reach[family] = None, int(m.group(1), 16)
        elif m := re.fullmatch(r"(\S+)\s*:\s*flags\s*:\s*(.*)", stripped):
            close()
            flags, names = _reach(m.group(2))
            current = dict(family=family, name=m.group(1), flags=flags, flag_names=names, address=None,
                           reach=None, reachable=None, details=[])
        elif current is not None and (m := _KEYED.fullmatch(line)):
            key, value = m.group(1).strip(), m.group(3)
            if key == "address":
                current["address"] = value
            elif key == "reach":
                current["reach"] = _reach(value)[0]
                current["reachable"] = bool(current["reach"] & REACHABLE) if current["reach"] is not None else None
            else:
                current["details"].append((key, value))
    close()
    return NetworkInfo(tuple(interfaces), reach, active)
