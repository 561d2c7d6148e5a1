"""Helpers the darwin parsers share."""

from __future__ import annotations

import re

_UNSIGNED = {10: re.compile(r"[0-9]{1,20}"), 16: re.compile(r"(?:0[xX])?[0-9A-Fa-f]{1,16}")}


def as_int(text: str | None, base: int = 10) -> int | None:
    """ASCII digits (hex with or without 0x for base 16) as an int, else None. Not str.isdigit():
    it accepts `²`, which int() refuses; and bounded: int() refuses more than 4300 digits."""
    if text is None or not _UNSIGNED[base].fullmatch(text):
        return None
    return int(text, base)
