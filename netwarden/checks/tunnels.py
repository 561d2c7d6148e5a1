"""Stale tunnels (DOMAIN.md): a VPN that went away leaves its tun/wireguard interface, and the
routes through it keep swallowing traffic to the hosts they cover.

Platform-neutral: links (a tunnel is dead when it is down or has no carrier; a backend marks a VPN
interface whose service is disconnected as without carrier) and routes; the fix is the intent
"delete-routes", made only with tunnels_remove_stale_routes, advice otherwise."""

from __future__ import annotations

from netwarden.checks import CheckSpec
from netwarden.config import Settings
from netwarden.model import Facts, Finding, Intent, Severity, Unknown, worst
from netwarden.platform.parse.netfs import best_route


def _dead(link) -> bool:
    return not link.up or link.carrier is False


def check_tunnels(facts: Facts, settings: Settings) -> list[Finding]:
    links, routes = facts.links, facts.routes
    for fact, name in ((links, "links"), (routes, "routes")):
        if not isinstance(fact, tuple):
            return [Finding("tunnels.stale", Severity.UNKNOWN, "Tunnels unknown",
                            observed=fact.reason if isinstance(fact, Unknown) else f"{name} not collected")]
    by_name = {link.name: link for link in links}
    tunnels = [link for link in links if link.tunnel]
    observed = ", ".join(f"{t.name} ({t.kind}, {t.operstate}{', no carrier' if t.carrier is False else ''})"
                         for t in tunnels) or "no tunnel interfaces"
    stale = [r for r in routes if r.dev in by_name and by_name[r.dev].tunnel and _dead(by_name[r.dev])]
    problems: list[tuple[Severity, str]] = []
    for route in stale:
        if route.dst == "default":
            problems.append((Severity.CRITICAL, f"the default route goes through the dead tunnel {route.dev}: {route.describe()}"))
    targets = facts.targets if isinstance(facts.targets, tuple) else ()
    for probe in targets:
        for _, address in probe.addresses:
            route = best_route(routes, address)
            if route in stale and route.dst != "default":
                problems.append((Severity.CRITICAL, f"{probe.target} ({address}) is routed into the dead tunnel "
                                                    f"{route.dev}: {route.describe()}"))
    covered = {r for r in stale if any(r.describe() in text for _, text in problems)}
    problems += [(Severity.WARNING, f"the dead tunnel {r.dev} still holds {r.describe()}") for r in stale if r not in covered]
    for t in tunnels:
        holds = [r for r in routes if r.dev == t.name]
        if holds and not _dead(t) and t.rx_packets == 0 and t.tx_packets > 0:
            problems.append((Severity.WARNING, f"{t.name} holds {len(holds)} routes and has sent {t.tx_packets} "
                                               "packets but never received one"))
    if not problems:
        return [Finding("tunnels.stale", Severity.OK, "No route goes through a dead tunnel", observed=observed)]
    severity = worst(s for s, _ in problems)
    intents = (Intent("delete-routes", {"routes": stale, "apply": settings.tunnels_remove_stale_routes}),) if stale else ()
    return [Finding("tunnels.stale", severity, problems[0][1] if severity is Severity.CRITICAL and len(problems) == 1
                    else f"{len(stale)} routes through dead tunnels" if stale else problems[0][1],
                    observed=observed, expected="no route through a tunnel that is down or has no carrier",
                    evidence=tuple(p for _, p in problems), intents=intents,
                    value=",".join(sorted(r.describe() for r in stale)))]


CHECKS = (CheckSpec("tunnels.stale", check_tunnels, facts=("links", "routes", "targets")),)
