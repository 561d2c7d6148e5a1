"""`route print` (and `route print -4` / `-6`): the interface list, the IPv4 and IPv6 active and
persistent routes.

Section titles are localized (`Active Routes:` / `Rutas activas:` / `Itinéraires actifs :`), and
so is the on-link gateway (`On-link`, the two words `En vínculo`). What is read instead:
- the interface list's rows have the shape `<idx>...<mac bytes> ......<description>`;
- a table's family is the acronym in its title (`IPv4 Route Table`, `IPv4 Table de routage`);
- within a family the first line ending in `:` opens the active routes, the second the
  persistent ones (an empty table prints its `None` word without a separator line);
- rows are told by their shape: IPv4 active `dest mask gateway… interface metric`, IPv4
  persistent `dest mask gateway metric`, IPv6 `if metric dest/len [gateway]`, the gateway on the
  next line when the destination is too wide. A gateway that is not an address is on-link."""

from __future__ import annotations

import re
import socket
from typing import NamedTuple

from netwarden.platform.parse.windows._text import is_elision, is_ip_address, is_prompt, lines

_INTERFACE = re.compile(r"^\s*(?P<index>\d{1,10})\s?\.{3}(?P<mac>(?:[0-9A-Fa-f]{2}[ -]){0,16})\.*\s*"
                        r"(?P<description>.*)$")
_TITLE_FAMILY = re.compile(r"\bIPv([46])\b")
_SEPARATOR = re.compile(r"^\s*=+\s*$")


class RouteInterface(NamedTuple):
    index: int
    mac: str | None  # "00-15-5D-FD-0D-45"; None for interfaces without one (loopback, tunnels)
    description: str


class IPv4Route(NamedTuple):
    destination: str
    netmask: str
    prefix_length: int | None  # None for a non-contiguous mask
    gateway: str | None  # None: on-link
    interface: str | None  # the interface's address; None in the persistent table
    metric: int | None  # None where a persistent route says `Default` (localized)


class IPv6Route(NamedTuple):
    interface_index: int
    metric: int
    destination: str  # "fe80::/64"
    prefix_length: int
    gateway: str | None  # None: on-link


class RouteTable(NamedTuple):
    interfaces: tuple[RouteInterface, ...]
    ipv4: tuple[IPv4Route, ...]
    ipv4_persistent: tuple[IPv4Route, ...]
    ipv6: tuple[IPv6Route, ...]
    ipv6_persistent: tuple[IPv6Route, ...]
    problems: tuple[str, ...]


def mask_length(mask: str) -> int | None:
    """255.255.240.0 -> 20; None for anything that is not a contiguous IPv4 mask."""
    try:
        bits = int.from_bytes(socket.inet_pton(socket.AF_INET, mask), "big")
    except (OSError, ValueError):
        return None
    length = bin(bits).count("1")
    return length if bits == ((1 << 32) - (1 << (32 - length))) else None


def _v4(word: str) -> bool:
    return "." in word and ":" not in word and is_ip_address(word)


def _metric(word: str) -> int | None:
    return int(word) if word.isascii() and word.isdigit() and len(word) <= 10 else None


def _ipv4_row(words: list[str]) -> IPv4Route | None:
    if len(words) < 4 or not (_v4(words[0]) and _v4(words[1])):
        return None
    metric = _metric(words[-1])
    if len(words) >= 5 and _v4(words[-2]) and metric is not None:  # active: ... interface metric
        gateway, interface = " ".join(words[2:-2]), words[-2]
    else:  # persistent: dest mask gateway metric (metric may be a word: `Default`)
        gateway, interface = " ".join(words[2:-1]), None
    return IPv4Route(words[0], words[1], mask_length(words[1]), gateway if _v4(gateway) else None, interface, metric)


def _ipv6_destination(word: str) -> int | None:
    address, _, length = word.partition("/")
    if ":" not in address or not is_ip_address(address) or _metric(length) is None or int(length) > 128:
        return None
    return int(length)


def parse_route_print(text: str) -> RouteTable | None:
    """None when neither an interface row nor a route was found."""
    interfaces, problems = [], []
    tables: dict[tuple[int, bool], list] = {(4, False): [], (4, True): [], (6, False): [], (6, True): []}
    family, labels, pending = None, 0, None  # pending: an IPv6 row waiting for its gateway line
    for number, line in enumerate(lines(text), start=1):
        stripped = line.strip()
        if not stripped or is_prompt(line) or _SEPARATOR.match(line):
            continue
        if is_elision(line):
            problems.append(f"line {number}: rows left out ({stripped!r})")
            continue
        words = stripped.split()
        if pending is not None:
            target, row = pending
            pending = None
            if len(words) <= 2 and _ipv6_destination(words[0]) is None and _metric(words[0]) is None:
                gateway = " ".join(words)
                target.append(row._replace(gateway=gateway if is_ip_address(gateway) else None))
                continue
            target.append(row)  # no gateway line came: keep the route, on-link
        if family is None and (m := _INTERFACE.match(line)):
            mac = m.group("mac").strip()
            interfaces.append(RouteInterface(int(m.group("index")),
                                             mac.replace(" ", "-").upper() if mac else None,
                                             m.group("description").strip()))
            continue
        title = _TITLE_FAMILY.search(line)
        if title and not is_ip_address(words[0]) and _metric(words[0]) is None:
            family, labels = int(title.group(1)), 0
            continue
        if stripped.endswith(":"):
            labels += 1
            continue
        target = tables[(family or 4, labels >= 2)]
        if family in (4, None):
            row = _ipv4_row(words)
            if row:
                target.append(row)
        elif len(words) >= 3 and _metric(words[0]) is not None and _metric(words[1]) is not None:
            length = _ipv6_destination(words[2])
            if length is None:
                continue
            row = IPv6Route(int(words[0]), int(words[1]), words[2], length, None)
            if len(words) == 3:
                pending = (target, row)
            else:
                gateway = " ".join(words[3:])
                target.append(row._replace(gateway=gateway if is_ip_address(gateway) else None))
    if pending is not None:
        pending[0].append(pending[1])
        problems.append("the last IPv6 route has no gateway line (truncated output?)")
    if not interfaces and not any(tables.values()):
        return None
    return RouteTable(tuple(interfaces), tuple(tables[(4, False)]), tuple(tables[(4, True)]),
                      tuple(tables[(6, False)]), tuple(tables[(6, True)]), tuple(problems))
