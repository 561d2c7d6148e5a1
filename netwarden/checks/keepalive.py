"""Idle connections cut by middleboxes, and dead connections that hang (DOMAIN.md).

Advice unless the policy for keepalive.idle is enforce/always: the kernel defaults are
everywhere, and runtimes often set their own per-socket keepalive (Node's agent does)."""

from __future__ import annotations

from netwarden.checks import CheckSpec
from netwarden.config import Settings
from netwarden.model import Change, Facts, Finding, Severity, Unknown

TIME, INTVL, PROBES, RETRIES2 = ("net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl",
                                 "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_retries2")
RFC1122_RETRIES2 = 8  # RFC 1122's floor: at least 100 s before giving up


def retries_timeout(retries: int, rto_min: float = 0.2, rto_max: float = 120.0) -> float:
    """Seconds before the kernel gives up on unacknowledged data: the doubling RTO, capped."""
    total, rto = 0.0, rto_min
    for _ in range(retries + 1):
        total += rto
        rto = min(rto * 2, rto_max)
    return total


def check_keepalive(facts: Facts, settings: Settings) -> list[Finding]:
    values = {k: facts.sysctls.get(k) for k in (TIME, INTVL, PROBES, RETRIES2)}
    missing = [v.reason if isinstance(v, Unknown) else k for k, v in values.items() if not isinstance(v, str) or not v.isdigit()]
    if missing:
        return [Finding("keepalive.idle", Severity.UNKNOWN, "Keepalive settings unknown", observed="; ".join(missing))]
    idle, intvl, probes, retries = (int(values[k]) for k in (TIME, INTVL, PROBES, RETRIES2))
    budget = settings.middlebox_idle_budget
    enforce = settings.policy_for("keepalive.idle") in ("enforce", "always")
    problems, changes = [], []
    if idle >= budget:
        problems.append(f"{TIME} = {idle} s: an idle connection sends its first keepalive after the "
                        f"{budget} s a NAT or load balancer keeps it, so it is already forgotten (reset or silent drop)")
        changes.append(Change("keepalive.idle", "sysctl", TIME, str(idle), str(max(60, budget - 60)), persist=True,
                              summary="send keepalives before middleboxes forget idle connections"))
    if retries > RFC1122_RETRIES2:
        problems.append(f"{RETRIES2} = {retries}: a connection whose peer vanished hangs "
                        f"~{retries_timeout(retries) / 60:.0f} min before the error (with {RFC1122_RETRIES2}: "
                        f"~{retries_timeout(RFC1122_RETRIES2):.0f} s)")
        changes.append(Change("keepalive.idle", "sysctl", RETRIES2, str(retries), str(RFC1122_RETRIES2), persist=True,
                              summary="give up on dead connections sooner"))
    observed = f"keepalive {idle}/{intvl}/{probes} (time/intvl/probes), retries2 {retries}"
    honest = ("Keepalive sysctls act only on sockets that enable SO_KEEPALIVE; many clients set "
              "their own idle time (TCP_KEEPIDLE) per socket, which wins over these.")
    if not problems:
        return [Finding("keepalive.idle", Severity.OK, "Keepalive fits the middlebox idle budget",
                        observed=observed, evidence=(honest,), value=f"{idle} {retries}")]
    if not enforce:
        return [Finding("keepalive.idle", Severity.OK, "Advice: keepalive and retransmission defaults are long",
                        observed=observed, expected=f"keepalive time below {budget} s, {RETRIES2} <= {RFC1122_RETRIES2}",
                        evidence=(honest,), advice=tuple(problems) + (
                            "Set policy.\"keepalive.idle\" = \"enforce\" to let netwarden change them.",),
                        value=f"{idle} {retries}")]
    return [Finding("keepalive.idle", Severity.WARNING, "Keepalive and retransmission settings outlast middleboxes",
                    observed=observed, expected=f"keepalive time below {budget} s, {RETRIES2} <= {RFC1122_RETRIES2}",
                    evidence=tuple(problems) + (honest,), changes=tuple(changes), value=f"{idle} {retries}")]


CHECKS = (CheckSpec("keepalive.idle", check_keepalive, sysctls=(TIME, INTVL, PROBES, RETRIES2)),)
