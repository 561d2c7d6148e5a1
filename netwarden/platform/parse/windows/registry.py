"""`reg query HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters` (and `/v NAME`).

The format, as Microsoft documents `reg query`: a line with the key's full path, then one line
per value, indented four spaces: `NAME    REG_TYPE    DATA` with four spaces between the parts
(names may hold single spaces: `NV Hostname`); subkeys follow as lines of their own with their
full paths. Type names (REG_DWORD ...) are not localized; the unnamed value's `(Default)` is, and
so is the error printed when a value is absent (the caller has reg's exit code 1 for that).
DWORD/QWORD data is printed in hex (`0x1e`) and is returned as int."""

from __future__ import annotations

import re
from typing import NamedTuple

from netwarden.platform.parse.windows._text import lines

_TYPE = re.compile(r"\s(REG_[A-Z0-9_]+)(?=\s|$)")  # searched, not matched whole: linear on any line
_KEY = re.compile(r"^(?:HKEY_[A-Z_]+|HK(?:LM|CU|CR|U|CC))(?:\\.*)?$")


class RegValue(NamedTuple):
    type: str  # "REG_DWORD", "REG_SZ", ...
    value: object  # int for REG_DWORD / REG_QWORD, tuple[str, ...] for REG_MULTI_SZ, bytes for REG_BINARY, str else
    raw: str  # the data as printed


class RegQuery(NamedTuple):
    key: str | None  # the first key printed (the one asked about)
    values: dict[str, RegValue]  # that key's values by name
    subkeys: tuple[str, ...]  # full paths of the other keys printed (with /s, their values are not read)
    problems: tuple[str, ...]


def _convert(kind: str, data: str):
    if kind in ("REG_DWORD", "REG_QWORD", "REG_DWORD_BIG_ENDIAN"):
        text = data.strip().lower()
        hexadecimal = text.startswith("0x")
        digits, allowed = (text[2:], "0123456789abcdef") if hexadecimal else (text, "0123456789")
        if digits and len(digits) <= 20 and all(c in allowed for c in digits):
            return int(digits, 16 if hexadecimal else 10)
        return None
    if kind == "REG_MULTI_SZ":
        return tuple(part for part in data.split("\\0") if part)
    if kind == "REG_BINARY":
        try:
            return bytes.fromhex(data.strip())
        except ValueError:
            return None
    return data


def parse_reg_query(text: str) -> RegQuery | None:
    """None when there is neither a key line nor a value line."""
    key, values, subkeys, problems = None, {}, [], []
    for number, line in enumerate(lines(text), start=1):
        if not line.strip():
            continue
        if _KEY.match(line):
            if key is None:
                key = line
            else:
                subkeys.append(line)
            continue
        m = _TYPE.search(line) if line[0].isspace() else None
        name = line[:m.start()].strip() if m else ""
        if not name or subkeys:  # values under a subkey (/s) belong to that subkey, not to `key`
            continue
        data = line[m.end():]
        data = data[4:] if data.startswith("    ") else data.lstrip()  # the separator is four spaces
        kind = m.group(1)
        value = _convert(kind, data)
        if value is None:
            problems.append(f"line {number}: {name!r}: {kind} data unreadable: {data[:40]!r}")
            continue
        values[name] = RegValue(kind, value, data)
    if key is None and not values:
        return None
    return RegQuery(key, values, tuple(subkeys), tuple(problems))
