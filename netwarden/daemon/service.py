"""`netwarden daemon`: the same checks and changes as the CLI, driven by events.

One loop thread owns all state. Watchers, the waiting thread and signal handlers only put a
Trigger on a SimpleQueue (whose put is safe even from a signal handler). A trigger runs at once
(leading edge), and any that arrive within `debounce` of a run are coalesced into the next one, so
a burst of events costs one re-check. Timers: the settings the checks use every `poll_interval`,
the socket census every `census_interval`, the targets' probes every `probe_interval`, the
service manager's watchdog at half of WATCHDOG_USEC. Before each turn's WATCHDOG=1 the loop asks
whether the other threads still run (supervise.py); when one has ended, it exits with
EXIT_SOFTWARE instead, for the service manager to restart the daemon.

Nothing on the loop waits for long: what does (a fact that sleeps, the targets' probes and the
checks that probe them) runs on the waiting thread (waiting.py) and comes back as a Trigger; an
`--apply` sent to the daemon is the exception (operations.py: its writes must not be judged as
someone else's drift). The rest is apart, by idea:
lifecycle.py (start, stop), checking.py (check runs judged for drift and published), host/ (each
OS's file observer, kernel watcher, peer credentials and service manager), status.py (what is
published), enforce.py, operations.py (the control socket's methods), probing.py (the targets).
"""

from __future__ import annotations

import queue
import time
from pathlib import Path

from netwarden import engine
from netwarden.cli import EXIT_OK, EXIT_SOFTWARE
from netwarden.config import ConfigError, Settings, load_settings
from netwarden.daemon.checking import Checking
from netwarden.daemon.drift import DriftEvent, StateWrites
from netwarden.daemon.enforce import poll_trigger
from netwarden.daemon.host import host_for
from netwarden.daemon.lifecycle import Lifecycle
from netwarden.daemon.notify import ERR, NOTICE, Log
from netwarden.daemon.operations import Operations
from netwarden.daemon.probing import TargetProbes
from netwarden.daemon.status import Status
from netwarden.daemon.statusfile import REFRESH
from netwarden.daemon.supervise import Supervisor
from netwarden.daemon.watch import Trigger, file_fingerprint
from netwarden.platform.parse.sysctl_conf import same_value
from netwarden.platform.source import Source


def _describe_change(before: dict | None, after: dict | None) -> str:
    if before is None:
        return "appeared: " + ", ".join(f"{k} {v}" for k, v in (after or {}).items())
    if after is None:
        return "gone (was " + ", ".join(f"{k} {v}" for k, v in before.items()) + ")"
    return ", ".join(f"{k} {before.get(k)} -> {after.get(k)}" for k in after if before.get(k) != after.get(k))


# The metrics textfile (and, without a control socket, status.json) is rewritten at least every
# REFRESH seconds, so its age tells a hung or killed daemon from a quiet one (node_exporter keeps
# serving a stale file's last values; the NetwardenStale alert watches it).
MEASURED_FACTS = ("census", "time_wait", "conntrack")  # they move without a setting changing: re-read on a timer
KERNEL_FACTS = ("links", "routes", "ipv6", "paths")  # what a link/route/address change can change
PROBE_FACTS = ("targets", "dns", "paths")  # re-probed every probe_interval


# What the daemon binds when it starts (its state dir and lock, the control socket, the metrics
# endpoint and textfile, the notifiers, its history's size, the files it watches): a reload that
# changes one of them is refused, naming them, rather than half-applied (the CLI would look for the
# daemon, its lock or its journal where it is not).
RESTART_KEYS = ("state_dir", "lock_path", "socket_path", "socket_group", "socket_idle_timeout", "socket_max_clients",
                "metrics_address", "metrics_textfile", "webhook_url", "webhook_timeout", "webhook_retries",
                "exec_hook", "exec_hook_timeout", "history_size", "watch_files", "watch_kernel", "proc_dir",
                "gai_conf", "resolv_conf", "sysctl_dir", "sysctl_search_dirs", "sysctl_conf")


