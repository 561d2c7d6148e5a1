"""Ephemeral port exhaustion (DOMAIN.md §1): range width, per-destination pressure, TIME_WAIT reuse."""

from __future__ import annotations

from netwarden.checks import CheckSpec
from netwarden.config import Settings
from netwarden.model import BootSysctls, Change, Facts, Finding, Severity, Unknown
from netwarden.platform.parse.procfs import count_in_range, parse_port_list, parse_port_range

RANGE = "net.ipv4.ip_local_port_range"
RESERVED = "net.ipv4.ip_local_reserved_ports"
TW_REUSE = "net.ipv4.tcp_tw_reuse"
KERNEL_DEFAULT = (32768, 60999)
TIME_WAIT_SECONDS = 60
WSL_ADVICE = (
    "Do not widen the range in WSL2 mirrored mode: WSL writes it from a Windows port reservation "
    "and a wider range makes all localhost TCP hang until `wsl --shutdown`.",
    "Instead: set net.ipv4.tcp_tw_reuse = 1, update WSL (newer builds reserve 4,096 ports, not 300), "
    "or switch to NAT mode (networkingMode=nat in %UserProfile%\\.wslconfig).",
)


def usable_ports(facts: Facts) -> tuple[int, int, int, int] | Unknown:
    """(low, high, usable, reserved inside the range), or why it is unknown.

    Usable is what connect() can count on: the kernel's port search covers an even number of
    ports (`remaining &= ~1` in __inet_hash_connect), so an odd-width range gives one port less,
    and reserved ports are skipped."""
    raw = facts.sysctls.get(RANGE, Unknown(f"{RANGE} not collected"))
    if isinstance(raw, Unknown):
        return raw
    bounds = parse_port_range(raw)
    if bounds is None:
        return Unknown(f"{RANGE} = {raw!r} is not two port numbers")
    reserved_raw = facts.sysctls.get(RESERVED, "")
    reserved, _ = parse_port_list("" if isinstance(reserved_raw, Unknown) else reserved_raw)
    low, high = bounds
    in_range = count_in_range(reserved, low, high)
    width = high - low + 1
    searched = width & ~1 if width > 1 else width
    return low, high, max(searched - in_range, 0), in_range


def _by_threshold(value: float, critical: float, warning: float, higher_is_worse: bool) -> Severity:
    if higher_is_worse:
        return Severity.CRITICAL if value >= critical else Severity.WARNING if value >= warning else Severity.OK
    return Severity.CRITICAL if value < critical else Severity.WARNING if value < warning else Severity.OK


