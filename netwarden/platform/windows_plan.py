"""Windows' answer to the checks' intents: netsh changes where netsh makes a persistent, journaled,
revertible change (the dynamic port ranges, the ::ffff:0:0/96 prefix policy), and the exact
commands as advice everywhere else (registry values that need a reboot, interface MTUs, DNS
servers, routes) and for a Windows host seen from inside WSL2, which cannot elevate there.

Pure: the changes are data; WindowsBackend carries them out. The dynamic-port change is one
Change per setting (ipv4 tcp, ipv4 udp, ipv6 tcp, ipv6 udp): Windows keeps them apart, each has its
own original to journal and to put back, and a failure rolls back exactly what this run changed.
"""

from __future__ import annotations

from netwarden.model import Change, Facts, Finding, Intent, PortRange, Resolvers
from netwarden.platform.parse.rfc6724 import V4_MAPPED
from netwarden.platform.windows_commands import TCPIP_PARAMETERS

DYNAMIC = "netsh-dynamicport"
PREFIX_POLICY = "netsh-prefixpolicy"
SETTINGS = ("ipv4 tcp", "ipv4 udp", "ipv6 tcp", "ipv6 udp")  # netsh's dynamic port ranges
MIN_START, MIN_PORTS = 1025, 255  # what `netsh … set dynamicport` accepts (KB 929851)
DEFAULT_NUM = (49152, 16384)  # Windows' default range as start, num
PREFER_IPV4 = (100, 4)  # precedence, label for ::ffff:0:0/96 (DOMAIN.md §2; never DisabledComponents=0xFF)
ELEVATED = "In an elevated prompt (Run as administrator)"
REBOOT = "then restart Windows (TCP/IP reads it at start)"


def dynamic_command(setting: str, start: int, num: int) -> str:
    family, protocol = setting.split()
    return f"netsh interface {family} set dynamicport {protocol} start={start} num={num}"


def dynamic_argv(setting: str, start: int, num: int) -> list[str]:
    """netsh's arguments (after netsh.exe) to set one dynamic range; ValueError for a value netsh
    would refuse or a setting that is not one of SETTINGS."""
    problem = dynamic_problem(setting, start, num)
    if problem:
        raise ValueError(problem)
    family, protocol = setting.split()
    return ["interface", family, "set", "dynamicport", protocol, f"start={start}", f"num={num}"]


def dynamic_problem(setting: str, start, num) -> str | None:
    if setting not in SETTINGS:
        return f"not a dynamic port range: {setting[:40]!r}"
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, num)):
        return "start and num must be numbers"
    if start < MIN_START:
        return f"netsh sets a start port of {MIN_START} or more, and this range starts at {start}: set it by hand"
    if num < MIN_PORTS or start + num - 1 > 65535:
        return f"start={start} num={num} is not a range netsh accepts ({MIN_PORTS}+ ports ending by 65535)"
    return None


def policy_argv(verb: str, precedence: int | None = None, label: int | None = None) -> list[str]:
    """netsh's arguments to add, set or delete the ::ffff:0:0/96 row (the only one netwarden touches)."""
    if verb == "delete":
        return ["interface", "ipv6", "delete", "prefixpolicy", V4_MAPPED]
    if verb not in ("add", "set") or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 2 ** 31
                                              for v in (precedence, label)):
        raise ValueError(f"not a prefix policy change: {verb} {precedence} {label}")
    return ["interface", "ipv6", verb, "prefixpolicy", V4_MAPPED, str(precedence), str(label)]


def quoted_name(name: object) -> str | None:
    """An interface name as it can stand in quotes on a command line, or None: no quote, no
    control character, no % (cmd expands %VAR%), at most 256 characters."""
    if not isinstance(name, str) or not 0 < len(name) <= 256:
        return None
    if any(c in name for c in '"%') or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    return f'"{name}"'


def reg_add(name: str, value: int) -> str:
    return f"reg add {TCPIP_PARAMETERS} /v {name} /t REG_DWORD /d {int(value)} /f"


def realize(finding: Finding, facts: Facts, settings) -> Finding:
    """The finding with its intents turned into Windows changes and advice."""
    changes, advice = list(finding.changes), list(finding.advice)
    for intent in finding.intents:
        made, said = _PLANNERS.get(intent.action, _unknown)(finding.id, intent, facts, settings)
        changes += made
        advice += [a for a in said if a not in advice]
    if finding.id == "ports.range" and finding.severity.rank >= 2 and isinstance(facts.port_range, PortRange):
        advice += [a for a in exclusion_advice(facts.port_range) if a not in advice]
    return finding._replace(changes=tuple(changes), advice=tuple(advice))


