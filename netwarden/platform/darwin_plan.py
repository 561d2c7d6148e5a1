"""macOS's answer to the checks' intents: `sysctl -w` changes made persistent by ONE LaunchDaemon
plist that netwarden writes (launchd runs its `/usr/sbin/sysctl -w key=value ...` at boot:
/etc/sysctl.conf is not reliably applied on current macOS), route deletions, and advice in
networksetup's words where macOS must not be changed automatically (IPv6 off per service, DNS
servers, MTU). Pure: the changes are data; DarwinBackend carries them out.

Journal entries of the changes (journal.json; `original` is what DarwinBackend.snapshot read):
  {"kind": "sysctl", "target": "net.inet.ip.portrange.first", "original": "60000",
   "written": "49152", "check": "ports.range", "state": "applied", "time": ...}
  {"kind": "file", "target": "/Library/LaunchDaemons/com.netwarden.sysctl.plist",
   "original": {"exists": false, "content_b64": "", "mode": 420, "uid": 0, "gid": 0}, ...}
     (revert removes the plist; had one existed, its bytes, mode and owner come back)
  {"kind": "route-del", "target": "default dev utun6 metric 0",
   "original": {"route": {"family": 4, "dst": "default", "dev": "utun6", "gateway": null,
                          "metric": 0}, "present": true}, ...}   (revert: `route -n add`)
"""

from __future__ import annotations

import json
import re

from netwarden.config import Settings
from netwarden.model import Change, Facts, Finding, Intent, Route, Unknown, to_jsonable
from netwarden.platform.darwin_facts import BLACKHOLE, FIRST, KEEPALIVE, LAST, PORT_LIMITS
from netwarden.platform.parse.netfs import is_ip_address
from netwarden.platform.source import file_bytes

LABEL = "com.netwarden.sysctl"
SYSCTL_PLIST = f"/Library/LaunchDaemons/{LABEL}.plist"
SYSCTL, ROUTE = "/usr/sbin/sysctl", "/sbin/route"
_IFNAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,14}")  # IFNAMSIZ 16 with the NUL; never a leading '-'
_KEY = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+){1,8}")


def valid_key(key: object) -> bool:
    """A sysctl name netwarden may put in argv: dotted lower-case words, never an option."""
    return isinstance(key, str) and len(key) <= 128 and _KEY.fullmatch(key) is not None


def valid_value(key: str, value: object) -> bool:
    """The values netwarden writes: plain integers; a port range bound within XNU's 1024-65535."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 10:
        return False
    if key in (FIRST, LAST):
        return PORT_LIMITS[0] <= int(value) <= PORT_LIMITS[1]
    return True


# ---- the LaunchDaemon that applies netwarden's sysctls at boot -------------------------------------

def plist_text(assignments: dict[str, str]) -> str:
    """netwarden's job: at load (boot), `sysctl -w` every key it keeps."""
    import plistlib

    job = {"Label": LABEL, "ProgramArguments": [SYSCTL, "-w", *(f"{k}={v}" for k, v in assignments.items())],
           "RunAtLoad": True}
    return plistlib.dumps(job, sort_keys=False).decode()


def boot_assignments(text: str, path: str) -> dict[str, str] | Unknown:
    """The key=value arguments of netwarden's plist, in order; Unknown for a file it did not write."""
    import plistlib
    from xml.parsers.expat import ExpatError

    try:
        job = plistlib.loads(file_bytes(text))
    except (ValueError, TypeError, OverflowError, ExpatError, RecursionError) as e:
        return Unknown(f"{path} is not a property list netwarden can read ({type(e).__name__})")
    args = job.get("ProgramArguments") if isinstance(job, dict) else None
    if not isinstance(args, list) or args[:2] != [SYSCTL, "-w"] or not all(isinstance(a, str) for a in args):
        return Unknown(f"{path} is not the job netwarden writes (ProgramArguments /usr/sbin/sysctl -w ...)")
    pairs = [a.partition("=") for a in args[2:]]
    if not all(sep and valid_key(k) and valid_value(k, v) for k, sep, v in pairs):
        return Unknown(f"{path}: arguments netwarden did not write")
    return {k: v for k, _, v in pairs}


