"""`netsh interface ipv4 show subinterfaces`, `netsh interface ipv4 show interfaces` and
`netsh interface ipv6 show prefixpolicies`.

Rows are read as whitespace-separated numbers followed by the rest of the line (the name), not
by fixed columns: a 10-digit byte counter or the loopback's MTU 4294967295 overflows its column
and shifts the row, and CJK headers do not line up with their dashes. Header words are never
read (`传入字节`, `优先顺序    标签   前缀`)."""

from __future__ import annotations

import re
from typing import NamedTuple

from netwarden.platform.parse.windows._text import is_dashes, is_elision, is_ip_address, is_prompt, lines

_PREFIX = re.compile(r"^(?P<address>[0-9A-Fa-f:.]+)/(?P<length>\d{1,3})$")
# netsh's own limit: MTU and counters are 32/64-bit unsigned; bigger is a corrupt paste.
_U64 = 2 ** 64


class SubInterface(NamedTuple):
    mtu: int
    media_sense_state: int  # the number netsh prints (1 connected, 2 disconnected, 5 unknown in fixtures)
    bytes_in: int | None  # None where the paste masked it (`nnn`)
    bytes_out: int | None
    name: str


class SubInterfaces(NamedTuple):
    interfaces: tuple[SubInterface, ...]
    problems: tuple[str, ...]


class Interface(NamedTuple):
    index: int
    metric: int
    mtu: int
    state: str  # as printed: `connected` / `disconnected` are localized words; not interpreted here
    name: str


class PrefixPolicy(NamedTuple):
    precedence: int
    label: int
    prefix: str  # as printed, e.g. `::ffff:0:0/96`

    @property
    def prefix_length(self) -> int:
        return int(self.prefix.rsplit("/", 1)[1])


def _int(word: str) -> int | None:
    return int(word) if word.isascii() and word.isdigit() and len(word) <= 20 and int(word) < _U64 else None


def _rows(text: str, numbers: int):
    """(line number, [leading numbers...], rest) for each line that starts with `numbers`
    unsigned integers and has a non-empty rest; other lines (titles, headers, dashes, prompts) are
    skipped. `rest` keeps inner spaces (interface names have them)."""
    for number, line in enumerate(lines(text), start=1):
        if is_prompt(line) or is_dashes(line):
            continue
        words = line.split(None, numbers)
        if len(words) <= numbers:
            continue
        leading = [_int(word) for word in words[:numbers]]
        yield number, leading, words[numbers]


def parse_subinterfaces(text: str) -> SubInterfaces | None:
    """MTU, media-sense state, bytes in/out and name per row; None when no row was found."""
    found, problems = [], []
    for number, (mtu, sense), rest in _rows(text, 2):
        if mtu is None or sense is None:
            continue
        words = rest.split(None, 2)
        if len(words) < 3:
            problems.append(f"line {number}: row without byte counters or name: {rest[:60]!r}")
            continue
        bytes_in, bytes_out, name = _int(words[0]), _int(words[1]), words[2]
        if bytes_in is None or bytes_out is None:
            problems.append(f"line {number}: byte counters unreadable ({words[0]!r}, {words[1]!r}) for {name!r}")
        found.append(SubInterface(mtu, sense, bytes_in, bytes_out, name))
    problems += _elisions(text)
    return SubInterfaces(tuple(found), tuple(problems)) if found else None


def parse_interfaces(text: str) -> tuple[Interface, ...] | None:
    """Idx, metric, MTU, state, name per row (rows are not sorted by index); None when no row
    was found. The state is one word in every language seen (connected, 已连接, verbunden)."""
    found = []
    for _, (index, metric, mtu), rest in _rows(text, 3):
        words = rest.split(None, 1)
        if None in (index, metric, mtu) or len(words) < 2:
            continue
        found.append(Interface(index, metric, mtu, words[0], words[1]))
    return tuple(found) or None


def parse_prefix_policies(text: str) -> tuple[PrefixPolicy, ...] | None:
    """Precedence, label, prefix per row, in the printed order (netsh sorts by precedence, so
    look rows up by prefix, never by position). An empty table is `()` when its dash line is
    there; None when nothing of the table is."""
    found, table_seen = [], False
    for line in lines(text):
        if is_dashes(line):
            table_seen = True
            continue
        words = line.split()
        if len(words) != 3:
            continue
        precedence, label, prefix = _int(words[0]), _int(words[1]), _PREFIX.match(words[2])
        if precedence is None or label is None or not prefix:
            continue
        if ":" in words[2] and is_ip_address(prefix.group("address")) and int(prefix.group("length")) <= 128:
            found.append(PrefixPolicy(precedence, label, words[2]))
    return tuple(found) if found or table_seen else None


def _elisions(text: str) -> list[str]:
    return [f"line {number}: rows left out ({line.strip()!r})"
            for number, line in enumerate(lines(text), start=1) if is_elision(line)]
