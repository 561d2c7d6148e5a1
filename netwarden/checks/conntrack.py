"""Connection-tracking table overflow (DOMAIN.md): a full table drops new flows' packets. Linux
only (netfilter's nf_conntrack)."""

from __future__ import annotations

from netwarden.checks import CheckSpec
from netwarden.config import Settings
from netwarden.model import Conntrack, Facts, Finding, Intent, Severity

MAX = "net.netfilter.nf_conntrack_max"


def check_conntrack(facts: Facts, settings: Settings) -> list[Finding]:
    table = facts.conntrack
    if not isinstance(table, Conntrack):
        return [Finding("conntrack", Severity.UNKNOWN, "Connection-tracking table unknown",
                        observed=table.reason if table else "not collected")]
    share = table.count / table.max
    t = settings.thresholds
    severity = (Severity.CRITICAL if share >= t.conntrack_critical else
                Severity.WARNING if share >= t.conntrack_warning else Severity.OK)
    finding = dict(observed=f"{table.count} of {table.max} entries ({share:.0%})",
                   expected=f"below {t.conntrack_warning:.0%} of {MAX}", value=str(table.max))
    evidence = () if table.liberal is None else (
        f"nf_conntrack_tcp_be_liberal = {table.liberal}: packets outside the tracked TCP window are "
        + ("accepted" if table.liberal == "1" else "marked INVALID; a firewall dropping INVALID turns them into resets"),)
    title = f"Connection-tracking table {share:.0%} full"
    if severity is Severity.OK:
        return [Finding("conntrack", severity, title, evidence=evidence, **finding)]
    title += ": when full, the kernel drops the first packet of every new connection"
    if table.read_only:
        return [Finding("conntrack", severity, title, evidence=evidence, **finding, advice=(
            f"{MAX} is read-only inside this network namespace: raise it on the host "
            f"(sysctl -w {MAX}=<n>), or reduce the connections this namespace opens.",))]
    new = table.max * 2
    while table.count / new >= t.conntrack_warning / 2:
        new *= 2
    return [Finding("conntrack", severity, title, evidence=evidence, **finding,
                    advice=("Each entry costs about 300 bytes of kernel memory.",),
                    intents=(Intent("set-sysctl", {"key": MAX, "current": str(table.max), "new": str(new),
                                                   "summary": "make room in the connection-tracking table"}),))]


CHECKS = (CheckSpec("conntrack", check_conntrack, facts=("conntrack",), platforms=("linux",)),)
