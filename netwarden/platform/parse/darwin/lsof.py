"""Which process holds a utun: the `systm` rows of macOS `lsof -nP` (any selection of it) whose
NAME is `[ctl com.apple.net.utun_control id 4 unit 4]`.

A utun is created by connecting a kernel-control socket to com.apple.net.utun_control; the
`unit` it connected with is the interface number plus one (the telepresence capture: unit 4 is
utun3). lsof abbreviates COMMAND to 9 characters (`teleprese`) unless given +c.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from netwarden.platform.parse.numbers import as_int

_UTUN_CONTROL = re.compile(r"\[ctl com\.apple\.net\.utun_control id (\d{1,9}) unit (\d{1,9})\]")


class UtunOwner(NamedTuple):
    command: str
    pid: int
    unit: int

    @property
    def interface(self) -> str:
        return f"utun{self.unit - 1}"


def parse_lsof_utun_owners(text: str) -> list[UtunOwner]:
    """One entry per utun_control socket found (a process holding two utuns gives two)."""
    owners = []
    for line in text.splitlines():
        m = _UTUN_CONTROL.search(line)
        words = line.split()
        pid = as_int(words[1]) if len(words) > 1 else None
        if not m or pid is None or int(m.group(2)) < 1:
            continue
        owners.append(UtunOwner(words[0], pid, int(m.group(2))))
    return owners