# ---- routes ---------------------------------------------------------------------------------------

def route_argv(verb: str, route: Route) -> list[str]:
    """`route -n delete|add` for one route, every part validated (ValueError otherwise): wg-quick's
    form, `-interface` for a route on the link, the gateway address otherwise."""
    if verb not in ("delete", "add") or route.family not in (4, 6):
        raise ValueError(f"not a route operation: {verb} family {route.family}")
    if not isinstance(route.dev, str) or not _IFNAME.fullmatch(route.dev):
        raise ValueError(f"not an interface name: {route.dev!r}")
    argv = [ROUTE, "-n", verb, "-inet6" if route.family == 6 else "-inet"]
    if route.dst == "default":
        argv.append("default")
    else:
        address, _, plen = str(route.dst).partition("/")
        width = 128 if route.family == 6 else 32
        if not is_ip_address(address) or (":" in address) != (route.family == 6) or not plen.isdigit() \
                or int(plen) > width:
            raise ValueError(f"not a destination: {route.dst!r}")
        argv += ["-host", address] if int(plen) == width else ["-net", f"{address}/{int(plen)}"]
    if route.gateway:
        if not is_ip_address(route.gateway):
            raise ValueError(f"not a gateway address: {route.gateway!r}")
        return argv + [route.gateway]
    return argv + ["-interface", route.dev]


def command_text(argv: list[str]) -> str:
    return " ".join([argv[0].rsplit("/", 1)[-1], *argv[1:]])


# ---- intents -------------------------------------------------------------------------------------

def realize(finding: Finding, facts: Facts, settings: Settings) -> Finding:
    """The finding with its intents turned into macOS changes and advice."""
    from netwarden.platform.intents import realize as with_planners

    return with_planners(_PLANNERS, finding, facts, settings)


def _sysctl(check: str, key: str, current, new: str, summary: str) -> Change:
    return Change(check, "sysctl", key, current if isinstance(current, str) else None, new, persist=True,
                  summary=summary)


def _range(check, low, high, facts, summary):
    if not all(isinstance(v, int) and PORT_LIMITS[0] <= v <= PORT_LIMITS[1] for v in (low, high)):
        return [], [f"{low}-{high} is outside what macOS accepts ({PORT_LIMITS[0]}-{PORT_LIMITS[1]}): not changed"]
    return [_sysctl(check, FIRST, facts.sysctls.get(FIRST), str(low), summary),
            _sysctl(check, LAST, facts.sysctls.get(LAST), str(high), summary)], []


def _widen(check, intent: Intent, facts, settings):
    return _range(check, intent.params["low"], intent.params["high"], facts, "widen the ephemeral port range")


def _persist(check, intent: Intent, facts, settings):
    return _range(check, intent.params["low"], intent.params["high"], facts,
                  "keep the range that is in force across reboots")


def _managed(check, intent: Intent, facts, settings):
    return [], [f"{intent.params['by']} manages this range: change it there."]


def _set_sysctl(check, intent: Intent, facts, settings):
    p = intent.params
    if not valid_key(p["key"]) or not valid_value(p["key"], p["new"]):
        return [], [f"sudo sysctl -w {p['key']}={p['new']} ({p['summary']})"]
    return [_sysctl(check, p["key"], p["current"], p["new"], p["summary"])], []


def _service(facts: Facts) -> tuple[str, list[str]]:
    """The primary network service's name for networksetup, or a placeholder and how to find it."""
    name = (facts.host.get("services") or {}).get("primary_service")
    if name:
        return name, []
    return "<service>", ["`networksetup -listnetworkserviceorder` lists the network services; the first "
                         "connected one carries your traffic."]


def _prefer_ipv4(check, intent: Intent, facts, settings):
    service, how = _service(facts)
    return [], [f'networksetup -setv6off "{service}" stops IPv6 on that network service. It is blunt (every IPv6 '
                f'destination, not only the broken path), so netwarden never does it; undo it with '
                f'networksetup -setv6automatic "{service}".'] + how


