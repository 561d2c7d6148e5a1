"""Every file netwarden reads, every command it runs and every kernel query goes through a Source.

A RecordingSource keeps each answer (or error) and saves them as a support bundle; a ReplaySource
serves a bundle back, so a host's state can be analysed on any machine and every backend can be
tested against real captured output.

Bundle layout (a directory): meta.json {"format", "netwarden", "created", "system", "argv"} and
entries.json, a list of {"op", "key", "result"} or {"op", "key", "error": {"errno", "strerror"}}.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from netwarden import __version__
from netwarden.fsutil import atomic_write

BUNDLE_FORMAT = 1


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


class BundleError(Exception):
    """A support bundle that cannot be replayed."""


class NotRecorded(OSError):
    """The bundle holds no answer for this question; the fact is unknown, not absent."""

    def __init__(self, op: str, key: str):
        super().__init__(errno.ENODATA, f"not in the support bundle ({op} {key})")


class Source:
    """The live machine."""

    system = sys.platform  # "linux", "darwin", "win32"

    def read(self, path: str) -> str:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def run(self, argv: list[str], timeout: float = 10.0) -> CommandResult:
        """Run a command (argv list, never a shell). Raises OSError if it is missing or times out."""
        import subprocess  # not on the plain-Linux path: keep it out of start-up

        if not argv or not all(isinstance(a, str) and "\0" not in a for a in argv):
            raise ValueError(f"bad argv: {argv!r}")
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TimeoutError(errno.ETIMEDOUT, f"{argv[0]} did not answer within {timeout:g} s") from None
        decode = lambda b: b.decode("utf-8", errors="replace")  # noqa: E731
        return CommandResult(proc.returncode, decode(proc.stdout), decode(proc.stderr))

    def call(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Live data that is neither a file nor a command (netlink); fn returns plain JSON types."""
        return fn(*args)


class RecordingSource(Source):
    def __init__(self) -> None:
        self.entries: list[dict] = []

    def _record(self, op: str, key: str, fn: Callable[[], Any]) -> Any:
        try:
            result = fn()
        except OSError as e:
            self.entries.append({"op": op, "key": key, "error": {"errno": e.errno, "strerror": e.strerror}})
            raise
        self.entries.append({"op": op, "key": key, "result": result})
        return result

    def read(self, path):
        return self._record("read", path, lambda: super(RecordingSource, self).read(path))

    def exists(self, path):
        return self._record("exists", path, lambda: super(RecordingSource, self).exists(path))

    def listdir(self, path):
        return self._record("listdir", path, lambda: super(RecordingSource, self).listdir(path))

    def run(self, argv, timeout=10.0):
        result = self._record("run", json.dumps(argv), lambda: super(RecordingSource, self).run(argv, timeout).__dict__)
        return CommandResult(**result)

    def call(self, name, fn, *args):
        return self._record("call", json.dumps([name, *args]), lambda: fn(*args))

    def save(self, directory: Path, argv: list[str]) -> None:
        """Write the bundle. The directory must not exist or be empty; it is made private (0700)."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise FileExistsError(errno.EEXIST, f"{directory} is not empty")
        meta = {"format": BUNDLE_FORMAT, "netwarden": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "system": self.system, "argv": argv}
        atomic_write(directory / "entries.json", json.dumps(self.entries, indent=1).encode(), mode=0o600)
        atomic_write(directory / "meta.json", json.dumps(meta, indent=1).encode(), mode=0o600)


class ReplaySource(Source):
    """Answers from a bundle; anything the bundle lacks raises NotRecorded. Never touches the host."""

    def __init__(self, directory: Path) -> None:
        try:
            meta = json.loads((directory / "meta.json").read_text())
            entries = json.loads((directory / "entries.json").read_text())
            if meta.get("format") != BUNDLE_FORMAT:
                raise BundleError(f"{directory}: bundle format {meta.get('format')!r}, this netwarden reads {BUNDLE_FORMAT}")
            self.system = meta["system"]
            self._answers = {(e["op"], e["key"]): e for e in entries}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise BundleError(f"{directory}: not a netwarden support bundle ({e})") from None
        self.meta = meta

    def _answer(self, op: str, key: str) -> Any:
        entry = self._answers.get((op, key))
        if entry is None:
            raise NotRecorded(op, key)
        if "error" in entry:
            err = entry["error"]
            raise OSError(err.get("errno") or errno.EIO, err.get("strerror") or "error", key)
        return entry["result"]

    def read(self, path):
        return self._answer("read", path)

    def exists(self, path):
        return self._answer("exists", path)

    def listdir(self, path):
        return self._answer("listdir", path)

    def run(self, argv, timeout=10.0):
        return CommandResult(**self._answer("run", json.dumps(argv)))

    def call(self, name, fn, *args):
        return self._answer("call", json.dumps([name, *args]))
