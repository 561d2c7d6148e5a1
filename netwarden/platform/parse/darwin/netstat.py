"""macOS `netstat -an -p tcp` / `netstat -anv -p tcp` (sockets) and `netstat -i` (interface counters).

Sockets: BSD prints an endpoint as `address.port` with a DOT, IPv6 too (`fe80::1%lo0.631`), and
wildcards as `*.443` / `*.*`. Columns are read by the header row (`Local Address` and `Foreign
Address` are one column each), so the pre-Big-Sur `-v` layout (rhiwat shiwat pid epid) and the
later ones (process:pid, state, options ...) both read; without a header the plain layout is
assumed. macOS 10.10-10.14's netstat leaves TIME_WAIT sockets out, and a report says macOS 27's
prints nothing to a non-root user: an empty answer is not proof of no sockets.
"""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple

from netwarden.platform.parse.numbers import as_int

_DEFAULT_COLUMNS = ["Proto", "Recv-Q", "Send-Q", "Local", "Foreign", "(state)"]


class Connection(NamedTuple):
    proto: str  # tcp4, tcp6, tcp46
    recv_q: int | None
    send_q: int | None
    local_address: str  # "*" for the wildcard
    local_port: int | None  # None for "*"
    remote_address: str
    remote_port: int | None
    state: str | None  # ESTABLISHED, TIME_WAIT, LISTEN, CLOSE_WAIT, ...
    pid: int | None  # -v layouts only


def split_endpoint(text: str) -> tuple[str, int | None]:
    """`10.0.0.5.55669` -> ('10.0.0.5', 55669); `*.443` -> ('*', 443); `*.*` -> ('*', None);
    `fe80::1%lo0.631` -> ('fe80::1%lo0', 631). Without a readable port: (text, None)."""
    address, dot, port = text.rpartition(".")
    if not dot or not address:
        return text, None
    if port == "*":
        return address, None
    number = as_int(port)
    if number is not None and number <= 65535:
        return address, number
    return text, None


def _header(words: list[str]) -> list[str]:
    """The header's column names, `Local Address` / `Foreign Address` joined into one each."""
    columns: list[str] = []
    for word in words:
        if word == "Address" and columns and columns[-1] in ("Local", "Foreign"):
            continue
        columns.append(word)
    return columns


def parse_netstat_tcp(text: str) -> list[Connection]:
    """The TCP rows (tcp4/tcp6/tcp46), in order; other protocols and junk lines skipped."""
    connections = []
    columns = _DEFAULT_COLUMNS
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "Proto":
            columns = _header(words)
            continue
        if not words[0].lower().startswith("tcp") or len(words) < 5:
            continue
        cells = dict(zip(columns, words))
        local, local_port = split_endpoint(cells.get("Local", ""))
        remote, remote_port = split_endpoint(cells.get("Foreign", ""))
        pid = cells.get("pid") or cells.get("process:pid", "").rpartition(":")[2]
        connections.append(Connection(words[0], as_int(cells.get("Recv-Q")), as_int(cells.get("Send-Q")),
                                      local, local_port, remote, remote_port, cells.get("(state)"), as_int(pid)))
    return connections


def count_by_destination(connections: Iterable[Connection], low: int, high: int) -> dict[tuple[str, int], int]:
    """Per destination (remote address, port): the sockets whose local port lies in [low, high]
    (the ephemeral range), in every state but LISTEN - a TIME_WAIT socket still holds its port."""
    counts: dict[tuple[str, int], int] = {}
    for c in connections:
        if c.state == "LISTEN" or c.remote_port is None or c.local_port is None or not low <= c.local_port <= high:
            continue
        key = (c.remote_address, c.remote_port)
        counts[key] = counts.get(key, 0) + 1
    return counts


class InterfaceCounters(NamedTuple):
    """A row of `netstat -i` (with -b: bytes; -d: drops). One row per address of an interface."""

    name: str  # without the `*` netstat appends to a down interface
    up: bool
    mtu: int | None
    network: str  # `<Link#4>`, `10.20.10/24`, a truncated IPv6 prefix ...
    address: str | None  # None when the column is empty
    ipkts: int | None
    ierrs: int | None  # None where printed `-` (address rows)
    opkts: int | None
    oerrs: int | None
    ibytes: int | None
    obytes: int | None


_NUMERIC = re.compile(r"\d{1,20}|-")


def parse_netstat_interfaces(text: str) -> list[InterfaceCounters]:
    rows = []
    counters = ["Ipkts", "Ierrs", "Opkts", "Oerrs", "Coll"]
    for line in text.splitlines():
        words = line.split()
        if len(words) < 4:
            continue
        if words[0] == "Name":
            counters = words[words.index("Address") + 1:] if "Address" in words else words[4:]
            continue
        if as_int(words[1]) is None:
            continue
        address = None if _NUMERIC.fullmatch(words[3]) else words[3]
        values = dict(zip(counters, words[3 if address is None else 4:]))
        rows.append(InterfaceCounters(words[0].rstrip("*"), not words[0].endswith("*"), as_int(words[1]), words[2],
                                      address, *(as_int(values.get(k)) for k in
                                                 ("Ipkts", "Ierrs", "Opkts", "Oerrs", "Ibytes", "Obytes"))))
    return rows
