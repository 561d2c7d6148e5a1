"""Prometheus metrics (opt-in: `metrics_address` on loopback, and/or `metrics_textfile` for
node_exporter's textfile collector).

Gauges are read at scrape time from the snapshot the daemon's loop publishes (never from live
state), counters and the histogram are fed by the loop. Label values are bounded: check ids (and
the probes' finding ids, per target), the event kinds, at most `metrics_top_destinations`
destinations, the configured targets (at most 64) and the probe's six phases.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server, write_to_textfile
from prometheus_client.core import GaugeMetricFamily

SEVERITIES = ("ok", "warning", "critical", "unknown")


class _SnapshotCollector:
    def __init__(self, metrics, daemon) -> None:
        self.metrics, self.daemon = metrics, daemon

    def collect(self):
        snapshot = self.daemon.status.snapshot
        up = GaugeMetricFamily("netwarden_up", "1 while the netwarden daemon runs, 0 once it has stopped")
        up.add_metric([], 0 if self.metrics.stopped else 1)
        yield up
        updated = GaugeMetricFamily("netwarden_last_update_timestamp_seconds",
                                    "when these metrics were produced (the textfile's age: alert when it grows)")
        updated.add_metric([], time.time())
        yield updated
        finding = GaugeMetricFamily("netwarden_finding", "1 for each check's current severity, 0 for the others",
                                    labels=["check", "severity"])
        for f in snapshot["findings"]:
            for severity in SEVERITIES:
                finding.add_metric([f["id"], severity], 1 if f["severity"] == severity else 0)
        yield finding
        gauges = snapshot.get("gauges", {})
        if "port_range_size" in gauges:
            size = GaugeMetricFamily("netwarden_ephemeral_port_range_size",
                                     "ephemeral ports connect() can use (range minus reserved)")
            size.add_metric([], gauges["port_range_size"])
            yield size
        if "ports_in_use" in gauges:
            in_use = GaugeMetricFamily("netwarden_ephemeral_ports_in_use",
                                       "ephemeral ports held towards a destination (busiest only)", labels=["destination"])
            for destination, count in gauges["ports_in_use"]:
                in_use.add_metric([destination], count)
            yield in_use
        if "time_wait" in gauges:
            tw = GaugeMetricFamily("netwarden_time_wait_sockets", "TCP sockets in TIME_WAIT")
            tw.add_metric([], gauges["time_wait"])
            yield tw
        yield from _probe_families(gauges.get("probes", {}))


def _probe_families(probes: dict):
    """The targets' last probes: each phase's time and whether it was ok (skipped phases left out)."""
    if not probes:
        return
    seconds = GaugeMetricFamily("netwarden_probe_phase_seconds", "wall time of each phase of the last probe of a "
                                "target (a phase that did not run has none)", labels=["target", "phase"])
    ok = GaugeMetricFamily("netwarden_probe_phase_ok", "1 when the phase's verdict in the last probe of a target was "
                           "ok, 0 otherwise (warning, critical, unknown)", labels=["target", "phase"])
    when = GaugeMetricFamily("netwarden_probe_timestamp_seconds", "when each target was last probed",
                             labels=["target"])
    for target, (at, phases) in probes.items():
        when.add_metric([target], at)
        for phase, ms, verdict in phases:
            ok.add_metric([target, phase], 1 if verdict == "ok" else 0)
            if ms is not None:
                seconds.add_metric([target, phase], ms / 1000)
    yield from (seconds, ok, when)


class Metrics:
    def __init__(self, daemon, settings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry(auto_describe=True)
        self.drift = Counter("netwarden_drift_events", "drift events, by check (or event kind)", ["check"],
                             registry=self.registry)
        self.applies = Counter("netwarden_applies", "changes netwarden made, by check and result",
                               ["check", "result"], registry=self.registry)
        self.check_duration = Histogram("netwarden_check_duration_seconds", "time to collect and analyse",
                                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                                        registry=self.registry)
        self.stopped = False  # set on a clean stop: the last textfile says netwarden_up 0
        self.registry.register(_SnapshotCollector(self, daemon))

    def serve(self):
        """Listen on metrics_address: the HTTP server's thread (prometheus-client >= 0.17 returns
        it), or None; OSError (EADDRINUSE...) when it cannot listen."""
        if self.settings.metrics_address:
            host, port = self.settings.metrics_endpoint()
            started = start_http_server(port, addr=host, registry=self.registry)
            return started[1] if isinstance(started, tuple) else None
        return None

    def write_textfile(self) -> None:
        """Atomic (prometheus_client writes a temp file and renames it)."""
        if self.settings.metrics_textfile:
            write_to_textfile(str(self.settings.metrics_textfile), self.registry)
