"""Dead, slow or misgenerated DNS resolvers (DOMAIN.md): glibc asks the nameservers in order and
waits `timeout` (5 s) for each dead one before the next, on every lookup."""

from __future__ import annotations

from netwarden.checks import CheckSpec, no_targets_advice
from netwarden.config import Settings
from netwarden.model import Change, Facts, Finding, Severity, Unknown, worst
from netwarden.platform.parse.resolv_conf import reordered

RESOLVED_DROPIN = "60-netwarden.conf"
MANAGER_ADVICE = {
    "NetworkManager": "NetworkManager writes this file: set the servers on the connection "
                      "(nmcli connection modify <name> ipv4.dns \"<servers>\" ipv4.ignore-auto-dns yes).",
    "resolvconf": "resolvconf writes this file: fix the interface's DNS in its network configuration.",
    "wsl": "WSL writes this file at start: set generateResolvConf = false under [network] in /etc/wsl.conf, "
           "then write your own, or enable dnsTunneling in .wslconfig.",
    "systemd-resolved": "systemd-resolved serves this file: `resolvectl status` shows the upstream servers; "
                        "restart it with `systemctl restart systemd-resolved` after a change.",
}


def _servers(probes) -> tuple[list[str], list[str], list[tuple[str, float]]]:
    """(live, dead, each live server's slowest answer) in resolv.conf order: a server is dead when
    no query got an answer."""
    by_server: dict[str, list] = {}
    for p in probes:
        by_server.setdefault(p.server, []).append(p)
    live = [s for s, ps in by_server.items() if any(p.outcome == "ok" for p in ps)]
    dead = [s for s in by_server if s not in live]
    slowest = [(s, max(p.ms for p in ps if p.outcome == "ok")) for s, ps in by_server.items() if s in live]
    return live, dead, slowest


def check_dns(facts: Facts, settings: Settings) -> list[Finding]:
    resolv = facts.resolv
    if resolv is None or isinstance(resolv, Unknown):
        return [Finding("dns.resolvers", Severity.UNKNOWN, "Resolver configuration unknown",
                        observed=resolv.reason if resolv else "not collected")]
    where = f"{resolv.path}" + (f" -> {resolv.symlink_target}" if resolv.symlink_target else "")
    if resolv.dangling:
        return [Finding("dns.resolvers", Severity.CRITICAL, f"{resolv.path} is a dangling symlink: every lookup fails",
                        observed=where, expected="a resolv.conf that exists", value="dangling",
                        advice=(MANAGER_ADVICE.get(resolv.manager) or
                                f"Point {resolv.path} at a real file, or start the service that writes {resolv.symlink_target}.",))]
    timeout, attempts = resolv.option("timeout", 5), resolv.option("attempts", 2)
    observed = (f"{where} ({resolv.manager}): nameservers {', '.join(resolv.nameservers) or 'none'}; "
                f"timeout {timeout} s, attempts {attempts}" + (", rotate" if "rotate" in resolv.options else ""))
    problems = [(Severity.WARNING, p) for p in resolv.problems]
    if not resolv.nameservers:
        problems.append((Severity.WARNING, "no usable nameserver line: glibc asks 127.0.0.1"))
    probes = facts.dns
    if isinstance(probes, Unknown):
        severity = worst(s for s, _ in problems) if problems else Severity.UNKNOWN
        return [Finding("dns.resolvers", severity, "Resolver file has problems" if problems else "Resolvers could not be probed",
                        observed=observed, evidence=tuple([probes.reason] + [p for _, p in problems]),
                        value=",".join(resolv.nameservers))]
    if probes is None:  # no targets: the file is judged, the servers are not asked
        severity = worst(s for s, _ in problems)
        title = "Resolver file has problems" if problems else "Resolver file reads well; nameservers not probed (no targets)"
        return [Finding("dns.resolvers", severity, title, observed=observed, evidence=tuple(p for _, p in problems),
                        advice=(no_targets_advice(facts),), value=",".join(resolv.nameservers))]
    live, dead, slowest = _servers(probes)
    if dead and dead == list(resolv.nameservers):
        problems.append((Severity.CRITICAL, f"no nameserver answers ({', '.join(dead)}): every lookup fails"))
    elif resolv.nameservers and resolv.nameservers[0] in dead:
        problems.append((Severity.CRITICAL, f"the first nameserver {dead[0]} does not answer: every lookup waits "
                                            f"{timeout} s (options timeout:{timeout}) before asking the next"))
    elif dead:
        problems.append((Severity.WARNING, f"nameservers not answering: {', '.join(dead)} "
                                           f"(lookups that reach them wait {timeout} s)"))
    t = settings.thresholds
    problems += [(Severity.WARNING, f"{s} answers slowly: {ms:.0f} ms (above {t.dns_slow_ms:.0f} ms)")
                 for s, ms in slowest if ms > t.dns_slow_ms]
    evidence = [f"{p.server} for {p.name}: {p.outcome} in {p.ms:.0f} ms" + (f" ({p.error})" if p.error else "")
                for p in probes]
    severity = worst(s for s, _ in problems)
    if severity is Severity.OK:
        return [Finding("dns.resolvers", severity, "Every nameserver answers", observed=observed,
                        evidence=tuple(evidence), value=",".join(resolv.nameservers))]
    changes, advice = _fix(resolv, live, dead, settings)
    return [Finding("dns.resolvers", severity, problems[0][1] if len(problems) == 1 else
                    f"{len(problems)} resolver problems, the worst: " + max(problems, key=lambda p: p[0].rank)[1],
                    observed=observed, expected="every nameserver answering within "
                                                f"{t.dns_slow_ms:.0f} ms, live ones first",
                    evidence=tuple(p for _, p in problems) + tuple(evidence), changes=changes, advice=advice,
                    value=",".join(resolv.nameservers))]


def _fix(resolv, live: list[str], dead: list[str], settings: Settings):
    fallback = list(settings.dns_fallback)
    if not dead:
        return (), ()
    if resolv.manager == "static":
        if not live and not fallback:
            return (), ("No nameserver answers and no dns_fallback is configured: nothing to reorder.",)
        new = reordered(resolv.text, live, dead, fallback)
        return (Change("dns.resolvers", "file", resolv.path, None, new,
                       summary=f"live nameservers first ({', '.join(live + fallback) or 'none'}), dead ones commented out"),), ()
    if resolv.manager == "systemd-resolved" and fallback:
        dropin = settings.resolved_conf_dir / RESOLVED_DROPIN
        text = ("# Written by netwarden (dns.resolvers). `netwarden --revert` removes it.\n"
                f"[Resolve]\nDNS={' '.join(fallback)}\n")
        return (Change("dns.resolvers", "file", str(dropin), None, text,
                       summary=f"systemd-resolved upstream {' '.join(fallback)}"),), (
            "Then `systemctl restart systemd-resolved` (netwarden does not restart services).",)
    return (), (MANAGER_ADVICE.get(resolv.manager, "A program manages this file: fix its source."),)


CHECKS = (CheckSpec("dns.resolvers", check_dns, facts=("resolv", "dns")),)
