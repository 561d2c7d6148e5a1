"""Linux's raw facts: what the Linux backend reads before it derives the neutral facts the checks
judge (linux_facts.py) and plans its changes from (linux_plan.py): sysctl.d assignments,
/proc/net/sockstat, gai.conf and resolv.conf as glibc reads them."""

from __future__ import annotations

from typing import NamedTuple


class SysctlAssignment(NamedTuple):
    """One `key = value` line of a sysctl.d / sysctl.conf file."""

    path: str
    line: int
    key: str
    value: str


class BootSysctls(NamedTuple):
    """What systemd-sysctl would apply at boot, in the order it applies it (the last one wins)."""

    assignments: tuple[SysctlAssignment, ...] = ()
    problems: tuple[str, ...] = ()  # unreadable files, malformed lines

    def setters(self, key: str) -> list[SysctlAssignment]:
        return [a for a in self.assignments if a.key == key]


class SockStat(NamedTuple):
    tcp_inuse: int
    time_wait: int
    orphan: int


# Linux's kinds, then macOS's own tunnel drivers (utun is "tun", ppp "ppp"): gif (generic IP in IP),
# stf (6to4), ipsec.
class GaiConf(NamedTuple):
    """/etc/gai.conf as glibc reads it: any `precedence` line replaces the whole default table."""

    path: str
    exists: bool
    precedence: tuple[tuple[str, int], ...] = ()  # (prefix, value), in file order
    netwarden_block: bool = False
    problems: tuple[str, ...] = ()
    text: str = ""  # the file as read: a change rewrites it, keeping the user's lines


class ResolvConf(NamedTuple):
    path: str
    symlink_target: str | None = None
    dangling: bool = False
    manager: str = "static"  # "systemd-resolved", "NetworkManager", "resolvconf", "wsl", "static"
    nameservers: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # lines libc ignores or misreads
    text: str = ""
    blocking: tuple[str, ...] = ()  # lines that make every lookup fail or hang

    def option(self, name: str, default: int, cap: int) -> int:
        """`options name:N` as glibc reads it: the last one that is a number, at most `cap`
        (glibc's own limit: larger values are taken as the cap)."""
        from netwarden.platform.parse.numbers import as_int

        for opt in reversed(self.options):
            key, _, value = opt.partition(":")
            number = as_int(value) if key == name else None
            if number is not None:
                return min(number, cap)
        return default
