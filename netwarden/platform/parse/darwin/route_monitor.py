"""`route -n monitor`'s message lines: the daemon's fallback source of route and interface changes
on a Mac whose Python has no socket.AF_ROUTE (route_socket.py reads the socket itself otherwise).

No capture of `route -n monitor` exists in ../shared/fixtures; the format is route.c's
print_rtmsg (apple-oss-distributions/network_cmds, as in the BSDs): for each message
`got message of size N on <ctime>`, then one line that starts with msgtypes[type]
("RTM_ADD: Add Route", "RTM_IFINFO: iface status change", ...) followed by `: len N, ` and, for
route messages, `pid: P, seq S, errno E, flags:<UP,GATEWAY,...>`, for RTM_IFINFO `if# I,
flags:<...>`; then the addresses on lines of their own. Only that one line is read: it names
the message, its flags (by name) and its errno.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_TYPE = re.compile(r"(RTM_[A-Z0-9_]{1,20}):")
_FLAGS = re.compile(r"flags:<([A-Za-z0-9_,]*)>")
_ERRNO = re.compile(r"errno (-?[0-9]{1,6})")
_INDEX = re.compile(r"if# ([0-9]{1,6})")


class MonitorLine(NamedTuple):
    type: str  # RTM_ADD, RTM_IFINFO ...
    flags: tuple[str, ...]  # UP, GATEWAY, WASCLONED ... as route prints them
    errno: int  # 0 unless the line says otherwise
    index: int | None  # the interface index of RTM_IFINFO / RTM_NEWADDR lines


def parse_monitor_line(line: str) -> MonitorLine | None:
    """The message a line of `route -n monitor` starts; None for every other line (the
    `got message` line, addresses, locks, blank lines, anything else)."""
    if not isinstance(line, str):
        return None
    match = _TYPE.match(line.strip())
    if match is None:
        return None
    flags = _FLAGS.search(line)
    errno = _ERRNO.search(line)
    index = _INDEX.search(line)
    return MonitorLine(match.group(1), tuple(f for f in flags.group(1).split(",") if f) if flags else (),
                       int(errno.group(1)) if errno else 0, int(index.group(1)) if index else None)
