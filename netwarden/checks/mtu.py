"""Path-MTU blackholes (DOMAIN.md): behind a VPN or tunnel the path takes smaller packets than
the interface sends, the ICMP that would say so is filtered, and full-size segments vanish: the
handshake works, then the transfer stalls until a timeout or reset."""

from __future__ import annotations

from netwarden.checks import CheckSpec, no_targets_advice
from netwarden.config import Settings
from netwarden.model import Change, Facts, Finding, Severity, Unknown, worst
from netwarden.platform.parse.netfs import best_route

PROBING, BASE_MSS = "net.ipv4.tcp_mtu_probing", "net.ipv4.tcp_base_mss"


def _probing_change(value: str) -> Change:
    return Change("mtu.path", "sysctl", PROBING, value, "1", persist=True,
                  summary="let TCP find a smaller segment size when full-size ones vanish")


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
    probing = facts.sysctls.get(PROBING)
    if not isinstance(probing, str):
        return [Finding("mtu.path", Severity.UNKNOWN, "Path-MTU settings unknown",
                        observed=probing.reason if isinstance(probing, Unknown) else "not collected")]
    probing_on = probing in ("1", "2")
    observed = f"{PROBING} = {probing}, {BASE_MSS} = {facts.sysctls.get(BASE_MSS, '?')}"
    links = {} if not isinstance(facts.links, tuple) else {link.name: link for link in facts.links}
    routes = facts.routes if isinstance(facts.routes, tuple) else ()
    # Tunnels the traffic leaves by: the targets' egress links, or the default route's.
    egress = [p.dev for p in facts.paths] if isinstance(facts.paths, tuple) else \
        [r.dev for r in (best_route(routes, a) for a in ("192.0.2.1", "2001:db8::1")) if r]
    tunnels = sorted({d for d in egress if d in links and links[d].tunnel})
    judged = [_judge(p, probing_on) for p in facts.paths] if isinstance(facts.paths, tuple) else []
    if tunnels and not probing_on:
        judged.append((Severity.WARNING, f"traffic leaves through the tunnel {', '.join(tunnels)} with "
                                         f"{PROBING} = {probing}: a blackhole behind it stalls transfers for good"))
    if facts.paths is None and not judged:
        return [Finding("mtu.path", Severity.OK, "No tunnel on the default path; path MTU not measured (no targets)",
                        observed=observed, advice=(no_targets_advice(facts),), value=probing)]
    severity = worst(s for s, _ in judged) if judged else Severity.OK
    evidence = tuple(text for _, text in judged)
    if severity in (Severity.OK, Severity.UNKNOWN):
        return [Finding("mtu.path", severity, "Full-size segments reach every target" if severity is Severity.OK
                        else "Path MTU could not be measured", observed=observed, evidence=evidence, value=probing)]
    blackholes = [p for p in (facts.paths or ()) if p.full == "stalled" and p.small == "delivered"]
    advice = []
    for p in blackholes:
        advice.append(f"Lower the MTU of {p.dev or 'the egress interface'} so full-size segments fit "
                      f"(ip link set dev {p.dev or '<dev>'} mtu 1280), or let ICMP 'fragmentation needed' / "
                      "'packet too big' through the VPN or firewall.")
    if blackholes:
        title = (f"Path-MTU blackhole towards {', '.join(p.target for p in blackholes)}: "
                 + ("MTU probing recovers, but every new connection first stalls for seconds" if probing_on
                    else "transfers stall until they time out"))
    else:
        title = "A tunnel carries traffic and TCP MTU probing is off"
    changes = () if probing_on else (_probing_change(probing),)
    return [Finding("mtu.path", severity, title, observed=observed, expected=f"{PROBING} = 1 behind tunnels; no blackhole",
                    evidence=evidence, changes=changes, advice=tuple(advice), value=probing)]


CHECKS = (CheckSpec("mtu.path", check_mtu, sysctls=(PROBING, BASE_MSS), facts=("paths", "links", "routes")),)
