"""Work that waits runs here, on a thread of its own, never on the daemon's loop.

The loop must answer a SIGTERM at once (launchd kills a daemon that is not gone after its
ExitTimeOut, 10 s), feed systemd's watchdog, and handle events while something waits:
- the macOS backend's TCP-clock reading, past the wrap point, takes a second TIME_WAIT sample
  2 x MSL after the first (~31 s of sleep, platform/darwin.py _time_wait_samples): checks that
  read WAITING_FACTS are collected here, and judged on the loop when their facts are in;
- the targets' probes (resolve, connect, TLS, transfers) wait on the network, a dead target up to
  its timeouts, each target in turn; and so do the checks that probe the targets (ipv6.preference,
  dns.resolvers, mtu.path, tunnels.stale read NETWORK_FACTS) when targets are configured.

One job runs at a time. A job is handed back to the loop as a Trigger("done"): the loop calls each
of its `then(result, error)` in turn, like any other event. A job submitted while another of the
same name still waits for its turn joins it (the newest work, every `then`): a census every 30 s
does not pile up behind a 31 s reading.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from netwarden.daemon.watch import Trigger

WAITING_FACTS = frozenset({"tcp_clock"})  # always: a 2 x MSL sleep
NETWORK_FACTS = frozenset({"targets", "dns", "paths"})  # with targets: probes that wait on the network


def waits(spec, settings) -> bool:
    """Whether a check's facts are collected on the waiting thread rather than on the loop."""
    return bool(set(spec.facts) & WAITING_FACTS or (settings.targets and set(spec.facts) & NETWORK_FACTS))


class Waits:
    def __init__(self, put: Callable[[Trigger], None]) -> None:
        self.put = put
        self._jobs: dict[str, tuple[Callable[[], Any], list]] = {}  # name -> (work, thens), in order
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.running: str | None = None  # the job's name while it works
        self.thread = threading.Thread(target=self._run, name="netwarden-waits", daemon=True)
        self.thread.start()

    def submit(self, name: str, work: Callable[[], Any], then: Callable[[Any, str | None], None]) -> None:
        with self._lock:
            _, thens = self._jobs.get(name, (None, []))
            self._jobs[name] = (work, thens + [then])
        self._wake.set()

    def pending(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                if not self._jobs:
                    self._wake.clear()
                    continue
                name = next(iter(self._jobs))
                work, thens = self._jobs.pop(name)
                self.running = name
            try:
                result, error = work(), None
            except Exception:  # noqa: BLE001 - a bug in one job must not end the waiting for all
                result, error = None, traceback.format_exc().strip().replace("\n", " | ")
            self.running = None
            self.put(Trigger("done", name, {"result": result, "error": error, "then": thens}))
