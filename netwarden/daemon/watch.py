"""Watchers: they only notice, and hand a Trigger to the daemon's loop; the loop does the work.

- FileWatcher (watchdog, inotify on Linux): each watched path's directory is watched, so
  replace-by-rename (editors, resolvconf, NetworkManager) is seen as well as in-place writes. For a
  symlink (/etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf) the target's directory is
  watched too, and re-armed when the link is retargeted: inotify on the link's directory sees the
  link change, not writes behind it.
- NetlinkWatcher (pyroute2): links (MTU, operstate) and default routes. pyroute2 0.9 wants the
  socket created and bound in the thread that reads it, so the thread does both.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Trigger:
    kind: str  # "file", "kernel", "signal", "rpc", "thread" (one ended: the loop looks)
    detail: str = ""
    data: dict = field(default_factory=dict, compare=False)


def file_fingerprint(path: Path) -> str:
    """A short content hash of a file, or of a directory's *.conf files; 'absent' if missing."""
    try:
        if path.is_dir():
            digest = hashlib.sha256()
            for child in sorted(path.glob("*.conf")):
                digest.update(child.name.encode() + b"\0" + _read(child) + b"\0")
            return digest.hexdigest()[:16]
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except FileNotFoundError:
        return "absent"
    except OSError as e:
        return f"unreadable ({e.strerror})"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


class FileWatcher:
    def __init__(self, paths: list[Path], put) -> None:
        from watchdog.observers import Observer

        self.paths = [Path(p) for p in paths]
        self.put = put
        self.observer = Observer()
        self.observer.daemon = True
        self._watches: dict[str, object] = {}  # directory -> watchdog watch
        self._links: dict[Path, Path] = {}  # symlink -> directory of its target
        self.unwatchable: list[str] = []

    def start(self) -> None:
        for path in self.paths:
            self._arm(path)
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=1)

    def _watch_dir(self, directory: Path) -> None:
        key = str(directory)
        if key in self._watches:
            return
        if not directory.is_dir():
            self.unwatchable.append(key)
            return
        self._watches[key] = self.observer.schedule(_Handler(self), key, recursive=False)

    def _arm(self, path: Path) -> None:
        self._watch_dir(path if path.is_dir() and not path.is_symlink() else path.parent)
        if path.is_symlink():
            target_dir = Path(os.path.realpath(path)).parent
            self._links[path] = target_dir
            self._watch_dir(target_dir)

    def _rearm(self, link: Path) -> None:
        """The link itself changed: follow it to its (maybe new) target's directory. The old
        target's directory stays watched; its events no longer match, and the number of such
        directories is bounded by the distinct targets the link ever had."""
        new = Path(os.path.realpath(link)).parent if link.is_symlink() else None
        if self._links.get(link) == new:
            return
        self._links.pop(link, None)
        if new is not None:
            self._links[link] = new
            self._watch_dir(new)

    def on_path(self, changed: str) -> None:
        changed_path = Path(changed)
        for path in self.paths:
            hit = changed_path == path or changed_path.parent == path  # a file, or a file in a watched dir
            behind_link = path in self._links and changed_path.parent == self._links[path] \
                and Path(os.path.realpath(path)) == changed_path
            if hit or behind_link:
                if hit and changed_path == path:
                    self._rearm(path)
                self.put(Trigger("file", str(path)))


class _Handler:
    """A watchdog handler without the base-class import at module load."""

    def __init__(self, watcher: FileWatcher) -> None:
        self.watcher = watcher

    def dispatch(self, event) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for attribute in ("src_path", "dest_path"):
            path = getattr(event, attribute, "")
            if path:
                self.watcher.on_path(os.fsdecode(path))


class NetlinkWatcher:
    """Kernel state that matters to connections: each link's MTU and operstate, the main-table routes."""

    def __init__(self, put, log) -> None:
        self.put = put
        self.log = log
        self.links: dict[str, dict] = {}
        self.routes: set[str] = set()
        self.ready = threading.Event()
        self.available = True  # False once it gave up: no netlink on this host (the daemon runs on without it)
        self.thread = threading.Thread(target=self._run, name="netwarden-netlink", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        """Listen; on any socket error (ENOBUFS when a burst overflows the receive buffer) open a
        new socket, dump links and routes again, and announce whatever changed in between."""
        first, pause = True, 0.1
        while True:
            try:
                self._listen(first)
                pause = 0.1
            except Exception as e:  # noqa: BLE001 - no netlink at all: the daemon runs on without it
                if first:
                    self.log(f"kernel watch unavailable: {e}")
                    self.available = False  # before the thread ends: the supervisor reads them in that order
                    self.ready.set()
                    return
                self.log(f"kernel watch: {e}; resynchronising")
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
            first = False

    def _listen(self, first: bool) -> None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.rtnl import RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE, RTMGRP_LINK

        with IPRoute() as ipr:  # created and bound here, in the reading thread
            ipr.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE)
            links = {m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
            for message in ipr.get_links():
                self._link(message, announce=not first)
            for name in set(self.links) - links:  # vanished while we were not listening
                before = self.links.pop(name)
                self.put(Trigger("kernel", f"link {name}", {"before": before, "after": None}))
            for message in ipr.get_routes(table=254):
                self._route(message, announce=not first)
            self.ready.set()
            while True:
                for message in ipr.get():
                    event = message.get("event", "")
                    if event in ("RTM_NEWLINK", "RTM_DELLINK"):
                        self._link(message, announce=True)
                    elif event in ("RTM_NEWROUTE", "RTM_DELROUTE"):
                        self._route(message, announce=True)

    def _link(self, message, announce: bool) -> None:
        name = message.get_attr("IFLA_IFNAME")
        if not name:
            return
        before = self.links.get(name)
        after = None if message.get("event") == "RTM_DELLINK" else {
            "mtu": message.get_attr("IFLA_MTU"), "state": message.get_attr("IFLA_OPERSTATE")}
        if before == after:
            return
        if after is None:
            self.links.pop(name, None)
        else:
            self.links[name] = after
        if announce:
            self.put(Trigger("kernel", f"link {name}", {"before": before, "after": after}))

    def _route(self, message, announce: bool) -> None:
        if message.get("table", 254) not in (254, None):
            return  # main-table routes only: local and policy tables are not what connections miss
        dst_len = message.get("dst_len")
        name = "default" if dst_len == 0 else f"{message.get_attr('RTA_DST')}/{dst_len}"
        route = f"{name} via {message.get_attr('RTA_GATEWAY') or '-'} oif {message.get_attr('RTA_OIF')}"
        present = message.get("event") != "RTM_DELROUTE"
        if (route in self.routes) == present:
            return
        (self.routes.add if present else self.routes.discard)(route)
        if announce:
            self.put(Trigger("kernel", "default route" if dst_len == 0 else f"route {name}",
                             {"before": None if present else {"route": route},
                              "after": {"route": route} if present else None}))