class Daemon(Lifecycle, Checking):
    """The loop (here), its start and stop (lifecycle.py), its check runs (checking.py)."""

    def __init__(self, settings: Settings, config_path: str | None, source: Source | None = None, host=None,
                 named: bool = True) -> None:
        """`named`: config_path was given with --config, so a reload without it fails; else it is the
        default file (or $NETWARDEN_CONFIG's), read as load_settings reads it: absent means the defaults.
        `source` and `host` for tests (a replayed bundle, faked watchers): the live machine's by default."""
        self.settings = settings
        self.config_path = config_path
        self.named = named
        self.source = source if source is not None else Source()
        self.host = host or host_for()
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.log = Log()
        self.notifier = self.host.notifier(self.log)
        self.stopping = False
        self.ready = False  # STATUS= updates start once READY=1 is sent
        self.sysctl_values: dict[str, str] = {}
        self.fingerprints: dict[str, str] = {}
        self.status = Status()
        self.operations = Operations(self)
        self.channel = None  # the control socket, or status.json where there is none
        self.metrics = None
        self.exit_code = EXIT_OK
        self.supervisor = Supervisor(self.log_error, lambda: self.queue.put(Trigger("thread")))
        self.writes = StateWrites(self.log_error, lambda message: self.log.write(NOTICE, message))

    def log_error(self, message: str) -> None:
        self.log.write(ERR, message)

    # ---- the loop ------------------------------------------------------------------------------

    def _intervals(self, watchdog: float | None) -> dict[str, float]:
        s = self.settings
        every = {"poll": s.poll_interval, "census": s.census_interval, "probe": s.probe_interval}
        if watchdog:
            every["watchdog"] = watchdog
        if s.metrics_textfile or not self.host.control_socket:
            every["refresh"] = REFRESH
        return every

    def _loop(self) -> None:
        watchdog = self.notifier.watchdog_interval()
        now = time.monotonic()
        due = {name: now + every for name, every in self._intervals(watchdog).items()}
        if watchdog:
            due["watchdog"] = now
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
                self.log_error(f"{' and '.join(dead)} stopped working (its thread ended): exiting "
                               f"({EXIT_SOFTWARE}) so that the service manager restarts netwarden")
                self.exit_code = EXIT_SOFTWARE
                return
            now = time.monotonic()
            timers = [name for name, at in due.items() if at <= now]
            every = self._intervals(watchdog)  # after a reload, the new intervals
            for name in timers:
                due[name] = now + every.get(name, REFRESH)
            if "watchdog" in timers:
                self.notifier.send("WATCHDOG=1")
            if "refresh" in timers:
                self._write_textfile()
                self.channel.refresh()
            if batch or {"poll", "census", "probe"} & set(timers):
                try:
                    self._handle(batch, poll="poll" in timers, census="census" in timers, probe="probe" in timers)
                except Exception:  # noqa: BLE001 - a bug in one run must not stop the watching
                    import traceback

                    self.log_error("a check run failed (a bug; please report it): "
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
                self.operations.run(trigger.detail, trigger.data["params"], trigger.data["reply"])
            elif trigger.kind == "done":  # work that waited, back on the loop
                for then in trigger.data["then"]:
                    then(trigger.data["result"], trigger.data["error"])
            elif trigger.kind == "kernel":
                before, after = trigger.data.get("before"), trigger.data.get("after")
                source = self.host.kernel_source
                self._emit(DriftEvent("kernel-changed", trigger.detail, before, after, source,
                                      f"{trigger.detail}: {_describe_change(before, after)}", "ok", time.time()))
                for check_id in self._checks_using(*KERNEL_FACTS):
                    affected.setdefault(check_id, f"{source} {trigger.detail}")
        if poll:  # inotify misses a write through another mount (a file bind-mounted by `ip netns
            # exec` or a container runtime: the event goes to its source's directory), so the
            # watched files' fingerprints are compared on the poll timer too
            for path in self.watched:
                if str(path) not in seen_files:
                    reload |= self._file_changed(path, affected)
        if reload:
            self.reload()
        if poll:
            self._poll_settings(affected)
        if census:  # the socket census and counters such as conntrack occupancy: measured, not polled
            for check_id in self._checks_using(*MEASURED_FACTS):
                affected.setdefault(check_id, "census")
        if probe and self.settings.targets:
            for check_id in self._checks_using(*PROBE_FACTS):
                affected.setdefault(check_id, "probe timer")
            self._probe_targets()
        if affected:
            self.check([s for s in self.specs if s.id in affected], ", ".join(sorted(set(affected.values()))))

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

    def _poll_settings(self, affected: dict[str, str]) -> None:
        changed = {}
        for key in sorted({key for spec in self.specs for key in self.settings_of(spec)}):
            value = self.backend.read_setting(key)
            value = value if isinstance(value, str) else f"unknown: {value.reason}"
            old = self.sysctl_values.get(key)
            self.sysctl_values[key] = value
            if old is not None and not same_value(old, value):
                changed[key] = (old, value)
        for key, (old, value) in changed.items():
            for spec in self.specs:
                if key in self.settings_of(spec):
                    affected.setdefault(spec.id, poll_trigger(key, old, value))
        if changed:
            self.enforcement.judge(self.backend, self.settings, changed)

    def reload(self) -> str | None:
        self.notifier.reloading()
        try:
            settings = load_settings(self.config_path if self.named else None)
        except ConfigError as e:
            self.log_error(f"reload refused, keeping the running configuration: {e}")
            self.notifier.send("READY=1", f"STATUS={self.status.summary()}")
            return str(e)
        bound = [key for key in RESTART_KEYS if getattr(settings, key) != getattr(self.settings, key)]
        if bound:
            error = (f"{', '.join(bound)} changed: those take effect only when the daemon starts (restart it: "
                     "systemctl restart netwarden); the running configuration is kept")
            self.log_error(f"reload refused: {error}")
            self.notifier.send("READY=1", f"STATUS={self.status.summary()}")
            return error
        self.settings = settings
        self.backend.settings = settings  # targets, probe_timeout, thresholds: what the checks read
        self.enforcer.settings = settings
        self.specs = engine.select_checks(settings, system=self.backend.platform.system)
        self.probes = TargetProbes(settings, self.source)
        self.status.forget_probes(settings.targets)
        self.log.write(NOTICE, "configuration reloaded")
        self.check(self.specs, "reload")
        self._probe_targets()
        self.notifier.send("READY=1", f"STATUS={self.status.summary()}")
        return None