def _reorder_resolvers(check, intent: Intent, facts, settings):
    service, how = _service(facts)
    live, dead = list(intent.params["live"]), list(intent.params["dead"])
    servers = live + [s for s in settings.dns_fallback if s not in live]
    vpn = "A VPN's own (scoped) resolvers come from its client: fix them there."
    if not servers:
        return [], [f"No nameserver answers and no dns_fallback is configured: set working ones with "
                    f'networksetup -setdnsservers "{service}" <servers>.', vpn] + how
    return [], [f'networksetup -setdnsservers "{service}" {" ".join(servers)} puts the answering nameservers first'
                + (f" and drops {', '.join(dead)}" if dead else "")
                + f' (networksetup -setdnsservers "{service}" Empty goes back to the ones DHCP gives).', vpn] + how


def _repair_resolver_file(check, intent: Intent, facts, settings):
    return [], ["configd writes /etc/resolv.conf from the network services' DNS settings: check them with "
                "`scutil --dns` and `networksetup -getdnsservers <service>`."]


def _enable_pmtu_probing(check, intent: Intent, facts, settings):
    return [_sysctl(check, BLACKHOLE, facts.sysctls.get(BLACKHOLE), "1",
                    "let TCP find a smaller segment size when full-size ones vanish")], []


def _lower_mtu(check, intent: Intent, facts, settings):
    dev, mtu = intent.params["dev"], intent.params["mtu"]
    port = ((facts.host.get("services") or {}).get("by_device", {}).get(dev) or {}).get("hardware_port")
    icmp = "or let ICMP 'fragmentation needed' / 'packet too big' through the VPN or firewall"
    if port:
        return [], [f'networksetup -setMTU "{port}" {mtu} lowers the MTU of {dev} so full-size segments fit, {icmp}.']
    return [], [f"{dev or 'The egress interface'} has no hardware port networksetup knows (a VPN's utun): set the "
                f"MTU in the VPN client (or `sudo ifconfig {dev or '<dev>'} mtu {mtu}` until the tunnel is "
                f"recreated), {icmp}."]


def _shorten_keepalive(check, intent: Intent, facts, settings):
    idle = intent.params["idle"]
    return [], [f"sudo sysctl -w {KEEPALIVE[0]}={idle * 1000} (milliseconds) sends the first keepalive after {idle} s; "
                "it is lost at reboot. It acts only on sockets that set SO_KEEPALIVE "
                f"(or on every socket with {KEEPALIVE[3]}=1)."]


def _limit_retries(check, intent: Intent, facts, settings):
    return [], ["macOS has no system-wide retransmission limit: a client bounds it per socket "
                "(TCP_RXT_CONNDROPTIME, TCP_CONNECTIONTIMEOUT)."]


def _delete_routes(check, intent: Intent, facts, settings):
    changes, commands = [], []
    for r in intent.params["routes"]:
        try:
            command = command_text(route_argv("delete", r))
        except ValueError as e:
            commands.append(f"cannot name the command that deletes {r.describe()}: {e}")
            continue
        commands.append(command)
        changes.append(Change(check, "route-del", r.describe(), json.dumps(to_jsonable(r)), "",
                              summary=f"through the dead tunnel {r.dev}: {command}"))
    if not intent.params["apply"]:
        return [], commands + ["Or set tunnels_remove_stale_routes = true to let `netwarden --apply` delete them "
                               "(journaled; --revert adds them back)."]
    return changes, commands


_PLANNERS = {
    "widen-port-range": _widen, "persist-port-range": _persist, "port-range-managed": _managed,
    "set-sysctl": _set_sysctl, "prefer-ipv4": _prefer_ipv4, "reorder-resolvers": _reorder_resolvers,
    "repair-resolver-file": _repair_resolver_file, "enable-pmtu-probing": _enable_pmtu_probing,
    "lower-mtu": _lower_mtu, "shorten-keepalive": _shorten_keepalive, "limit-retries": _limit_retries,
    "delete-routes": _delete_routes,
}
