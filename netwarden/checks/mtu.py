"""Path-MTU blackholes (DOMAIN.md): behind a VPN or tunnel the path takes smaller packets than
the interface sends, the ICMP that would say so is filtered, and full-size segments vanish: the
handshake works, then the transfer stalls until a timeout or reset.

Platform-neutral: whether TCP probes for a smaller segment size by itself (PmtuProbing), links,
routes and the A/B transfers; the fixes are intents ("enable-pmtu-probing", and "lower-mtu" as
advice in the platform's own words)."""

from __future__ import annotations

from netwarden.checks import CheckSpec, no_targets_advice
from netwarden.config import Settings
from netwarden.model import Facts, Finding, Intent, PmtuProbing, Severity, worst
from netwarden.platform.parse.netfs import best_route


def _judge(p, probing_on: bool) -> tuple[Severity, str]:
    where = f"{p.target} ({p.address}) via {p.dev or '?'} MTU {p.link_mtu or '?'}"
    if p.route_mtu and p.link_mtu and p.route_mtu < p.link_mtu:
        where += f", learned path MTU {p.route_mtu}"
    if p.error:
        return Severity.UNKNOWN, f"{where}: {p.error}"
    text = f"{where}: full-size segments {p.full}, small ones {p.small}"
    if p.full == "stalled" and p.small == "delivered":
        return (Severity.WARNING if probing_on else Severity.CRITICAL), text + ": a path-MTU blackhole"
    if p.full == "delivered":
        return Severity.OK, text
    return Severity.UNKNOWN, text + ": the target took no data at all, so the path MTU cannot be told"


def check_mtu(facts: Facts, settings: Settings) -> list[Finding]:
    pmtu = facts.pmtu
    if not isinstance(pmtu, PmtuProbing):
        return [Finding("mtu.path", Severity.UNKNOWN, "Path-MTU settings unknown",
                        observed=pmtu.reason if pmtu else "not collected")]
    probing_on, observed = pmtu.enabled, pmtu.setting
    links = {} if not isinstance(facts.links, tuple) else {link.name: link for link in facts.links}
    routes = facts.routes if isinstance(facts.routes, tuple) else ()
    # Tunnels the traffic leaves by: the targets' egress links, or the default route's.
    egress = [p.dev for p in facts.paths] if isinstance(facts.paths, tuple) else \
        [r.dev for r in (best_route(routes, a) for a in ("192.0.2.1", "2001:db8::1")) if r]
    tunnels = sorted({d for d in egress if d in links and links[d].tunnel})
    judged = [_judge(p, probing_on) for p in facts.paths] if isinstance(facts.paths, tuple) else []
    if tunnels and not probing_on:
        judged.append((Severity.WARNING, f"traffic leaves through the tunnel {', '.join(tunnels)} with "
                                         f"MTU probing off ({observed}): a blackhole behind it stalls transfers for good"))
    value = "on" if probing_on else "off"
    if facts.paths is None and not judged:
        return [Finding("mtu.path", Severity.OK, "No tunnel on the default path; path MTU not measured (no targets)",
                        observed=observed, advice=(no_targets_advice(facts),), value=value)]
    severity = worst(s for s, _ in judged) if judged else Severity.OK
    evidence = tuple(text for _, text in judged)
    if severity in (Severity.OK, Severity.UNKNOWN):
        return [Finding("mtu.path", severity, "Full-size segments reach every target" if severity is Severity.OK
                        else "Path MTU could not be measured", observed=observed, evidence=evidence, value=value)]
    blackholes = [p for p in (facts.paths or ()) if p.full == "stalled" and p.small == "delivered"]
    intents = [Intent("lower-mtu", {"dev": p.dev, "mtu": 1280, "target": p.target}) for p in blackholes]
    if blackholes:
        title = (f"Path-MTU blackhole towards {', '.join(p.target for p in blackholes)}: "
                 + ("MTU probing recovers, but every new connection first stalls for seconds" if probing_on
                    else "transfers stall until they time out"))
    else:
        title = "A tunnel carries traffic and TCP MTU probing is off"
    if not probing_on:
        intents.insert(0, Intent("enable-pmtu-probing"))
    return [Finding("mtu.path", severity, title, observed=observed, expected="MTU probing on behind tunnels; no blackhole",
                    evidence=evidence, intents=tuple(intents), value=value)]


CHECKS = (CheckSpec("mtu.path", check_mtu, facts=("pmtu", "paths", "links", "routes")),)
