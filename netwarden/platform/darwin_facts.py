"""macOS's sources for the neutral facts the checks read, and how each is derived from them.

The backend (darwin.py) runs the commands and parses their outputs (parse/darwin); these functions
turn what was parsed into PortRange, TimeWait, Census, AddressPolicy, Resolvers, PmtuProbing,
Keepalive, links, routes and Ipv6State. Pure: no I/O here, and nothing raises on odd values (a
value that cannot be read is an Unknown with the reason).
"""

from __future__ import annotations

from typing import Mapping

from netwarden.model import (AddressPolicy, AtBoot, Census, Destination, Ipv6State, Keepalive, Link, PmtuProbing,
                             PortRange, Resolvers, Route, ScopedResolvers, TimeWait, Unknown)
from netwarden.platform.parse.darwin import netstat
from netwarden.platform.parse.darwin import sysctl as sc
from netwarden.platform.parse.darwin.utun import VPN_LIKE, classify_utun
from netwarden.platform.parse.netfs import is_ip_address
from netwarden.platform.parse.numbers import as_int

FIRST, LAST = "net.inet.ip.portrange.first", "net.inet.ip.portrange.last"
HIFIRST, HILAST = "net.inet.ip.portrange.hifirst", "net.inet.ip.portrange.hilast"
MSL, NOW_INIT, TW_PCBCOUNT = "net.inet.tcp.msl", "net.inet.tcp.now_init", "net.inet.tcp.tw_pcbcount"
KEEPALIVE = ("net.inet.tcp.keepidle", "net.inet.tcp.keepintvl", "net.inet.tcp.keepcnt",
             "net.inet.tcp.always_keepalive")
BLACKHOLE, BLACKHOLE_MSS = "net.inet.tcp.pmtud_blackhole_detection", "net.inet.tcp.pmtud_blackhole_mss"
BOOTTIME = "kern.boottime"
DEFAULT_RANGE = (49152, 65535)
PORT_LIMITS = (1024, 65535)  # XNU clamps portrange.first/last into these (RANGECHK): a write outside reads back different
XNU_KEEPCNT = 8  # tcp_keepcnt's default, for releases whose sysctl does not print keepcnt (OS X 10.8)
TOP_DESTINATIONS = 20

# What the backend reads with one `sysctl` call: whole subtrees, present on every macOS release.
SYSCTL_TREES = ("net.inet.ip.portrange", "net.inet.tcp", "kern.boottime")
# The values kept in Facts.sysctls (the rest of the net.inet.tcp tree is not needed).
KEYS = (FIRST, LAST, HIFIRST, HILAST, MSL, NOW_INIT, *KEEPALIVE, BLACKHOLE, BLACKHOLE_MSS,
        "net.inet.tcp.pcbcount", TW_PCBCOUNT, BOOTTIME)
# neutral fact -> the sysctls behind it that the daemon polls for drift (settings, not counters)
SETTINGS = {"port_range": (FIRST, LAST), "time_wait": (MSL,), "pmtu": (BLACKHOLE,), "keepalive": KEEPALIVE}


def setting_keys(facts) -> tuple[str, ...]:
    return tuple(sorted({key for name in facts for key in SETTINGS.get(name, ())}))


def sysctl_values(answer: Mapping[str, str] | Unknown) -> dict[str, str | Unknown]:
    """The KEYS out of one `sysctl` answer; a key it lacks is Unknown, saying so."""
    if isinstance(answer, Unknown):
        return {key: answer for key in KEYS}
    return {key: answer[key] if key in answer else Unknown(f"{key}: not in sysctl's answer") for key in KEYS}


def _strings(values: Mapping[str, str | Unknown]) -> dict[str, str]:
    return {k: v for k, v in values.items() if isinstance(v, str)}


def reason(values: Mapping[str, str | Unknown], key: str) -> str:
    value = values.get(key)
    return value.reason if isinstance(value, Unknown) else f"{key} = {value!r} is not a number"


def old_netstat(kernel: str) -> bool:
    """macOS 10.10-10.14 (Darwin 14-18): its netstat leaves TIME_WAIT sockets out."""
    major = as_int(kernel.split(".", 1)[0])
    return major is not None and 14 <= major <= 18


def port_range(values: Mapping[str, str | Unknown], at_boot: tuple[AtBoot | None, list[str]]) -> PortRange | Unknown:
    """portrange.first/last: the range connect() without bind() draws from (in_pcbbind). XNU's
    search covers every port of it, so all of them are usable."""
    for key in (FIRST, LAST):
        if isinstance(values.get(key), Unknown):
            return values[key]
    bounds = sc.port_range(_strings(values))
    if bounds is None:
        return Unknown(f"{FIRST} = {values.get(FIRST)!r}, {LAST} = {values.get(LAST)!r}: not two port numbers")
    high_range = sc.port_range(_strings(values), "hi")
    evidence = ["connect() without bind() takes its port from portrange.first-last; hifirst/hilast"
                + (f" ({high_range.low}-{high_range.high})" if high_range else "")
                + " serve only sockets that ask for IP_PORTRANGE_HIGH"]
    boot, boot_evidence = at_boot
    return PortRange(bounds.low, bounds.high, bounds.size, DEFAULT_RANGE,
                     f"{FIRST} = {bounds.first}, {LAST} = {bounds.last}", (), tuple(evidence + boot_evidence), boot)


