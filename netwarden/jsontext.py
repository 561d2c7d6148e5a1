"""JSON that netwarden did not write itself (requests on the control socket, its answers as a
client reads them, state files, support bundles): strict, and every failure a ValueError.

Standard library only and imported by `netwarden status`: it must stay light.
"""

from __future__ import annotations

import json
import math


def _not_json(token: str):
    raise ValueError(f"{token} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} overflows a double")
    return value


def _unique(pairs: list) -> dict:
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r} appears twice")
        seen.add(key)
    return dict(pairs)


def loads(data: bytes | str, unique_keys: bool = False):
    """NaN, Infinity and numbers that overflow a double (which Python's json takes) are refused,
    so no non-finite number gets in; nesting too deep for the parser (RecursionError) and bytes
    that are not UTF-8 are ValueErrors like any other bad JSON. Bytes are UTF-8 or refused as
    such: json would guess UTF-16 from a leading \\xff\\xfe and say "'utf-16-le' codec can't ...".
    unique_keys: a key twice in one object is refused (as TOML refuses it), not the last one taken."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = data.decode("utf-8-sig")  # a byte-order mark, as json takes it
        except UnicodeDecodeError as e:
            raise ValueError(f"not UTF-8 JSON: byte {data[e.start]:#04x} at offset {e.start}") from None
    try:
        return json.loads(data, parse_constant=_not_json, parse_float=_finite,
                          object_pairs_hook=_unique if unique_keys else None)
    except RecursionError:
        raise ValueError("nested too deep") from None
    except ValueError as e:
        raise ValueError(plain_digits_limit(e)) from None


def plain_digits_limit(error: ValueError) -> str:
    """int()'s refusal of a 5,000-digit number tells a programmer to call
    sys.set_int_max_str_digits(); a user reading a file's error is told what is wrong."""
    text = " ".join(str(error).split())
    return "a number of more than 4300 digits" if "int_max_str_digits" in text else text
