"""Numbers in text a parser does not trust (a command's output, a /proc file, a hand-edited
support bundle): ASCII digits only, and a bounded count of them.

Not str.isdigit() nor int() alone: isdigit() accepts `²`, which int() refuses, and int() reads
'٣٠' or '３０' as 30 and refuses more than 4300 digits with a ValueError (sys.int_info's limit)
that a parser must never raise. Every parser reads its numbers here.
"""

from __future__ import annotations

import re

_UNSIGNED = {10: re.compile(r"[0-9]{1,20}"), 16: re.compile(r"(?:0[xX])?[0-9A-Fa-f]{1,16}")}


def as_int(text: str | None, base: int = 10, maximum: int | None = None) -> int | None:
    """ASCII digits (hex with or without 0x for base 16) as an int, else None; None too above
    `maximum` (the kernel's largest value of the field, where it has one)."""
    if text is None or not _UNSIGNED[base].fullmatch(text):
        return None
    value = int(text, base)
    return value if maximum is None or value <= maximum else None
