"""Dead, slow or misgenerated DNS resolvers (DOMAIN.md): the resolver asks the nameservers in order
and waits `timeout` (glibc: 5 s) for each dead one before the next, on every lookup.

Platform-neutral: Resolvers (the nameservers in order, how long the resolver waits, who writes
the configuration) and the direct queries; the fix is the intent "reorder-resolvers", which a
backend turns into a rewrite, a drop-in, or advice naming the program that owns the servers."""

from __future__ import annotations

from netwarden.checks import CheckSpec, no_targets_advice
from netwarden.config import Settings
from netwarden.model import Facts, Finding, Intent, Resolvers, Severity, Unknown, worst


def _servers(probes) -> tuple[list[str], list[str], list[tuple[str, float]]]:
    """(live, dead, each live server's slowest answer) in configuration order: a server is dead
    when no query got an answer."""
    by_server: dict[str, list] = {}
    for p in probes:
        by_server.setdefault(p.server, []).append(p)
    live = [s for s, ps in by_server.items() if any(p.outcome == "ok" for p in ps)]
    dead = [s for s in by_server if s not in live]
    slowest = [(s, max(p.ms for p in ps if p.outcome == "ok")) for s, ps in by_server.items() if s in live]
    return live, dead, slowest


def _title(problems: list[tuple[Severity, str]]) -> str:
    """The one problem, or how many and the worst of them."""
    if len(problems) == 1:
        return problems[0][1]
    return f"{len(problems)} resolver problems, the worst: " + max(problems, key=lambda p: p[0].rank)[1]


def check_dns(facts: Facts, settings: Settings) -> list[Finding]:
    resolvers = facts.resolvers
    if not isinstance(resolvers, Resolvers):
        return [Finding("dns.resolvers", Severity.UNKNOWN, "Resolver configuration unknown",
                        observed=resolvers.reason if resolvers else "not collected")]
    value = ",".join(resolvers.nameservers)
    if resolvers.dangling:
        return [Finding("dns.resolvers", Severity.CRITICAL, f"{resolvers.source} is a dangling symlink: every lookup fails",
                        observed=resolvers.source, expected="a resolver configuration that exists", value="dangling",
                        intents=(Intent("repair-resolver-file"),))]
    timeout = f"{resolvers.timeout:g}"
    observed = (f"{resolvers.source} ({resolvers.manager}): nameservers {', '.join(resolvers.nameservers) or 'none'}; "
                f"timeout {timeout} s, attempts {resolvers.attempts}" + (", rotate" if resolvers.rotate else "")
                + "".join(f"; {s.scope}: {', '.join(s.nameservers)}" for s in resolvers.scoped[:4]))
    problems = [(Severity.CRITICAL, p) for p in resolvers.blocking] + [(Severity.WARNING, p) for p in resolvers.problems]
    if not resolvers.nameservers:
        problems.append((Severity.WARNING, "no usable nameserver: lookups go to the resolver's fallback (127.0.0.1 for glibc)"))
    probes = facts.dns
    if isinstance(probes, Unknown):
        severity = worst(s for s, _ in problems) if problems else Severity.UNKNOWN
        return [Finding("dns.resolvers", severity, _title(problems) if problems
                        else "Resolvers could not be probed", observed=observed,
                        evidence=tuple([probes.reason] + [p for _, p in problems]), value=value)]
    if probes is None:  # no targets: the configuration is judged, the servers are not asked
        severity = worst(s for s, _ in problems)
        title = _title(problems) if problems else "Resolver configuration reads well; nameservers not probed (no targets)"
        return [Finding("dns.resolvers", severity, title, observed=observed, evidence=tuple(p for _, p in problems),
                        advice=(no_targets_advice(facts),), value=value)]
    live, dead, slowest = _servers(probes)
    # A silent server costs every lookup `timeout`; one that refuses (ICMP port unreachable) is
    # skipped at once by the resolver: dead, but no wait.
    silent = [s for s in dead if any(p.server == s and p.outcome == "timeout" for p in probes)]
    if dead and dead == list(resolvers.nameservers):
        problems.append((Severity.CRITICAL, f"no nameserver answers ({', '.join(dead)}): every lookup fails"))
    elif resolvers.nameservers and resolvers.nameservers[0] in silent:
        problems.append((Severity.CRITICAL, f"the first nameserver {dead[0]} does not answer: every lookup waits "
                                            f"{timeout} s before asking the next"))
    elif dead:
        refused = [s for s in dead if s not in silent]
        costs = ([f"lookups that reach {', '.join(silent)} wait {timeout} s"] if silent else []) + \
            ([f"{', '.join(refused)} refused at once: no wait, but no answer"] if refused else [])
        problems.append((Severity.WARNING, f"nameservers not answering: {', '.join(dead)} ({'; '.join(costs)})"))
    t = settings.thresholds
    problems += [(Severity.WARNING, f"{s} answers slowly: {ms:.0f} ms (above {t.dns_slow_ms:.0f} ms)")
                 for s, ms in slowest if ms > t.dns_slow_ms]
    evidence = [f"{p.server} for {p.name}: {p.outcome} in {p.ms:.0f} ms" + (f" ({p.error})" if p.error else "")
                for p in probes]
    severity = worst(s for s, _ in problems)
    if severity is Severity.OK:
        return [Finding("dns.resolvers", severity, "Every nameserver answers", observed=observed,
                        evidence=tuple(evidence), value=value)]
    intents = (Intent("reorder-resolvers", {"live": live, "dead": dead}),) if dead else ()
    return [Finding("dns.resolvers", severity, _title(problems), observed=observed, expected="every nameserver answering within "
                                                f"{t.dns_slow_ms:.0f} ms, live ones first",
                    evidence=tuple(p for _, p in problems) + tuple(evidence), intents=intents, value=value)]


CHECKS = (CheckSpec("dns.resolvers", check_dns, facts=("resolvers", "dns")),)
