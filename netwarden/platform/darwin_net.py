"""macOS commands, and the network facts beyond sysctls: links (with the VPN state of each VPN's
utun), routes, IPv6 addresses, resolvers, the address-selection policy, the network services
(for advice), and the egress of the probes towards the configured targets.

Every command goes through the Source by its absolute path, with a timeout, its exit code checked;
`output` turns a missing, failed or unreadable answer into an Unknown with the reason.
"""

from __future__ import annotations

import os

from netwarden.config import Settings
from netwarden.model import Facts, Resolvers, Route, Unknown
from netwarden.platform import darwin_facts as df
from netwarden.platform.darwin_plan import ROUTE, command_text
from netwarden.platform.source import CommandResult, Source, answers

NETSTAT, IFCONFIG, UPTIME = "/usr/sbin/netstat", "/sbin/ifconfig", "/usr/bin/uptime"
SCUTIL, NETWORKSETUP, LSOF, IP6ADDRCTL = "/usr/sbin/scutil", "/usr/sbin/networksetup", "/usr/sbin/lsof", "/usr/sbin/ip6addrctl"
TIMEOUT = 10.0
ROUTES = [NETSTAT, "-rn"]
NO_IP6ADDRCTL = ("ip6addrctl is not on this Mac (macOS 26 removed it): the kernel's address-selection "
                 "policy cannot be read")


@answers(int)
def _euid() -> int:
    return os.geteuid()


def run(source: Source, argv: list[str], timeout: float = TIMEOUT) -> CommandResult | Unknown:
    """The command's result, or Unknown when it could not run (missing, timed out, not in a bundle)."""
    try:
        return source.run(argv, timeout=timeout)
    except FileNotFoundError:
        return Unknown(f"{argv[0]} is not on this Mac")
    except OSError as e:
        return Unknown(f"`{command_text(argv)}`: {e.strerror or e}")
    except (TypeError, ValueError) as e:  # a damaged support bundle's answer
        return Unknown(f"`{command_text(argv)}`: unreadable answer ({e})")


def output(source: Source, argv: list[str], timeout: float = TIMEOUT, lenient: bool = False) -> str | Unknown:
    """stdout of a command that exited 0 (`lenient`: any exit status, as long as it printed)."""
    result = run(source, argv, timeout)
    if isinstance(result, Unknown):
        return result
    if result.returncode != 0 and not (lenient and result.stdout.strip()):
        why = (result.stderr.strip() or result.stdout.strip()).splitlines()
        return Unknown(f"`{command_text(argv)}` exited {result.returncode}" + (f": {why[0][:200]}" if why else ""))
    return result.stdout


def route_table(source: Source) -> list | Unknown:
    """`netstat -rn`, parsed (every row: darwin_facts.routes picks the ones ordinary sockets take)."""
    from netwarden.platform.parse.darwin.routes import parse_netstat_routes

    text = output(source, ROUTES)
    return text if isinstance(text, Unknown) else parse_netstat_routes(text)


def collect(source: Source, settings: Settings, facts: Facts, wanted: set[str]) -> None:
    """The network facts in `wanted`, into `facts`."""
    from netwarden.platform.parse.darwin import ifconfig, netstat, scutil

    table: list | Unknown = []
    if wanted & {"links", "routes", "ipv6", "paths"}:
        table = route_table(source)
        facts.routes = table if isinstance(table, Unknown) else df.routes(table)
    if wanted & {"links", "ipv6", "paths"}:
        text = output(source, [IFCONFIG, "-a"])
        interfaces = text if isinstance(text, Unknown) else ifconfig.parse_ifconfig(text)
        facts.links = facts.ipv6 = interfaces
        if not isinstance(interfaces, Unknown):
            rows = [] if isinstance(table, Unknown) else table
            counters = output(source, [NETSTAT, "-i", "-b", "-n"])
            vpn = vpn_verdicts(source, interfaces, rows)
            facts.links = df.links(interfaces, rows, [] if isinstance(counters, Unknown) else
                                   netstat.parse_netstat_interfaces(counters), vpn)
            facts.ipv6 = df.ipv6(interfaces, facts.routes if isinstance(facts.routes, tuple) else ())
            facts.host["vpn"] = {name: why for name, (_, _, why) in vpn.items()}
    if "address_policy" in wanted:
        from netwarden.platform.parse.darwin.ip6addrctl import parse_ip6addrctl

        text = output(source, [IP6ADDRCTL], 5)
        if isinstance(text, Unknown) and text.reason.endswith("is not on this Mac"):
            text = Unknown(NO_IP6ADDRCTL)
        facts.address_policy = df.address_policy(text if isinstance(text, Unknown) else parse_ip6addrctl(text))
    if wanted & {"resolvers", "dns"}:
        text = output(source, [SCUTIL, "--dns"])
        facts.resolvers = df.resolvers(text if isinstance(text, Unknown) else scutil.parse_scutil_dns(text))
    if wanted & {"address_policy", "resolvers", "paths"}:
        facts.host["services"] = services(source)
    probe(source, settings, facts, wanted)


