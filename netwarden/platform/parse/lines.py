"""The lines of a configuration file as glibc and systemd read them, and back again.

Only "\\n" ends a line (str.splitlines also splits at \\r, \\v, \\f, \\x1c-\\x1e, \\x85, U+2028…,
which none of those readers do), and each line keeps its own ending: a file netwarden rewrites
keeps every line it does not change byte for byte, CRLF ones included. The text is what
Source.read gives: bytes that are not UTF-8 are lone surrogates, which pass through untouched.
"""

from __future__ import annotations

from typing import NamedTuple


class Line(NamedTuple):
    body: str  # without its ending
    end: str = "\n"  # "\n", "\r\n", or "" for a last line without one


def split_lines(text: str) -> list[Line]:
    parts = text.split("\n")
    lines = [Line(p[:-1], "\r\n") if p.endswith("\r") else Line(p, "\n") for p in parts[:-1]]
    return lines + ([Line(parts[-1], "")] if parts[-1] else [])


def join_lines(lines: list[Line]) -> str:
    """The text again; a line without an ending that is no longer the last one gets "\\n"."""
    return "".join(line.body + (line.end or ("\n" if number < len(lines) else ""))
                   for number, line in enumerate(lines, start=1))


def bodies(text: str) -> list[str]:
    """The lines without their endings, numbered as split_lines numbers them (from 1); without a
    Line each, which made a file of a million lines cost seconds."""
    parts = text.split("\n")
    last = parts.pop()
    found = [p[:-1] if p.endswith("\r") else p for p in parts]
    return found + [last] if last else found
