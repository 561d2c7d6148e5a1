"""Windows' sources for the neutral facts the checks read, and how each is derived from them.

Pure: each function takes what a command printed (or the Unknown that running it gave) and
returns a neutral fact, or Unknown saying why. Parsing is in parse/windows/ (numbers and
positions, never localized words); what is read here besides numbers are driver descriptions
(`Wintun Userspace Tunnel`, `TAP-Windows Adapter V9`), which Windows does not translate.
"""

from __future__ import annotations

from datetime import timezone

from netwarden.model import (AddressPolicy, Census, Destination, Ipv6State, Keepalive, Link, PmtuProbing, PortBlock,
                             PortRange, Resolvers, Route, ScopedResolvers, TimeWait, Unknown)

DEFAULT_RANGE = (49152, 65535)  # Windows Vista and later (KB 929851)
TIME_WAIT_DEFAULT, TIME_WAIT_BOUNDS = 120, (30, 300)  # TcpTimedWaitDelay, seconds
KEEPALIVE_TIME_MS, KEEPALIVE_INTERVAL_MS, KEEPALIVE_PROBES = 7_200_000, 1_000, 10  # probes: fixed since Vista
RETRIES_DEFAULT = 5  # TcpMaxDataRetransmissions
MIN_RTO, MAX_RTO = 0.3, 60.0  # seconds: Windows' minimum retransmission timeout, and its cap
WINDOW = 10  # nominal census window: Windows shows no socket ages (Census.ages is False)
EXHAUSTION_EVENTS = {4227: "a local port reused towards the same remote endpoint: TIME_WAIT pressure",
                     4231: "no TCP ephemeral port was free", 4266: "no UDP ephemeral port was free"}
RECENT = 24 * 3600  # an exhaustion event this recent makes ports.pressure a warning
NOT_MEASURED = "not measured on Windows (the A/B transfer reads the send queue with TIOCOUTQ, which Windows lacks)"
# Tunnel drivers by the words of their description (driver names are not translated).
TUNNEL_DRIVERS = (("wireguard", "wireguard"), ("wintun", "tun"), ("tailscale", "tun"), ("openvpn", "tun"),
                  ("tap-windows", "tap"), ("tap-", "tap"), ("isatap", "sit"), ("6to4", "sit"), ("teredo", "tun"),
                  ("ppp", "ppp"))
LOOPBACK_MTU = 4294967295  # what netsh prints for the loopback pseudo-interface


def _parsed(text: str | Unknown, parse, what: str):
    """A command's output through its parser; Unknown with the reason when it has none."""
    if isinstance(text, Unknown):
        return text
    parsed = parse(text)
    return Unknown(f"{what}: nothing readable in its output") if parsed is None else parsed


# ---- ports -------------------------------------------------------------------------------------

def dynamic_ports(text: str | Unknown, command: str):
    from netwarden.platform.parse.windows.netsh_ports import parse_dynamic_ports

    return _parsed(text, parse_dynamic_ports, f"`{command}`")


def _without_overlaps(blocks) -> list[PortBlock]:
    """Excluded blocks sorted, each cut to start after the one before (Hyper-V's and an admin's
    may overlap): a port is counted once."""
    found: list[PortBlock] = []
    for block in sorted(blocks):
        low = max(block.low, found[-1].high + 1) if found else block.low
        if low <= block.high:
            found.append(PortBlock(low, block.high, block.administered))
    return found


