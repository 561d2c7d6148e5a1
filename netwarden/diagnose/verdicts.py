"""A verdict per phase, and the findings, from what the phases measured.

Where a check already judges the concept, its rules decide (phases.CHECKS_BY_PHASE):
`dns.resolvers` (dead or slow nameservers), `ipv6.preference` (IPv6 first and timing out),
`mtu.path` (the A/B transfer), `ports.range` and `ports.pressure`; the probe puts its own
measurements into the Facts they read and runs them through the engine, so `netwarden probe` and
`netwarden check` never disagree. The
probe's own findings: `dns.lookup`, `tcp.connect`, `tls.*` (tls_verdict.py) and
`tcp.idle-timeout`.
"""

from __future__ import annotations

from netwarden import record
from typing import NamedTuple

from netwarden.model import Census, ConnectProbe, Destination, DnsProbe, Finding, Severity, TargetProbe, Unknown, worst
from netwarden.platform.parse.numbers import as_int

HAPPY_EYEBALLS_MS = 250  # RFC 8305's connection attempt delay; Node >= 20 (autoSelectFamily)


class Phase(NamedTuple):
    name: str
    verdict: str  # "ok", "warning", "critical", "unknown", or "skipped" (not asked for)
    ms: float | None
    summary: str
    evidence: tuple[str, ...] = ()
    data: dict | None = None


def judge(obs, settings, backend=None) -> tuple[list[Phase], list[Finding]]:
    """The six phases in order, and the findings worth a user's attention (warning, critical).
    With the backend, the checks' findings carry its changes and advice, as in `netwarden check`."""
    from netwarden.diagnose.tls_verdict import judge_tls

    facts = _facts(obs)
    checks = _Checks(settings, backend)
    judged = [_resolve(obs, facts, checks), _connect(obs, facts, checks), judge_tls(obs),
              _mtu(obs, facts, checks), _idle(obs), _ports(obs, facts, checks)]
    phases, findings = [], []
    for name, (verdict, summary, evidence, data, found) in zip(("resolve", "connect", "tls", "mtu", "idle", "ports"),
                                                               judged):
        if verdict is None:
            verdict = worst(f.severity for f in found).value
        phases.append(Phase(name, verdict, obs.ms.get(name), summary, tuple(evidence), data))
        findings += [f for f in found if f.severity in (Severity.WARNING, Severity.CRITICAL)]
    return phases, findings


class _Checks(NamedTuple):
    settings: object
    backend: object

    def run(self, phase: str, facts) -> list[Finding]:
        """The findings of the checks that judge this phase, as `netwarden check` makes them (the
        backend turning their intents into its own changes and advice)."""
        from netwarden import engine
        from netwarden.diagnose.phases import check_specs

        return engine.analyze(facts, self.settings, check_specs(phase), self.backend)


def overall(phases: list[Phase]) -> Severity:
    return worst(Severity(p.verdict) for p in phases if p.verdict != "skipped")


def not_run(why: str, data: dict | None = None):
    return "unknown", f"not run: {why}", (), data or {}, []


def _facts(obs):
    """The host's facts with the probe's measurements in the shape the checks read."""
    target = str(obs.plan.target)
    answered = [d for d in obs.dns if isinstance(d, dict)]
    dns = tuple(DnsProbe(d["server"], f"{d['name']} {d['type']}", d["outcome"], d["ms"], d["rcode"] or d["error"])
                for d in answered)
    if len(answered) < len(obs.dns):
        dns = Unknown(next(d.reason for d in obs.dns if isinstance(d, Unknown)))
    probe = TargetProbe(target, tuple((f, a) for f, a in obs.lookup.get("addresses", ())),
                        tuple(ConnectProbe(**c) for c in obs.connects if isinstance(c, dict)),
                        obs.lookup.get("error", ""))
    census = None
    if isinstance(obs.ports, dict):
        census = Census(obs.ports["window"], obs.ports["sockets"], obs.ports["time_wait"],
                        tuple(Destination(**d) for d in obs.ports["destinations"]), obs.ports.get("ages", True))
    return record.replace(obs.facts, targets=(probe,), dns=dns, census=census,
                               paths=(obs.path,) if obs.path else None)


