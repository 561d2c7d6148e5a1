"""`netwarden daemon`: the same checks and changes as the CLI, driven by events.

One loop thread owns all state. Watchers and signal handlers only put a Trigger on a SimpleQueue
(whose put is safe even from a signal handler). A trigger runs at once (leading edge), and any
that arrive within `debounce` of a run are coalesced into the next one, so a burst of events
costs one re-check. Timers: the sysctls the checks use every `poll_interval`, the socket census
every `census_interval`, the service manager's watchdog at half of WATCHDOG_USEC. Before each
turn's WATCHDOG=1 the loop asks whether the other threads still run (supervise.py); when one has
ended, it exits with EXIT_SOFTWARE instead, for the service manager to restart the daemon.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import queue
import signal
import time
from pathlib import Path

from netwarden import __version__, engine
from netwarden.cli import EXIT_OK, EXIT_SOFTWARE
from netwarden.config import ConfigError, Settings, load_settings
from netwarden.daemon.control import ControlServer
from netwarden.daemon.drift import DriftEvent, History, diff_findings, finding_state
from netwarden.daemon.listener import ControlError
from netwarden.daemon.notify import ERR, INFO, NOTICE, WARNING, ExecHook, Log, SdNotify, Webhook
from netwarden.daemon.policy import Enforcer
from netwarden.daemon.protocol import BUSY, INTERNAL_ERROR, INVALID_PARAMS, Encoded
from netwarden.daemon.supervise import Supervisor
from netwarden.daemon.watch import FileWatcher, NetlinkWatcher, Trigger, file_fingerprint
from netwarden.journal import ApplyLock, Journal, JournalError, LockBusy
from netwarden.model import Severity, worst
from netwarden.platform.detect import backend_for
from netwarden.platform.linux import ChangeFailed
from netwarden.platform.parse.sysctl_conf import same_value, valid_sysctl_key
from netwarden.platform.source import Source

def _string_list(params: dict, name: str) -> list[str] | None:
    value = params.get(name)
    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ValueError(f"{name} must be a list of check ids")
    return value


def _snapshot(parts: dict, gauges: dict) -> dict:
    """What the socket's readers see, swapped whole; each part also encoded once, for every reader."""
    encoded = {name: Encoded(json.dumps(value, separators=(",", ":")).encode()) for name, value in parts.items()}
    return {**parts, "gauges": gauges, "encoded": encoded}


def _describe_change(before: dict | None, after: dict | None) -> str:
    if before is None:
        return "appeared: " + ", ".join(f"{k} {v}" for k, v in (after or {}).items())
    if after is None:
        return "gone (was " + ", ".join(f"{k} {v}" for k, v in before.items()) + ")"
    return ", ".join(f"{k} {before.get(k)} -> {after.get(k)}" for k in after if before.get(k) != after.get(k))


# The metrics textfile is rewritten at least this often (seconds), so the age of its
# netwarden_last_update_timestamp_seconds tells a hung or killed daemon from a quiet one
# (node_exporter keeps serving a stale file's last values; the NetwardenStale alert watches it).
TEXTFILE_REFRESH = 60.0
MEASURED_FACTS = ("census", "time_wait", "conntrack")  # they move without a setting changing: re-read on a timer
KERNEL_FACTS = ("links", "routes", "ipv6", "paths")  # what a netlink link/route/address event can change
PROBE_FACTS = ("targets", "dns", "paths")  # re-probed every probe_interval


class DaemonError(Exception):
    """The daemon cannot start; the message says why."""


