"""A real `netwarden daemon` process inside a lab namespace, with its state and config in a temp dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from factories import clean_env
from lab import without_probe_checks


class DaemonRun:
    def __init__(self, ns, tmp: Path, config: str = "", env: dict | None = None) -> None:
        self.ns, self.tmp = ns, tmp
        self.state = tmp / "state"
        self.config = tmp / "netwarden.toml"
        self.config.write_text(without_probe_checks("poll_interval = 0.3\ncensus_interval = 60\n" + config))
        (tmp / "sysctl.d").mkdir(exist_ok=True)
        self.env = clean_env(**{
            "NETWARDEN_CONFIG": str(self.config), "NETWARDEN_STATE_DIR": str(self.state),
            "NETWARDEN_SYSCTL_DIR": str(tmp / "sysctl.d"),
            "NETWARDEN_SYSCTL_SEARCH_DIRS": json.dumps([str(tmp / "sysctl.d")]),
            "NETWARDEN_SYSCTL_CONF": str(tmp / "sysctl.conf"),
            "NETWARDEN_WATCH_FILES": json.dumps([str(tmp / "gai.conf")]),
            "NETWARDEN_SOCKET": str(tmp / "netwarden.sock"),
        })
        self.env.update(env or {})
        self.proc = None

    def start(self) -> DaemonRun:
        self.log = open(self.tmp / "daemon.log", "a")
        self.proc = self.ns.start(sys.executable, "-m", "netwarden", "daemon", env=self.env, output=self.log)
        self.wait_for(lambda: (self.state / "findings.json").exists(), "the first check")
        return self

    def events(self) -> list[dict]:
        try:
            return [json.loads(line) for line in (self.state / "history.jsonl").read_text().splitlines() if line]
        except FileNotFoundError:
            return []

    def wait_event(self, kind: str, subject: str | None = None, after: int = 0, timeout: float = 5.0) -> dict:
        found = []

        def seen():
            found[:] = [e for e in self.events()[after:] if e["kind"] == kind and subject in (None, e["subject"])]
            return found

        self.wait_for(seen, f"a {kind} event for {subject}", timeout)
        return found[0]

    def wait_for(self, condition, what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode} waiting for {what}: {self.output()}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; events: {self.events()}")

    def output(self) -> str:
        return (self.tmp / "daemon.log").read_text()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 2.0) -> tuple[int, float]:
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the daemon did not stop within {timeout:g} s of SIGTERM: {self.output()}") from None
        return code, time.monotonic() - start

    def netwarden(self, *args: str) -> subprocess.CompletedProcess:
        return self.ns.netwarden(*args, env=self.env)
