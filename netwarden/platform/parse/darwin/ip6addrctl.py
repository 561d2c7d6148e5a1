"""macOS `ip6addrctl` (KAME's, `ip6addrctl show` is the default): the kernel's RFC 6724 address
selection policy table, one row per prefix under a `Prefix Prec Label Use` header:

    Prefix                          Prec Label      Use
    ::1/128                           50     0        0
    ::ffff:0.0.0.0/96                 35     4        0

No real capture exists (../shared/fixtures/INDEX.md): the layout is KAME's printf in
ip6addrctl.c (`%-30s %5d %5d %8llu`, the prefix as `address/len`). The tool is gone from macOS 26.
Rows are read by their shape, not by position: a prefix with `/len` and an integer precedence.
"""

from __future__ import annotations

from typing import NamedTuple

from netwarden.platform.parse.netfs import is_ip_address
from netwarden.platform.parse.numbers import as_int


class Policy(NamedTuple):
    prefix: str  # as printed: `::ffff:0.0.0.0/96`
    precedence: int
    label: int | None


def parse_ip6addrctl(text: str) -> list[Policy]:
    """Every row that reads as `<IPv6 prefix>/<len> <precedence> [label ...]`, in order; the
    header, blank and odd lines are skipped."""
    rows = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2 or "/" not in words[0]:
            continue
        address, _, length = words[0].rpartition("/")
        plen, precedence = as_int(length), as_int(words[1])
        if ":" not in address or not is_ip_address(address) or plen is None or plen > 128 or precedence is None:
            continue
        rows.append(Policy(words[0], precedence, as_int(words[2]) if len(words) > 2 else None))
    return rows
