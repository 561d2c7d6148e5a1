"""Status without a control socket (Windows: CPython has no AF_UNIX there).

The daemon writes <state_dir>/status.json, atomically (a reader sees the old file or the new one),
after each check and at least every REFRESH seconds, with the time it wrote it; a clean stop
writes `"stopped": true`. `netwarden status` reads it: a file older than STALE says the daemon is
not running (killed, or hung), so stale findings are never shown as current. Nothing else a
socket offers exists there: no `events` stream (the events are in <state_dir>/history.jsonl),
no `release` (restarting the task releases every key), no `check` on request.

Standard library only on the reading side: `netwarden status` must start fast.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

NAME = "status.json"
FORMAT = 1
REFRESH = 60.0  # the daemon rewrites the file at least this often (seconds)
STALE = 3 * REFRESH  # older than this: no daemon is keeping it current


class StatusFile:
    """The daemon's side: the control channel where there is no socket."""

    def __init__(self, state_dir: Path, log) -> None:
        from netwarden.daemon.drift import StateWrites

        self.path = Path(state_dir) / NAME
        self.writes = StateWrites(log)  # a failure said once (a full disk), not at every refresh
        self._last: dict | None = None

    def open(self) -> None:
        """Nothing to bind; what a previous daemon left says `starting` until the first check."""
        self._write({"status": {"status": "starting"}, "findings": []}, stopped=False)

    def start(self):
        return None  # no thread to supervise

    def broadcast(self, event: dict) -> None:
        pass  # no subscribers: events go to history.jsonl

    def publish(self, snapshot: dict) -> None:
        self._last = {"status": snapshot["status"], "findings": snapshot["findings"]}
        self._write(self._last, stopped=False)

    def refresh(self) -> None:
        if self._last is not None:
            self._write(self._last, stopped=False)

    def stop(self) -> None:
        self._write(self._last or {"status": {"status": "starting"}, "findings": []}, stopped=True)

    def _write(self, parts: dict, stopped: bool) -> None:
        from netwarden.fsutil import atomic_write

        doc = {"format": FORMAT, "updated_at": time.time(), "stopped": stopped, **parts}
        self.writes.attempt(str(self.path), lambda: atomic_write(self.path, json.dumps(
            doc, separators=(",", ":")).encode(), mode=0o644))


def read_status(path: Path, now: float | None = None) -> tuple[dict, list]:
    """(status, findings) as the daemon last wrote them; NoDaemon (client.py) when there is no
    file, the daemon stopped, or nothing kept it current; NoAnswer when it is not netwarden's."""
    from netwarden.daemon.client import NoAnswer, NoDaemon, check_status
    from netwarden.jsontext import loads

    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise NoDaemon(f"no netwarden daemon is running ({path} does not exist)") from None
    except OSError as e:
        raise NoDaemon(f"no netwarden daemon status: {path}: {e.strerror or e}") from None
    try:
        doc = loads(raw)
    except ValueError:
        doc = None
    if not (isinstance(doc, dict) and doc.get("format") == FORMAT and isinstance(doc.get("stopped"), bool)
            and type(doc.get("updated_at")) in (int, float)):
        raise NoAnswer(f"{path} is not a netwarden daemon's status")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(doc["updated_at"])) \
        if 0 <= doc["updated_at"] < 1e11 else "?"
    if doc["stopped"]:
        raise NoDaemon(f"no netwarden daemon is running (it stopped at {when})")
    age = (time.time() if now is None else now) - doc["updated_at"]
    if not -STALE < age < STALE:
        raise NoDaemon(f"no netwarden daemon is running: {path} was last written at {when}, "
                       f"{age / 60:,.0f} minutes ago (a running daemon rewrites it every {REFRESH:.0f} s)")
    check_status(doc.get("status"), doc.get("findings"), path)
    return doc["status"], doc["findings"]