def check_range(facts: Facts, settings: Settings) -> list[Finding]:
    ports = usable_ports(facts)
    if isinstance(ports, Unknown):
        return [Finding("ports.range", Severity.UNKNOWN, "Ephemeral port range unknown", observed=ports.reason)]
    low, high, usable, reserved = ports
    t = settings.thresholds
    severity = _by_threshold(usable, t.ports_range_critical, t.ports_range_warning, higher_is_worse=False)
    evidence = [f"{RANGE} = {facts.sysctls[RANGE]!r}"]
    if reserved:
        evidence.append(f"{RESERVED} = {facts.sysctls[RESERVED]!r}: {reserved} of them inside the range")
    evidence += _boot_evidence(facts, settings)
    per_dest = usable / TIME_WAIT_SECONDS
    finding = dict(
        value=f"{low}-{high}",
        observed=f"{low}-{high}: {high - low + 1} ports, {usable} usable by connect()"
                 + (f" ({reserved} reserved)" if reserved else ""),
        expected=f"at least {t.ports_range_warning} usable ports (kernel default {KERNEL_DEFAULT[0]}-{KERNEL_DEFAULT[1]})",
    )
    title = f"Ephemeral port range has {usable} usable ports: about {per_dest:.0f} new connections/s to one host:port, sustained"
    wsl_managed = facts.platform.flavor == "wsl2" and facts.platform.wsl_networking_mode != "nat"
    if severity is Severity.OK:
        lost = None if wsl_managed else _lost_at_boot(facts, settings)
        if lost is None:
            return [Finding("ports.range", severity, title, evidence=tuple(evidence), **finding)]
        boot_title, changes, advice = lost
        return [Finding("ports.range", Severity.WARNING, boot_title, evidence=tuple(evidence), changes=changes,
                        advice=advice, **finding)]
    if wsl_managed:
        mode = facts.platform.wsl_networking_mode
        why = ("WSL2 mirrored mode" if mode == "mirrored" else
               f"WSL2 networking mode {mode or 'unknown'}: widening is only safe in NAT mode")
        return [Finding("ports.range", severity, title, evidence=tuple(evidence + [why]),
                        advice=WSL_ADVICE, **finding)]
    new_low, new_high = min(low, KERNEL_DEFAULT[0]), max(high, KERNEL_DEFAULT[1])  # never narrower than today
    if (new_low, new_high) == (low, high):
        # The range already covers the kernel default: what is left short is the threshold's ask.
        return [Finding("ports.range", severity, title, evidence=tuple(evidence), **finding, advice=(
            f"The range already covers the kernel default {KERNEL_DEFAULT[0]}-{KERNEL_DEFAULT[1]}, the most "
            f"netwarden widens to; the thresholds ask for {t.ports_range_warning} usable ports. Widen it by hand "
            f"(e.g. sysctl -w {RANGE}=\"10240 65535\", minding the ports your servers listen on) or lower "
            "ports_range_warning / ports_range_critical.",))]
    change = Change("ports.range", "sysctl", RANGE, " ".join(facts.sysctls[RANGE].split()), f"{new_low} {new_high}",
                    persist=True, summary="widen the ephemeral port range")
    return [Finding("ports.range", severity, title, evidence=tuple(evidence), changes=(change,), **finding)]


def _at_boot(facts: Facts, settings: Settings):
    """(value, where it comes from, whether that beats netwarden's drop-in) for the range at boot,
    or None when the boot-time settings are unknown. No setter: the kernel default."""
    boot = facts.boot_sysctls
    if not isinstance(boot, BootSysctls):
        return None
    setters = boot.setters(RANGE)
    if not setters:
        return f"{KERNEL_DEFAULT[0]} {KERNEL_DEFAULT[1]}", "the kernel default", False
    winner = setters[-1]
    # Boot order is by file name across directories, then sysctl.conf last.
    applied_after_mine = winner.path == str(settings.sysctl_conf) or winner.path.rsplit("/", 1)[-1] > settings.sysctl_dropin
    return winner.value, f"{winner.path}:{winner.line}", winner.path != str(settings.dropin_path) and applied_after_mine


def _boot_evidence(facts: Facts, settings: Settings) -> list[str]:
    """Which file sets the range at boot, and whether it overrides netwarden's drop-in."""
    boot = facts.boot_sysctls
    if boot is None or isinstance(boot, Unknown):
        return [f"boot-time settings unknown: {boot.reason}"] if isinstance(boot, Unknown) else []
    problems = [f"ignored at boot: {p}" for p in boot.problems[:3]]
    setters = boot.setters(RANGE)
    if not setters:
        return problems + ["no sysctl.d file sets it: the kernel default applies at boot"]
    value, where, beats_mine = _at_boot(facts, settings)
    lines = problems + [f"at boot {where} sets {value!r} (the last of {len(setters)} setting it)"]
    if beats_mine:
        lines.append(f"{where.rsplit(':', 1)[0]} is applied after netwarden's drop-in {settings.dropin_path} "
                     "and wins at boot: edit or remove that line")
    return lines


def _lost_at_boot(facts: Facts, settings: Settings):
    """A range that is fine now but that no file keeps: after a reboot the boot-time value applies
    (a runtime `sysctl -w`, or an apply killed before its drop-in was written). (title, changes,
    advice), or None when the boot value is as good."""
    boot = _at_boot(facts, settings)
    bounds = parse_port_range(boot[0]) if boot else None
    if bounds is None:
        return None
    value, where, beats_mine = boot
    t = settings.thresholds
    width = bounds[1] - bounds[0] + 1
    at_boot = _by_threshold(width & ~1, t.ports_range_critical, t.ports_range_warning, higher_is_worse=False)
    if at_boot is Severity.OK:
        return None
    runtime = " ".join(facts.sysctls[RANGE].split())
    title = (f"The port range is wide now ({runtime}) but not persisted: after a reboot {where} sets {value} "
             f"({at_boot.value} at {width & ~1} usable ports)")
    if beats_mine:
        return title, (), (f"Edit {where}: it is applied after netwarden's drop-in and wins at boot.",)
    change = Change("ports.range", "sysctl", RANGE, runtime, runtime, persist=True,
                    summary="keep the range that is in force across reboots")
    return title, (change,), ()


