"""`netstat -ano -p tcp`, `netstat -ano`, `netstat -an`, `netstat -anob`: one row per socket.

A row is recognised by its shape, never by the header (`Proto  Local Address` / `协议  本地地址`):
the protocol (`TCP`/`UDP`, never translated), two endpoints (`a.b.c.d:port`, `[v6%zone]:port`,
`*:*`), then the state word(s) and a PID when -o was given. `-b` adds lines with a service or
`[program.exe]` after a row; they have no such shape and are skipped.

State words are localized on some systems. The raw word is kept; `state` is normalized to
Windows' English names when the word is English or one of the German words below (from
Checkmk's win_netstat check: German Windows prints ABHÖREN, HERGESTELLT, WARTEND,
SCHLIESSEN_WARTEN); anything else is None. Counting sockets per destination needs no state word
(see ports_in_use_per_destination)."""

from __future__ import annotations

import re
from typing import NamedTuple

from netwarden.platform.parse.windows._text import is_ip_address, lines

_PROTO = re.compile(r"^(TCP|UDP)(v6)?$", re.IGNORECASE)
_ENDPOINT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<other>[^\[\]]+)):(?P<port>\d{1,5}|\*)$")
ENGLISH_STATES = ("CLOSED", "LISTENING", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
                  "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT", "DELETE_TCB", "BOUND")
_LOCALIZED_STATES = {"ABHÖREN": "LISTENING", "HERGESTELLT": "ESTABLISHED", "WARTEND": "TIME_WAIT",
                     "SCHLIESSEN_WARTEN": "CLOSE_WAIT"}
_WILDCARDS = {"*", "0.0.0.0", "::"}


class Connection(NamedTuple):
    proto: str  # "TCP" / "UDP"
    local_address: str
    local_port: int | None  # None for `*`
    remote_address: str  # "*" for UDP's `*:*`
    remote_port: int | None
    state_text: str  # as printed ("" for UDP and for a paste that cut it)
    state: str | None  # one of ENGLISH_STATES when the word is known, else None
    pid: int | None  # None without -o


class Netstat(NamedTuple):
    connections: tuple[Connection, ...]
    problems: tuple[str, ...]


def _endpoint(word: str) -> tuple[str, int | None] | None:
    m = _ENDPOINT.match(word)
    if not m:
        return None
    address = m.group("v6") or m.group("other")
    if address != "*" and not is_ip_address(address):
        return None
    port = None if m.group("port") == "*" else int(m.group("port"))
    if port is not None and port > 65535:
        return None
    return address, port


def _state(text: str) -> str | None:
    word = text.upper().replace("-", "_")
    if word in ENGLISH_STATES:
        return word
    return _LOCALIZED_STATES.get(word)


def parse_netstat(text: str) -> Netstat | None:
    """None when no socket row was found. Rows whose endpoints are unreadable are reported."""
    found, problems = [], []
    for number, line in enumerate(lines(text), start=1):
        words = line.split()
        if len(words) < 3 or not _PROTO.match(words[0]):
            continue
        local, remote = _endpoint(words[1]), _endpoint(words[2])
        if local is None or remote is None:
            problems.append(f"line {number}: endpoints unreadable: {line.strip()[:80]!r}")
            continue
        rest = words[3:]
        pid = int(rest.pop()) if rest and rest[-1].isascii() and rest[-1].isdigit() and len(rest[-1]) <= 10 else None
        state_text = " ".join(rest)
        found.append(Connection(words[0][:3].upper(), local[0], local[1], remote[0], remote[1], state_text,
                                _state(state_text), pid))
    return Netstat(tuple(found), tuple(problems)) if found else None


def is_outgoing(connection: Connection) -> bool:
    """A TCP socket connected to a real remote endpoint (not a listener, not UDP's `*:*`)."""
    return (connection.proto == "TCP" and connection.remote_port not in (None, 0)
            and connection.remote_address not in _WILDCARDS)


def ports_in_use_per_destination(connections, low: int, high: int) -> dict[tuple[str, int], int]:
    """(remote address, remote port) -> how many TCP sockets hold a local port in low..high
    toward it, in any state (TIME_WAIT holds its port as much as ESTABLISHED does). This is the
    per-destination budget: Windows can reuse a local port for a different destination."""
    counts: dict[tuple[str, int], int] = {}
    for connection in connections:
        if is_outgoing(connection) and connection.local_port is not None and low <= connection.local_port <= high:
            key = (connection.remote_address, connection.remote_port)
            counts[key] = counts.get(key, 0) + 1
    return counts