def port_range(tcp: str | Unknown, excluded: str | Unknown, others: dict[str, str | Unknown],
               layer: str = "this host", command: str = "netsh interface ipv4 show dynamicport tcp") -> PortRange | Unknown:
    """The IPv4 TCP dynamic range minus the excluded blocks inside it. `others` ("ipv4 udp" ->
    output ...) are read for evidence: Windows sets each protocol and family apart."""
    from netwarden.platform.parse.windows.netsh_ports import parse_excluded_port_ranges

    ports = dynamic_ports(tcp, command)
    if isinstance(ports, Unknown):
        return ports
    low, high = ports.start, ports.end
    setting = f"`{command}`: start {low}, {ports.count} ports ({low}-{high})"
    table = _parsed(excluded, parse_excluded_port_ranges, "`netsh interface ipv4 show excludedportrange protocol=tcp`")
    evidence, blocks = [], []
    if isinstance(table, Unknown):
        evidence.append(f"excluded port ranges unknown ({table.reason}): usable counts none")
    else:
        blocks = [b for b in _without_overlaps(PortBlock(r.start, r.end, r.administered) for r in table.ranges)
                  if b.low <= high and b.high >= low]
        inside = sum(min(b.high, high) - max(b.low, low) + 1 for b in blocks)
        system = [b for b in blocks if not b.administered]
        evidence.append(f"`netsh interface ipv4 show excludedportrange protocol=tcp`: {len(table.ranges)} blocks, "
                        f"{len(blocks)} inside the range taking {inside} of its {ports.count} ports "
                        f"({inside / ports.count:.0%}); {len(blocks) - len(system)} administered (*)")
        if system:
            evidence.append("the unmarked blocks are reserved by Hyper-V / WinNAT (WSL2, Docker, Windows Sandbox) "
                            "at boot and when those start; `net stop winnat` and `net start winnat` have them "
                            "reserved anew")
        evidence += list(table.problems[:3])
    for name, text in others.items():
        other = dynamic_ports(text, f"netsh interface {name.replace(' ', ' show dynamicport ')}")
        if isinstance(other, Unknown):
            evidence.append(f"{name}: unknown ({other.reason})")
        else:
            same = (other.start, other.end) == (low, high)
            evidence.append(f"{name}: {other.start}-{other.end} ({other.count} ports)"
                            + ("" if same else ", set apart from ipv4 tcp"))
    usable = ports.count - sum(min(b.high, high) - max(b.low, low) + 1 for b in blocks)
    return PortRange(low, high, max(usable, 0), DEFAULT_RANGE, setting, tuple(blocks), tuple(evidence),
                     layer=layer, shared_pool=True)


def registry(text: str | Unknown):
    from netwarden.platform.parse.windows.registry import parse_reg_query

    return _parsed(text, parse_reg_query, "`reg query ...\\Tcpip\\Parameters`")


def dword(reg, name: str) -> int | None:
    value = reg.values.get(name)
    return value.value if value is not None and isinstance(value.value, int) else None


def time_wait(reg, connections) -> TimeWait | Unknown:
    """TcpTimedWaitDelay (absent: 120 s); outside its documented 30-300 s, counted as the bound
    it passes and said so. The TIME_WAIT count from netstat (None when netstat is unknown)."""
    if isinstance(reg, Unknown):
        return reg
    value = dword(reg, "TcpTimedWaitDelay")
    seconds = TIME_WAIT_DEFAULT if value is None else min(max(value, TIME_WAIT_BOUNDS[0]), TIME_WAIT_BOUNDS[1])
    setting = ("TcpTimedWaitDelay absent from the registry: Windows' default 120 s" if value is None else
               f"TcpTimedWaitDelay = {value} s (registry)" + (
                   "" if value == seconds else f": outside the documented 30-300 s, counted as {seconds} s"))
    count = None if isinstance(connections, Unknown) else sum(_time_wait(c) for c in connections)
    return TimeWait(seconds, count, setting)


def _time_wait(connection) -> bool:
    """TIME_WAIT, from the state word when it is known, else from the PID: Windows shows closed
    connections' sockets (and only those, among sockets with a peer) under PID 0."""
    from netwarden.platform.parse.windows.netstat import is_outgoing

    if connection.state is not None:
        return connection.state == "TIME_WAIT"
    return connection.pid == 0 and is_outgoing(connection)


def connections(text: str | Unknown):
    from netwarden.platform.parse.windows.netstat import parse_netstat

    parsed = _parsed(text, parse_netstat, "`netstat -ano -p tcp`")
    return parsed if isinstance(parsed, Unknown) else parsed.connections