def _unknown(check, intent: Intent, facts, settings):
    return [], [f"netwarden has no Windows counterpart for {intent.action!r}; this finding is advice only here."]


def _widen(check, intent: Intent, facts: Facts, settings):
    p = intent.params
    if p.get("layer", "this host") != "this host":
        return [], host_advice(p["low"], p["high"], facts.host_port_range)
    ranges = facts.host.get("dynamic_ports", {})
    changes, advice = [], []
    for setting in SETTINGS:
        current = ranges.get(setting)
        if not current:
            advice.append(f"The {setting} range was not read: check it with `netsh interface "
                          f"{setting.replace(' ', ' show dynamicport ')}` and widen it the same way.")
            continue
        start, num = current
        low, high = min(start, p["low"]), max(start + num - 1, p["high"])  # never narrower than today
        if (low, high) == (start, start + num - 1):
            continue
        if low < MIN_START:  # netsh refuses it, and a later start would narrow the range
            advice.append(f"The {setting} range starts at {low}, below the {MIN_START} netsh can set: netwarden does "
                          f"not change it. {ELEVATED}: {by_hand(setting, low, high)}")
            continue
        changes.append(Change(check, DYNAMIC, setting, f"start={start} num={num}", f"start={low} num={high - low + 1}",
                              summary=dynamic_command(setting, low, high - low + 1)))
    return changes, advice


def by_hand(setting: str, low: int, high: int) -> str:
    """The commands that widen a range starting below MIN_START, which netsh cannot keep."""
    return (f"`{dynamic_command(setting, MIN_START, high - MIN_START + 1)}` widens it to {high} (losing port {low}), "
            f"or `{dynamic_command(setting, *DEFAULT_NUM)}` moves it back to Windows' default and frees the ports "
            "below it for servers.")


def exclusion_advice(ports: PortRange) -> list[str]:
    """When Hyper-V / WinNAT reservations take a fifth or more of the range: how to get the ports
    back (they are re-reserved when WinNAT starts), and that NAT networking stops meanwhile."""
    width = ports.high - ports.low + 1
    system = sum(min(b.high, ports.high) - max(b.low, ports.low) + 1 for b in ports.excluded if not b.administered)
    if system * 5 < width:
        return []
    start = max(min(ports.low, 32768), MIN_START)
    return [f"Hyper-V / WinNAT hold {system} of the range's {width} ports ({system / width:.0%}). {ELEVATED}: "
            f"`net stop winnat`, widen the range below its start if needed (e.g. `netsh int ipv4 set dynamicport tcp "
            f"start={start} num={65536 - start}`, minding the ports your servers listen on), then `net start winnat`: "
            "WinNAT reserves its blocks anew. WSL2, Docker and Windows Sandbox lose NAT networking while it is stopped."]


def host_advice(low: int, high: int, ports: PortRange | None) -> list[str]:
    """For the Windows host under WSL2 (NAT mode): the exact elevated commands; netwarden inside
    WSL cannot elevate on Windows, so it changes nothing there."""
    command = f"`{dynamic_command('ipv4 tcp', low, high - low + 1)}`" if low >= MIN_START else by_hand("ipv4 tcp", low,
                                                                                                       high)
    lines = [f"Fix it on Windows (netwarden inside WSL cannot elevate there). {ELEVATED}, PowerShell or cmd: "
             f"{command.rstrip('.')} (the same for udp, and for ipv6 tcp and udp); netsh keeps it across reboots."]
    if ports is not None:
        lines += exclusion_advice(ports)
    return lines


def _persist(check, intent: Intent, facts, settings):
    return [], ["netsh's dynamic port ranges persist by themselves: nothing more to keep across reboots."]


def _managed(check, intent: Intent, facts, settings):
    return [], [f"{intent.params.get('by') or 'Another program'} sets this range: change it there."]


def _set_sysctl(check, intent: Intent, facts, settings):
    return [], [f"{intent.params.get('key')} is a Linux setting; Windows has no counterpart."]


def _prefer_ipv4(check, intent: Intent, facts: Facts, settings):
    rows = dict(facts.host.get("prefix_policies", {}))
    current = rows.get(V4_MAPPED)
    precedence, label = PREFER_IPV4
    verb = "set" if current else "add"
    return [Change(check, PREFIX_POLICY, V4_MAPPED, None if current is None else f"{current[0]} {current[1]}",
                   f"{precedence} {label}",
                   summary=f"netsh interface ipv6 {verb} prefixpolicy {V4_MAPPED} {precedence} {label}")], [
        "Never set DisabledComponents=0xFF to prefer IPv4: it disables IPv6 entirely and breaks WSL."]


