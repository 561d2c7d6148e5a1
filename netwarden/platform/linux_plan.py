"""Linux's answer to the checks' intents: sysctl writes made persistent by netwarden's drop-in,
whole-file writes (gai.conf, resolv.conf, a systemd-resolved drop-in), route deletions, and the
advice where Linux must not act (a file another program owns, WSL's own range). Pure: the
changes are data; LinuxBackend carries them out.
"""

from __future__ import annotations

import json

from netwarden.config import Settings
from netwarden.model import Change, Facts, Finding, Intent, to_jsonable
from netwarden.platform.linux_types import GaiConf, ResolvConf
from netwarden.platform.linux_facts import KEEPALIVE, PROBING, RANGE

RESOLVED_DROPIN = "60-netwarden.conf"
WSL_ADVICE = (
    "Do not widen the range in WSL2 mirrored mode: WSL writes it from a Windows port reservation "
    "and a wider range makes all localhost TCP hang until `wsl --shutdown`.",
    "Instead: set net.ipv4.tcp_tw_reuse = 1, update WSL (`wsl --update` in Windows, then `wsl --shutdown`: "
    "newer builds reserve 4,096 ports, not 300), or switch to NAT mode (networkingMode=nat in "
    "%UserProfile%\\.wslconfig).",
)
MANAGER_ADVICE = {
    "NetworkManager": "NetworkManager writes this file: set the servers on the connection "
                      "(nmcli connection modify <name> ipv4.dns \"<servers>\" ipv4.ignore-auto-dns yes).",
    "resolvconf": "resolvconf writes this file: fix the interface's DNS in its network configuration.",
    "wsl": "WSL writes this file at start: set generateResolvConf = false under [network] in /etc/wsl.conf, "
           "then write your own, or enable dnsTunneling in .wslconfig.",
    "systemd-resolved": "systemd-resolved serves this file: `resolvectl status` shows the upstream servers; "
                        "restart it with `systemctl restart systemd-resolved` after a change.",
}


def realize(finding: Finding, facts: Facts, settings: Settings) -> Finding:
    """The finding with its intents turned into Linux changes and advice."""
    from netwarden.platform.intents import realize as with_planners

    return with_planners(_PLANNERS, finding, facts, settings)


def _sysctl(check: str, key: str, current: str, new: str, summary: str) -> Change:
    return Change(check, "sysctl", key, current, new, persist=True, summary=summary)


def _widen(check, intent: Intent, facts, settings):
    p = intent.params
    if p.get("layer", "this host") != "this host":  # WSL2 NAT: the Windows host's range, which needs Windows
        from netwarden.platform.windows_plan import host_advice

        return [], host_advice(p["low"], p["high"], facts.host_port_range)
    current = " ".join(facts.sysctls[RANGE].split())
    return [_sysctl(check, RANGE, current, f"{p['low']} {p['high']}", "widen the ephemeral port range")], []


def _persist(check, intent: Intent, facts, settings):
    p = intent.params
    if p["beats_mine"]:
        return [], [f"Edit {p['where']}: it is applied after netwarden's drop-in and wins at boot."]
    value = f"{p['low']} {p['high']}"
    return [_sysctl(check, RANGE, value, value, "keep the range that is in force across reboots")], []


def _managed(check, intent: Intent, facts, settings):
    return [], list(WSL_ADVICE)


def _set_sysctl(check, intent: Intent, facts, settings):
    p = intent.params
    return [_sysctl(check, p["key"], p["current"], p["new"], p["summary"])], []


def _prefer_ipv4(check, intent: Intent, facts, settings):
    from netwarden.platform.parse.gai_conf import with_ipv4_first

    gai = facts.gai
    if not isinstance(gai, GaiConf):
        return [], []
    return [Change(check, "file", gai.path, None, with_ipv4_first(gai.text),
                   summary="prefer IPv4 in getaddrinfo (precedence ::ffff:0:0/96 100)")], []


