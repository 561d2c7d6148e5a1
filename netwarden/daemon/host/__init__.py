"""The daemon's per-OS pieces, behind one small interface, one module per OS.

| piece                          | Linux (linux.py)            | macOS (darwin.py)                 | Windows (windows.py)            |
|--------------------------------|-----------------------------|-----------------------------------|---------------------------------|
| file watcher (watchdog)        | inotify observer            | FSEvents observer                 | polling observer                |
| kernel changes (links, routes) | netlink (pyroute2)          | PF_ROUTE socket; `route -n        | links and routes re-read every  |
|                                |                             | monitor` where AF_ROUTE is absent | census_interval (no notifier)   |
| control channel                | Unix socket, SO_PEERCRED +  | Unix socket, LOCAL_PEERCRED       | no socket (CPython has no       |
|                                | SO_PEERGROUPS               | (struct xucred)                   | AF_UNIX there): status.json     |
| service manager                | sd_notify                   | none (launchd needs no readiness) | none (Task Scheduler)           |
| paths                          | config.platform_paths: each OS's state directory and control socket                          |

A Host answers for the machine the daemon runs on (sys.platform), whatever backend the Source
picks: a Mac's support bundle replayed on Linux still has Linux's watchers. Each module imports
only what its OS has, when the daemon starts, so the others load on any machine (their logic is
tested on Linux with the OS calls faked).
"""

from __future__ import annotations

import sys
from typing import Callable, NamedTuple, Protocol


class Peer(NamedTuple):
    """Who is at the other end of a control-socket connection."""

    uid: int
    groups: tuple[int, ...]  # every group it holds, its primary one included


class Notifier(Protocol):
    """The service manager's side: readiness, status, watchdog, reload, stop."""

    def send(self, *lines: str) -> None: ...
    def watchdog_interval(self) -> float | None: ...
    def reloading(self) -> None: ...


class KernelWatcher(Protocol):
    """Puts a Trigger("kernel", "link NAME" | "default route" | "route DST", {"before", "after"})
    on the daemon's queue for each change; `thread` is supervised, `available` False once it gave
    up on purpose (no such interface on this host: the daemon runs on without it)."""

    thread: object
    available: bool
    ready: object  # threading.Event, set once it listens (or gave up)


class Host(Protocol):
    system: str
    kernel_source: str  # what kernel-changed events name as their trigger ("netlink" ...)
    control_socket: bool  # False: status goes to <state_dir>/status.json instead

    def file_observer(self, settings): ...
    def kernel_watcher(self, put: Callable, log: Callable[[str], None], settings, source) -> KernelWatcher: ...
    def peer(self, sock) -> Peer | None: ...
    def notifier(self, log) -> Notifier: ...


class NoNotifier:
    """A service manager that wants no messages (launchd, Task Scheduler)."""

    def send(self, *lines: str) -> None:
        pass

    def watchdog_interval(self) -> None:
        return None

    def reloading(self) -> None:
        pass


def host_for(system: str = sys.platform) -> Host:
    if system == "darwin":
        from netwarden.daemon.host.darwin import DarwinHost

        return DarwinHost()
    if system == "win32":
        from netwarden.daemon.host.windows import WindowsHost

        return WindowsHost()
    from netwarden.daemon.host.linux import LinuxHost

    return LinuxHost()