def _resolve(obs, facts, checks):
    host, lookup = obs.plan.target.host, obs.lookup
    addresses = [a for _, a in lookup["addresses"]]
    resolv = facts.resolv
    data = {"system": {"addresses": lookup["addresses"], "ms": obs.ms.get("lookup"), "error": lookup["error"]},
            "resolv_conf": None if isinstance(resolv, Unknown) or resolv is None else resolv.path,
            "nameservers": [d if isinstance(d, dict) else {"unknown": d.reason} for d in obs.dns]}
    if obs.literal:
        return "ok", f"{host} is an address: nothing to resolve", (), data, []
    found = checks.run("resolve", facts)
    evidence = found[0].evidence
    took = obs.ms.get("lookup")
    when = f" in {took:,.0f} ms" if took is not None else ""
    if lookup["error"]:
        found.insert(0, Finding("dns.lookup", Severity.CRITICAL, f"{host} does not resolve: clients fail before "
                                                                  "they connect", observed=lookup["error"] + when))
    elif took is not None and took > checks.settings.thresholds.dns_slow_ms and found[0].severity is Severity.OK:
        found.append(Finding(
            "dns.lookup", Severity.WARNING, f"getaddrinfo takes {took:,.0f} ms for {host} though every nameserver "
                                            "answers quickly", observed=f"{took:,.0f} ms",
            expected=f"below {checks.settings.thresholds.dns_slow_ms:.0f} ms",
            advice=("Look at what getaddrinfo asks besides DNS: `hosts:` in /etc/nsswitch.conf (mdns, myhostname, "
                    "a slow NSS module), search domains and ndots in resolv.conf.",)))
    answering = {d["server"] for d in obs.dns if isinstance(d, dict) and d["outcome"] == "ok"}
    servers = list(dict.fromkeys(d["server"] for d in obs.dns if isinstance(d, dict)))
    summary = (f"{host} -> {', '.join(addresses) or 'nothing'}{when} (getaddrinfo order); "
               f"{len(answering & set(servers))} of {len(servers)} nameservers answer")
    return None, summary, evidence, data, found


def _connect(obs, facts, checks):
    target, timeout = obs.plan.target, obs.plan.timeout
    data = {"order": [f for f, _ in obs.lookup["addresses"]], "connects": obs.connects}
    if not obs.lookup["addresses"]:
        return not_run(f"{target.host} has no address", data)
    connects = facts.targets[0].connects
    lines = [f"{c.address}: {c.outcome} in {c.ms:,.1f} ms" + (f" ({c.error})" if c.error else "") for c in connects]
    found = checks.run("connect", facts)
    if connects and all(c.outcome != "ok" for c in connects):
        found.append(Finding("tcp.connect", Severity.CRITICAL, f"No address of {target} accepts a TCP connection",
                             observed="; ".join(lines), expected="a connection to at least one address",
                             advice=(f"Check that {target.port} is the right port and that a firewall, VPN or "
                                     "route (`ip route get ADDRESS`) lets it through.",)))
    if len(connects) < len(obs.connects):
        return "unknown", "connects not in the support bundle", lines, data, found
    return None, "; ".join(lines), _happy_eyeballs(facts.targets[0], timeout, obs.syn_retries), data, found


def _happy_eyeballs(probe: TargetProbe, timeout: float, retries: str | None) -> list[str]:
    """What a client waits when getaddrinfo puts a dead IPv6 first (DOMAIN.md §2)."""
    v6, v4 = probe.connect(6), probe.connect(4)
    if not (probe.addresses and probe.addresses[0][0] == 6 and v6 and v4 and v4.outcome == "ok"):
        return []
    if v6.outcome == "fast-fail":
        return [f"IPv6 fails at once ({v6.error}): clients move on to IPv4 without waiting"]
    if v6.outcome != "timeout":
        return []
    syn_retries = as_int(retries, maximum=15)  # a bundle's text: ASCII digits, bounded ('²' is isdigit())
    kernel = (f", {2 ** (syn_retries + 1) - 1} s with the kernel's own limit (tcp_syn_retries = {retries})"
              if syn_retries is not None else "")
    return [f"a client that dials IPv6 first without Happy Eyeballs waits out its connect timeout before IPv4: "
            f"{timeout:g} s here{kernel}",
            f"with Happy Eyeballs (Node >= 20's autoSelectFamily, {HAPPY_EYEBALLS_MS} ms attempt delay) IPv4 starts "
            f"after {HAPPY_EYEBALLS_MS} ms: connected in ~{HAPPY_EYEBALLS_MS + v4.ms:,.0f} ms"]


def _mtu(obs, facts, checks):
    if obs.path is None:
        return not_run("no address accepts a connection")
    p = obs.path
    data = {**p._asdict(), "sizes": {"full": "the route's MSS", "small": "MSS 1200"}}
    found = checks.run("mtu", facts)
    summary = p.error or f"{p.address} via {p.dev or '?'} MTU {p.link_mtu or '?'}: full-size segments {p.full}, " \
                         f"small ones {p.small}"
    return None, summary, found[0].evidence, data, found


