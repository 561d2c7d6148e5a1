"""What every Windows output parser here shares: lines without CR, console prompts, elision marks,
address shapes. Nothing in this package reads an English word to find a value (netsh, ipconfig,
netstat and route are localized); where a word list is unavoidable it sits next to its parser
with its sources."""

from __future__ import annotations

import re
import socket
from typing import NamedTuple

from netwarden.platform.parse.netfs import is_ip_address

__all__ = ["is_ip_address", "lines", "is_prompt", "is_elision", "is_dashes", "address_token",
           "is_placeholder_resolver", "without_placeholders", "Command", "split_transcript", "leader"]

# A console prompt in a pasted or recorded transcript: `C:\Users\x>`, `PS C:\x> `, interactive
# `netsh>` / `netsh interface ipv4>`, and the `❯ ` of a themed PowerShell.
_PROMPT = re.compile(r"^\s*(?:PS [^>\n]{0,260}>|[A-Za-z]:\\[^>\n]{0,260}>|netsh(?: [\w-]+){0,4}>|❯ )")
# `...`, `[...]`, `…` on a line of their own: the author (or PowerShell) left rows out.
_ELISION = re.compile(r"^\s*(?:\.{3,}|\[\.{3}\]|…)\s*$")
# An address as printed in a value: IPv4, IPv6 (with an optional %zone), then anything
# (`(Preferred)`, `(首选)`, `(mask 255.0.0.0)`); `***` and other placeholders do not match.
_ADDRESS = re.compile(r"^\s*([0-9A-Fa-f:.]+(?:%[\w.-]+)?)")
# Windows' placeholder resolvers fec0:0:0:ffff::1..3 (a deprecated site-local prefix) stand for
# "no DNS server configured" on an interface, they are never a real resolver.
_PLACEHOLDER_PREFIX = socket.inet_pton(socket.AF_INET6, "fec0:0:0:ffff::")[:14]


def lines(text: str) -> list[str]:
    """Lines without their CR/LF (CRLF, LF, and the lone CRs of a console log) and right-stripped:
    pastes keep or drop trailing padding at will. A BOM at the start is dropped."""
    if not isinstance(text, str):
        return []
    return [line.rstrip() for line in text.lstrip("\ufeff").splitlines()]


def leader(line: str) -> tuple[str, str | None] | None:
    """(label, value or None) of an indented `Label . . . . : value` line (ipconfig's leader;
    also `Label. . :`, `Label  . :`, `Label :`, and netsh's `Label:    value`), else None. The
    label holds no colon; a colon followed by something else than a space is inside a value (an
    IPv6 continuation line such as `fec0:0:0:ffff::2%1`). No regex: linear on any line."""
    colon = line.find(":")
    if colon < 0 or not line[:1].isspace() or line[colon + 1:colon + 2] not in ("", " ", "\t"):
        return None
    label = line[:colon].rstrip(" .\t").strip()
    return (label, line[colon + 1:].strip() or None) if label else None


def is_prompt(line: str) -> bool:
    return bool(_PROMPT.match(line))


def is_elision(line: str) -> bool:
    return bool(_ELISION.match(line))


def is_dashes(line: str) -> bool:
    """A table's underline (`------  ---------`), whatever its widths."""
    stripped = line.strip()
    return bool(stripped) and set(stripped) <= {"-", " "}


def address_token(value: str | None) -> str | None:
    """The address a value starts with (zone kept, status suffix dropped), or None."""
    m = _ADDRESS.match(value or "")
    return m.group(1) if m and is_ip_address(m.group(1)) else None


def is_placeholder_resolver(address: str) -> bool:
    try:
        packed = socket.inet_pton(socket.AF_INET6, address.split("%", 1)[0])
    except (OSError, ValueError):
        return False
    return packed[:14] == _PLACEHOLDER_PREFIX


def without_placeholders(servers) -> tuple[str, ...]:
    """The real resolvers among servers as listed (placeholders dropped)."""
    return tuple(server for server in servers if not is_placeholder_resolver(server))


class Command(NamedTuple):
    command: str | None  # the command line after the prompt; None for output before any prompt
    output: str


def split_transcript(text: str) -> tuple[Command, ...]:
    """A pasted console session cut at its prompts: each command with the output that followed.
    Text without prompts is one Command(None, text)."""
    found: list[Command] = []
    command, output = None, []

    def close():
        if command or any(out.strip() for out in output):  # a bare trailing prompt is no command
            found.append(Command(command, "\n".join(output)))

    for line in lines(text):
        if is_prompt(line):
            close()
            command, output = _PROMPT.sub("", line, count=1).strip(), []
        else:
            output.append(line)
    close()
    return tuple(found)
