"""Checks and probes run, judged for drift, and published: each run's findings compared with the
last states (drift.py), events emitted to every sink, the snapshot published (status.py).

Checks run on the loop, except those whose facts wait (waiting.py: the TCP clock's second sample,
and with targets the network probes): they are collected on the waiting thread and judged here
when their facts are in; the targets' phase probes likewise.
"""

from __future__ import annotations

import time
from functools import partial

from netwarden import engine
from netwarden.daemon.drift import DriftEvent, diff_findings, finding_state
from netwarden.daemon.probing import keyed_findings
from netwarden.daemon.waiting import waits
from netwarden.daemon.watch import file_fingerprint
from netwarden.journal import Journal, JournalError


class Checking:
    """Part of Daemon (service.py): running checks and probes, judging and publishing them."""

    def settings_of(self, spec) -> tuple[str, ...]:
        """The settings behind a check's facts, polled for drift (sysctl names on Linux and macOS)."""
        return self.backend.setting_keys(spec.facts)

    def _checks_using(self, *facts: str) -> tuple[str, ...]:
        return tuple(spec.id for spec in self.specs if set(spec.facts) & set(facts))

    def check(self, specs, trigger: str, then=None) -> None:
        """Run the checks: now, on the loop, or for those whose facts wait, on the waiting thread
        and judged here when their facts are in. then(error) once every one is judged."""
        waiting = [s for s in specs if waits(s, self.settings)]
        at_once = [s for s in specs if s not in waiting]
        if at_once:
            started = time.monotonic()
            self._judge_checks(at_once, engine.collect(self.backend, at_once), trigger, started)
        if not waiting:
            if then:
                then(None)
            return

        def collected(facts, error: str | None) -> None:
            if error:
                self.log_error(f"a check run failed (a bug; please report it): {error}")
            else:
                self._judge_checks(waiting, facts, trigger)
            if then:
                then(error)

        self.waits.submit("collect " + ",".join(s.id for s in waiting), partial(engine.collect, self.backend, waiting),
                          collected)

    def _judge_checks(self, specs, facts, trigger: str, started: float | None = None) -> None:
        """started: when collecting began, for the check's duration (not for facts that waited:
        their time is the wait)."""
        findings = engine.analyze(facts, self.settings, specs, self.backend)
        for spec in specs:  # remember what the poll compares against
            for key in self.settings_of(spec):
                value = facts.sysctls.get(key)
                if isinstance(value, str):
                    self.sysctl_values[key] = value
        self.status.record(engine.report_document(facts, findings, [], None), facts,
                           self.settings.metrics_top_destinations)
        self._judge(findings, trigger)
        self.status.last_check = time.time()
        if started is not None:
            self.status.last_check_seconds = time.monotonic() - started
            if self.metrics is not None:
                self.metrics.check_duration.observe(self.status.last_check_seconds)
        enforced = self.enforcement.enforce(self.backend, self.settings, findings, trigger)
        if enforced:
            self._refresh_fingerprints()
            self.check([s for s in self.specs if s.id in enforced], "enforce")
        self._publish()

    def _judge(self, findings, trigger: str) -> None:
        """Drift events for what changed since the last states, which are then kept."""
        events = diff_findings(self.history.findings, findings, trigger)
        for event in events:
            self._emit(event)
        state = dict(self.history.findings)
        state.update({f.id: finding_state(f) for f in findings})
        if events or state != self.history.findings:
            self.writes.attempt(str(self.history.state_path), lambda: self.history.save_findings(state))

    def _probe_targets(self) -> None:
        if self.settings.targets:
            self.waits.submit("probe targets", self.probes.run, self._probed)

    def _probed(self, results, error: str | None) -> None:
        if error:
            self.log_error(f"probing the targets failed (a bug; please report it): {error}")
            return
        for result in results:
            if result.target not in self.settings.targets:
                continue  # reloaded meanwhile
            self.status.record_probe(result.target, result.at, result.phases, result.error)
            if result.error:
                self.log_error(f"probing {result.target} failed (a bug; please report it): {result.error}")
                continue
            found = keyed_findings(result, self.history.findings)
            self.status.finding_docs.update({f.id: engine.finding_document(f) for f in found})
            self._judge(found, f"probe {result.target}")
        self._publish()

    def _publish(self) -> None:
        try:
            managed = [e["target"] for e in Journal(self.settings.state_dir).entries if e.get("written") is not None]
        except JournalError:
            managed = []
        self.status.publish(self.backend, self.specs, self.settings, self.enforcer, managed)
        self.channel.publish(self.status.snapshot)
        if self.metrics is not None:
            self._write_textfile()
        if self.ready:
            self.notifier.send(f"STATUS={self.status.summary()}")

    def _count_applies(self, changes, result: str) -> None:
        if self.metrics is not None:
            for change in changes:
                self.metrics.applies.labels(change.check, result).inc()

    def _write_textfile(self) -> None:
        if self.metrics is None:
            return
        self.writes.attempt(f"the metrics textfile {self.settings.metrics_textfile}", self.metrics.write_textfile)

    def _emit(self, event: DriftEvent) -> None:
        self.status.events_total += 1
        if self.metrics is not None:
            finding_event = event.kind in ("appeared", "changed", "cleared")
            self.metrics.drift.labels(event.subject if finding_event else event.kind).inc()
        self.log.event(event)
        self.writes.attempt(str(self.history.events_path), lambda: self.history.add(event))
        for notifier in self.notifiers:
            notifier.submit(event)
        if self.channel is not None:
            self.channel.broadcast(event.to_json())

    def release(self, key: str) -> None:
        """Hands back a key netwarden stood back from (operations.py asks only for one it holds back)."""
        self.enforcer.release(key)
        check = next((s.id for s in self.specs if key in self.settings_of(s)), "")
        self._emit(DriftEvent("released", key, None, None, "release", f"{key} released: netwarden enforces it again",
                              "ok", time.time(), check))

    def after_own_write(self, specs, trigger: str) -> None:
        self._refresh_fingerprints()
        self.check(specs, trigger)

    def _refresh_fingerprints(self) -> None:
        """What the watched files look like now: netwarden's own writes are not someone else's change."""
        self.fingerprints = {str(p): file_fingerprint(p) for p in self.watched}
