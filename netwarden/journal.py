"""The journal: every original value netwarden replaces, saved before the change is made.

Write-ahead: an entry (target + original) is written and fsynced before the change, then marked
applied. A crash in between leaves a `pending` entry whose original is still exact, so `--revert`
and the next apply stay correct. Only the first original of a target is kept: after several
applies, revert returns to what the machine had before netwarden, not to an intermediate state.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from pathlib import Path

from netwarden.fsutil import UnsafePath, atomic_write, open_private_dir, open_private_file, read_private
from netwarden.jsontext import loads

JOURNAL_FORMAT = 1
WINDOWS = sys.platform == "win32"  # no flock, pread or O_NOFOLLOW there: msvcrt's byte-range lock
LOCK_OFFSET = 1 << 20  # Windows: the byte locked, away from the pid at 0 (a locked byte cannot be read)


class JournalError(Exception):
    """A journal that cannot be read or written; nothing was changed."""


def unsafe_state(e: UnsafePath) -> JournalError:
    """The one line that says why netwarden will not use its state dir (or a file in it)."""
    return JournalError(f"{e.filename}: {e.strerror}: netwarden uses its journal, lock and state files only in a "
                        "directory that belongs to root (or to the user running it) and that no one else can "
                        "write; nothing was done")


def check_state_dir(state_dir: Path) -> None:
    """Create the state dir (0700) if missing; JournalError unless it is netwarden's alone."""
    if WINDOWS:  # no POSIX owners or modes: the folder's ACL decides (README)
        Path(state_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        return
    try:
        os.close(open_private_dir(Path(state_dir), create=True))
    except UnsafePath as e:
        raise unsafe_state(e) from None
    except OSError as e:
        raise JournalError(f"{state_dir}: {e.strerror or e}; nothing was done") from None


class LockBusy(Exception):
    pass


class Journal:
    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / "journal.json"
        self.entries: list[dict] = self._load()

    def _load(self) -> list[dict]:
        try:
            raw = read_private(self.state_dir, self.path.name)
            if raw is None:
                return []
            data = loads(raw)
        except UnsafePath as e:
            raise unsafe_state(e) from None
        except (OSError, ValueError) as e:
            raise JournalError(f"{self.path}: unreadable journal ({e}); nothing was changed") from None
        if not isinstance(data, dict) or data.get("format") != JOURNAL_FORMAT or not isinstance(data.get("entries"), list):
            raise JournalError(f"{self.path}: not a netwarden journal (format {JOURNAL_FORMAT}); nothing was changed")
        for number, entry in enumerate(data["entries"], start=1):
            problem = _malformed(entry)
            if problem:
                raise JournalError(f"{self.path}: entry {number} is malformed ({problem}); nothing was changed")
        return data["entries"]

    def _save(self) -> None:
        try:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps({"format": JOURNAL_FORMAT, "entries": self.entries}, indent=1).encode(),
                         mode=0o600, private=True)
        except UnsafePath as e:
            raise unsafe_state(e) from None
        except OSError as e:
            raise JournalError(f"{self.path}: cannot write the journal: {e.strerror or e}") from None

    def find(self, kind: str, target: str) -> dict | None:
        return next((e for e in self.entries if e["kind"] == kind and e["target"] == target), None)

    def find_written(self, target: str) -> dict | None:
        """The entry of a setting netwarden wrote (whatever its kind), or None."""
        return next((e for e in self.entries if e["target"] == target and e.get("written") is not None), None)

    def record(self, kind: str, target: str, original, check: str) -> None:
        """Save the original before changing `target` (kept only the first time)."""
        if self.find(kind, target) is None:
            self.entries.append({"kind": kind, "target": target, "original": original, "check": check,
                                 "state": "pending", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
            self._save()

    def mark_applied(self, kind: str, target: str, written: str | None = None) -> None:
        """The change is made; `written` (sysctls) is what netwarden wrote, so a later reader (the
        daemon) can tell its own writes from someone else's."""
        entry = self.find(kind, target)
        if entry is not None and (entry["state"], entry.get("written")) != ("applied", written):
            entry["state"] = "applied"
            entry["written"] = written
            self._save()

    def forget(self, kind: str, target: str) -> None:
        """Drop an entry once its original is back in place."""
        self.entries = [e for e in self.entries if not (e["kind"] == kind and e["target"] == target)]
        self._save()


def _malformed(entry) -> str | None:
    """What is wrong with a journal entry's shape, or None. The original's own shape is its
    backend's to judge (restore() refuses one it cannot use): the journal is the same on every OS."""
    if not isinstance(entry, dict):
        return "not an object"
    for key in ("kind", "target", "check", "state"):
        if not isinstance(entry.get(key), str):
            return f"{key} is not a string"
    if "original" not in entry:
        return "no original"
    if entry["kind"] == "file" and not _absolute_path(entry["target"]):
        return "a file target that is not an absolute path without '..'"
    if entry["state"] not in ("pending", "applied"):
        return f"state {entry['state'][:20]!r}"
    if not isinstance(entry.get("written"), (str, type(None))):
        return "written is not a string"
    return None


def _absolute_path(target: str) -> bool:
    """Where a file change may point: an absolute, normal path (a relative one would be taken from
    whatever directory --revert runs in)."""
    from pathlib import PurePath

    path = PurePath(target)
    return path.is_absolute() and ".." not in path.parts and "\0" not in target


class ApplyLock:
    """An exclusive flock on the lock file: a second --apply/--revert waits, then fails clearly.
    The daemon's pid file is one too (`what` names it in the error)."""

    def __init__(self, path: Path, timeout: float, what: str = "the apply lock"):
        self.path = Path(path)
        self.timeout = timeout
        self.what = what
        self.fd = -1

    def __enter__(self) -> ApplyLock:
        """LockBusy when another holds it; JournalError, in one line, when it cannot be taken (a
        lock file someone else could make or hold, which could stop every apply; a directory or a
        socket in its place; a read-only or full disk): the CLI and the daemon say the same."""
        try:
            if WINDOWS:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                return self._enter_windows()
            return self._enter_posix()
        except UnsafePath as e:
            raise unsafe_state(e) from None
        except OSError as e:
            raise JournalError(f"cannot take {self.what} {self.path}: {e.strerror or e}; nothing was done") from None

    def _enter_posix(self) -> ApplyLock:
        import fcntl  # POSIX only

        dfd = open_private_dir(self.path.parent, create=True)
        try:
            self.fd = open_private_file(dfd, self.path.name, os.O_RDWR | os.O_CREAT, self.path.parent)
        finally:
            os.close(dfd)
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                if time.monotonic() >= deadline:
                    holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise LockBusy(f"another netwarden holds {self.path} (pid {holder} last wrote it); "
                                   f"gave up after {self.timeout:g} s")
                time.sleep(0.05)
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(self.fd)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if WINDOWS:
            import msvcrt

            os.lseek(self.fd, LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)
        os.close(self.fd)  # closing drops the flock

    def _enter_windows(self) -> ApplyLock:
        """The same lock with msvcrt.locking: one byte at LOCK_OFFSET, the holder's pid at 0."""
        import msvcrt

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            os.lseek(self.fd, LOCK_OFFSET, os.SEEK_SET)
            try:
                msvcrt.locking(self.fd, msvcrt.LK_NBLCK, 1)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    os.lseek(self.fd, 0, os.SEEK_SET)
                    holder = os.read(self.fd, 32).decode(errors="replace").strip() or "?"
                    os.close(self.fd)
                    raise LockBusy(f"another netwarden holds {self.path} (pid {holder} last wrote it); "
                                   f"gave up after {self.timeout:g} s") from None
            time.sleep(0.05)
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.write(self.fd, f"{os.getpid()}\n".encode())
        return self