class Daemon:
    def __init__(self, settings: Settings, config_path: str | None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.log = Log()
        self.sd = SdNotify(self.log)
        self.stopping = False
        self.ready = False  # STATUS= updates start once READY=1 is sent
        self.sysctl_values: dict[str, str] = {}
        self.fingerprints: dict[str, str] = {}
        self.events_total = 0
        self.started = time.time()
        self.last_check: float | None = None
        self.last_check_seconds: float | None = None
        self.control = None
        self.finding_docs: dict[str, dict] = {}  # check id -> its latest finding, as JSON
        self.facts_doc: dict = {}  # the latest facts, merged across partial checks
        self.snapshot = _snapshot({"status": {"status": "starting"}, "findings": [], "facts": {}}, {})
        self.gauges: dict = {}
        self.metrics = None
        self.exit_code = EXIT_OK
        self.supervisor = Supervisor(lambda m: self.log.write(ERR, m), lambda: self.queue.put(Trigger("thread")))

    # ---- lifecycle -----------------------------------------------------------------------------

    def run(self) -> int:
        state_dir = self.settings.state_dir
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        instance = self._single_instance(state_dir / "daemon.pid")
        self.supervisor.install()
        try:
            self._setup()
            self._loop()
        finally:
            self._shutdown()
            self.supervisor.uninstall()
            os.close(instance)
        return self.exit_code

    def _single_instance(self, path: Path) -> int:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise DaemonError(f"another netwarden daemon (pid {holder}) is running with state dir "
                                  f"{path.parent}") from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _setup(self) -> None:
        self.history = History(self.settings.state_dir, self.settings.history_size)
        for problem in self.history.problems:
            self.log.write(WARNING, problem)
        self.enforcer = Enforcer(self.settings)
        self.backend = backend_for(Source(), self.settings)
        self.specs = engine.select_checks(self.settings, system=self.backend.platform.system)
        self.notifiers = []
        if self.settings.webhook_url:
            self.notifiers.append(Webhook(self.log, self.settings.webhook_url, self.settings.webhook_timeout,
                                          self.settings.webhook_retries))
        if self.settings.exec_hook:
            self.notifiers.append(ExecHook(self.log, self.settings.exec_hook, self.settings.exec_hook_timeout))
        for signum, name in ((signal.SIGTERM, "TERM"), (signal.SIGINT, "INT"), (signal.SIGHUP, "HUP")):
            signal.signal(signum, lambda *_, name=name: self.queue.put(Trigger("signal", name)))
        self._reconcile_journal()
        self.control = ControlServer(self.settings, self, lambda m: self.log.write(WARNING, m))
        try:
            self.control.open()  # before any work: a live daemon on the socket stops us here
        except ControlError as e:
            self.control = None
            raise DaemonError(str(e)) from None
        if self.settings.metrics_address or self.settings.metrics_textfile:
            from netwarden.daemon.metrics import Metrics

            self.metrics = Metrics(self, self.settings)
            try:  # before any work, like the control socket: a taken address stops us here
                self.supervisor.watch("metrics server", self.metrics.serve())
            except OSError as e:
                raise DaemonError(f"metrics_address {self.settings.metrics_address}: {e.strerror or e} "
                                  "(another netwarden daemon, or another program, listens there)") from None
        self.watched = self._watched_files()
        self._refresh_fingerprints()
        self.files = FileWatcher(list(self.watched), self.queue.put)
        self.files.start()
        self.supervisor.watch("file watcher", self.files.observer)
        for path in self.files.unwatchable:
            self.log.write(INFO, f"not watching {path}: no such directory")
        if self.settings.watch_kernel:
            self.kernel = NetlinkWatcher(self.queue.put, lambda m: self.log.write(WARNING, m))
            self.supervisor.watch("kernel watcher", self.kernel.thread, lambda: not self.kernel.available)
            self.kernel.ready.wait(5)
        for notifier in self.notifiers:
            self.supervisor.watch(notifier.thread.name.removeprefix("netwarden-"), notifier.thread)
        self.log.write(NOTICE, f"daemon {__version__} started on {self.backend.platform.describe()}, "
                               f"{len(self.specs)} checks, state dir {self.settings.state_dir}")
        self._check(self.specs, "start")
        self.supervisor.watch("control socket", self.control.start())
        self.sd.send("READY=1", f"STATUS={self._summary()}")
        self.ready = True

    def _reconcile_journal(self) -> None:
        """A crash mid-apply leaves `pending` entries and temp files: finish it (engine.reconcile)."""
        try:
            for message in engine.reconcile(self.backend, self.settings):
                self.log.write(WARNING, message)
        except (JournalError, LockBusy, ChangeFailed, OSError) as e:
            self.log.write(ERR, f"journal not reconciled: {e}")

    def _settings_of(self, spec) -> tuple[str, ...]:
        """The settings behind a check's facts, polled for drift (sysctl names on Linux)."""
        return self.backend.setting_keys(spec.facts)

    def _checks_using(self, *facts: str) -> tuple[str, ...]:
        return tuple(spec.id for spec in self.specs if set(spec.facts) & set(facts))

    def _watched_files(self) -> dict[Path, tuple[str, ...]]:
        """Each watched path -> the checks it affects (the sysctl files decide boot-time values)."""
        s = self.settings
        watched: dict[Path, tuple[str, ...]] = {p: () for p in s.watch_files}
        for path, facts in self.backend.watched_files().items():
            watched[Path(path)] = self._checks_using(*facts)
        if self.config_path:
            watched[Path(self.config_path)] = ()
        return watched

    def _shutdown(self) -> None:
        self.sd.send("STOPPING=1")
        if self.control is not None:
            self.control.stop()
        if self.metrics is not None:
            self.metrics.stopped = True
            self._write_textfile()
        if getattr(self, "files", None):
            self.files.stop()
        if self.settings.rollback_on_stop and getattr(self, "backend", None):
            try:
                restored, failures = engine.revert_all(self.backend, self.settings)
                self.log.write(NOTICE, f"rollback on stop: {len(restored)} restored, {len(failures)} failed")
            except (JournalError, LockBusy, OSError) as e:
                self.log.write(ERR, f"rollback on stop failed: {e}")
        self.log.write(NOTICE, "netwarden daemon stopped")

    # ---- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        now = time.monotonic()
        due = {"poll": now + self.settings.poll_interval, "census": now + self.settings.census_interval,
               "probe": now + self.settings.probe_interval}
        watchdog = self.sd.watchdog_interval()
        if watchdog:
            due["watchdog"] = now
        if self.settings.metrics_textfile:
            due["textfile"] = now + TEXTFILE_REFRESH
        last_event_run = 0.0  # timer runs do not count: debounce coalesces bursts of events only
        while not self.stopping:
            timeout = max(0.0, min(due.values()) - time.monotonic())
            batch = []
            try:
                batch.append(self.queue.get(timeout=timeout))
            except queue.Empty:
                pass
            if batch and time.monotonic() - last_event_run < self.settings.debounce:
                # Inside the debounce window of the last event's run: gather the rest of the burst first.
                self._gather(batch, last_event_run + self.settings.debounce)
            self._drain(batch)
            dead = self.supervisor.dead()
            if dead:  # deaf or mute in part: no more WATCHDOG=1; exit, for the service manager to restart us
                self.log.write(ERR, f"{' and '.join(dead)} stopped working (its thread ended): exiting "
                                    f"({EXIT_SOFTWARE}) so that the service manager restarts netwarden")
                self.exit_code = EXIT_SOFTWARE
                return
            now = time.monotonic()
            timers = [name for name, at in due.items() if at <= now]
            for name in timers:
                due[name] = now + {"poll": self.settings.poll_interval, "census": self.settings.census_interval,
                                   "probe": self.settings.probe_interval, "watchdog": watchdog or 0,
                                   "textfile": TEXTFILE_REFRESH}[name]
            if "watchdog" in timers:
                self.sd.send("WATCHDOG=1")
            if "textfile" in timers:
                self._write_textfile()
            if batch or {"poll", "census", "probe"} & set(timers):
                try:
                    self._handle(batch, poll="poll" in timers, census="census" in timers, probe="probe" in timers)
                except Exception:  # noqa: BLE001 - a bug in one run must not stop the watching
                    import traceback

                    self.log.write(ERR, "a check run failed (a bug; please report it): "
                                        + traceback.format_exc().replace("\n", " | "))
                if batch:
                    last_event_run = time.monotonic()

    def _gather(self, batch: list, until: float) -> None:
        while (left := until - time.monotonic()) > 0:
            try:
                batch.append(self.queue.get(timeout=left))
            except queue.Empty:
                return

    def _drain(self, batch: list) -> None:
        while True:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                return

    def _handle(self, batch: list[Trigger], poll: bool, census: bool, probe: bool = False) -> None:
        affected: dict[str, str] = {}  # check id -> what triggered it
        reload = False
        seen_files = set()
        for trigger in batch:
            if trigger.kind == "signal":
                if trigger.detail in ("TERM", "INT"):
                    self.stopping = True
                    return
                reload = True
            elif trigger.kind == "file" and trigger.detail not in seen_files:  # one look per file per batch
                seen_files.add(trigger.detail)
                reload |= self._file_changed(Path(trigger.detail), affected)
            elif trigger.kind == "rpc":
                self._rpc(trigger.detail, trigger.data["params"], trigger.data["reply"])
            elif trigger.kind == "kernel":
                before, after = trigger.data.get("before"), trigger.data.get("after")
                self._emit(DriftEvent("kernel-changed", trigger.detail, before, after, "netlink",
                                      f"{trigger.detail}: {_describe_change(before, after)}", "ok", time.time()))
                for check_id in self._checks_using(*KERNEL_FACTS):
                    affected.setdefault(check_id, f"netlink {trigger.detail}")
        if reload:
            self._reload()
        if poll:
            self._poll_sysctls(affected)
        if census:  # the socket census and counters such as conntrack occupancy: measured, not polled
            for check_id in self._checks_using(*MEASURED_FACTS):
                affected.setdefault(check_id, "census")
        if probe and self.settings.targets:
            for check_id in self._checks_using(*PROBE_FACTS):
                affected.setdefault(check_id, "probe timer")
        if affected:
            self._check([s for s in self.specs if s.id in affected], ", ".join(sorted(set(affected.values()))))

    def _file_changed(self, path: Path, affected: dict[str, str]) -> bool:
        """Returns True when the path is the config file (a reload is due)."""
        before, after = self.fingerprints.get(str(path)), file_fingerprint(path)
        if before == after:
            return False
        self.fingerprints[str(path)] = after
        self._emit(DriftEvent("file-changed", str(path), {"sha256": before}, {"sha256": after}, f"file {path}",
                              f"{path} changed ({before} -> {after})", "ok", time.time()))
        for check_id in self.watched.get(path, ()):
            affected.setdefault(check_id, f"file {path}")
        return self.config_path is not None and path == Path(self.config_path)

    def _poll_sysctls(self, affected: dict[str, str]) -> None:
        keys = sorted({key for spec in self.specs for key in self._settings_of(spec)})
        changed = {}
        for key in keys:
            value = self.backend.read_setting(key)
            value = value if isinstance(value, str) else f"unknown: {value.reason}"
            old = self.sysctl_values.get(key)
            self.sysctl_values[key] = value
            if old is not None and not same_value(old, value):
                changed[key] = (old, value)
        if not changed:
            return
        # Whose change was it? Judged under the apply lock, which a one-shot --apply / --revert
        # holds from its first write to its last journal update, so their writes are never
        # mistaken for someone else's.
        try:
            with ApplyLock(self.settings.apply_lock, self.settings.lock_timeout):
                journal = Journal(self.settings.state_dir)
                settled = {key: self.backend.read_setting(key) for key in changed}
        except (LockBusy, JournalError, OSError) as e:
            self.log.write(WARNING, f"cannot tell who changed {', '.join(changed)}: {e}")
            journal, settled = None, {}
        for key, (old, value) in changed.items():
            trigger = f"poll: {key} {old!r} -> {value!r}"
            for spec in self.specs:
                if key in self._settings_of(spec):
                    affected.setdefault(spec.id, trigger)
            if isinstance(settled.get(key), str):
                value = settled[key]  # as read under the lock
            entry = journal.find_written(key) if journal else None
            # Held back only where netwarden enforces: under observe nothing is held, only reported.
            if (entry and entry.get("written") is not None and self.enforcer.wants(entry["check"])
                    and not same_value(entry["written"], value)):
                event = self.enforcer.external_change(key, entry["check"], entry["written"], value, trigger)
                if event:
                    self._emit(event)

    # ---- checks, drift, enforcement ------------------------------------------------------------

    def _check(self, specs, trigger: str) -> None:
        started = time.monotonic()
        facts = engine.collect(self.backend, specs)
        findings = engine.analyze(facts, self.settings, specs, self.backend)
        for spec in specs:  # remember what the poll compares against
            for key in self._settings_of(spec):
                value = facts.sysctls.get(key)
                if isinstance(value, str):
                    self.sysctl_values[key] = value
        self._update_gauges(facts)
        doc = engine.report_document(facts, findings, [], None)
        self.finding_docs.update({f["id"]: f for f in doc["findings"]})
        for key, value in doc["facts"].items():
            if key == "sysctls":
                self.facts_doc.setdefault("sysctls", {}).update(value)
            elif value is not None or key not in self.facts_doc:
                self.facts_doc[key] = value
        events = diff_findings(self.history.findings, findings, trigger)
        for event in events:
            self._emit(event)
        state = dict(self.history.findings)
        state.update({f.id: finding_state(f) for f in findings})
        if events or state != self.history.findings:
            self.history.save_findings(state)
        self.last_check = time.time()
        self.last_check_seconds = time.monotonic() - started
        if self.metrics is not None:
            self.metrics.check_duration.observe(self.last_check_seconds)
        enforced = self._enforce(findings, trigger)
        if enforced:
            self._check([s for s in self.specs if s.id in enforced], "enforce")
        self._publish()
        if self.metrics is not None:
            self._write_textfile()
        if self.ready:
            self.sd.send(f"STATUS={self._summary()}")

    def _enforce(self, findings, trigger: str) -> set[str]:
        wanted = [c for f in findings if self.enforcer.wants(f.id) for c in f.changes]
        allowed = []
        for change in wanted:
            ok, event = self.enforcer.may_apply(change.target, change.check, trigger)
            if event:
                self._emit(event)
            if ok:
                allowed.append(change)
        if not allowed:
            return set()
        try:
            changes, refused = engine.plan_changes(allowed, self.backend)
            for change, why in refused:  # an attempt like any other: the hourly limit ends the repeats
                self.enforcer.applied(change.target)
                self._emit(DriftEvent("enforce-failed", change.target, {"value": change.current}, None, trigger,
                                      f"cannot enforce {change.target}: {why}", "warning", time.time(), change.check))
            allowed = [c for c in allowed if c in changes]
            if changes:
                engine.apply_locked(self.backend, self.settings, changes)
        except (engine.ApplyFailed, ChangeFailed, JournalError, LockBusy, OSError) as e:
            self._count_applies(allowed, "failed")
            for change in allowed:
                self.enforcer.applied(change.target)
                self._emit(DriftEvent("enforce-failed", change.target, {"value": change.current}, None, trigger,
                                      f"could not enforce {change.target}: {e}", "warning", time.time(), change.check))
            return set()
        self._refresh_fingerprints()
        self._count_applies(allowed, "ok")
        for change in allowed:
            self.enforcer.applied(change.target)
            self._emit(DriftEvent("enforced", change.target, {"value": change.current}, {"value": change.new}, trigger,
                                  f"enforced {change.target}: {change.current} -> {change.new}", "ok", time.time(),
                                  change.check))
        return {c.check for c in allowed}

    def _count_applies(self, changes, result: str) -> None:
        if self.metrics is not None:
            for change in changes:
                self.metrics.applies.labels(change.check, result).inc()

    def _write_textfile(self) -> None:
        try:
            self.metrics.write_textfile()
        except OSError as e:
            self.log.write(ERR, f"cannot write the metrics textfile: {e}")

    def _update_gauges(self, facts) -> None:
        """Numbers for metrics, from real Facts (the published snapshot holds only JSON)."""
        from netwarden.checks.ports import bounding_range
        from netwarden.model import Census, PortRange, TimeWait

        ports = bounding_range(facts)
        if isinstance(ports, PortRange):
            self.gauges["port_range_size"] = ports.usable
        if isinstance(facts.census, Census):
            top = facts.census.destinations[:self.settings.metrics_top_destinations]
            self.gauges["ports_in_use"] = [(d.name, d.total) for d in top]
            self.gauges["time_wait"] = facts.census.time_wait
        if isinstance(facts.time_wait, TimeWait) and facts.time_wait.count is not None:
            self.gauges["time_wait"] = facts.time_wait.count

    def _emit(self, event: DriftEvent) -> None:
        self.events_total += 1
        if self.metrics is not None:
            finding_event = event.kind in ("appeared", "changed", "cleared")
            self.metrics.drift.labels(event.subject if finding_event else event.kind).inc()
        self.log.event(event)
        try:
            self.history.add(event)
        except OSError as e:
            self.log.write(ERR, f"cannot write history: {e}")
        for notifier in self.notifiers:
            notifier.submit(event)
        if self.control is not None:
            self.control.broadcast(event.to_json())

    # ---- operations also offered to admins ----------------------------------------------------

    def release(self, key: str) -> bool:
        known = self.enforcer.release(key)
        check = next((s.id for s in self.specs if key in self._settings_of(s)), "")
        self._emit(DriftEvent("released", key, None, None, "release",
                              f"{key} released: netwarden enforces it again" if known
                              else f"{key} released (it was not held back)", "ok", time.time(), check))
        return known

    # ---- the control socket's methods -------------------------------------------------------
    # Read-only ones run on the socket's thread, from the snapshot the loop publishes (swapped
    # whole, never mutated); the others are queued to the loop, the one place that changes state.

    def read(self, method: str, params: dict):
        snapshot = self.snapshot
        if method == "version":
            return {"netwarden": __version__}
        if method in ("status", "findings", "facts"):
            return snapshot["encoded"][method]
        offset, limit = params.get("offset", 0), params.get("limit", 50)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (offset, limit)) or limit > 1000:
            raise ValueError("history takes offset >= 0 and 0 <= limit <= 1000")
        events = self.history.events
        page = events[max(0, len(events) - offset - limit):len(events) - offset] if offset < len(events) else []
        return {"total": len(events), "offset": offset, "events": page[::-1]}  # newest first

    def submit(self, method: str, params: dict, reply) -> None:
        self.queue.put(Trigger("rpc", method, {"params": params, "reply": reply}))

    def _rpc(self, method: str, params: dict, reply) -> None:
        try:
            reply(result=self._operation(method, params))
        except (ValueError, engine.UsageError) as e:
            reply(error=(INVALID_PARAMS, str(e)))
        except (ChangeFailed, JournalError) as e:
            reply(error=(INTERNAL_ERROR, str(e)))
        except LockBusy as e:
            reply(error=(BUSY, str(e)))
        except Exception as e:  # noqa: BLE001 - a request must never take the daemon down
            self.log.write(ERR, f"request {method} failed: {e!r:.300}")
            reply(error=(INTERNAL_ERROR, f"internal error in {method}: {e}"))

    def _operation(self, method: str, params: dict):
        if method == "check":
            ids = _string_list(params, "ids") or [s.id for s in self.specs]
            specs = [s for s in self.specs if s.id in ids]
            if len(specs) != len(set(ids)):
                raise ValueError(f"ids must name running checks: {', '.join(s.id for s in self.specs)}")
            self._check(specs, "request: check")
            return {"findings": [self.finding_docs[s.id] for s in specs]}
        if method == "apply":
            specs = engine.select_checks(self.settings, _string_list(params, "only"), _string_list(params, "skip"),
                                         self.backend.platform.system)
            doc, ok = engine.apply_and_verify(self.backend, self.settings, specs)
            if self.metrics is not None:
                for check_id in doc["apply"]["checks"]:
                    self.metrics.applies.labels(check_id, "ok" if ok else "failed").inc()
            self._after_own_write(specs, "request: apply")
            return {"report": doc, "ok": ok}
        if method == "revert":
            restored, failures = engine.revert_all(self.backend, self.settings)
            self._after_own_write(self.specs, "request: revert")
            return {"reverted": restored, "failed": failures}
        if method == "release":
            key = params.get("key")
            if not valid_sysctl_key(key):
                raise ValueError("release takes a key such as net.ipv4.ip_local_port_range")
            known = {k for spec in self.specs for k in self._settings_of(spec)} | set(self.enforcer.contested) \
                | self.enforcer.backed_off
            if key not in known:
                raise ValueError(f"{key} is not a key netwarden's checks use: {', '.join(sorted(known))}")
            was_held = self.release(key)
            self._check([s for s in self.specs if key in self._settings_of(s)], f"release {key}")  # enforce again now
            return {"released": key, "was_held": was_held}
        if method == "reload":
            error = self._reload()
            return {"reloaded": error is None, "error": error}
        raise ValueError(f"no such method: {method}")

    def _after_own_write(self, specs, trigger: str) -> None:
        self._refresh_fingerprints()
        self._check(specs, trigger)

    def _refresh_fingerprints(self) -> None:
        """What the watched files look like now: netwarden's own writes are not someone else's change."""
        self.fingerprints = {str(p): file_fingerprint(p) for p in self.watched}

    def _publish(self) -> None:
        counts: dict[str, int] = {}
        for f in self.finding_docs.values():
            counts[f["severity"]] = counts.get(f["severity"], 0) + 1
        overall = worst(Severity(f["severity"]) for f in self.finding_docs.values())
        try:
            managed = [e["target"] for e in Journal(self.settings.state_dir).entries if e.get("written") is not None]
        except JournalError:
            managed = []
        status = {
            "netwarden": __version__, "pid": os.getpid(), "started_at": self.started,
            "platform": self.backend.platform.describe(), "status": overall.value, "exit_code": overall.exit_code,
            "counts": counts, "checks": [s.id for s in self.specs],
            "policy": {s.id: self.settings.policy_for(s.id) for s in self.specs},
            "last_check": self.last_check, "last_check_seconds": self.last_check_seconds,
            "events_total": self.events_total, "managed": managed,
            "contested": {k: {"written": w, "now": n} for k, (w, n) in self.enforcer.contested.items()},
            "backed_off": sorted(self.enforcer.backed_off),
        }
        self.snapshot = _snapshot({"status": status, "findings": list(self.finding_docs.values()),
                                   "facts": dict(self.facts_doc)}, dict(self.gauges))

    def _reload(self) -> str | None:
        self.sd.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
        try:
            settings = load_settings(self.config_path)
        except ConfigError as e:
            self.log.write(ERR, f"reload refused, keeping the running configuration: {e}")
            self.sd.send("READY=1", f"STATUS={self._summary()}")
            return str(e)
        else:
            self.settings = settings
            self.enforcer.settings = settings
            self.specs = engine.select_checks(settings, system=self.backend.platform.system)
            self.log.write(NOTICE, "configuration reloaded")
            self._check(self.specs, "reload")
        self.sd.send("READY=1", f"STATUS={self._summary()}")
        return None

    def _summary(self) -> str:
        """STATUS= for the service manager: the published status in one ASCII line."""
        status = self.snapshot["status"]
        held = len(status["contested"]) + len(status["backed_off"])
        return (f"{status['status']}: " + ", ".join(f"{n} {s}" for s, n in sorted(status["counts"].items()))
                + f"; {status['events_total']} events" + (f"; {held} keys held back" if held else ""))
