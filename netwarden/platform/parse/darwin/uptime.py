"""macOS `uptime` (BSD w(1)): `10:09  up 3 mins, 3 users, load averages: 5.63 7.26 3.53`.

w.c prints `up`, then `N day(s),` when a day has passed, then one of `H:MM,` / `N hr(s),` /
`N min(s),` / `N sec(s),`, having rounded to the nearest minute past the first one. So this is a
minute-precision figure: the backend prefers `kern.boottime` and uses this where that is missing.
"""

from __future__ import annotations

import re

_PART = re.compile(r"(\d{1,9}) +(day|hr|min|sec)s?|(\d{1,9}):(\d{2})")
_SECONDS = {"day": 86400, "hr": 3600, "min": 60, "sec": 1}


def parse_uptime(text: str) -> float | None:
    """Seconds since boot as `uptime` printed them; None without a readable `up ...` part."""
    m = re.search(r"\bup\s+(.*)", text)
    if not m:
        return None
    total, seen = 0, False
    for part in m.group(1).split(","):
        part = part.strip()
        if "user" in part or "load" in part:
            break
        match = _PART.fullmatch(part)
        if not match:
            break
        seen = True
        if match.group(2):
            total += int(match.group(1)) * _SECONDS[match.group(2)]
        else:
            total += int(match.group(3)) * 3600 + int(match.group(4)) * 60
    return float(total) if seen else None