def census(rows, ports: PortRange | Unknown, events: str | Unknown, now: float | None, top: int = 20) -> Census | Unknown:
    """Sockets holding a port of the range, per destination (all states but LISTENING: netstat
    lists listeners with the peer 0.0.0.0:0, which is no destination), and the Tcpip events."""
    from netwarden.platform.parse.windows.netstat import is_outgoing

    if isinstance(rows, Unknown):
        return rows
    if isinstance(ports, Unknown):
        return Unknown(f"needs the port range: {ports.reason}")
    per: dict[tuple[str, int], list[int]] = {}
    for c in rows:
        if is_outgoing(c) and c.local_port is not None and ports.low <= c.local_port <= ports.high:
            counts = per.setdefault((c.remote_address, c.remote_port), [0, 0])
            counts[0] += 1
            counts[1] += _time_wait(c)
    destinations = sorted((Destination(a, p, n, tw) for (a, p), (n, tw) in per.items()), key=lambda d: -d.total)
    notes, exhausted = event_notes(events, now)
    return Census(WINDOW, sum(d.total for d in destinations), sum(d.time_wait for d in destinations),
                  tuple(destinations[:top]), ages=False, notes=tuple(notes), exhausted=exhausted)


def event_notes(text: str | Unknown, now: float | None) -> tuple[list[str], str]:
    """(evidence lines on the Tcpip port-exhaustion events, the line saying ports ran out within
    RECENT of `now` or "")."""
    from netwarden.platform.parse.windows.events import parse_events_xml

    if isinstance(text, Unknown):
        return [f"Tcpip port-exhaustion events unknown: {text.reason}"], ""
    parsed = parse_events_xml(text)
    if parsed is None:
        if text.strip():
            return ["Tcpip port-exhaustion events: wevtutil's answer holds no event"], ""
        return ["no Tcpip port-exhaustion event (4227, 4231, 4266) in the System log"], ""
    notes, exhausted = [], ""
    for event_id, meaning in EXHAUSTION_EVENTS.items():
        found = [e for e in parsed.events if e.event_id == event_id]
        times = [e.time_created for e in found if e.time_created is not None]
        if not found:
            continue
        newest = max(times) if times else None
        age = (now - newest.timestamp()) if newest is not None and now is not None else None
        when = (f"the newest at {newest.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC" if newest else "undated")
        if age is not None:
            when += f" ({_ago(age)})"
        line = f"Tcpip event {event_id} ({meaning}): {len(found)} of the last {len(parsed.events)} listed, {when}"
        notes.append(line)
        if age is not None and 0 <= age <= RECENT and not exhausted:
            exhausted = line
    notes += list(parsed.problems[:2])
    return notes, exhausted


def _ago(seconds: float) -> str:
    if seconds < 0:
        return "after the time this host was read"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}{'s' if unit == 'day' and seconds >= 2 * size else ''} ago"
    return "just before"


# ---- address selection, IPv6, resolvers ----------------------------------------------------------

def address_policy(text: str | Unknown) -> AddressPolicy | Unknown:
    from netwarden.platform.parse.rfc6724 import V4_MAPPED
    from netwarden.platform.parse.windows.netsh_interfaces import parse_prefix_policies

    command = "netsh interface ipv6 show prefixpolicies"
    rows = _parsed(text, parse_prefix_policies, f"`{command}`")
    if isinstance(rows, Unknown):
        return rows
    problems = []
    if not any(row.prefix == V4_MAPPED for row in rows):
        problems.append(f"the table has no {V4_MAPPED} row: IPv4 destinations take the precedence of the "
                        "longest prefix that matches them, often ::/0 or none")
    return AddressPolicy(tuple((row.prefix, row.precedence) for row in rows), f"`{command}`: {len(rows)} rows",
                         tuple(problems))


def ipconfig(text: str | Unknown):
    from netwarden.platform.parse.windows.ipconfig import parse_ipconfig

    return _parsed(text, parse_ipconfig, "`ipconfig /all`")


