"""Where drift goes: the journal (or stderr), the service manager (sd_notify on Linux), a webhook, a hook command."""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time

from netwarden.daemon.drift import DriftEvent

# A stable MESSAGE_ID per event kind, so `journalctl MESSAGE_ID=...` finds every one of a kind.
MESSAGE_IDS = {
    "appeared": "6c3e1b7a0f2d4e8a9b5c1d2e3f4a5b60",
    "changed": "6c3e1b7a0f2d4e8a9b5c1d2e3f4a5b61",
    "cleared": "6c3e1b7a0f2d4e8a9b5c1d2e3f4a5b62",
    "file-changed": "6c3e1b7a0f2d4e8a9b5c1d2e3f4a5b63",
    "kernel-changed": "6c3e1b7a0f2d4e8a9b5c1d2e3f4a5b64",
    "enforced": "6c3e1b7a0f2d4e8a9b5c1d2e3f4a5b65",
    "enforce-failed": "6c3e1b7a0f2d4e8a9b5c1d2e3f4a5b66",
    "contested": "6c3e1b7a0f2d4e8a9b5c1d2e3f4a5b67",
    "backed-off": "6c3e1b7a0f2d4e8a9b5c1d2e3f4a5b68",
    "released": "6c3e1b7a0f2d4e8a9b5c1d2e3f4a5b69",
}
# syslog priorities
ERR, WARNING, NOTICE, INFO = 3, 4, 5, 6
_PRIORITY = {"critical": 2, "warning": WARNING, "unknown": WARNING, "ok": NOTICE}


def event_priority(event: DriftEvent) -> int:
    if event.kind in ("enforce-failed", "contested", "backed-off"):
        return WARNING
    if event.kind in ("file-changed", "kernel-changed"):
        return INFO
    return _PRIORITY.get(event.severity, NOTICE)


class Log:
    """journald with structured fields via systemd-python when installed; otherwise stderr, with
    `<N>` priority prefixes when stderr is the journal's stream (JOURNAL_STREAM), plain otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        try:
            from systemd import journal  # optional: pip install 'netwarden[journal]'

            self._journal = journal if self._stderr_is_journal() or os.environ.get("INVOCATION_ID") else None
        except ImportError:
            self._journal = None
        self._prefix = self._stderr_is_journal()

    def _stderr_is_journal(self) -> bool:
        expected = os.environ.get("JOURNAL_STREAM", "")
        try:
            st = os.fstat(self.stream.fileno())
        except (OSError, ValueError, AttributeError):
            return False
        return expected == f"{st.st_dev}:{st.st_ino}"

    def write(self, priority: int, message: str, **fields: str) -> None:
        if self._journal is not None:
            self._journal.send(message, PRIORITY=str(priority), SYSLOG_IDENTIFIER="netwarden",
                               **{k.upper(): str(v) for k, v in fields.items()})
            return
        from netwarden.target import one_line

        extra = "".join(f" {k}={v}" for k, v in fields.items() if k.startswith("netwarden_"))
        message = one_line(message, 8000)  # a newline in a file name or key would start a record of its own
        line = f"<{priority}>{message}" if self._prefix else f"netwarden: {message}{extra}"
        try:
            print(line, file=self.stream, flush=True)
        except (OSError, ValueError):
            pass  # a closed stderr must not stop the daemon

    def event(self, event: DriftEvent) -> None:
        self.write(event_priority(event), event.message, message_id=MESSAGE_IDS.get(event.kind, ""),
                   netwarden_severity=event.severity, netwarden_event=event.kind,
                   netwarden_trigger=event.trigger, netwarden_subject=event.subject,
                   **({"netwarden_check": event.check} if event.check else {}))


class SdNotify:
    """sd_notify via systemd-python when installed, else sdnotify, wrapped against sdnotify 0.3.2's
    quirks: a fresh connection per message (it connects once at construction, so a re-created
    socket would be lost), errors raised and logged instead of swallowed, text made ASCII (it
    drops what Latin-1 cannot encode)."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._failed = False
        try:
            from systemd import daemon

            self._send = self._send_systemd(daemon)
        except ImportError:
            self._send = self._send_sdnotify

    @staticmethod
    def _send_systemd(daemon):
        def send(message: str) -> None:
            if not daemon.notify(message):
                raise OSError("sd_notify failed")
        return send

    @staticmethod
    def _send_sdnotify(message: str) -> None:
        import sdnotify

        notifier = sdnotify.SystemdNotifier(debug=True)
        try:
            notifier.notify(message)
        finally:
            if notifier.socket is not None:
                notifier.socket.close()

    def send(self, *lines: str) -> None:
        if not self.enabled:
            return
        message = "\n".join(line.encode("ascii", "replace").decode().replace("\n", " ") for line in lines)
        try:
            self._send(message)
            self._failed = False
        except Exception as e:  # noqa: BLE001 - report, never crash the daemon over a notification
            if not self._failed:
                self.log.write(ERR, f"sd_notify failed: {e}")
            self._failed = True

    def reloading(self) -> None:
        """RELOADING=1 with the time it started (systemd >= 253 wants MONOTONIC_USEC with it)."""
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def watchdog_interval(self) -> float | None:
        """Half of WATCHDOG_USEC, when the watchdog is meant for this process."""
        usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
        if not self.enabled or not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return int(usec) / 2e6
        except ValueError:
            return None


class _Worker:
    """Delivers events on its own thread from a bounded queue: a slow receiver never blocks the
    loop; when the queue is full the oldest undelivered event is dropped and counted."""

    def __init__(self, log: Log, name: str, size: int = 256) -> None:
        self.log = log
        self.queue: queue.Queue = queue.Queue(maxsize=size)
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def submit(self, event: DriftEvent) -> None:
        while True:
            try:
                self.queue.put_nowait(event)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _run(self) -> None:
        while True:
            event = self.queue.get()
            try:
                self.deliver(event)
            except Exception as e:  # noqa: BLE001
                self.log.write(ERR, f"{type(self).__name__}: {e}")

    def deliver(self, event: DriftEvent) -> None:
        raise NotImplementedError


class Webhook(_Worker):
    def __init__(self, log: Log, url: str, timeout: float, retries: int) -> None:
        self.url, self.timeout, self.retries = url, timeout, retries
        super().__init__(log, "netwarden-webhook")

    def deliver(self, event: DriftEvent) -> None:
        import urllib.request

        body = json.dumps(event.to_json()).encode()
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    if response.status < 300:
                        return
                    error = f"HTTP {response.status}"
            except Exception as e:  # noqa: BLE001 - URLError, timeouts, HTTP errors
                error = str(e)
            if attempt < self.retries:
                time.sleep(min(0.5 * 2 ** attempt, 30))
        self.log.write(WARNING, f"webhook {self.url}: gave up after {self.retries + 1} tries: {error}")


class ExecHook(_Worker):
    """Runs the configured command (argv, no shell) with the event as JSON on stdin."""

    def __init__(self, log: Log, argv: tuple[str, ...], timeout: float) -> None:
        self.argv, self.timeout = list(argv), timeout
        super().__init__(log, "netwarden-exec-hook")

    def deliver(self, event: DriftEvent) -> None:
        import subprocess

        try:
            r = subprocess.run(self.argv, input=json.dumps(event.to_json()).encode(), capture_output=True,
                               timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.log.write(WARNING, f"exec hook {self.argv[0]}: killed after {self.timeout:g} s")
            return
        if r.returncode != 0:
            self.log.write(WARNING, f"exec hook {self.argv[0]} exited {r.returncode}: "
                                    f"{r.stderr.decode(errors='replace').strip()[:200]}")
