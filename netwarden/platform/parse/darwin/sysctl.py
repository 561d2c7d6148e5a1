"""macOS `sysctl` output (`sysctl <keys>`, `sysctl net`, `sysctl -a`) and the typed values read
from it: the ephemeral port ranges, TCP timers and counters, `kern.boottime`, and when the TCP
clock wraps.

macOS prints `key: value` (an empty value as `key: `); old Mac OS X and the other BSDs print
`key = value`, and `sysctl -e` `key=value`. Keys come in any order (an older release lists a subtree in reverse), so the
output becomes a dict; a missing key is absent, never an error.
"""

from __future__ import annotations

import re
from typing import Mapping, NamedTuple

# A key is a dotted OID name: `sysctl: unknown oid ...` and other stray lines have no dot.
_LINE = re.compile(r"([A-Za-z0-9_%-]+(?:\.[A-Za-z0-9_%-]+)+)\s*[:=]\s*(.*)")
_INT = re.compile(r"-?[0-9]{1,20}")  # ASCII and bounded: int() refuses more than 4300 digits

PORTRANGE = "net.inet.ip.portrange."
TCP = "net.inet.tcp."
TCP_CLOCK_MODULUS_MS = 2**32  # tcp_now is a u_int32_t count of milliseconds


def parse_sysctl(text: str) -> dict[str, str]:
    """Every `key: value` / `key = value` / `key=value` line as key -> value (stripped; '' for `key: `).
    Blank, truncated and unrelated lines are skipped; a repeated key keeps its last value."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.fullmatch(line.strip())
        if m:
            values[m.group(1)] = m.group(2).strip()
    return values


def sysctl_int(values: Mapping[str, str], key: str) -> int | None:
    """The value of `key` as an integer; None when absent, empty or not a plain integer."""
    text = values.get(key)
    if text is None or not _INT.fullmatch(text.strip()):
        return None
    return int(text.strip())


class PortRange(NamedTuple):
    """A BSD port range as the kernel holds it. `first` may be above `last`: the kernel then
    hands out ports downwards (portrange.lowfirst 1023, lowlast 600 is the stock low range)."""

    first: int
    last: int

    @property
    def low(self) -> int:
        return min(self.first, self.last)

    @property
    def high(self) -> int:
        return max(self.first, self.last)

    @property
    def size(self) -> int:
        return self.high - self.low + 1


def port_range(values: Mapping[str, str], which: str = "") -> PortRange | None:
    """`net.inet.ip.portrange.first/last` (which=""), the range connect() without bind() takes
    its port from; which="hi" gives hifirst/hilast (only for IP_PORTRANGE_HIGH sockets) and
    which="low" lowfirst/lowlast. None unless both keys are integers within 0-65535."""
    first = sysctl_int(values, f"{PORTRANGE}{which}first")
    last = sysctl_int(values, f"{PORTRANGE}{which}last")
    if first is None or last is None or not (0 <= first <= 65535 and 0 <= last <= 65535):
        return None
    return PortRange(first, last)


class TcpSettings(NamedTuple):
    """The net.inet.tcp values the checks read; None where the key is missing or odd (`sysctl net`
    of OS X 10.8 has no keepcnt, now_init or tw_pcbcount)."""

    msl_ms: int | None  # TIME_WAIT lasts 2 x MSL
    now_init: int | None  # where the 32-bit millisecond TCP clock started at boot
    keepidle_ms: int | None
    keepintvl_ms: int | None
    keepcnt: int | None
    always_keepalive: int | None
    pmtud_blackhole_detection: int | None
    pmtud_blackhole_mss: int | None
    pcbcount: int | None  # TCP PCBs of every state, a cheap total
    tw_pcbcount: int | None  # PCBs in TIME_WAIT: printed by macOS 10.14, gone from current XNU

    @property
    def time_wait_seconds(self) -> float | None:
        return 2 * self.msl_ms / 1000 if self.msl_ms else None


_TCP_KEYS = {  # field -> (key, lowest valid value, highest)
    "msl_ms": ("msl", 1, 2**31 - 1), "now_init": ("now_init", 0, TCP_CLOCK_MODULUS_MS - 1),
    "keepidle_ms": ("keepidle", 0, 2**31 - 1), "keepintvl_ms": ("keepintvl", 0, 2**31 - 1),
    "keepcnt": ("keepcnt", 0, 2**31 - 1), "always_keepalive": ("always_keepalive", 0, 1),
    "pmtud_blackhole_detection": ("pmtud_blackhole_detection", 0, 1),
    "pmtud_blackhole_mss": ("pmtud_blackhole_mss", 0, 65535),
    "pcbcount": ("pcbcount", 0, 2**32 - 1), "tw_pcbcount": ("tw_pcbcount", 0, 2**32 - 1),
}


def tcp_settings(values: Mapping[str, str]) -> TcpSettings:
    read = {}
    for field_name, (key, lowest, highest) in _TCP_KEYS.items():
        number = sysctl_int(values, TCP + key)
        read[field_name] = number if number is not None and lowest <= number <= highest else None
    return TcpSettings(**read)


_BOOTTIME = re.compile(r"\{\s*sec\s*=\s*(\d{1,12})\s*(?:,\s*usec\s*=\s*(\d{1,6})\s*)?\}")


def parse_boottime(value: str) -> float | None:
    """`kern.boottime` (`{ sec = 1592836479, usec = 918881 } Mon Jun 22 07:34:39 2020`) as a
    Unix time; the ctime suffix is local time and ignored. None when unreadable or zero."""
    m = _BOOTTIME.search(value)
    if not m or int(m.group(1)) == 0:
        return None
    return int(m.group(1)) + int(m.group(2) or 0) / 1e6


def tcp_clock_wrap_epoch(boottime: float | None, now_init: int | None) -> float | None:
    """When the TCP clock wraps: tcp_now counts milliseconds from `now_init` (a random start the
    kernel picks at boot, below 2^30 in current XNU) as a u_int32_t, so it wraps
    (2^32 - now_init) ms after boot, between ~37.3 and 49.7 days of uptime."""
    if boottime is None or now_init is None or not 0 <= now_init < TCP_CLOCK_MODULUS_MS:
        return None
    return boottime + (TCP_CLOCK_MODULUS_MS - now_init) / 1000
