"""The daemon's probes of its targets (issue #14): every probe_interval, each configured target is
probed the way `netwarden probe HOST:PORT` probes it (diagnose.phases.run, judged by
diagnose.verdicts.judge), on the waiting thread (waiting.py), never on the loop.

What it sends is what `netwarden probe` sends without `--idle` (idle survival holds connections
open for minutes: never in the daemon): getaddrinfo and one A and one AAAA question to each
nameserver, a connect per address family, two TLS handshakes (a classic and a large ClientHello),
the A/B transfer of the MTU phase; the port census reads this host only. A target whose first
classic handshake met no TLS (`not-tls`: a database, a plain-HTTP port) is not sent ClientHellos
again until the daemon restarts or reloads; its tls phase is `skipped`.

Its results: each phase's verdict and time (status `probes`, metrics
netwarden_probe_phase_seconds / netwarden_probe_phase_ok), and the probe's own findings
(dns.lookup, tcp.connect, tls.*), one per target as `<id>@<target>`, which are judged for drift
like the checks' findings. The findings of the checks the phases run (dns.resolvers,
ipv6.preference, mtu.path, ports.*) are left out: the daemon's own checks report them, for every
target at once.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from netwarden import record
from netwarden.model import Finding, Severity


class ProbeResult(NamedTuple):
    target: str
    at: float
    phases: tuple  # diagnose.verdicts.Phase, in PHASES order
    findings: tuple[Finding, ...]  # the probe's own, warning or critical, ids as the probe names them
    error: str = ""  # a probe that failed (a bug): what happened


def probe_key(finding_id: str, target: str) -> str:
    return f"{finding_id}@{target}"


def target_of(key: str) -> str | None:
    """The target of a probe finding's key; None for a check's id (which has no '@')."""
    return key.split("@", 1)[1] if "@" in key else None


class TargetProbes:
    def __init__(self, settings, source) -> None:
        self.settings, self.source = settings, source
        self.speaks_tls: dict[str, bool] = {}  # learned by the first classic handshake; this thread only
        self._backend = None

    def run(self) -> list[ProbeResult]:
        """Every target, in turn (on the waiting thread)."""
        return [self._one(target) for target in self.settings.targets]

    def _one(self, target: str) -> ProbeResult:
        from netwarden.diagnose import phases, verdicts
        from netwarden.diagnose.inputs import Plan
        from netwarden.target import Target

        try:
            if self._backend is None:  # its own, naming no targets: it collects host facts and probes nothing itself
                from netwarden.platform.detect import backend_for

                self._backend = backend_for(self.source, record.replace(self.settings, targets=()))
            plan = Plan(Target.parse(target), self.settings.probe_timeout, tls=self.speaks_tls.get(target, True))
            observed = phases.run(self.source, self._backend, plan)
            judged, found = verdicts.judge(observed, self.settings, self._backend)
        except Exception as e:  # noqa: BLE001 - one target's failure must not hide the others'
            return ProbeResult(target, time.time(), (), (), f"{type(e).__name__}: {e}"[:300])
        classic = observed.hellos.get("classic")
        if isinstance(classic, dict) and classic.get("outcome") == "not-tls":
            self.speaks_tls[target] = False
        from netwarden.checks import CHECK_IDS

        return ProbeResult(target, time.time(), tuple(judged), tuple(f for f in found if f.id not in CHECK_IDS))


def keyed_findings(result: ProbeResult, known: dict[str, dict]) -> list[Finding]:
    """The result's findings under their keys, and for each key of this target that `known`
    (the last states) holds and this run did not find, an ok finding: its `cleared` event."""
    found = [f._replace(id=probe_key(f.id, result.target)) for f in result.findings]
    seen = {f.id for f in found}
    for key in known:
        if target_of(key) == result.target and key not in seen:
            name = key.split("@", 1)[0]
            found.append(Finding(key, Severity.OK, f"{name}: no longer seen towards {result.target}"))
    return found
