"""Enforcement, done: the fixes of checks under `enforce` / `always` applied through the journal, and
a polled setting that moved judged (netwarden's own write, or someone else's?). policy.Enforcer
holds the rules (contested keys, the hourly limit); this module acts on them and says what it did
as drift events.
"""

from __future__ import annotations

import time

from netwarden import engine
from netwarden.daemon.drift import DriftEvent
from netwarden.journal import ApplyLock, Journal, JournalError, LockBusy
from netwarden.platform.linux import ChangeFailed
from netwarden.platform.parse.sysctl_conf import same_value


class Enforcement:
    def __init__(self, enforcer, emit, count_applies, log) -> None:
        """emit(DriftEvent); count_applies(changes, "ok" | "failed") for the metrics; log(message)."""
        self.enforcer, self.emit, self.count_applies, self.log = enforcer, emit, count_applies, log

    def enforce(self, backend, settings, findings, trigger: str) -> set[str]:
        """Apply what the enforced findings ask (within the rules); the ids of the checks changed."""
        wanted = [c for f in findings if self.enforcer.wants(f.id) for c in f.changes]
        allowed = []
        for change in wanted:
            ok, event = self.enforcer.may_apply(change.target, change.check, trigger)
            if event:
                self.emit(event)
            if ok:
                allowed.append(change)
        if not allowed:
            return set()
        try:
            changes, refused = engine.plan_changes(allowed, backend)
            for change, why in refused:  # an attempt like any other: the hourly limit ends the repeats
                self.enforcer.applied(change.target)
                self.emit(_event("enforce-failed", change, trigger, f"cannot enforce {change.target}: {why}"))
            allowed = [c for c in allowed if c in changes]
            if changes:
                engine.apply_locked(backend, settings, changes)
        except (engine.ApplyFailed, ChangeFailed, JournalError, LockBusy, OSError) as e:
            self.count_applies(allowed, "failed")
            for change in allowed:
                self.enforcer.applied(change.target)
                self.emit(_event("enforce-failed", change, trigger,
                                 f"could not enforce {change.target}: {engine.failure_text(e)}"))
            return set()
        self.count_applies(allowed, "ok")
        for change in allowed:
            self.enforcer.applied(change.target)
            self.emit(DriftEvent("enforced", change.target, {"value": change.current}, {"value": change.new}, trigger,
                                 f"enforced {change.target}: {change.current} -> {change.new}", "ok", time.time(),
                                 change.check))
        return {c.check for c in allowed}

    def judge(self, backend, settings, changed: dict[str, tuple[str, str]]) -> None:
        """Polled settings that moved (key -> (old, new)): where netwarden enforces the key and did
        not write the new value, someone else did (`contested`). Judged under the apply lock, which
        a one-shot --apply / --revert holds from its first write to its last journal update, so
        their writes are never mistaken for someone else's."""
        try:
            with ApplyLock(settings.apply_lock, settings.lock_timeout):
                journal = Journal(settings.state_dir)
                settled = {key: backend.read_setting(key) for key in changed}
        except (LockBusy, JournalError, OSError) as e:
            self.log(f"cannot tell who changed {', '.join(changed)}: {engine.failure_text(e)}")
            return
        for key, (old, value) in changed.items():
            trigger = poll_trigger(key, old, value)
            if isinstance(settled.get(key), str):
                value = settled[key]  # as read under the lock
            entry = journal.find_written(key)
            # Held back only where netwarden enforces: under observe nothing is held, only reported.
            if (entry and entry.get("written") is not None and self.enforcer.wants(entry["check"])
                    and not same_value(entry["written"], value)):
                event = self.enforcer.external_change(key, entry["check"], entry["written"], value, trigger)
                if event:
                    self.emit(event)


def poll_trigger(key: str, old: str, new: str) -> str:
    return f"poll: {key} {old!r} -> {new!r}"


def _event(kind: str, change, trigger: str, message: str) -> DriftEvent:
    return DriftEvent(kind, change.target, {"value": change.current}, None, trigger, message, "warning", time.time(),
                      change.check)