def destination_pressure(facts: Facts, settings: Settings):
    """(severity, usable, [(destination, share)]) for the census, or Unknown."""
    ports = usable_ports(facts)
    if isinstance(ports, Unknown):
        return ports
    census = facts.census
    if census is None or isinstance(census, Unknown):
        return census or Unknown("socket census not collected")
    usable = max(ports[2], 1)
    shares = [(d, d.total / usable) for d in census.destinations]
    t = settings.thresholds
    top = max((share for _, share in shares), default=0.0)
    severity = _by_threshold(top, t.ports_pressure_critical, t.ports_pressure_warning, higher_is_worse=True)
    return severity, usable, shares


def forecast(dest, usable: int, window: int) -> str:
    """From one census: arrivals = TIME_WAIT sockets younger than `window`, departures = those
    expiring within `window`; their difference is how fast the destination's share grows."""
    sustained = usable / TIME_WAIT_SECONDS
    arrivals = dest.tw_young / window
    growth = (dest.tw_young - dest.tw_expiring) / window
    text = f"sustains {sustained:.1f} new connections/s; closing {arrivals:.1f}/s now"
    if dest.total >= usable:
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
    evidence = [f"{d.name}: {d.total} ports ({share:.0%}), {d.time_wait} in TIME_WAIT; "
                f"{forecast(d, usable, census.window)}" for d, share in shares[:5]]
    tw_total = facts.sockstat.time_wait if facts.sockstat and not isinstance(facts.sockstat, Unknown) else census.time_wait
    evidence.append(f"TIME_WAIT sockets in all: {tw_total} (each holds its port for {TIME_WAIT_SECONDS} s)")
    if not shares:
        return [Finding("ports.pressure", Severity.OK, "No ephemeral ports in use towards any destination",
                        observed=f"0 of {usable} usable ports", evidence=tuple(evidence))]
    busiest, share = shares[0]
    advice = ()
    if severity is not Severity.OK:
        advice = ("Widen the port range (ports.range) and enable TIME_WAIT reuse (ports.tw-reuse).",
                  "Reuse connections in the client (HTTP keep-alive, a connection pool) instead of one per request.")
    t = settings.thresholds
    return [Finding(
        "ports.pressure", severity,
        f"{busiest.name} holds {busiest.total} of {usable} usable ephemeral ports ({share:.0%})",
        observed=f"{busiest.total} ports to {busiest.name}, {busiest.time_wait} in TIME_WAIT",
        expected=f"below {t.ports_pressure_warning:.0%} of the usable range per destination",
        evidence=tuple(evidence), advice=advice)]


def check_tw_reuse(facts: Facts, settings: Settings) -> list[Finding]:
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
    change = Change("ports.tw-reuse", "sysctl", TW_REUSE, value, "1", persist=True,
                    summary="let outgoing connections reuse TIME_WAIT ports")
    return [Finding(
        "ports.tw-reuse", Severity.WARNING, "Ports run short and outgoing connections cannot reuse TIME_WAIT ports",
        observed=observed, expected=f"{TW_REUSE} = 1 while port pressure is high",
        evidence=("reuse takes a TIME_WAIT port older than 1 s (needs TCP timestamps): it helps sustained "
                  "rates, not a burst of new connections",),
        changes=(change,), value=value)]


CHECKS = (
    CheckSpec("ports.range", check_range, sysctls=(RANGE, RESERVED), facts=("boot_sysctls",)),
    CheckSpec("ports.pressure", check_pressure, sysctls=(RANGE, RESERVED), facts=("census", "sockstat")),
    CheckSpec("ports.tw-reuse", check_tw_reuse, sysctls=(RANGE, RESERVED, TW_REUSE), facts=("census",)),
)
