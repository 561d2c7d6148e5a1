"""Parser for sysctl.d(5) files: `key = value` lines, `#`/`;` comments, an optional `-` prefix."""

from __future__ import annotations

import re

from netwarden.platform.linux_types import SysctlAssignment
from netwarden.platform.parse.lines import bodies
from netwarden.target import shown

_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}")


def valid_sysctl_key(key: object) -> bool:
    """A name safe to turn into a /proc/sys path: no slashes, no `..`, bounded."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None and ".." not in key


def normalize_key(key: str) -> str:
    """sysctl.d accepts `net/ipv4/tcp_tw_reuse` too: when the first separator is '/', '/' and '.' swap."""
    key = key.strip().lstrip("-").strip()
    first = min((i for i in (key.find("."), key.find("/")) if i >= 0), default=-1)
    if first >= 0 and key[first] == "/":
        key = key.translate(str.maketrans("/.", "./"))
    return key


def parse_sysctl_conf(text: str, path: str) -> tuple[list[SysctlAssignment], list[str]]:
    """The assignments of one file, in order, and a description of each line it could not read."""
    assignments, problems = [], []
    for number, raw in enumerate(bodies(text), start=1):  # numbered as a rewrite numbers them
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        key = normalize_key(key)
        if not sep or not key or any(c.isspace() for c in key):
            problems.append(f"{path}:{number}: not a `key = value` line: {shown(raw.strip(), 90)}")
            continue
        assignments.append(SysctlAssignment(path, number, key, value.strip()))
    return assignments, problems


def same_value(a: str, b: str) -> bool:
    """Sysctl values compare by their whitespace-separated words (`32768\\t60999` == `32768 60999`)."""
    return a.split() == b.split()
