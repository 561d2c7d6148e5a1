"""Every file netwarden reads, every command it runs and every kernel query goes through a Source.

A RecordingSource keeps each answer (or error) and saves them as a support bundle (bundle.py); a
ReplaySource serves a bundle back, so a host's state can be analysed on any machine and every
backend can be tested against real captured output.

A replayed answer is checked against the form the live Source gives: a string for read, a boolean
for exists, a list of strings for listdir, a command's result for run, and for call the shape its
function declares with @answers. An answer that is missing or of another form raises NotRecorded,
an OSError, which every reader already turns into an unknown fact: a bundle recorded with --only,
by another version, or edited by hand gives `unknown`, never a crash.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import sys
from pathlib import Path
from typing import Any, Callable

from netwarden.model import Unknown
from netwarden.record import record


@record(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


class NotRecorded(OSError):
    """The bundle holds no usable answer for this question (none, or one of the wrong form): the
    fact is unknown, not absent."""

    def __init__(self, op: str, key: str, problem: str = "not in the support bundle"):
        super().__init__(errno.ENODATA, f"{problem} ({op} {key[:200]})")


def unknown_if_not_recorded(build: Callable) -> Callable:
    """For a fact builder whose readers fall back on something when a live read fails (a missing
    sysfs file, an absent table): a question the bundle cannot answer makes the whole fact Unknown
    rather than a plausible but wrong one. Those fallbacks re-raise NotRecorded."""

    @functools.wraps(build)
    def built(*args, **kwargs):
        try:
            return build(*args, **kwargs)
        except NotRecorded as e:
            return Unknown(e.strerror)

    return built


def answers(shape: Any) -> Callable:
    """Declares the form of what a function called through Source.call returns (see conform), so
    a replayed answer can be checked against it."""

    def declare(fn: Callable) -> Callable:
        fn.answer_shape = shape
        return fn

    return declare


def conform(value: Any, shape: Any) -> Any:
    """`value` if it has `shape`, else ValueError saying where it differs. A shape is a type or a
    tuple of types (an int is never a bool; a float may be written as an int), a predicate,
    [shape] for a list of them, or {key: shape} for an object with at least those keys (the
    value returned keeps only those)."""
    if isinstance(shape, list):
        if not isinstance(value, list):
            raise ValueError(f"{type(value).__name__} instead of a list")
        return [conform(item, shape[0]) for item in value]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise ValueError(f"{type(value).__name__} instead of an object")
        missing = [key for key in shape if key not in value]
        if missing:
            raise ValueError(f"no {missing[0]!r}")
        return {key: conform(value[key], part) for key, part in shape.items()}
    if isinstance(shape, (type, tuple)):
        types = shape if isinstance(shape, tuple) else (shape,)
        if float in types and type(value) is int:
            return float(value)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ValueError(f"{type(value).__name__} instead of {' or '.join(t.__name__ for t in types)}")
        return value
    if not shape(value):
        raise ValueError(f"{str(value)[:40]!r} is not {getattr(shape, '__doc__', None) or 'valid'}")
    return value


def file_bytes(text: str) -> bytes:
    """The bytes of file text as Source.read gives it (the inverse of its decoding): what a
    rewritten file is written as."""
    return text.encode("utf-8", "surrogateescape")


CONSOLE = "console"  # Source.run(codepage=CONSOLE): this process's console code page (Windows)


def console_codepage() -> int | None:
    """The code page console programs started from here write in: the console's output code page,
    or without a console (a service, a scheduled task) the system's OEM code page, which is what
    they fall back on. None off Windows."""
    if sys.platform != "win32":
        return None
    import ctypes

    kernel32 = ctypes.windll.kernel32
    return kernel32.GetConsoleOutputCP() or kernel32.GetOEMCP() or None


def decoded(raw: bytes, codepage: int | str | None) -> str:
    """A command's output as text: UTF-8 without a code page, else by the console's code page."""
    if codepage is None:
        return raw.decode("utf-8", errors="replace")
    from netwarden.platform.parse.windows.codepage import decode_console  # not on the Linux path

    return decode_console(raw, console_codepage() if codepage == CONSOLE else codepage)


def _key(question: list) -> str:
    """A bundle entry's key: the question as JSON. (json is imported here: the live Source never
    needs it, and `netwarden check`'s start-up does not pay for it.)"""
    import json

    return json.dumps(question)


# What the live Source answers, for each kind of question.
READ, EXISTS, LISTDIR = str, bool, [str]
RUN = {"returncode": int, "stdout": str, "stderr": str}
ERROR = {"errno": (int, type(None)), "strerror": (str, type(None))}


MAX_READ = 1 << 20  # a file the checks read (resolv.conf, gai.conf, a sysctl drop-in): far more than any real one


