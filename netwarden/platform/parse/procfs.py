"""Parsers for /proc values. Pure: text in, value out; None (or a partial result) on odd input."""

from __future__ import annotations

from netwarden.platform.linux_types import SockStat
from netwarden.platform.parse.numbers import as_int

PORT_MAX = 65535


def parse_port_range(text: str) -> tuple[int, int] | None:
    """`ip_local_port_range`: two numbers separated by a TAB (pastes show spaces too)."""
    words = text.split()
    if len(words) != 2:
        return None
    low, high = as_int(words[0], maximum=PORT_MAX), as_int(words[1], maximum=PORT_MAX)
    return (low, high) if low is not None and high is not None and 0 < low <= high else None


def parse_port_list(text: str) -> tuple[list[tuple[int, int]], list[str]]:
    """`ip_local_reserved_ports`: comma-separated ports and ranges, e.g. `8000-8100,9090`.

    Returns the ranges it could read and the items it could not.
    """
    ranges, bad = [], []
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        first, _, last = item.partition("-")
        low = as_int(first.strip(), maximum=PORT_MAX)
        high = as_int(last.strip(), maximum=PORT_MAX) if last else low
        if low is not None and high is not None and low <= high:
            ranges.append((low, high))
        else:
            bad.append(item)
    return ranges, bad


def count_in_range(ranges: list[tuple[int, int]], low: int, high: int) -> int:
    """How many distinct ports of `ranges` fall inside [low, high]."""
    total, covered_to = 0, low - 1
    for a, b in sorted((max(a, low), min(b, high)) for a, b in ranges):
        a = max(a, covered_to + 1)
        if a <= b:
            total += b - a + 1
            covered_to = b
    return total


def parse_sockstat(text: str) -> SockStat | None:
    """/proc/net/sockstat: the `TCP: inuse N orphan N tw N alloc N mem N` line."""
    for line in text.splitlines():
        if line.startswith("TCP:"):
            fields = line.split()[1:]
            values = dict(zip(fields[::2], fields[1::2]))
            numbers = [as_int(values.get(name, "0" if name == "orphan" else None)) for name in ("inuse", "tw", "orphan")]
            return None if None in numbers else SockStat(*numbers)
    return None
