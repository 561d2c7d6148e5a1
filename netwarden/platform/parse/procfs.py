"""Parsers for /proc values. Pure: text in, value out; None (or a partial result) on odd input."""

from __future__ import annotations

import re

from netwarden.platform.linux_types import SockStat

_INT = re.compile(r"-?\d+")


def parse_port_range(text: str) -> tuple[int, int] | None:
    """`ip_local_port_range`: two numbers separated by a TAB (pastes show spaces too)."""
    numbers = _INT.findall(text)
    if len(numbers) != 2:
        return None
    low, high = int(numbers[0]), int(numbers[1])
    return (low, high) if 0 < low <= high <= 65535 else None


def parse_port_list(text: str) -> tuple[list[tuple[int, int]], list[str]]:
    """`ip_local_reserved_ports`: comma-separated ports and ranges, e.g. `8000-8100,9090`.

    Returns the ranges it could read and the items it could not.
    """
    ranges, bad = [], []
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", item)
        low = int(m.group(1)) if m else -1
        high = int(m.group(2) or m.group(1)) if m else -1
        if m and 0 <= low <= high <= 65535:
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
            try:
                return SockStat(int(values["inuse"]), int(values["tw"]), int(values.get("orphan", 0)))
            except (KeyError, ValueError):
                return None
    return None
