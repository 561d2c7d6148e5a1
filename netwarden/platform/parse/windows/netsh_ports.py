"""`netsh int ipv4|ipv6 show dynamicport tcp|udp` and `netsh int ipv4 show excludedportrange
protocol=tcp|udp`: the ephemeral range and the blocks Hyper-V / WinNAT / admins reserve in it.

Read by numbers and positions only. Titles, labels, headers and footers are localized
(`Start Port` / `启动端口`, `Start Port    End Port` / `시작 포트    끝 포트` / `Puerto de inicio`),
their padding differs by build (`Start Port      :` and `Start Port        :`), and pastes lose
blank lines, footers and dash lines."""

from __future__ import annotations

import re
from typing import NamedTuple

from netwarden.platform.parse.windows._text import is_dashes, is_elision, is_prompt, lines

# `<label> : <number>`; the protocol is the one ASCII word netsh never translates in the title.
_LABELLED_NUMBER = re.compile(r":\s*(\d{1,12})\s*$")
_PROTOCOL = re.compile(r"(?<![A-Za-z])(tcp|udp)(?![A-Za-z])", re.IGNORECASE)
# An exclusion row: start, end, and `*` for an administered (persistent, admin-added) block.
_EXCLUSION = re.compile(r"^\s*(\d{1,12})\s+(\d{1,12})(?:\s+(\*))?\s*$")


class DynamicPorts(NamedTuple):
    start: int
    count: int
    protocol: str | None  # "tcp" / "udp" from the title, None when the title was not pasted

    @property
    def end(self) -> int:
        return self.start + self.count - 1


class ExcludedRange(NamedTuple):
    start: int
    end: int
    administered: bool  # the `*` marker: added by an administrator (`add excludedportrange`)


class ExcludedRanges(NamedTuple):
    ranges: tuple[ExcludedRange, ...]
    problems: tuple[str, ...]


def parse_dynamic_ports(text: str) -> DynamicPorts | None:
    """The first two `label : number` lines are the start port and the number of ports (that
    order in every build and language seen). None unless both are there and make a range inside
    1-65535 (Windows refuses anything else, so anything else is not netsh's output)."""
    numbers, protocol = [], None
    for line in lines(text):
        if is_prompt(line):
            continue
        m = _LABELLED_NUMBER.search(line)
        if m:
            numbers.append(int(m.group(1)))
            if len(numbers) == 2:
                break
        elif protocol is None and not numbers:
            found = _PROTOCOL.search(line)
            protocol = found.group(1).lower() if found else None
    if len(numbers) < 2:
        return None
    start, count = numbers
    if not (1 <= start <= 65535 and 1 <= count and start + count - 1 <= 65535):
        return None
    return DynamicPorts(start, count, protocol)


def parse_excluded_port_ranges(text: str) -> ExcludedRanges | None:
    """Every `start end [*]` row. An empty table (its dash line, no rows: zh-CN with Hyper-V off)
    is `()`; None when there is neither a dash line nor a row, i.e. this was not the table."""
    ranges, problems, table_seen = [], [], False
    for number, line in enumerate(lines(text), start=1):
        if is_dashes(line):
            table_seen = True
            continue
        if is_elision(line):
            problems.append(f"line {number}: rows left out ({line.strip()!r}); the list may be incomplete")
            continue
        m = _EXCLUSION.match(line)
        if not m:
            continue
        table_seen = True
        start, end = int(m.group(1)), int(m.group(2))
        if 1 <= start <= end <= 65535:
            ranges.append(ExcludedRange(start, end, m.group(3) is not None))
        else:
            problems.append(f"line {number}: not a port range: {line.strip()[:60]!r}")
    if not table_seen:
        return None
    return ExcludedRanges(tuple(ranges), tuple(problems))
