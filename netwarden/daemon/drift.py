"""Drift: a change in what netwarden sees, with before/after, what triggered it, and when.

Kinds: a finding `appeared` (left ok), `changed` (severity or value), `cleared` (back to ok);
a watched file's content `file-changed`; the kernel's links or routes `kernel-changed`; and the
daemon's own actions: `enforced`, `enforce-failed`, `contested` (someone else changed a value
netwarden manages), `backed-off` (rate limit reached), `released`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from netwarden.fsutil import atomic_write
from netwarden.model import Finding


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

    def to_json(self) -> dict:
        return asdict(self)


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
        events.append(DriftEvent(kind, f.id, old, after, trigger, f"{f.id} {kind}: {f.title}", after["severity"], now))
    return events


class History:
    """Drift events (bounded, newest last) and the last finding states, kept in the state dir so a
    restart neither forgets history nor re-announces what it already reported."""

    def __init__(self, state_dir: Path, limit: int):
        self.events_path = Path(state_dir) / "history.jsonl"
        self.state_path = Path(state_dir) / "findings.json"
        self.limit = limit
        self.events: list[dict] = self._load_events()
        self.findings: dict[str, dict] = self._load_json(self.state_path, {})

    def _load_events(self) -> list[dict]:
        try:
            lines = self.events_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        events = []
        for line in lines[-self.limit:]:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a torn last line after a crash: drop it
        return events

    @staticmethod
    def _load_json(path: Path, default):
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return default

    def add(self, event: DriftEvent) -> None:
        self.events.append(event.to_json())
        line = json.dumps(event.to_json()) + "\n"
        if len(self.events) > self.limit:
            self.events = self.events[-self.limit:]
            atomic_write(self.events_path, "".join(json.dumps(e) + "\n" for e in self.events).encode(), mode=0o600)
            return
        fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def save_findings(self, findings: dict[str, dict]) -> None:
        self.findings = findings
        atomic_write(self.state_path, json.dumps(findings).encode(), mode=0o600)
