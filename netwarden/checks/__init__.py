"""Checks: pure functions Facts x Settings -> [Finding]. One module per concern.

Each check declares the sysctls and facts it needs, so a driver collects only those.
"""

from __future__ import annotations

from typing import Callable

from netwarden.record import record

CHECK_IDS = ("ports.range", "ports.pressure", "ports.tw-reuse", "ports.clock-freeze", "ipv6.preference",
             "dns.resolvers", "mtu.path", "tunnels.stale", "conntrack", "keepalive.idle")


@record(frozen=True)
class CheckSpec:
    id: str
    run: Callable  # (Facts, Settings) -> list[Finding]
    facts: tuple[str, ...] = ()  # the neutral facts it reads (Facts fields); the backend knows their sources
    platforms: tuple[str, ...] | None = None  # where the concept exists ("linux", "darwin", "win32"); None: all

    def runs_on(self, system: str) -> bool:
        return self.platforms is None or system in self.platforms


def no_targets_advice(facts) -> str:
    """What a probe check says when no targets are configured: nothing was probed (that is not an
    unknown state), and which targets to name, from the destinations this host already talks to."""
    from netwarden.model import Census

    busiest = [d.name for d in facts.census.destinations if d.port == 443][:3] \
        if isinstance(facts.census, Census) else []
    example = ", ".join(f'"{name}"' for name in busiest) or '"api.example.com:443"'
    seen = f" This host talks most to {', '.join(busiest)} (from the socket census)." if busiest else ""
    return (f"No targets configured, so no path was probed.{seen} Name the hosts your clients depend on "
            f"(host names rather than addresses where you know them): targets = [{example}] in the config.")


def check_ids(system: str) -> list[str]:
    """The ids of the checks that exist on `system` ("linux", "darwin", "win32"), in order."""
    specs = all_checks()
    return [i for i in CHECK_IDS if specs[i].runs_on(system)]


def all_checks() -> dict[str, CheckSpec]:
    from netwarden.checks import clock, conntrack, dns, ipv6, keepalive, mtu, ports, tunnels

    modules = (ports, clock, ipv6, dns, mtu, tunnels, conntrack, keepalive)
    specs = {spec.id: spec for module in modules for spec in module.CHECKS}
    assert tuple(specs) == CHECK_IDS, "CHECK_IDS must list every check, in order"
    return specs