def _idle(obs):
    asked = obs.plan.idle
    if not asked:
        return "skipped", "not asked (--idle 30,120,350 measures it)", (), {}, []
    idle = obs.idle
    if idle is None:
        return not_run("no address accepts a connection")
    data = {**idle, "asked": list(asked)}
    if idle["tls"] is None:
        return not_run(idle["why"], data)
    trials = [t for t in idle["trials"] if isinstance(t, dict)]
    base = idle["baseline"]
    if not isinstance(base, dict) or len(trials) < len(idle["trials"]):
        return "unknown", "idle trials not in the support bundle", (), data, []
    lines = [_trial_line(t) for t in [base, *trials]]
    if base["outcome"] != "ok":
        return ("unknown", f"a fresh connection got no answer to HEAD / ({base['outcome']}): idle survival cannot "
                           "be told", lines, data, [])
    failed = [t for t in trials if t["outcome"] != "ok"]
    survived = [t["idle"] for t in trials if t["outcome"] == "ok" and (not failed or t["idle"] < failed[0]["idle"])]
    data.update(survived=max(survived, default=0.0), failed_at=failed[0]["idle"] if failed else None)
    if not failed:
        return "ok", f"idle connections survive every time asked (up to {max(asked):g} s)", lines, data, []
    summary = (f"survived {max(survived):g} s; " if survived else "") + lines[1 + trials.index(failed[0])]
    return None, summary, lines, data, [_idle_finding(obs, failed[0], survived, lines)]


def _trial_line(t: dict) -> str:
    what = {"ok": f"answered in {t['ms']:,.1f} ms", "reset": "reset", "fin": "closed by the peer (FIN)",
            "silence": "no answer (silently dropped)"}.get(t["outcome"], f"{t['outcome']} {t['error']}".strip())
    when = f" {t['at']:g} s into the idle time" if t.get("at") is not None else " when used" if t["outcome"] != "ok" else ""
    label = f"idle {t['idle']:g} s" if t["idle"] else "used at once"
    return f"{label}: {what}{when}"


def _idle_finding(obs, first: dict, survived: list, lines: list) -> Finding:
    target = obs.plan.target
    limit = first["at"] if first.get("at") is not None else max(survived, default=0.0)
    between = (f"between {max(survived):g} s and {first['idle']:g} s" if survived else f"within {first['idle']:g} s")
    how = {"reset": "reset", "fin": "closed", "silence": "silently dropped"}.get(first["outcome"], first["outcome"])
    title = f"Idle connections to {target} die {between} of idle time ({how})"
    if first.get("at") is not None:
        title = f"Idle connections to {target} are {how} after {first['at']:g} s of idle time"
    # A silently dropped connection hangs the client until tcp_retries2 gives up (~15 min).
    severity = Severity.CRITICAL if first["outcome"] == "silence" else Severity.WARNING
    keep = f"below {limit:g} s" if limit else "of a second or two"
    return Finding("tcp.idle-timeout", severity, title, observed="; ".join(lines),
                   expected="a pooled connection survives the idle times asked", value=f"{limit:g}",
                   evidence=(f"largest idle time survived: {max(survived, default=0):g} s",),
                   advice=(f"Make the client drop pooled connections idle for longer than {limit:g} s: Node "
                           "http.Agent / undici keepAliveTimeout, Python httpx keepalive_expiry, Go "
                           "Transport.IdleConnTimeout.",
                           f"Or keep them alive with a TCP keepalive idle time {keep} on the client's sockets "
                           "(Node socket.setKeepAlive(true, ms), TCP_KEEPIDLE) or HTTP/2 PINGs; the kernel's "
                           "tcp_keepalive_time acts only on sockets that turn SO_KEEPALIVE on.",
                           "Retry idempotent requests that fail with ECONNRESET on a reused connection."))


def _ports(obs, facts, checks):
    from netwarden.checks.ports import bounding_range, time_wait_seconds, time_wait_unknown

    ports = bounding_range(facts)
    if isinstance(ports, Unknown):
        return "unknown", ports.reason, (), {}, []
    if not isinstance(obs.ports, dict):
        why = obs.ports.reason if isinstance(obs.ports, Unknown) else f"{obs.plan.target.host} has no address"
        return "unknown", f"census not taken: {why}", (), {"range": [ports.low, ports.high], "usable": ports.usable}, []
    found = checks.run("ports", facts)
    held = facts.census.destinations
    total, tw = sum(d.total for d in held), sum(d.time_wait for d in held)
    seconds = time_wait_seconds(facts)
    rate = ports.usable / seconds if seconds else None
    summary = (f"{total} ephemeral ports held towards {obs.plan.target} ({tw} in TIME_WAIT) of {ports.usable:,} usable: "
               + (f"the range sustains ~{rate:,.0f} new connections/s to one address" if rate
                  else time_wait_unknown(facts, "the range")))
    data = {"range": [ports.low, ports.high], "usable": ports.usable,
            "sustained_per_second": round(rate, 1) if rate else None,
            "destinations": obs.ports["destinations"]}
    return None, summary, [f.title for f in found], data, found