def _active(config) -> list:
    """The adapters whose media is connected (a disconnected one's servers are not used)."""
    return [a for a in config.adapters if not a.media_disconnected]


def resolvers(config) -> Resolvers | Unknown:
    """Per adapter, its real DNS servers (Windows' fec0:0:0:ffff::N placeholders mean none);
    adapters with a default gateway first. Windows' DNS client asks the first server of the
    preferred adapter and waits 1 s before asking further."""
    if isinstance(config, Unknown):
        return config
    adapters = sorted(_active(config), key=lambda a: not a.gateways)
    scoped = tuple(ScopedResolvers(a.name, a.real_dns_servers, (a.dns_suffix,) if a.dns_suffix else ())
                   for a in adapters if a.real_dns_servers)
    servers = tuple(dict.fromkeys(s for scope in scoped for s in scope.nameservers))
    placeholder_only = [a.name for a in adapters if a.only_placeholder_dns]
    problems = [f"{', '.join(placeholder_only[:4])}: only the fec0:0:0:ffff::N placeholders, no real resolver"] \
        if placeholder_only and not servers else []
    return Resolvers("`ipconfig /all`, per adapter", "windows", servers, 1.0, 1, False, tuple(problems),
                     scoped=scoped)


def ipv6(config, route_table) -> Ipv6State | Unknown:
    if isinstance(config, Unknown):
        return config
    addresses = [a.split("%", 1)[0] for adapter in _active(config) for a in adapter.ipv6]
    routable = [a for a in addresses if not a.lower().startswith("fe80")]
    ula = tuple(a for a in routable if a.lower()[:2] in ("fc", "fd"))
    default = isinstance(route_table, tuple) and any(r.family == 6 and r.dst == "default" for r in route_table)
    return Ipv6State(not addresses, tuple(a for a in routable if a not in ula), ula, 0, default)


# ---- links and routes ----------------------------------------------------------------------------

def link_kind(description: str | None, mtu: int) -> str:
    if mtu == LOOPBACK_MTU:
        return "loopback"
    text = (description or "").lower()
    return next((kind for word, kind in TUNNEL_DRIVERS if word in text), "ether")


def links(subinterfaces: str | Unknown, config) -> tuple[Link, ...] | Unknown:
    """netsh's IPv4 subinterfaces (MTU, media sense, bytes) with ipconfig's descriptions. A tunnel
    whose media is disconnected, or that has received nothing, has no carrier."""
    from netwarden.model import TUNNEL_KINDS
    from netwarden.platform.parse.windows.netsh_interfaces import parse_subinterfaces

    table = _parsed(subinterfaces, parse_subinterfaces, "`netsh interface ipv4 show subinterfaces`")
    if isinstance(table, Unknown):
        return table
    adapters = {} if isinstance(config, Unknown) else {a.name: a for a in config.adapters}
    found = []
    for row in table.interfaces:
        adapter = adapters.get(row.name)
        kind = link_kind(adapter.description if adapter else None, row.mtu)
        disconnected = row.media_sense_state == 2 or bool(adapter and adapter.media_disconnected)
        silent = kind in TUNNEL_KINDS and row.bytes_in == 0
        carrier = False if disconnected or silent else True if row.media_sense_state == 1 else None
        state = ("media disconnected" if disconnected else "nothing received" if silent else
                 "connected" if row.media_sense_state == 1 else f"media sense state {row.media_sense_state}")
        found.append(Link(row.name, kind, row.mtu, True, carrier, state))
    return tuple(found)


