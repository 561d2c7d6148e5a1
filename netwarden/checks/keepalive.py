"""Idle connections cut by middleboxes, and dead connections that hang (DOMAIN.md).

Advice unless the policy for keepalive.idle is enforce/always (the intents say which: a backend
that can change them does so only then): the kernel defaults are everywhere, and runtimes often
set their own per-socket keepalive (Node's agent does).
Platform-neutral: the keepalive idle time and the retransmission limit (Keepalive)."""

from __future__ import annotations

from netwarden.checks import CheckSpec
from netwarden.config import Settings
from netwarden.model import Facts, Finding, Intent, Keepalive, Severity

RFC1122_RETRIES = 8  # Linux tcp_retries2 at RFC 1122's floor: at least 100 s before giving up


def retries_timeout(retries: int, rto_min: float = 0.2, rto_max: float = 120.0) -> float:
    """Seconds before Linux gives up on unacknowledged data: the doubling RTO, capped. The
    doublings are counted (a dozen at most); the retransmissions at the cap are multiplied, so a
    count of any size takes no time."""
    total, rto, left = 0.0, rto_min, retries + 1
    while left > 0 and rto < rto_max:
        total += rto
        rto = min(rto * 2, rto_max)
        left -= 1
    return total + max(left, 0) * rto_max


def check_keepalive(facts: Facts, settings: Settings) -> list[Finding]:
    k = facts.keepalive
    if not isinstance(k, Keepalive):
        return [Finding("keepalive.idle", Severity.UNKNOWN, "Keepalive settings unknown",
                        observed=k.reason if k else "not collected")]
    budget = settings.middlebox_idle_budget
    enforce = settings.policy_for("keepalive.idle") in ("enforce", "always")
    problems, intents = [], []
    if k.idle >= budget:
        when = "later than" if k.idle > budget else "no sooner than"
        problems.append(f"the first keepalive comes after {k.idle} s, {when} the {budget} s a NAT or load "
                        "balancer keeps an idle connection: it is already forgotten (reset or silent drop)")
        intents.append(Intent("shorten-keepalive", {"idle": max(60, budget - 60), "current": k.idle,
                                                    "enforce": enforce}))
    dead_wait = k.retries_timeout or 0
    if k.retries is not None and dead_wait > retries_timeout(RFC1122_RETRIES) * 1.5:
        problems.append(f"{k.retries} retransmissions: a connection whose peer vanished hangs "
                        f"~{dead_wait / 60:.0f} min before the error (with Linux's RFC 1122 floor: "
                        f"~{retries_timeout(RFC1122_RETRIES):.0f} s)")
        intents.append(Intent("limit-retries", {"retries": RFC1122_RETRIES, "current": k.retries, "enforce": enforce}))
    observed = k.setting
    honest = ("Keepalive settings act only on sockets that enable SO_KEEPALIVE; many clients set "
              "their own idle time (TCP_KEEPIDLE) per socket, which wins over these.")
    value = f"{k.idle} {k.retries}"
    expected = f"keepalive idle time below {budget} s, a dead connection noticed within minutes"
    if not problems:
        return [Finding("keepalive.idle", Severity.OK, "Keepalive fits the middlebox idle budget",
                        observed=observed, evidence=(honest,), value=value)]
    if not enforce:  # the backend says how to change them (and whether netwarden would, under enforce)
        return [Finding("keepalive.idle", Severity.OK, "Advice: keepalive and retransmission defaults are long",
                        observed=observed, expected=expected, evidence=(honest,), advice=tuple(problems),
                        intents=tuple(intents), value=value)]
    return [Finding("keepalive.idle", Severity.WARNING, "Keepalive and retransmission settings outlast middleboxes",
                    observed=observed, expected=expected, evidence=tuple(problems) + (honest,),
                    intents=tuple(intents), value=value)]


CHECKS = (CheckSpec("keepalive.idle", check_keepalive, facts=("keepalive",)),)
