"""What the daemon shows: its status, the findings and facts of its latest checks and probes, and
the numbers its metrics read, published as one snapshot swapped whole.

The loop is the only writer. Readers on other threads (the control socket, the metrics server)
take `snapshot` once and use that: it is never changed after it is made, and each part is
encoded to JSON once, for every reader.
"""

from __future__ import annotations

import json
import os
import time

from netwarden import __version__
from netwarden.daemon.protocol import Encoded
from netwarden.model import Severity, worst


def make_snapshot(parts: dict, gauges: dict) -> dict:
    encoded = {name: Encoded(json.dumps(value, separators=(",", ":")).encode()) for name, value in parts.items()}
    return {**parts, "gauges": gauges, "encoded": encoded}


class Status:
    def __init__(self) -> None:
        self.started = time.time()
        self.finding_docs: dict[str, dict] = {}  # check id (or probe finding id) -> its latest finding, as JSON
        self.facts_doc: dict = {}  # the latest facts, merged across partial checks
        self.gauges: dict = {}  # numbers for metrics, from real Facts
        self.probes: dict[str, dict] = {}  # target -> its latest probe: when, verdict per phase
        self.events_total = 0
        self.last_check: float | None = None
        self.last_check_seconds: float | None = None
        self.snapshot = make_snapshot({"status": {"status": "starting"}, "findings": [], "facts": {}}, {})

    def record(self, doc: dict, facts, top_destinations: int) -> None:
        """A check run's report document and its Facts."""
        self.finding_docs.update({f["id"]: f for f in doc["findings"]})
        for key, value in doc["facts"].items():
            if key == "sysctls":
                self.facts_doc.setdefault("sysctls", {}).update(value)
            elif value is not None or key not in self.facts_doc:
                self.facts_doc[key] = value
        self._gauges(facts, top_destinations)

    def _gauges(self, facts, top: int) -> None:
        from netwarden.checks.ports import bounding_range
        from netwarden.model import Census, PortRange, TimeWait

        ports = bounding_range(facts)
        if isinstance(ports, PortRange):
            self.gauges["port_range_size"] = ports.usable
        if isinstance(facts.census, Census):
            self.gauges["ports_in_use"] = [(d.name, d.total) for d in facts.census.destinations[:top]]
            self.gauges["time_wait"] = facts.census.time_wait
        if isinstance(facts.time_wait, TimeWait) and facts.time_wait.count is not None:
            self.gauges["time_wait"] = facts.time_wait.count

    def record_probe(self, target: str, at: float, phases: list, error: str) -> None:
        """A target's probe: each phase's verdict and time (skipped ones left out)."""
        ran = [p for p in phases if p.verdict != "skipped"]
        self.probes[target] = {
            "at": at, "error": error,
            "status": worst(Severity(p.verdict) for p in ran).value if ran else "unknown",
            "phases": [{"name": p.name, "verdict": p.verdict, "ms": p.ms, "summary": p.summary} for p in ran]}
        self.gauges["probes"] = {t: (doc["at"], [(p["name"], p["ms"], p["verdict"]) for p in doc["phases"]])
                                 for t, doc in self.probes.items()}

    def forget_probes(self, targets) -> None:
        """Targets no longer configured (after a reload): their probes and findings go."""
        for target in [t for t in self.probes if t not in targets]:
            del self.probes[target]
        from netwarden.daemon.probing import target_of

        for key in [k for k in self.finding_docs if target_of(k) not in (None, *targets)]:
            del self.finding_docs[key]
        self.gauges["probes"] = {t: v for t, v in self.gauges.get("probes", {}).items() if t in targets}

    def publish(self, backend, specs, settings, enforcer, managed: list[str]) -> None:
        counts: dict[str, int] = {}
        for f in self.finding_docs.values():
            counts[f["severity"]] = counts.get(f["severity"], 0) + 1
        overall = worst(Severity(f["severity"]) for f in self.finding_docs.values())
        status = {
            "netwarden": __version__, "pid": os.getpid(), "started_at": self.started,
            "platform": backend.platform.describe(), "status": overall.value, "exit_code": overall.exit_code,
            "counts": counts, "checks": [s.id for s in specs],
            "policy": {s.id: settings.policy_for(s.id) for s in specs},
            "last_check": self.last_check, "last_check_seconds": self.last_check_seconds,
            "events_total": self.events_total, "managed": managed,
            "contested": {k: {"written": w, "now": n} for k, (w, n) in enforcer.contested.items()},
            "backed_off": sorted(enforcer.backed_off), "probes": dict(self.probes),
        }
        self.snapshot = make_snapshot({"status": status, "findings": list(self.finding_docs.values()),
                                       "facts": dict(self.facts_doc)}, dict(self.gauges))

    def summary(self) -> str:
        """STATUS= for the service manager: the published status in one ASCII line."""
        status = self.snapshot["status"]
        if status["status"] == "starting":
            return "starting"
        held = len(status["contested"]) + len(status["backed_off"])
        return (f"{status['status']}: " + ", ".join(f"{n} {s}" for s, n in sorted(status["counts"].items()))
                + f"; {status['events_total']} events" + (f"; {held} keys held back" if held else ""))

    def read(self, method: str, params: dict, history):
        """A read-only request, answered from the snapshot (on the socket's thread)."""
        snapshot = self.snapshot
        if method == "version":
            return {"netwarden": __version__}
        if method in ("status", "findings", "facts"):
            return snapshot["encoded"][method]
        offset, limit = params.get("offset", 0), params.get("limit", 50)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (offset, limit)) or limit > 1000:
            raise ValueError("history takes offset >= 0 and 0 <= limit <= 1000")
        events = history.events
        page = events[max(0, len(events) - offset - limit):len(events) - offset] if offset < len(events) else []
        return {"total": len(events), "offset": offset, "events": page[::-1]}  # newest first
