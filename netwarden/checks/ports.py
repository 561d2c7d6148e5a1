"""Ephemeral port exhaustion (DOMAIN.md §1): range width, per-destination pressure, TIME_WAIT reuse.

Platform-neutral: the backend reports the range (PortRange: usable ports, the platform's default,
what applies at boot, whether another program owns it) and how long TIME_WAIT lasts; these checks
judge them and say what they want done as intents ("widen-port-range"), which the backend turns
into its own changes (a sysctl and a drop-in, `netsh … set dynamicport`, `sysctl -w` and a plist).
"""

from __future__ import annotations

from netwarden.checks import CheckSpec
from netwarden.config import Settings
from netwarden.model import Facts, Finding, Intent, PortRange, Severity, TimeWait, Unknown

TW_REUSE = "net.ipv4.tcp_tw_reuse"


def _by_threshold(value: float, critical: float, warning: float, higher_is_worse: bool) -> Severity:
    if higher_is_worse:
        return Severity.CRITICAL if value >= critical else Severity.WARNING if value >= warning else Severity.OK
    return Severity.CRITICAL if value < critical else Severity.WARNING if value < warning else Severity.OK


def _range_severity(usable: int, settings: Settings, default: tuple[int, int] | None = None) -> Severity:
    t = settings.thresholds
    return _by_threshold(usable, t.ports_range_critical, _warning_floor(settings, default), higher_is_worse=False)