class Source:
    """The live machine."""

    system = sys.platform  # "linux", "darwin", "win32"

    def read(self, path: str) -> str:
        """A file's text, losslessly: line endings as written, and bytes that are not UTF-8 as lone
        surrogates (surrogateescape; a recording's JSON escapes them), so file_bytes gives back
        its very bytes and a rewrite keeps the lines it does not change.

        Only a regular file is read (procfs and sysfs files are): a path set to /dev/zero would
        fill the memory and a FIFO would block for ever (opened non-blocking, it is refused
        instead). One that says it holds over MAX_READ bytes is refused too."""
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags)
        with open(fd, encoding="utf-8", errors="surrogateescape", newline="") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", path)
            if st.st_size > MAX_READ:
                raise OSError(errno.EFBIG, f"over {MAX_READ >> 20} MiB", path)
            return f.read()

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def run(self, argv: list[str], timeout: float = 10.0, codepage: int | str | None = None) -> CommandResult:
        """Run a command (argv list, never a shell). Raises OSError if it is missing or times out.

        Output is UTF-8 unless `codepage` says otherwise: a Windows console program writes in the
        console's code page, so give its number (from `chcp`), or CONSOLE for this process's own
        console (Windows only). Such output goes through decode_console (UTF-16 and UTF-8 are
        recognised whatever the number). A recording keeps the decoded text, so a replay needs
        no code page: the ReplaySource ignores it."""
        import subprocess  # not on the plain-Linux path: keep it out of start-up

        if not argv or not all(isinstance(a, str) and "\0" not in a for a in argv):
            raise ValueError(f"bad argv: {argv!r}")
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TimeoutError(errno.ETIMEDOUT, f"{argv[0]} did not answer within {timeout:g} s") from None
        return CommandResult(proc.returncode, decoded(proc.stdout, codepage), decoded(proc.stderr, codepage))

    def call(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Live data that is neither a file nor a command (netlink, probes): fn returns plain JSON
        types, in the form it declares with @answers."""
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

    def run(self, argv, timeout=10.0, codepage=None):
        result = self._record("run", _key(argv),
                              lambda: super(RecordingSource, self).run(argv, timeout, codepage).__dict__)
        return CommandResult(**result)

    def call(self, name, fn, *args):
        return self._record("call", _key([name, *args]), lambda: fn(*args))

    def save(self, directory: Path, argv: list[str], settings) -> None:
        """Write the bundle, with the settings this run used (bundle.write)."""
        from netwarden.platform import bundle

        bundle.write(directory, self.entries, self.system, argv, settings)


class ReplaySource(Source):
    """Answers from a bundle; anything the bundle lacks, or holds in another form than the live
    Source would give, raises NotRecorded. Never touches the host. `settings` are those the bundle
    was recorded with (None for a bundle that does not carry them); bundle.BundleError when the
    directory is not a bundle at all."""

    def __init__(self, directory: Path) -> None:
        import threading

        from netwarden.platform import bundle

        loaded = bundle.read(directory)
        self.system, self.settings, self.meta, self._answers = loaded.system, loaded.settings, loaded.meta, loaded.answers
        self._asked: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()  # probes ask from several threads

    @property
    def recorded_probe(self) -> bool:
        """A bundle `netwarden probe --record` wrote (it holds the probe's plan), not a check's."""
        return ("call", '["probe.plan"]') in self._answers

    def _answer(self, op: str, key: str, shape: Any) -> Any:
        """The next recorded answer to this question (a question asked twice, such as a value read
        again after a change, gets its answers in order; the last one after that)."""
        entries = self._answers.get((op, key))
        if not entries:
            raise NotRecorded(op, key)
        with self._lock:
            asked = self._asked.get((op, key), 0)
            self._asked[(op, key)] = asked + 1
        entry = entries[min(asked, len(entries) - 1)]
        try:
            if "error" in entry:
                err = conform(entry["error"], ERROR)
                raise OSError(err["errno"] or errno.EIO, err["strerror"] or "error", key)
            return conform(entry["result"], shape)
        except ValueError as e:
            raise NotRecorded(op, key, f"the support bundle's answer is malformed: {e}") from None

    def read(self, path):
        return self._answer("read", path, READ)

    def exists(self, path):
        return self._answer("exists", path, EXISTS)

    def listdir(self, path):
        return self._answer("listdir", path, LISTDIR)

    def run(self, argv, timeout=10.0, codepage=None):
        return CommandResult(**self._answer("run", _key(argv), RUN))  # recorded decoded: no code page

    def call(self, name, fn, *args):
        key = _key([name, *args])
        shape = getattr(getattr(fn, "func", fn), "answer_shape", None)  # a function, or a partial of one
        if shape is None:  # a bug (tests/test_bundle.py looks for it): unknown, rather than unchecked
            raise NotRecorded("call", key, "netwarden declares no form for this answer")
        return self._answer("call", key, shape)
