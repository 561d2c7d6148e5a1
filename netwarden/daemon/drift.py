"""Drift: a change in what netwarden sees, with before/after, what triggered it, and when.

Kinds: a finding `appeared` (left ok), `changed` (severity or value), `cleared` (back to ok);
a watched file's content `file-changed`; the kernel's links or routes `kernel-changed`; and the
daemon's own actions: `enforced`, `enforce-failed`, `contested` (someone else changed a value
netwarden manages), `backed-off` (rate limit reached), `released`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from netwarden.fsutil import append_private, atomic_write, read_private
from netwarden.jsontext import loads
from netwarden.model import Finding
from netwarden.target import one_line


@dataclass(frozen=True)
class DriftEvent:
    kind: str
    subject: str  # a check id, a file path, "link veth0", a sysctl key
    before: dict | None
    after: dict | None
    trigger: str
    message: str
    severity: str = "ok"  # of the finding after the event (or of the alert)
    time: float = 0.0
    check: str = ""  # the check id the event concerns ("" for a file or kernel change)

    def to_json(self) -> dict:
        return asdict(self)


EVENT_KEYS = {"kind", "subject", "trigger", "message", "severity", "time"}


def finding_state(f: Finding) -> dict:
    return {"severity": f.severity.value, "value": f.value, "title": f.title}


def diff_findings(before: dict[str, dict], findings: list[Finding], trigger: str) -> list[DriftEvent]:
    """Events for every finding whose severity or value differs from `before` (id -> state)."""
    events, now = [], time.time()
    for f in findings:
        after, old = finding_state(f), before.get(f.id)
        if old is not None and (old["severity"], old["value"]) == (after["severity"], after["value"]):
            continue
        if old is None and after["severity"] in ("ok", "unknown"):
            continue  # first sight of a healthy check, or of one that cannot tell, is not news
        was_ok = old is None or old["severity"] == "ok"
        now_ok = after["severity"] == "ok"
        kind = "appeared" if was_ok and not now_ok else "cleared" if now_ok and not was_ok else "changed"
        events.append(DriftEvent(kind, f.id, old, after, trigger, f"{f.id} {kind}: {f.title}", after["severity"], now, f.id))
    return events


EVENT_BYTES = 64 << 10  # room per event in what is read of history.jsonl (events are well under 2 KiB)
MAX_HISTORY_READ = 256 << 20  # history_size's 100,000 events included


class History:
    """Drift events (bounded, newest last) and the last finding states, kept in the state dir so a
    restart neither forgets history nor re-announces what it already reported."""

    def __init__(self, state_dir: Path, limit: int):
        self.state_dir = Path(state_dir)
        self.events_path = Path(state_dir) / "history.jsonl"
        self.state_path = Path(state_dir) / "findings.json"
        self.limit = limit
        self.problems: list[str] = []  # what was unusable in the state files (the daemon logs it)
        self._torn = False  # the events file may end in a torn line: the next append starts a new one
        self.events: list[dict] = self._load_events()
        self.findings: dict[str, dict] = self._load_findings()

    def _load_events(self) -> list[dict]:
        """The last `limit` events. Lines that are not events (a torn last line after a crash mid-
        append, a damaged file) are dropped, said once, and the file rewritten without them: an
        event appended after a torn line would be glued onto it, and lost at the next start."""
        tail = min(self.limit * EVENT_BYTES, MAX_HISTORY_READ)
        try:
            data = read_private(self.state_dir, self.events_path.name, tail=tail + 1) or b""
        except OSError as e:  # UnsafePath included: its events are not netwarden's
            self.problems.append(f"{self.events_path}: {e.strerror or e}; history starts empty")
            return []
        lines = data.split(b"\n")
        grown = len(data) > tail  # past what history_size events take (by hand?): its oldest part is left
        if grown:
            lines = lines[1:]  # begun mid-line
        events, dropped = [], 0
        for line in filter(None, lines):
            event = _event(line)
            if event is None:
                dropped += 1
            else:
                events.append(event)
        if not (grown or dropped):
            return events[-self.limit:]
        try:  # once, for both reasons
            self._rewrite(events[-self.limit:])
            failed = None
        except OSError as e:
            failed = e.strerror or str(e)
        if grown:
            self.problems.append(f"{self.events_path}: over {tail >> 20} MiB, more than history_size "
                                 f"({self.limit}) events take; kept its last part" if failed is None else
                                 f"{self.events_path}: over {tail >> 20} MiB and cannot be rewritten ({failed}); "
                                 "its last part read")
        if dropped:
            # Torn is what a crash mid-append leaves: an unfinished last line (no newline), after events.
            torn = bool(lines[-1]) and _event(lines[-1]) is None and bool(events)
            what = ("its torn last line (a crash mid-write)" if torn and dropped == 1 else
                    (f"{dropped} lines that are not events" if dropped > 1 else "a line that is not an event")
                    + (" (the last one torn: a crash mid-write)" if torn else ""))
            problem = f"{self.events_path}: dropped {what}"
            if failed is not None:
                self._torn = True
                problem += f" (cannot rewrite the file: {failed}; the next event starts on a new line)"
            self.problems.append(problem)
        return events[-self.limit:]

    def _rewrite(self, events: list[dict]) -> None:
        atomic_write(self.events_path, "".join(json.dumps(e) + "\n" for e in events).encode(), mode=0o600,
                     private=True)
        self._torn = False

    def _load_findings(self) -> dict[str, dict]:
        """The last finding state per check; anything else (damaged, hand-edited) means starting
        afresh: every finding is then judged as if seen for the first time."""
        try:
            raw = read_private(self.state_dir, self.state_path.name)
            if raw is None:
                return {}
            data = loads(raw)
        except OSError as e:  # UnsafePath included: a file that is not netwarden's own
            why = e.strerror or str(e)
        except ValueError as e:
            why = str(e)
        else:
            if isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, dict)
                                              and isinstance(v.get("severity"), str) and isinstance(v.get("value"), str)
                                              for k, v in data.items()):
                return data
            why = "JSON, but not a severity and value per check"
        self.problems.append(f"{self.state_path}: not a findings state ({one_line(why, 120)}); starting afresh")
        return {}

    def add(self, event: DriftEvent) -> None:
        self.events.append(event.to_json())
        if len(self.events) > self.limit:
            self.events = self.events[-self.limit:]
            self._rewrite(self.events)
            return
        line = ("\n" if self._torn else "") + json.dumps(event.to_json()) + "\n"
        append_private(self.state_dir, self.events_path.name, line.encode())
        self._torn = False

    def save_findings(self, findings: dict[str, dict]) -> None:
        self.findings = findings
        atomic_write(self.state_path, json.dumps(findings).encode(), mode=0o600, private=True)


def _event(line: bytes) -> dict | None:
    try:
        event = loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and EVENT_KEYS <= event.keys() else None


class StateWrites:
    """The daemon's writes of its own files (findings.json, history.jsonl, status.json, the metrics
    textfile). One that fails (a full or read-only disk) is not a bug and must not cost the rest of
    the run: it is logged at ERR with the reason once per file, until that file is written again."""

    def __init__(self, error: Callable[[str], None], notice: Callable[[str], None] | None = None) -> None:
        self.error, self.notice = error, notice
        self.failing: set[str] = set()

    def attempt(self, what: str, write: Callable[[], object]) -> bool:
        """write(), or the failure logged (once): whether it was written."""
        try:
            write()
        except OSError as e:
            if what not in self.failing:
                self.failing.add(what)
                self.error(f"cannot write {what}: {e.strerror or e}; the daemon goes on without it "
                           "(said once, until it is written again)")
            return False
        if what in self.failing:
            self.failing.discard(what)
            if self.notice:
                self.notice(f"{what} is written again")
        return True
