"""The console's code page (`chcp`) and decoding command output by it.

Console programs (netsh, ipconfig, route, netstat, chcp, reg) write in the console's OEM code
page: 437 (US), 850 (Western Europe), 936 (GBK, Simplified Chinese), 932, 949, 950, 866 ...;
65001 is UTF-8. wsl.exe writes UTF-16LE unless WSL_UTF8=1 is set. `chcp` prints the number after
a localized label: `Active code page: 850`, `Aktive Codepage: 850.`, `活动代码页: 936`."""

from __future__ import annotations

import codecs
import re

from netwarden.platform.parse.windows._text import lines

_NUMBER = re.compile(r"(\d{1,5})\s*\.?$")  # on a right-stripped line: no two \s* to backtrack between
# Windows code page numbers whose Python codec is not named cp<N>.
_CODECS = {65001: "utf-8", 1200: "utf-16-le", 1201: "utf-16-be", 20127: "ascii", 28591: "latin-1",
           54936: "gb18030", 20932: "euc-jp", 51932: "euc-jp", 51949: "euc-kr", 65000: "utf-7",
           10000: "mac-roman", 12000: "utf-32-le", 12001: "utf-32-be"}


def parse_chcp(text: str) -> int | None:
    """The number ending the last line that has one (after the label's colon), 1-65535."""
    for line in reversed(lines(text)):
        if ":" not in line and "：" not in line:
            continue
        m = _NUMBER.search(line)
        if m and 1 <= int(m.group(1)) <= 65535:
            return int(m.group(1))
    return None


def codec_for(codepage: int | None) -> str | None:
    """Python's codec for a Windows code page, or None when Python has none."""
    if not isinstance(codepage, int) or isinstance(codepage, bool) or not 0 < codepage <= 65535:
        return None
    name = _CODECS.get(codepage, f"cp{codepage}")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _looks_utf16le(raw: bytes) -> bool:
    """A BOM, or mostly-ASCII text with a NUL in (nearly) every odd byte: wsl.exe's output."""
    if raw.startswith(b"\xff\xfe"):
        return True
    if len(raw) < 4:
        return False
    odd = raw[1::2]
    return odd.count(0) >= 0.8 * len(odd) and raw[0::2].count(0) <= 0.1 * len(odd)


def decode_console(raw: bytes, codepage: int | None) -> str:
    """Decode a console program's output. Order: UTF-16LE when it looks like it (BOM, or a NUL
    in every odd byte); UTF-8 when it decodes cleanly (a UTF-8 BOM, WSL_UTF8=1, a 65001 console
    the caller did not know about: UTF-8 validates itself, and real GBK or cp850 output almost
    never passes as UTF-8, while single-byte code pages accept any bytes and would turn UTF-8
    into mojibake); the code page's codec; else the code page's codec (UTF-8 without one)
    replacing what it cannot read. Unknown code page numbers fall back the same way. Never raises."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        return ""
    raw = bytes(raw)
    codec = codec_for(codepage)
    if _looks_utf16le(raw) or (codec or "").startswith(("utf-16", "utf-32")):
        # CJK text in UTF-16 often is valid ASCII byte by byte: the caller's word decides first
        return raw.decode(codec if (codec or "").startswith(("utf-16", "utf-32")) else "utf-16-le",
                          errors="replace").lstrip("\ufeff")
    for candidate in ("utf-8-sig", codec):
        if candidate:
            try:
                return raw.decode(candidate)
            except (UnicodeDecodeError, LookupError):
                pass
    return raw.decode(codec or "utf-8", errors="replace")