def _warning_floor(settings: Settings, default: tuple[int, int] | None) -> int:
    """ports_range_warning. Its default (16,384) is sized for Linux's 28,232-port range; where the
    platform's own default range is narrower (Windows: 16,384 ports) the default threshold is 90 %
    of that range, so a stock host is not warned about for the few ports Hyper-V or an admin
    reserve, only when they take more than a tenth. A threshold the user set is kept as it is."""
    from netwarden.config import Thresholds

    warning = settings.thresholds.ports_range_warning
    if default is None or warning != Thresholds.ports_range_warning:
        return warning
    return min(warning, (default[1] - default[0] + 1) * 9 // 10)


def time_wait_seconds(facts: Facts) -> float | None:
    """How long a closed connection holds its port here; None when it could not be read (no other
    platform's figure is put in its place)."""
    return facts.time_wait.seconds if isinstance(facts.time_wait, TimeWait) else None


def time_wait_unknown(facts: Facts, subject: str = "it") -> str:
    why = facts.time_wait.reason if isinstance(facts.time_wait, Unknown) else "not collected"
    return f"the rate {subject} sustains is unknown (TIME_WAIT duration: {why})"


def _sustains(usable: int, time_wait: float | None) -> str:
    """The per-destination rate the range sustains, as evidence begins it; nothing when unknown."""
    return f"sustains {usable / time_wait:.1f} new connections/s; " if time_wait else ""


def bounding_range(facts: Facts) -> PortRange | Unknown:
    """The range that bounds outgoing connections: this host's, or under WSL2's NAT the Windows
    host's when that one is smaller (WinNAT translates every connection)."""
    ports = facts.port_range
    if ports is None or isinstance(ports, Unknown):
        return ports or Unknown("port range not collected")
    host = facts.host_port_range
    return host if host is not None and host.usable < ports.usable else ports


def check_range(facts: Facts, settings: Settings) -> list[Finding]:
    ports = facts.port_range
    if ports is None or isinstance(ports, Unknown):
        return [Finding("ports.range", Severity.UNKNOWN, "Ephemeral port range unknown",
                        observed=ports.reason if ports else "not collected")]
    findings = [_judge_range(ports, facts, settings)]
    if facts.host_port_range is not None:
        findings = [_with_layer(findings[0], _judge_range(facts.host_port_range, facts, settings))]
    return findings


def _judge_range(ports: PortRange, facts: Facts, settings: Settings) -> Finding:
    severity = _range_severity(ports.usable, settings, ports.default)
    tw = time_wait_seconds(facts)
    excluded = sum(min(b.high, ports.high) - max(b.low, ports.low) + 1 for b in ports.excluded
                   if b.low <= ports.high and b.high >= ports.low)
    evidence = [ports.setting] + [f"excluded inside the range: {b.low}-{b.high}"
                                  + (" (administered)" if b.administered else " (system reservation)")
                                  for b in ports.excluded[:8]] + list(ports.evidence)
    finding = dict(
        value=f"{ports.low}-{ports.high}",
        observed=f"{ports.low}-{ports.high}: {ports.high - ports.low + 1} ports, {ports.usable} usable by connect()"
                 + (f" ({excluded} excluded, {excluded / (ports.high - ports.low + 1):.0%})" if excluded else ""),
        expected=f"at least {_warning_floor(settings, ports.default)} usable ports "
                 f"(default {ports.default[0]}-{ports.default[1]})",
        evidence=tuple(evidence))
    where = "" if ports.layer == "this host" else f" on {ports.layer}"
    towards = "for all destinations together" if ports.shared_pool else "to one host:port"
    rate = (f"about {ports.usable / tw:.0f} new connections/s {towards}, sustained ({tw:g} s TIME_WAIT)" if tw
            else time_wait_unknown(facts))
    title = f"Ephemeral port range{where} has {ports.usable} usable ports: {rate}"
    if severity is Severity.OK:
        lost = _lost_at_boot(ports, settings)
        if lost is None:
            return Finding("ports.range", severity, title, **finding)
        boot_title, intents = lost
        return Finding("ports.range", Severity.WARNING, boot_title, intents=intents, **finding)
    if ports.managed_by:
        return Finding("ports.range", severity, title, intents=(Intent("port-range-managed", {
            "by": ports.managed_by, "layer": ports.layer}),), **finding)
    low, high = min(ports.low, ports.default[0]), max(ports.high, ports.default[1])  # never narrower than today
    if (low, high) == (ports.low, ports.high):
        # It already covers the default: what is left short is the threshold's ask.
        return Finding("ports.range", severity, title, **finding, advice=(
            f"The range already covers the default {ports.default[0]}-{ports.default[1]}, the most netwarden "
            f"widens to; the thresholds ask for {_warning_floor(settings, ports.default)} usable ports. Widen it by "
            "hand (minding the ports your servers listen on) or lower ports_range_warning / ports_range_critical.",))
    return Finding("ports.range", severity, title, intents=(Intent("widen-port-range", {
        "low": low, "high": high, "current": (ports.low, ports.high), "layer": ports.layer}),), **finding)


def _with_layer(mine: Finding, host: Finding) -> Finding:
    """One finding for both port budgets of a WSL2 NAT host: the worse one leads, the other is
    evidence (and its intents, advice on the Windows side, are kept)."""
    first, second = (host, mine) if host.severity.rank > mine.severity.rank else (mine, host)
    return first._replace(evidence=first.evidence + (f"also: {second.title}",) + second.evidence,
                          intents=first.intents + second.intents, advice=first.advice + second.advice)


def _lost_at_boot(ports: PortRange, settings: Settings):
    """A range fine now that no file keeps: after a reboot the boot-time value applies (a runtime
    change only, or an apply killed before its persistence was written). (title, intents) or None."""
    boot = ports.at_boot
    if boot is None:
        return None
    at_boot = _range_severity(boot.usable, settings, ports.default)
    if at_boot is Severity.OK:
        return None
    title = (f"The port range is wide now ({ports.low}-{ports.high}) but not persisted: after a reboot {boot.where} "
             f"sets {boot.low} {boot.high} ({at_boot.value} at {boot.usable} usable ports)")
    return title, (Intent("persist-port-range", {"low": ports.low, "high": ports.high, "where": boot.where,
                                                 "beats_mine": boot.beats_mine}),)


def destination_pressure(facts: Facts, settings: Settings):
    """(severity, usable, [(destination, share)]) for the census, or Unknown. Where the platform
    takes every connection's port from one pool (PortRange.shared_pool), the host's total is
    judged: it runs out for all destinations at once."""
    ports = bounding_range(facts)
    if isinstance(ports, Unknown):
        return ports
    census = facts.census
    if census is None or isinstance(census, Unknown):
        return census or Unknown("socket census not collected")
    usable = max(ports.usable, 1)
    shares = [(d, d.total / usable) for d in census.destinations]
    t = settings.thresholds
    top = census.sockets / usable if ports.shared_pool else max((share for _, share in shares), default=0.0)
    severity = _by_threshold(top, t.ports_pressure_critical, t.ports_pressure_warning, higher_is_worse=True)
    if census.exhausted and severity is Severity.OK:
        severity = Severity.WARNING  # it ran out recently: the census caught a quiet moment
    return severity, usable, shares


def forecast(dest, usable: int, window: int, time_wait: float) -> str:
    """From one census: arrivals = TIME_WAIT sockets younger than `window`, departures = those
    expiring within `window`; their difference is how fast the destination's share grows."""
    growth = (dest.tw_young - dest.tw_expiring) / window
    text = _sustains(usable, time_wait) + f"closing {dest.tw_young / window:.1f}/s now"
    # One port short counts: the kernel's port search does not always reach the last free port (a
    # 301-port range gives 300 or 301 connections to one destination in tests/test_lab_ports.py).
    if dest.total >= usable - 1:
        return text + "; exhausted now: connect() fails with EADDRNOTAVAIL"
    if growth > 0:
        return text + f"; at this rate the range runs out in ~{(usable - dest.total) / growth:.0f} s"
    return text + "; not growing"


def check_pressure(facts: Facts, settings: Settings) -> list[Finding]:
    result = destination_pressure(facts, settings)
    if isinstance(result, Unknown):
        return [Finding("ports.pressure", Severity.UNKNOWN, "Ephemeral port use unknown", observed=result.reason)]
    severity, usable, shares = result
    census = facts.census
    tw = time_wait_seconds(facts)
    shared = bounding_range(facts).shared_pool
    evidence = [f"{d.name}: {d.total} ports ({share:.0%}), {d.time_wait} in TIME_WAIT"
                + ("" if shared else "; " + (forecast(d, usable, census.window, tw) if census.ages else
                                             _sustains(usable, tw) + "close rate not measured"))
                for d, share in shares[:5]]
    counted = facts.time_wait.count if isinstance(facts.time_wait, TimeWait) else None
    tw_count = census.time_wait if counted is None else counted
    evidence.append(f"TIME_WAIT sockets in all: {tw_count} "
                    + (f"(each holds its port for {tw:g} s)" if tw else f"({time_wait_unknown(facts)})"))
    evidence += [note for note in dict.fromkeys((census.exhausted, *census.notes)) if note]
    if shared:
        evidence.insert(0, f"{census.sockets} of {usable} usable ports in use ({census.sockets / usable:.0%}), all "
                           "destinations together: this platform takes every outgoing connection's port from one "
                           + (f"pool; it sustains about {usable / tw:.0f} new connections/s" if tw
                              else f"pool; {time_wait_unknown(facts)}"))
    if not shares and not census.exhausted:
        return [Finding("ports.pressure", Severity.OK, "No ephemeral ports in use towards any destination",
                        observed=f"0 of {usable} usable ports", evidence=tuple(evidence))]
    advice = ()
    if severity is not Severity.OK:
        advice = ("Widen the port range (ports.range) and let outgoing connections reuse TIME_WAIT ports "
                  "(ports.tw-reuse, where the platform has it).",
                  "Reuse connections in the client (HTTP keep-alive, a connection pool) instead of one per request.")
    t = settings.thresholds
    if shared or not shares:
        title = f"This host holds {census.sockets} of {usable} usable ephemeral ports ({census.sockets / usable:.0%})"
        if census.exhausted:
            title += "; they ran out recently"
        busiest = f"; the most to {shares[0][0].name}: {shares[0][0].total}" if shares else ""
        return [Finding("ports.pressure", severity, title, evidence=tuple(evidence), advice=advice,
                        observed=f"{census.sockets} ports in use, {census.time_wait} in TIME_WAIT{busiest}",
                        expected=f"below {t.ports_pressure_warning:.0%} of the usable range in all")]
    busiest, share = shares[0]
    return [Finding(
        "ports.pressure", severity,
        f"{busiest.name} holds {busiest.total} of {usable} usable ephemeral ports ({share:.0%})",
        observed=f"{busiest.total} ports to {busiest.name}, {busiest.time_wait} in TIME_WAIT",
        expected=f"below {t.ports_pressure_warning:.0%} of the usable range per destination",
        evidence=tuple(evidence), advice=advice)]


def check_tw_reuse(facts: Facts, settings: Settings) -> list[Finding]:
    """Linux only: tcp_tw_reuse lets outgoing connections take a TIME_WAIT port older than 1 s."""
    value = facts.sysctls.get(TW_REUSE, Unknown(f"{TW_REUSE} not collected"))
    if isinstance(value, Unknown):
        return [Finding("ports.tw-reuse", Severity.UNKNOWN, "TIME_WAIT reuse setting unknown", observed=value.reason)]
    meaning = {"0": "off", "1": "on", "2": "loopback only"}.get(value, "?")
    observed = f"{TW_REUSE} = {value} ({meaning})"
    pressure = destination_pressure(facts, settings)
    if isinstance(pressure, Unknown):
        return [Finding("ports.tw-reuse", Severity.UNKNOWN, "Cannot tell whether TIME_WAIT reuse is needed",
                        observed=observed, evidence=(pressure.reason,), value=value)]
    if value == "1" or pressure[0] in (Severity.OK, Severity.UNKNOWN):
        return [Finding("ports.tw-reuse", Severity.OK, "TIME_WAIT reuse is on, or not needed at current port pressure",
                        observed=observed, value=value)]
    return [Finding(
        "ports.tw-reuse", Severity.WARNING, "Ports run short and outgoing connections cannot reuse TIME_WAIT ports",
        observed=observed, expected=f"{TW_REUSE} = 1 while port pressure is high",
        evidence=("reuse takes a TIME_WAIT port older than 1 s (needs TCP timestamps): it helps sustained "
                  "rates, not a burst of new connections",),
        intents=(Intent("set-sysctl", {"key": TW_REUSE, "current": value, "new": "1",
                                       "summary": "let outgoing connections reuse TIME_WAIT ports"}),), value=value)]


CHECKS = (
    CheckSpec("ports.range", check_range, facts=("port_range", "time_wait")),
    CheckSpec("ports.pressure", check_pressure, facts=("port_range", "time_wait", "census")),
    CheckSpec("ports.tw-reuse", check_tw_reuse, facts=("port_range", "census", "tw_reuse"), platforms=("linux",)),
)
