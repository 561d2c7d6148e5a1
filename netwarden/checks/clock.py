"""The macOS TCP clock freeze (DOMAIN.md §1): XNU's tcp_now is a 32-bit count of milliseconds that
starts at net.inet.tcp.now_init at boot. When it wraps, (2^32 - now_init) ms after boot (between
~37 and 49.7 days), it stops: TIME_WAIT sockets never expire, the ephemeral ports run out, and
new connections fail with EADDRNOTAVAIL until a reboot. Nothing but a reboot helps, so this
check only advises one: a warning when the wrap is near, critical once past it with TIME_WAIT
sockets that no longer drain (two samples more than 2 x MSL apart, which the backend takes only
past the wrap point)."""

from __future__ import annotations

import time

from netwarden.checks import CheckSpec
from netwarden.config import Settings
from netwarden.model import Facts, Finding, Severity, TcpClock, TimeWait

WARN_BEFORE = 3 * 86400  # seconds: "plan a reboot" this long before the wrap
REBOOT = "Reboot this Mac: nothing else restarts the TCP clock."


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.1f} days"


def _date(epoch: float) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))
    except (OverflowError, OSError, ValueError):  # a date past what the C library can show
        return f"Unix time {epoch:.0f}"


def frozen(clock: TcpClock, time_wait: float) -> bool | None:
    """Whether TIME_WAIT stopped draining: sockets of the first sample still there in the last
    (netstat rows), else a count that did not fall; None when the samples cannot tell (no socket
    to watch, or samples not more than 2 x MSL apart)."""
    samples = clock.time_wait_samples
    if len(samples) < 2 or samples[0][1] == 0 or samples[-1][0] - samples[0][0] <= time_wait:
        return None
    if clock.lingering is not None:
        return clock.lingering > 0
    return samples[-1][1] >= samples[0][1]


def check_clock(facts: Facts, settings: Settings) -> list[Finding]:
    clock = facts.tcp_clock
    if not isinstance(clock, TcpClock):
        return [Finding("ports.clock-freeze", Severity.UNKNOWN, "TCP clock unknown",
                        observed=clock.reason if clock else "not collected")]
    time_wait = facts.time_wait.seconds if isinstance(facts.time_wait, TimeWait) else 30.0
    uptime, left = clock.now - clock.boot_time, clock.wraps_at - clock.now
    wrap_uptime = clock.wraps_at - clock.boot_time
    observed = (f"up {_days(uptime)}; the TCP clock started at now_init {clock.now_init} ms and wraps "
                f"{_days(wrap_uptime)} after boot, at {_date(clock.wraps_at)}")
    evidence = [f"booted {_date(clock.boot_time)} (kern.boottime)",
                f"tcp_now wraps (2^32 - {clock.now_init}) ms = {wrap_uptime:.0f} s after boot"]
    expected = "a reboot before the TCP clock wraps"
    value = f"wraps at {_date(clock.wraps_at)}"
    if left > WARN_BEFORE:
        return [Finding("ports.clock-freeze", Severity.OK, f"The TCP clock wraps in {_days(left)}",
                        observed=observed, evidence=tuple(evidence), value=value)]
    if left > 0:
        return [Finding("ports.clock-freeze", Severity.WARNING,
                        f"The TCP clock wraps in {left / 3600:.0f} hours: then TIME_WAIT stops draining and new "
                        "connections fail with EADDRNOTAVAIL until a reboot",
                        observed=observed, expected=expected, evidence=tuple(evidence), value=value,
                        advice=(f"Plan a reboot before {_date(clock.wraps_at)}.",))]
    samples = ", ".join(f"{n} TIME_WAIT at +{t:.0f} s" for t, n in clock.time_wait_samples)
    evidence += [f"samples: {samples}" if samples else "no TIME_WAIT samples"]
    evidence += ([f"{clock.lingering} TIME_WAIT sockets of the first sample were still there in the last"]
                 if clock.lingering is not None else []) + ([clock.note] if clock.note else [])
    verdict = frozen(clock, time_wait)
    past = f"The TCP clock wrapped {_days(-left)} ago"
    if verdict:
        return [Finding("ports.clock-freeze", Severity.CRITICAL,
                        f"{past} and froze: TIME_WAIT sockets no longer drain, so the ephemeral ports run out and "
                        "new connections fail with EADDRNOTAVAIL",
                        observed=observed, expected=expected, evidence=tuple(evidence), value=value,
                        advice=(REBOOT, "Until then, fewer new connections (HTTP keep-alive, a connection pool) "
                                        "make the ports last longer."))]
    if verdict is False:
        return [Finding("ports.clock-freeze", Severity.OK,
                        f"{past}, but TIME_WAIT sockets still drain: the clock is not frozen",
                        observed=observed, evidence=tuple(evidence), value=value,
                        advice=("If connects start failing with EADDRNOTAVAIL, reboot.",))]
    return [Finding("ports.clock-freeze", Severity.WARNING,
                    f"{past}; whether TIME_WAIT still drains could not be seen",
                    observed=observed, expected=expected, evidence=tuple(evidence), value=value,
                    advice=("Plan a reboot: past the wrap point the TCP clock can freeze, and then TIME_WAIT "
                            "never drains.",))]


CHECKS = (CheckSpec("ports.clock-freeze", check_clock, facts=("tcp_clock", "time_wait"), platforms=("darwin",)),)
