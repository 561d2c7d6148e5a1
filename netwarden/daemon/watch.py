"""Watchers: they only notice, and hand a Trigger to the daemon's loop; the loop does the work.

- FileWatcher (watchdog; the observer is the OS's: inotify, FSEvents, polling): each watched
  path's directory is watched, so replace-by-rename (editors, resolvconf, NetworkManager) is seen
  as well as in-place writes. For a symlink (/etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf)
  the target's directory is watched too, and re-armed when the link is retargeted: inotify on the
  link's directory sees the link change, not writes behind it. Only events that change something
  are asked for (write_events): /etc is read by every program that starts (ld.so.cache), and
  open/close-without-write events for it would wake the daemon for nothing. A path is matched by
  its directory's real path too: FSEvents reports /private/etc/hosts for a watch on /etc.

The kernel's links and routes are each OS's own (host/linux.py: netlink; host/darwin.py: the
routing socket; host/windows.py: re-read on a timer).
"""

from __future__ import annotations

import hashlib
import os
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
    def __init__(self, paths: list[Path], put, observer) -> None:
        self.paths = [Path(p) for p in paths]
        self.put = put
        self.observer = observer
        self.observer.daemon = True
        self._watches: dict[str, object] = {}  # directory -> watchdog watch
        self._links: dict[Path, Path] = {}  # symlink -> directory of its target
        # each path as the OS may report it: its directory resolved (macOS: /etc -> /private/etc)
        self._real = {p: Path(os.path.realpath(p.parent)) / p.name for p in self.paths}
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
        self._watches[key] = self.observer.schedule(_Handler(self), key, recursive=False,
                                                    event_filter=write_events())

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
        reported = Path(changed)
        for path in self.paths:
            names = (path, self._real[path])  # as configured, and with its directory resolved
            hit = reported in names or reported.parent in names  # the file, or a file in a watched directory
            behind_link = path in self._links and reported.parent == self._links[path] \
                and Path(os.path.realpath(path)) == reported
            if hit or behind_link:
                if reported in names:
                    self._rearm(path)
                self.put(Trigger("file", str(path)))


def write_events() -> list:
    """The watchdog events that mean a content, name or mode change (no opened / closed-no-write:
    inotify is then not even asked for IN_OPEN and IN_CLOSE_NOWRITE)."""
    from watchdog import events as e

    return [e.FileCreatedEvent, e.FileModifiedEvent, e.FileDeletedEvent, e.FileMovedEvent, e.FileClosedEvent,
            e.DirCreatedEvent, e.DirDeletedEvent, e.DirMovedEvent]


class _Handler:
    """A watchdog handler without the base-class import at module load."""

    def __init__(self, watcher: FileWatcher) -> None:
        self.watcher = watcher

    def dispatch(self, event) -> None:
        for attribute in ("src_path", "dest_path"):
            path = getattr(event, attribute, "")
            if path:
                self.watcher.on_path(os.fsdecode(path))