def _reorder_resolvers(check, intent: Intent, facts, settings):
    from netwarden.platform.parse.resolv_conf import reordered, servers_first

    resolv, live, dead = facts.resolv, intent.params["live"], intent.params["dead"]
    if not isinstance(resolv, ResolvConf):
        return [], []
    fallback = list(settings.dns_fallback)
    if resolv.manager == "static":
        if not live and not fallback:
            return [], ["No nameserver answers and no dns_fallback is configured: nothing to reorder."]
        new = reordered(resolv.text, live, dead, fallback)
        return [Change(check, "file", resolv.path, None, new, summary=f"live nameservers first "
                       f"({', '.join(servers_first(live, dead, fallback)) or 'none'}), dead ones commented out")], []
    if resolv.manager == "systemd-resolved" and fallback:
        dropin = settings.resolved_conf_dir / RESOLVED_DROPIN
        text = ("# Written by netwarden (dns.resolvers). `netwarden --revert` removes it.\n"
                f"[Resolve]\nDNS={' '.join(fallback)}\n")
        return [Change(check, "file", str(dropin), None, text, summary=f"systemd-resolved upstream {' '.join(fallback)}")], [
            "Then `systemctl restart systemd-resolved` (netwarden does not restart services)."]
    return [], [MANAGER_ADVICE.get(resolv.manager, "A program manages this file: fix its source.")]


def _repair_resolver_file(check, intent: Intent, facts, settings):
    resolv = facts.resolv
    if not isinstance(resolv, ResolvConf):
        return [], []
    return [], [MANAGER_ADVICE.get(resolv.manager) or
                f"Point {resolv.path} at a real file, or start the service that writes {resolv.symlink_target}."]


def _enable_pmtu_probing(check, intent: Intent, facts, settings):
    return [_sysctl(check, PROBING, facts.sysctls[PROBING], "1",
                    "let TCP find a smaller segment size when full-size ones vanish")], []


def _lower_mtu(check, intent: Intent, facts, settings):
    dev = intent.params["dev"] or "<dev>"
    return [], [f"Lower the MTU of {intent.params['dev'] or 'the egress interface'} so full-size segments fit "
                f"(ip link set dev {dev} mtu {intent.params['mtu']}), or let ICMP 'fragmentation needed' / "
                "'packet too big' through the VPN or firewall."]


def _shorten_keepalive(check, intent: Intent, facts, settings):
    p = intent.params
    if not p.get("enforce", True):
        return [], [f"sysctl -w {KEEPALIVE[0]}={p['idle']}; or set policy.\"keepalive.idle\" = \"enforce\" to let "
                    "netwarden change it (journaled; --revert puts it back)."]
    return [_sysctl(check, KEEPALIVE[0], str(p["current"]), str(p["idle"]),
                    "send keepalives before middleboxes forget idle connections")], []


def _limit_retries(check, intent: Intent, facts, settings):
    p = intent.params
    if not p.get("enforce", True):
        return [], [f"sysctl -w {KEEPALIVE[3]}={p['retries']}; or set policy.\"keepalive.idle\" = \"enforce\" to let "
                    "netwarden change it (journaled; --revert puts it back)."]
    return [_sysctl(check, KEEPALIVE[3], str(p["current"]), str(p["retries"]), "give up on dead connections sooner")], []


def _delete_routes(check, intent: Intent, facts, settings):
    routes = intent.params["routes"]
    commands = [f"ip {'-6 ' if r.family == 6 else ''}route del {r.dst} dev {r.dev}" for r in routes]
    if not intent.params["apply"]:
        return [], commands + ["Or set tunnels_remove_stale_routes = true to let `netwarden --apply` delete them "
                               "(journaled; --revert adds them back)."]
    return [Change(check, "route-del", r.describe(), json.dumps(to_jsonable(r)), "",
                   summary=f"through the dead tunnel {r.dev}") for r in routes], commands


_PLANNERS = {
    "widen-port-range": _widen, "persist-port-range": _persist, "port-range-managed": _managed,
    "set-sysctl": _set_sysctl, "prefer-ipv4": _prefer_ipv4, "reorder-resolvers": _reorder_resolvers,
    "repair-resolver-file": _repair_resolver_file, "enable-pmtu-probing": _enable_pmtu_probing,
    "lower-mtu": _lower_mtu, "shorten-keepalive": _shorten_keepalive, "limit-retries": _limit_retries,
    "delete-routes": _delete_routes,
}