def at_boot(plist: str, assignments: dict[str, str] | Unknown | None,
            sysctl_conf: list[str]) -> tuple[AtBoot | None, list[str]]:
    """The range after a reboot: a runtime `sysctl -w` does not survive one, so it is what
    netwarden's LaunchDaemon sets (its `sysctl -w` arguments), else the default. `sysctl_conf`:
    the /etc/sysctl.conf lines that set the range, which current macOS does not reliably apply."""
    notes = [f"{line}: /etc/sysctl.conf is not reliably applied at boot on current macOS; "
             f"netwarden persists the range with {plist}" for line in sysctl_conf]
    if isinstance(assignments, Unknown):
        return None, notes + [f"the range at boot is unknown: {assignments.reason}"]
    if not assignments or not {FIRST, LAST} & set(assignments):
        low, high = DEFAULT_RANGE
        return AtBoot(low, high, high - low + 1, "the macOS default"), notes + [
            f"nothing sets it at boot (no {FIRST}/{LAST} in {plist}): "
            f"a runtime `sysctl -w` is lost at reboot and the default {low}-{high} applies"]
    bounds = sc.port_range({FIRST: str(DEFAULT_RANGE[0]), LAST: str(DEFAULT_RANGE[1]), **assignments})
    if bounds is None:
        return None, notes + [f"{plist} sets the range to something that is not two ports: {assignments}"]
    return AtBoot(bounds.low, bounds.high, bounds.size, plist), notes + [
        f"at boot {plist} sets " + ", ".join(f"{k} = {v}" for k, v in assignments.items() if k in (FIRST, LAST))]


def time_wait(values: Mapping[str, str | Unknown], time_wait_rows: int | None, kernel: str) -> TimeWait | Unknown:
    """TIME_WAIT lasts 2 x MSL; the count from tw_pcbcount (printed up to macOS 10.14), else from
    netstat's rows, which macOS 10.10-10.14 leave out."""
    msl = sc.tcp_settings(_strings(values)).msl_ms
    if msl is None:
        return Unknown(reason(values, MSL))
    seconds = 2 * msl / 1000
    setting = f"2 x net.inet.tcp.msl ({msl} ms) = {seconds:g} s"
    counted = sc.sysctl_int(_strings(values), TW_PCBCOUNT)
    if counted is not None:
        return TimeWait(seconds, counted, setting + f"; {counted} TIME_WAIT sockets ({TW_PCBCOUNT})")
    if old_netstat(kernel):
        return TimeWait(seconds, None, setting + "; the netstat of macOS 10.10-10.14 leaves TIME_WAIT sockets out, "
                                                 "so their count is unknown")
    return TimeWait(seconds, time_wait_rows, setting)


CENSUS_WINDOW = 10  # nominal: macOS's netstat shows no socket ages (Census.ages is False)


def census(connections: list | Unknown, ports: PortRange | Unknown, kernel: str) -> Census | Unknown:
    """Per destination, the sockets whose local port is in the ephemeral range, every state but
    LISTEN. netstat shows no TIME_WAIT ages (no close rate)."""
    if isinstance(connections, Unknown):
        return connections
    if not connections:
        return Unknown("netstat printed no TCP socket at all (macOS 27's netstat prints nothing to a non-root user: "
                       "run as root)")
    if not isinstance(ports, PortRange):
        return Unknown(f"needs the port range: {ports.reason if ports else 'not collected'}")
    totals = netstat.count_by_destination(connections, ports.low, ports.high)
    waiting = netstat.count_by_destination([c for c in connections if c.state == "TIME_WAIT"], ports.low, ports.high)
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:TOP_DESTINATIONS]
    notes = ("the netstat of macOS 10.10-10.14 leaves TIME_WAIT sockets out: the ports they hold are not "
             "counted per destination",) if old_netstat(kernel) else ()
    return Census(CENSUS_WINDOW, sum(totals.values()), sum(waiting.values()),
                  tuple(Destination(address, port, n, waiting.get((address, port), 0)) for (address, port), n in ranked),
                  ages=False, notes=notes)


def time_wait_sockets(connections: list) -> set[tuple]:
    """The TIME_WAIT sockets of a netstat listing, each by its four-tuple."""
    return {(c.local_address, c.local_port, c.remote_address, c.remote_port) for c in connections
            if c.state == "TIME_WAIT"}


