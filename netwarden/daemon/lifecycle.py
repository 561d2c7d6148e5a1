"""The daemon's start and stop: one instance per state directory, the per-OS pieces started in
order (the control socket or status file and the metrics address first, so that a second daemon
stops before it does any work), the first check before READY=1; and at the end, everything
stopped, the textfile and status file saying so, the originals put back if asked.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from netwarden import __version__, engine
from netwarden.daemon.drift import History
from netwarden.daemon.enforce import Enforcement
from netwarden.daemon.notify import INFO, NOTICE, WARNING, ExecHook, Webhook
from netwarden.daemon.policy import Enforcer
from netwarden.daemon.probing import TargetProbes
from netwarden.daemon.waiting import Waits
from netwarden.daemon.watch import FileWatcher, Trigger
from netwarden.journal import JournalError, LockBusy, check_state_dir
from netwarden.platform.detect import backend_for
from netwarden.platform.linux import ChangeFailed

SIGNALS = {"SIGTERM": "TERM", "SIGINT": "INT", "SIGHUP": "HUP", "SIGBREAK": "TERM"}  # SIGBREAK: Windows' Ctrl-Break


class DaemonError(Exception):
    """The daemon cannot start; the message says why, exit_code how the CLI exits (75: another
    daemon holds what it needs; 74: its state dir is unusable)."""

    def __init__(self, message: str, exit_code: int = 75):
        super().__init__(message)
        self.exit_code = exit_code


class Lifecycle:
    """Part of Daemon (service.py): its start and stop."""

    def run(self) -> int:
        state_dir = self.settings.state_dir
        try:  # before anything in it is read: the journal's originals are written over system files
            check_state_dir(state_dir)
        except JournalError as e:
            raise DaemonError(str(e), exit_code=74) from None
        instance = self._single_instance(state_dir / "daemon.pid")
        self.supervisor.install()
        try:
            self._setup()
            self._loop()
        finally:
            self._shutdown()
            self.supervisor.uninstall()
            instance.__exit__(None, None, None)
        return self.exit_code

    @staticmethod
    def _single_instance(path: Path):
        """The pid file, locked for the daemon's life (flock; msvcrt's byte lock on Windows)."""
        from netwarden.journal import ApplyLock

        try:
            return ApplyLock(path, 0, "the single-instance lock").__enter__()
        except LockBusy:
            holder = path.read_text(errors="replace").strip()[:32] or "?"
            raise DaemonError(f"another netwarden daemon is running with state dir "
                              f"{path.parent} (pid {holder} last wrote {path.name})") from None
        except JournalError as e:  # a pid file that is not netwarden's own
            raise DaemonError(str(e), exit_code=74) from None

    def _setup(self) -> None:
        warn = partial(self.log.write, WARNING)
        self.history = History(self.settings.state_dir, self.settings.history_size)
        self.status.events_total = len(self.history.events)  # a restart goes on counting from its history
        for problem in self.history.problems:
            warn(problem)
        self.enforcer = Enforcer(self.settings)
        self.enforcement = Enforcement(self.enforcer, self._emit, self._count_applies, warn)
        self.backend = backend_for(self.source, self.settings)
        self.specs = engine.select_checks(self.settings, system=self.backend.platform.system)
        self.notifiers = []
        if self.settings.webhook_url:
            self.notifiers.append(Webhook(self.log, self.settings.webhook_url, self.settings.webhook_timeout,
                                          self.settings.webhook_retries))
        if self.settings.exec_hook:
            self.notifiers.append(ExecHook(self.log, self.settings.exec_hook, self.settings.exec_hook_timeout))
        import signal

        for name, meaning in SIGNALS.items():
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), lambda *_, meaning=meaning: self.queue.put(Trigger("signal", meaning)))
        self._reconcile_journal()
        self.channel = self._open_channel()  # before any work: a live daemon on the socket stops us here
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
        self.files = FileWatcher(list(self.watched), self.queue.put, self.host.file_observer(self.settings))
        self.files.start()
        self.supervisor.watch("file watcher", self.files.observer)
        for path in self.files.unwatchable:
            self.log.write(INFO, f"not watching {path}: no such directory")
        if self.settings.watch_kernel:
            self.kernel = self.host.kernel_watcher(self.queue.put, warn, self.settings, self.source)
            self.supervisor.watch("kernel watcher", self.kernel.thread, lambda: not self.kernel.available)
            self.kernel.ready.wait(5)
        for notifier in self.notifiers:
            self.supervisor.watch(notifier.thread.name.removeprefix("netwarden-"), notifier.thread)
        self.waits = Waits(self.queue.put)
        self.supervisor.watch("waiting work", self.waits.thread)
        self.probes = TargetProbes(self.settings, self.source)
        self.log.write(NOTICE, f"daemon {__version__} started on {self.backend.platform.describe()}, "
                               f"{len(self.specs)} checks, state dir {self.settings.state_dir}")
        self.check(self.specs, "start")
        self._probe_targets()
        self.supervisor.watch("control socket", self.channel.start())
        self.notifier.send("READY=1", f"STATUS={self.status.summary()}")
        self.ready = True

    def _open_channel(self):
        if not self.host.control_socket:
            from netwarden.daemon.statusfile import StatusFile

            channel = StatusFile(self.settings.state_dir, self.log_error)
            channel.open()
            return channel
        from netwarden.daemon.control import ControlServer
        from netwarden.daemon.listener import ControlError

        channel = ControlServer(self.settings, self.operations, partial(self.log.write, WARNING), self.host.peer)
        try:
            channel.open()
        except ControlError as e:
            raise DaemonError(str(e)) from None
        return channel

    def _reconcile_journal(self) -> None:
        """A crash mid-apply leaves `pending` entries and temp files: finish it (engine.reconcile)."""
        try:
            for message in engine.reconcile(self.backend, self.settings):
                self.log.write(WARNING, message)
        except (JournalError, LockBusy, ChangeFailed, OSError) as e:
            self.log_error(f"journal not reconciled: {engine.failure_text(e)}")

    def _watched_files(self) -> dict[Path, tuple[str, ...]]:
        """Each watched path -> the checks it affects (the sysctl files decide boot-time values)."""
        watched: dict[Path, tuple[str, ...]] = {p: () for p in self.settings.watch_files}
        for path, facts in self.backend.watched_files().items():
            watched[Path(path)] = self._checks_using(*facts)
        if self.config_path:
            watched[Path(self.config_path)] = ()
        return watched

    def _shutdown(self) -> None:
        self.notifier.send("STOPPING=1")
        if self.channel is not None:
            self.channel.stop()
        if self.metrics is not None:
            self.metrics.stopped = True
            self._write_textfile()
        if getattr(self, "files", None):
            self.files.stop()
        if self.settings.rollback_on_stop and getattr(self, "backend", None):
            self._rollback()
        self.log.write(NOTICE, "netwarden daemon stopped")

    def _rollback(self) -> None:
        """rollback_on_stop: put back what netwarden still owns. A key someone else set since
        (`contested`, or `backed_off` under policy `always`) keeps their value: restoring the
        original over it would undo the admin's change."""
        from netwarden.journal import Journal

        theirs = frozenset(self.enforcer.contested) | frozenset(self.enforcer.backed_off)
        try:
            restored, failures = engine.revert_all(self.backend, self.settings, keep=theirs)
            left = sorted({e["target"] for e in Journal(self.settings.state_dir).entries} & theirs)
        except (JournalError, LockBusy, OSError) as e:
            self.log_error(f"rollback on stop failed: {engine.failure_text(e)}")
            return
        self.log.write(NOTICE, f"rollback on stop: {len(restored)} restored, {len(left)} left as someone else set them"
                               + (f" ({', '.join(left)})" if left else "") + (f", {len(failures)} failed" if failures else ""))
        for failure in failures:
            self.log_error(f"rollback on stop: could not put back {failure}")