def routes(text: str | Unknown, config) -> tuple[Route, ...] | Unknown:
    """`route print`'s active routes, each named by its interface: an IPv4 route names the
    interface's address, an IPv6 route its index (both mapped through ipconfig's adapters).
    Multicast, broadcast and on-link host routes (the host's own addresses: Linux keeps those in
    its local table) are left out, as the main table has none."""
    from netwarden.platform.parse.windows.route import parse_route_print

    table = _parsed(text, parse_route_print, "`route print`")
    if isinstance(table, Unknown):
        return table
    adapters = [] if isinstance(config, Unknown) else list(config.adapters)
    by_address = {address.split("%", 1)[0]: a.name for a in adapters for address in a.ipv4 + a.ipv6}
    by_description = {a.description: a.name for a in adapters if a.description}
    by_index = {i.index: by_description.get(i.description, i.description) for i in table.interfaces}
    found = []
    for r in table.ipv4:
        if r.prefix_length is None or _not_main(r.destination, r.prefix_length, r.gateway, 4):
            continue
        dst = "default" if r.prefix_length == 0 else f"{r.destination}/{r.prefix_length}"
        dev = by_address.get(r.interface or "", r.interface or "?")
        found.append(Route(4, dst, dev, r.gateway, r.metric or 0))
    for r in table.ipv6:
        address = r.destination.split("/", 1)[0]
        if _not_main(address, r.prefix_length, r.gateway, 6):
            continue
        dst = "default" if r.prefix_length == 0 else r.destination
        found.append(Route(6, dst, by_index.get(r.interface_index, f"interface {r.interface_index}"), r.gateway,
                           r.metric))
    return tuple(found)


def _not_main(address: str, length: int, gateway: str | None, family: int) -> bool:
    if gateway is None and length == (32 if family == 4 else 128):
        return True
    if family == 6:
        return address.lower().startswith("ff")
    first = int(address.split(".", 1)[0])
    return 224 <= first <= 239 or address == "255.255.255.255"


# ---- TCP settings from the registry ------------------------------------------------------------

def pmtu(reg) -> PmtuProbing | Unknown:
    """EnablePMTUBHDetect: absent is 0, Windows' default, off."""
    if isinstance(reg, Unknown):
        return reg
    value = dword(reg, "EnablePMTUBHDetect")
    discovery = dword(reg, "EnablePMTUDiscovery")
    setting = ("EnablePMTUBHDetect absent from the registry: 0, Windows' default (off)" if value is None
               else f"EnablePMTUBHDetect = {value} (registry)")
    if discovery == 0:
        setting += "; EnablePMTUDiscovery = 0: path-MTU discovery itself is off (576-byte segments off-link)"
    return PmtuProbing(bool(value), setting)


def keepalive(reg) -> Keepalive | Unknown:
    """KeepAliveTime / KeepAliveInterval (milliseconds) and TcpMaxDataRetransmissions, each at
    Windows' default when absent; keepalive probes are fixed at 10."""
    from netwarden.checks.keepalive import retries_timeout

    if isinstance(reg, Unknown):
        return reg
    values = {name: dword(reg, name) for name in ("KeepAliveTime", "KeepAliveInterval", "TcpMaxDataRetransmissions")}
    idle_ms = values["KeepAliveTime"] or KEEPALIVE_TIME_MS
    interval_ms = values["KeepAliveInterval"] or KEEPALIVE_INTERVAL_MS
    retries = RETRIES_DEFAULT if values["TcpMaxDataRetransmissions"] is None else values["TcpMaxDataRetransmissions"]
    setting = ", ".join(f"{name} = {value}" if value is not None else f"{name} absent (default)"
                        for name, value in values.items())
    return Keepalive(max(idle_ms // 1000, 1), max(interval_ms // 1000, 1), KEEPALIVE_PROBES,
                     f"{setting}: keepalive after {idle_ms // 1000} s, every {interval_ms / 1000:g} s, "
                     f"{KEEPALIVE_PROBES} probes; {retries} retransmissions", retries,
                     retries_timeout(retries, MIN_RTO, MAX_RTO))


def version(text: str | Unknown) -> str:
    """`ver`'s dotted number (`Microsoft Windows [Version 10.0.19045.3570]`, localized words)."""
    import re

    if isinstance(text, Unknown):
        return ""
    found = re.search(r"(\d{1,3}\.\d{1,3}\.\d{1,6}(?:\.\d{1,6})?)", text)
    return found.group(1) if found else ""