def vpn_verdicts(source: Source, interfaces, table) -> dict[str, tuple[bool | None, str, str]]:
    """For each VPN's utun, whether its VPN is still there (darwin_facts.vpn_carrier); lsof and
    `scutil --nc list` run only when there is such a utun."""
    from netwarden.platform.parse.darwin.lsof import parse_lsof_utun_owners
    from netwarden.platform.parse.darwin.scutil import parse_scutil_nc_list

    names = [link.name for link in df.links(interfaces, table, [], {}) if link.kind == "tun"]
    if not names:
        return {}
    text = output(source, [SCUTIL, "--nc", "list"])
    found = text if isinstance(text, Unknown) else parse_scutil_nc_list(text)
    text = output(source, [LSOF, "-nP"], 30, lenient=True)  # exits 1 when some files could not be listed
    owners = text if isinstance(text, Unknown) else parse_lsof_utun_owners(text)
    try:
        complete = source.call("os.geteuid", _euid) == 0
    except OSError:
        complete = False
    return {name: df.vpn_carrier(name, owners, found, complete) for name in names}


def services(source: Source) -> dict:
    from netwarden.platform.parse.darwin.networksetup import parse_service_order
    from netwarden.platform.parse.darwin.scutil import parse_scutil_nwi

    order = output(source, [NETWORKSETUP, "-listnetworkserviceorder"])
    nwi = output(source, [SCUTIL, "--nwi"])
    return df.services(order if isinstance(order, Unknown) else parse_service_order(order),
                       nwi if isinstance(nwi, Unknown) else parse_scutil_nwi(nwi))


def probe(source: Source, settings: Settings, facts: Facts, wanted: set[str]) -> None:
    """Only with targets configured: the same probes as Linux (getaddrinfo order, connects, DNS
    queries, the transfer A/B), each target's egress interface from `route -n get`."""
    targets = settings.parsed_targets
    if not targets or not wanted & {"targets", "dns", "paths"}:
        return
    from netwarden.platform import linux_net as net
    from netwarden.platform.parse.netfs import is_ip_address

    if wanted & {"targets", "paths"}:
        facts.targets = net.probe_targets(source, targets, settings.probe_timeout)
    if "dns" in wanted and isinstance(facts.resolvers, Resolvers):
        names = sorted({t.host for t in targets if not is_ip_address(t.host)}) or ["."]
        facts.dns = net.probe_dns(source, facts.resolvers, names)
    if "paths" in wanted:
        facts.paths = net.probe_paths(source, facts.targets, egress(source, facts.targets, facts.routes), facts.links,
                                      settings.probe_timeout)


def egress(source: Source, probes, table) -> tuple[Route, ...]:
    """The routing table plus, per target address, the host route `route -n get` says the kernel
    takes (scoped routes included, which the table of ordinary routes leaves out)."""
    from netwarden.platform.parse.darwin.routes import parse_route_get
    from netwarden.platform.parse.netfs import is_ip_address

    found = list(table) if isinstance(table, tuple) else []
    for p in probes:
        for family, address in p.addresses[:1]:
            if not is_ip_address(address):
                continue
            text = output(source, [ROUTE, "-n", "get", "-inet6" if family == 6 else "-inet", address], 5)
            lookup = None if isinstance(text, Unknown) else parse_route_get(text)
            if lookup is not None and lookup.found:
                found.append(Route(family, f"{address}/{128 if family == 6 else 32}", lookup.interface))
    return tuple(found)