def _reorder_resolvers(check, intent: Intent, facts: Facts, settings):
    live, dead = intent.params["live"], set(intent.params["dead"])
    resolvers = facts.resolvers
    if not isinstance(resolvers, Resolvers):
        return [], []
    fallback = list(settings.dns_fallback)
    lines = []
    for scope in resolvers.scoped:
        if not dead & set(scope.nameservers):
            continue
        servers = [s for s in scope.nameservers if s not in dead] + [s for s in fallback if s not in scope.nameservers]
        name = quoted_name(scope.scope)
        if name is None:
            lines.append(f"An adapter's name cannot be quoted safely ({scope.scope[:40]!r}): set its DNS servers "
                         "in Settings > Network.")
            continue
        if not servers:
            lines.append(f"No server of {scope.scope} answers and no dns_fallback is configured: give it working "
                         "DNS servers in its adapter settings.")
            continue
        listed = ",".join(f'"{s}"' for s in servers)
        lines.append(f"{ELEVATED}, PowerShell: `Set-DnsClientServerAddress -InterfaceAlias {name} "
                     f"-ServerAddresses ({listed})` (or `netsh interface ip set dnsservers name={name} static "
                     f"{servers[0]} primary validate=no`): live servers first, the dead ones left out.")
    if not lines and live:
        lines.append("A dead server is listed by DHCP or a VPN: fix it at its source, or set the adapter's servers "
                     "with Set-DnsClientServerAddress.")
    return [], lines


def _repair_resolver_file(check, intent: Intent, facts, settings):
    return [], ["Windows keeps its DNS servers per adapter: set them with Set-DnsClientServerAddress."]


def _enable_pmtu_probing(check, intent: Intent, facts, settings):
    return [], [f"{ELEVATED}: `{reg_add('EnablePMTUBHDetect', 1)}`, {REBOOT}: TCP then lowers its segment size "
                "when full-size segments vanish (black-hole detection)."]


def _lower_mtu(check, intent: Intent, facts, settings):
    dev, mtu = intent.params["dev"], intent.params["mtu"]
    name = quoted_name(dev) or '"<interface>"'
    return [], [f"Lower the MTU of {dev or 'the egress interface'} so full-size segments fit. {ELEVATED}: "
                f"`netsh interface ipv4 set subinterface {name} mtu={int(mtu)} store=persistent` (and ipv6), or let "
                "ICMP 'fragmentation needed' / 'packet too big' through the VPN or firewall."]


def _shorten_keepalive(check, intent: Intent, facts, settings):
    idle = int(intent.params["idle"])
    return [], [f"{ELEVATED}: `{reg_add('KeepAliveTime', idle * 1000)}` (milliseconds), {REBOOT}. It acts only on "
                "sockets that enable SO_KEEPALIVE."]


def _limit_retries(check, intent: Intent, facts, settings):
    return [], [f"{ELEVATED}: `{reg_add('TcpMaxDataRetransmissions', intent.params['retries'])}`, {REBOOT}."]


def _delete_routes(check, intent: Intent, facts, settings):
    lines = []
    for r in intent.params["routes"]:
        via = f" {r.gateway}" if r.gateway else ""
        if r.family == 6:
            lines.append(f"route delete {'::/0' if r.dst == 'default' else r.dst}{via}")
            continue
        network, length = ("0.0.0.0", 0) if r.dst == "default" else (r.dst.split("/")[0], int(r.dst.split("/")[1]))
        mask = ".".join(str((((1 << 32) - (1 << (32 - length))) >> s) & 255) for s in (24, 16, 8, 0))
        lines.append(f"route delete {network} mask {mask}{via}")
    note = ("netwarden does not delete routes on Windows: run these in an elevated prompt "
            "(the VPN client may put them back while it runs).")
    return [], [note] + lines if lines else []


_PLANNERS = {
    "widen-port-range": _widen, "persist-port-range": _persist, "port-range-managed": _managed,
    "set-sysctl": _set_sysctl, "prefer-ipv4": _prefer_ipv4, "reorder-resolvers": _reorder_resolvers,
    "repair-resolver-file": _repair_resolver_file, "enable-pmtu-probing": _enable_pmtu_probing,
    "lower-mtu": _lower_mtu, "shorten-keepalive": _shorten_keepalive, "limit-retries": _limit_retries,
    "delete-routes": _delete_routes,
}