def pmtu(values: Mapping[str, str | Unknown]) -> PmtuProbing | Unknown:
    tcp = sc.tcp_settings(_strings(values))
    if tcp.pmtud_blackhole_detection is None:
        return Unknown(reason(values, BLACKHOLE))
    return PmtuProbing(tcp.pmtud_blackhole_detection == 1,
                       f"{BLACKHOLE} = {tcp.pmtud_blackhole_detection} (on by default), "
                       f"{BLACKHOLE_MSS} = {tcp.pmtud_blackhole_mss if tcp.pmtud_blackhole_mss is not None else '?'}")


def keepalive(values: Mapping[str, str | Unknown]) -> Keepalive | Unknown:
    """keepidle/keepintvl are milliseconds; macOS has no system-wide retransmission limit (retries None)."""
    tcp = sc.tcp_settings(_strings(values))
    for key, value in zip(KEEPALIVE[:2], (tcp.keepidle_ms, tcp.keepintvl_ms)):
        if value is None:
            return Unknown(reason(values, key))
    probes = tcp.keepcnt if tcp.keepcnt is not None else XNU_KEEPCNT
    scope = "every socket" if tcp.always_keepalive == 1 else "only sockets that set SO_KEEPALIVE"
    return Keepalive(round(tcp.keepidle_ms / 1000), round(tcp.keepintvl_ms / 1000), probes,
                     f"net.inet.tcp.keepidle {tcp.keepidle_ms} ms, keepintvl {tcp.keepintvl_ms} ms, keepcnt "
                     + (str(tcp.keepcnt) if tcp.keepcnt is not None else f"not printed (XNU's default {XNU_KEEPCNT})")
                     + f", always_keepalive {tcp.always_keepalive if tcp.always_keepalive is not None else '?'} ({scope})")


def routes(table: list) -> tuple[Route, ...]:
    """The routes ordinary sockets take, from `netstat -rn`: not interface-scoped (I), not cloned
    (W: per-destination copies and ARP/ND entries), not reject/blackhole, not link-local or
    multicast. Apple's own utun routes are all scoped or link-local, so none of them is here."""
    found = []
    for r in table:
        cidr = r.cidr
        if not r.netif or cidr is None or not r.carries_general_traffic or set(r.flags) & set("WRB"):
            continue
        gateway = r.gateway if is_ip_address(r.gateway) else None  # link#N, a MAC or a name: on the link
        found.append(Route(r.family, "default" if r.is_default else cidr, r.netif, gateway, 0))
    return tuple(found)


def links(interfaces: list, table: list, counters: list, vpn: dict[str, tuple[bool | None, str, str]]) -> tuple[Link, ...]:
    """Every interface as a Link. A utun that macOS uses itself (classify_utun: link-local only, no
    route ordinary sockets take) is kind "other", never a tunnel; a VPN's utun is "tun", without
    carrier when `vpn` (the backend's verdict from scutil --nc list and lsof) says its VPN is gone."""
    packets = {}
    for row in counters:
        packets.setdefault(row.name, (row.ipkts or 0, row.opkts or 0))
    found = []
    for i in interfaces:
        kind = _kind(i, table)
        running = "RUNNING" in i.flags
        carrier: bool | None = running if i.up else None
        if i.status in ("active", "inactive"):
            carrier = i.status == "active"
        state = i.status or ("up" if i.up and running else "down")
        if vpn.get(i.name, (None,))[0] is False:  # its VPN is gone: the state says how we know
            carrier, state = False, vpn[i.name][1]
        found.append(Link(i.name, kind, i.mtu or 0, i.up, carrier, state, *packets.get(i.name, (0, 0))))
    return tuple(found)


def _kind(interface, table: list) -> str:
    name = interface.name.rstrip("0123456789")
    if "LOOPBACK" in interface.flags:
        return "loopback"
    if interface.is_utun:
        return "tun" if classify_utun(interface, table).kind == VPN_LIKE else "other"
    if name in ("ppp", "ipsec"):
        return name
    if name in ("gif", "stf"):  # on every Mac, unconfigured: a tunnel only once set up
        return name if interface.up or interface.inet or interface.inet6 else "other"
    return "ether" if interface.ether else "other"


VPN_ALIVE = ("Connected", "Connecting", "Reasserting")


