"""The probe's command-line values: HOST:PORT, --timeout, --idle. Each parser takes the text as
typed and returns a typed value, or raises ValueError with one line saying what is wrong: the CLI
turns that into exit 64. Numbers must be written with ASCII digits: Python's float() and int()
also read '٣٠' or '３０', which would make a typo in another script silently mean something."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import partial

from netwarden.target import Target
from netwarden.platform.source import answers

TIMEOUT_RANGE = (0.1, 120.0)  # seconds a connect, handshake or transfer may take
IDLE_MAX = 3600.0  # an hour: beyond the longest idle limit seen (GCP Cloud NAT, 1,200 s)
IDLE_COUNT_MAX = 8  # each idle time holds one connection open
_NUMBER = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?")


@dataclass(frozen=True)
class Plan:
    """What to probe and how: the command line's values, validated."""

    target: Target
    timeout: float
    idle: tuple[float, ...] = ()
    all_addresses: bool = False
    tls: bool = True  # the daemon turns the handshakes off for a target that does not speak TLS


def make_plan(target: str | None, timeout: str | None, idle: str | None, all_addresses: bool,
              default_timeout: float) -> Plan:
    """The plan from the command line's texts (None: not given); ValueError names what is wrong."""
    return Plan(parse_target(target), default_timeout if timeout is None else parse_timeout(timeout),
                () if idle is None else parse_idle(idle), bool(all_addresses))


def default_timeout(probe_timeout: float) -> float:
    """The probe's --timeout when none is given: the config's probe_timeout (0 < x <= 3600, for
    the checks' probes too) brought into TIMEOUT_RANGE, to the microsecond a bundle records."""
    return round(min(max(probe_timeout, TIMEOUT_RANGE[0]), TIMEOUT_RANGE[1]), 6)


def _plan_or_nothing(value) -> bool:
    """a probe plan (checked again like a command line)"""
    return value is None or isinstance(value, dict)


@answers(_plan_or_nothing)
def _plan_document(plan: Plan | None) -> dict | None:
    return None if plan is None else {"target": str(plan.target), "timeout": plan.timeout, "idle": list(plan.idle),
                                      "all": plan.all_addresses}


def through(source, plan: Plan | None) -> Plan:
    """The plan through the Source: a recording keeps it in the bundle, a replay (plan None)
    answers with the recorded one, checked again like a command line (ValueError, OSError: the
    bundle's fault). A live plan (given) is returned as it is: it was checked as typed."""
    # The plan is the question's answer, not part of the question: a replay does not know it yet.
    recorded = source.call("probe.plan", partial(_plan_document, plan))
    if plan is not None:
        return plan
    if not isinstance(recorded, dict):
        raise ValueError("no probe plan")
    idle = recorded.get("idle") or None
    return make_plan(str(recorded.get("target")), f"{recorded.get('timeout')}",
                     ",".join(f"{s}" for s in idle) if isinstance(idle, list) else None, recorded.get("all") is True,
                     1.0)


def seconds(text: str | None, what: str, low: float, high: float) -> float:
    """A positive decimal number of seconds in [low, high]."""
    if text is None or not str(text).strip():
        raise ValueError(f"{what}: a number of seconds is missing")
    text = str(text).strip()
    if len(text) > 32 or not _NUMBER.fullmatch(text):
        shown = text if len(text) <= 32 else text[:29] + "..."
        raise ValueError(f"{what}: {shown!r} is not a number of seconds (ASCII digits, e.g. 30 or 2.5)")
    value = float(text)
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{what}: {text} is out of range ({low:g} to {high:g} seconds)")
    return value


def parse_timeout(text: str | None) -> float:
    return seconds(text, "--timeout", *TIMEOUT_RANGE)


def parse_idle(text: str | None) -> tuple[float, ...]:
    """'30,120,350' -> (30.0, 120.0, 350.0): sorted, duplicates dropped."""
    if text is None or not str(text).strip():
        raise ValueError("--idle: give idle times in seconds, e.g. --idle 30,120,350")
    parts = str(text).split(",")
    if len(parts) > IDLE_COUNT_MAX:
        raise ValueError(f"--idle: at most {IDLE_COUNT_MAX} idle times (each holds a connection open)")
    values = {seconds(p, "--idle", 0.1, IDLE_MAX) for p in parts}
    return tuple(sorted(values))


def parse_target(text: str | None) -> Target:
    """HOST:PORT as a user types it: a name (Unicode names become their IDNA form, as curl and
    browsers do), an IPv4 address, or an IPv6 address in brackets."""
    if text is None or not str(text).strip():
        raise ValueError("HOST:PORT is missing (e.g. netwarden probe api.anthropic.com:443)")
    text = str(text).strip()
    if len(text) > 300:
        raise ValueError(f"HOST:PORT is {len(text)} characters long: a host name has at most 253")
    if any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError(f"HOST:PORT {text!r} contains spaces or control characters")
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"{text!r} has no port: write HOST:PORT (e.g. {text}:443)")
    if not re.fullmatch(r"[0-9]{1,5}", port):
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535 in ASCII digits")
    if not host.isascii():
        host = _idna(host)
    target = Target.parse(f"{host}:{port}")  # its ValueError names what is wrong
    _check_address(target.host)
    if ":" not in target.host and any(not 0 < len(label) <= 63 for label in target.host.split(".")):
        raise ValueError(f"host {target.host!r}: each dot-separated label must have 1 to 63 characters")
    return target


def _idna(host: str) -> str:
    """The ASCII (punycode) form of a Unicode host name, or ValueError."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"host {host!r} is not a valid international domain name") from None


def _check_address(host: str) -> None:
    """Something that looks like an address must be one: '999.1.1.1' or '[1::2::3]' would
    otherwise go to the resolver as a name."""
    from netwarden.platform.parse.netfs import is_ip_address

    looks_v4 = re.fullmatch(r"[0-9.]+", host) is not None
    if (":" in host or looks_v4) and not is_ip_address(host):
        raise ValueError(f"{host!r} is not a valid IP{'v6' if ':' in host else 'v4'} address")
