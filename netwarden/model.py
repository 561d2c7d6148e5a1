"""The data that flows through netwarden: Facts in, Findings and Changes out.

Plain dataclasses on purpose: `netwarden check` must start fast, so nothing here imports pydantic.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any


class Severity(str, enum.Enum):
    OK = "ok"
    UNKNOWN = "unknown"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def exit_code(self) -> int:
        """The monitoring-plugin convention: 0 ok, 1 warning, 2 critical, 3 unknown."""
        return _EXIT[self]


_RANK = {Severity.OK: 0, Severity.UNKNOWN: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}
_EXIT = {Severity.OK: 0, Severity.WARNING: 1, Severity.CRITICAL: 2, Severity.UNKNOWN: 3}


def worst(severities) -> Severity:
    return max(severities, key=lambda s: s.rank, default=Severity.OK)


@dataclass(frozen=True)
class Unknown:
    """A fact that could not be read, and why (no permission, absent sysctl, read-only /proc/sys...)."""

    reason: str


@dataclass(frozen=True)
class PlatformInfo:
    system: str  # "linux", "darwin", "windows"
    flavor: str  # "linux", "wsl1", "wsl2", ...
    kernel: str = ""
    wsl_networking_mode: str | None = None  # "nat", "mirrored", ... or None when not WSL2 / not known
    evidence: tuple[str, ...] = ()

    def describe(self) -> str:
        text = self.flavor if self.flavor != self.system else self.system
        if self.flavor == "wsl2":
            text += f", {self.wsl_networking_mode or 'networking mode unknown'}"
        return text


@dataclass(frozen=True)
class SysctlAssignment:
    """One `key = value` line of a sysctl.d / sysctl.conf file."""

    path: str
    line: int
    key: str
    value: str


@dataclass(frozen=True)
class BootSysctls:
    """What systemd-sysctl would apply at boot, in the order it applies it (the last one wins)."""

    assignments: tuple[SysctlAssignment, ...] = ()
    problems: tuple[str, ...] = ()  # unreadable files, malformed lines

    def setters(self, key: str) -> list[SysctlAssignment]:
        return [a for a in self.assignments if a.key == key]


@dataclass(frozen=True)
class Destination:
    """Sockets holding an ephemeral port towards one (remote address, remote port)."""

    address: str
    port: int
    total: int
    time_wait: int
    tw_young: int = 0  # TIME_WAIT sockets closed within the last WINDOW seconds
    tw_expiring: int = 0  # TIME_WAIT sockets that leave within the next WINDOW seconds

    @property
    def name(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


@dataclass(frozen=True)
class Census:
    """Per-destination use of ephemeral ports (local port inside the ephemeral range)."""

    window: int  # seconds, for tw_young / tw_expiring
    sockets: int  # sockets with a local port in the range, all destinations
    time_wait: int
    destinations: tuple[Destination, ...] = ()  # busiest first, bounded


@dataclass(frozen=True)
class SockStat:
    tcp_inuse: int
    time_wait: int
    orphan: int


@dataclass
class Facts:
    platform: PlatformInfo
    sysctls: dict[str, str | Unknown] = field(default_factory=dict)
    boot_sysctls: BootSysctls | Unknown | None = None
    sockstat: SockStat | Unknown | None = None
    census: Census | Unknown | None = None


@dataclass(frozen=True)
class Change:
    """A planned change, as data. `kind` says which backend operation carries it out."""

    check: str
    kind: str  # "sysctl" (runtime /proc/sys write) or "file" (whole-file atomic write)
    target: str  # sysctl key, or file path
    current: str | None
    new: str
    persist: bool = False  # sysctl: also write netwarden's sysctl.d drop-in
    needs_root: bool = True
    summary: str = ""

    def describe(self) -> str:
        if self.kind == "file":
            return f"write {self.target}" + (f" ({self.summary})" if self.summary else "")
        where = "runtime + drop-in" if self.persist else "runtime only"
        return f"{self.target}: {self.current} -> {self.new} ({where})"


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    title: str
    observed: str = ""
    expected: str = ""
    evidence: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    advice: tuple[str, ...] = ()
    # What drift is judged on besides severity: the setting itself ("32768-60999"), not counts
    # that move with every census.
    value: str = ""


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums and paths to plain JSON types; an Unknown becomes {"unknown": reason}."""
    if isinstance(value, Unknown):
        return {"unknown": value.reason}
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    return value