def vpn_carrier(name: str, owners, services, complete: bool) -> tuple[bool | None, str, str]:
    """Whether a VPN's utun still has its VPN: (True/False/None, a short state, why). The process
    holding it (lsof's utun_control sockets) is matched to a service of `scutil --nc list` by its
    bundle id or name; `complete`: lsof ran as root, so a utun nobody holds is really orphaned."""
    if isinstance(owners, Unknown):
        return None, "up", f"cannot tell which VPN holds {name}: {owners.reason}"
    mine = [o for o in owners if o.interface == name]
    if not mine:
        if complete:
            return False, "no process holds it", f"no process holds {name} (lsof as root): its VPN is gone"
        return None, "up", f"lsof did not run as root, so it cannot tell which process holds {name}"
    held = ", ".join(f"{o.command} (pid {o.pid})" for o in mine)
    matched = [s for s in (services if isinstance(services, list) else []) if any(_owns(o.command, s) for o in mine)]
    if not matched:
        return True, "up", f"{name} is held by {held}" + ("" if isinstance(services, list) else f" ({services.reason})")
    states = ", ".join(f'"{s.name or s.subtype}" {s.state}' for s in matched)
    if any(s.state in VPN_ALIVE for s in matched):
        return True, "up", f"{name} is held by {held}; its VPN service: {states}"
    return False, f"VPN {states}", (f"{name} is held by {held}, but its VPN service is not connected: {states} "
                                    "(scutil --nc list)")


def _owns(command: str, service) -> bool:
    """lsof's (9-character) command is the start of the service's bundle id or name, or the reverse."""
    command = command.lower()
    for word in (service.subtype, (service.kind or "").partition(":")[2], service.name):
        word = (word or "").lower()
        if min(len(word), len(command)) >= 4 and (word.startswith(command) or command.startswith(word)):
            return True
    return False


def ipv6(interfaces: list, neutral_routes: tuple[Route, ...]) -> Ipv6State:
    """From ifconfig's inet6 lines: usable global and ULA addresses (deprecated ones counted apart),
    and whether an IPv6 default route ordinary sockets take exists. macOS has no switch that
    disables IPv6 host-wide (it is per service: networksetup -setv6off)."""
    global_addresses, ula, deprecated = [], [], 0
    for i in interfaces:
        if "LOOPBACK" in i.flags:
            continue
        for a in i.inet6:
            if a.link_local or set(a.flags) & {"tentative", "duplicated", "detached"}:
                continue
            if "deprecated" in a.flags:
                deprecated += 1
            else:
                (ula if a.address.lower().startswith(("fc", "fd")) else global_addresses).append(a.address)
    return Ipv6State(False, tuple(global_addresses), tuple(ula), deprecated,
                     any(r.family == 6 and r.dst == "default" for r in neutral_routes))


def resolvers(parsed: list | Unknown) -> Resolvers | Unknown:
    """`scutil --dns`: the first general resolver (not supplemental, no domain, not mdns) gives the
    nameservers every lookup starts with; supplemental and scoped ones (a VPN's) are `scoped`."""
    if isinstance(parsed, Unknown):
        return parsed
    if not parsed:
        return Unknown("scutil --dns printed no resolver")
    general = next((r for r in parsed if r.section == "default" and not r.supplemental and r.domain is None
                    and "mdns" not in r.options), None)
    problems = []
    if general is None:
        problems.append("scutil --dns lists no general resolver, only domain-specific ones: other names do not resolve")
    elif general.reachable is False:
        problems.append(f"the default resolver's nameservers are Not Reachable (scutil --dns resolver #{general.number})")
    scoped = []
    for r in parsed:
        if r is general or not r.addresses or (general is not None and r.addresses == general.addresses):
            continue
        scope = r.interface or (f"if_index {r.if_index}" if r.if_index is not None else "any interface")
        scope += f" ({r.domain})" if r.domain else " (scoped)" if r.scoped else ""
        scoped.append(ScopedResolvers(scope, r.addresses, (r.domain,) if r.domain else r.search))
    source = "scutil --dns" + (f" (resolver #{general.number})" if general else "")
    return Resolvers(source, "macos", general.addresses if general else (), float(general.timeout or 5) if general else 5.0,
                     problems=tuple(problems), scoped=tuple(scoped))


def address_policy(rows: list | Unknown) -> AddressPolicy | Unknown:
    if isinstance(rows, Unknown):
        return rows
    if not rows:
        return Unknown("ip6addrctl printed no policy row")
    return AddressPolicy(tuple((p.prefix, p.precedence) for p in rows), f"ip6addrctl: the kernel's policy table "
                                                                        f"({len(rows)} prefixes)")


def services(order: list | Unknown, nwi) -> dict:
    """Network services by device, and the primary one (scutil --nwi's first interface): what the
    advice names (networksetup takes a service or a hardware port, not a device)."""
    by_device = {} if isinstance(order, Unknown) else {
        e.device: {"service": e.name, "hardware_port": e.hardware_port} for e in order if e.device}
    primary = None if isinstance(nwi, Unknown) else (nwi.primary(4) or nwi.primary(6))
    return {"primary_device": primary, "primary_service": by_device.get(primary, {}).get("service"),
            "by_device": by_device}
