"""Connection-tracking table overflow (DOMAIN.md): a full table drops new flows' packets."""

from __future__ import annotations

from netwarden.checks import CheckSpec
from netwarden.config import Settings
from netwarden.model import Change, Facts, Finding, Severity, Unknown

COUNT = "net.netfilter.nf_conntrack_count"
MAX = "net.netfilter.nf_conntrack_max"
LIBERAL = "net.netfilter.nf_conntrack_tcp_be_liberal"


def check_conntrack(facts: Facts, settings: Settings) -> list[Finding]:
    count, limit = facts.sysctls.get(COUNT), facts.sysctls.get(MAX)
    if isinstance(count, Unknown) or isinstance(limit, Unknown) or count is None or limit is None:
        reason = next((v.reason for v in (count, limit) if isinstance(v, Unknown)), "not collected")
        if "no such setting" in reason:
            reason = "nf_conntrack is not loaded: there is no connection-tracking table here"
        return [Finding("conntrack", Severity.UNKNOWN, "Connection-tracking table unknown", observed=reason)]
    if not count.isdigit() or not limit.isdigit() or int(limit) == 0:
        return [Finding("conntrack", Severity.UNKNOWN, "Connection-tracking table unknown",
                        observed=f"{COUNT} = {count!r}, {MAX} = {limit!r}")]
    used, size = int(count), int(limit)
    share = used / size
    t = settings.thresholds
    severity = (Severity.CRITICAL if share >= t.conntrack_critical else
                Severity.WARNING if share >= t.conntrack_warning else Severity.OK)
    finding = dict(observed=f"{used} of {size} entries ({share:.0%})",
                   expected=f"below {t.conntrack_warning:.0%} of {MAX}", value=str(size))
    liberal = facts.sysctls.get(LIBERAL)
    evidence = (f"{LIBERAL} = {liberal}: packets outside the tracked TCP window are "
                + ("accepted" if liberal == "1" else "marked INVALID; a firewall dropping INVALID turns them into resets"),) \
        if isinstance(liberal, str) else ()
    title = f"Connection-tracking table {share:.0%} full"
    if severity is Severity.OK:
        return [Finding("conntrack", severity, title, evidence=evidence, **finding)]
    title += ": when full, the kernel drops the first packet of every new connection"
    if MAX in facts.read_only_sysctls:
        return [Finding("conntrack", severity, title, evidence=evidence, **finding, advice=(
            f"{MAX} is read-only inside this network namespace: raise it on the host "
            f"(sysctl -w {MAX}=<n>), or reduce the connections this namespace opens.",))]
    new = size * 2
    while used / new >= t.conntrack_warning / 2:
        new *= 2
    change = Change("conntrack", "sysctl", MAX, str(size), str(new), persist=True,
                    summary="make room in the connection-tracking table")
    return [Finding("conntrack", severity, title, evidence=evidence, changes=(change,), **finding,
                    advice=("Each entry costs about 300 bytes of kernel memory.",))]


CHECKS = (CheckSpec("conntrack", check_conntrack, sysctls=(MAX, LIBERAL), gauges=(COUNT,),
                    facts=("read_only_sysctls",)),)
