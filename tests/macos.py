"""Macs assembled from the real captures in ../shared/fixtures/macos (provenance in its INDEX.md),
for replaying the macOS backend end to end on Linux.

A Mac is a dict {argv tuple: stdout text (or an exception class: the command is missing)} plus
the files and kernel calls the backend asks for; `bundle()` writes it as a support bundle
(meta.json with system "darwin", entries.json keyed as RecordingSource keys them), `FakeMac` plays
it as a live Source whose `sysctl -w` changes its state (for --apply / --revert).

The clean Mac is the macOS 10.14.6 machine of kellyjonbrazil/jc's fixtures (sysctl -a, ifconfig,
netstat -rnl, uptime: the same machine, 192.168.1.72 on en0, Apple's utun0-utun4). Its resolvers
(scutil-dns__4), services (networksetup-listnetworkserviceorder__1, scutil-nwi__1) and sockets
(netstat-anv-p-tcp__1, whose `-v` columns the parser reads by the header) come from other Macs.
What no capture has is constructed from the documented format and says so where it is built.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

from conftest import fixture_text

from netwarden.platform.source import CommandResult, Source

SYSCTL, NETSTAT = "/usr/sbin/sysctl", "/usr/sbin/netstat"
TREES = (SYSCTL, "net.inet.ip.portrange", "net.inet.tcp", "kern.boottime")
DETECT = (SYSCTL, "kern.osrelease", "kern.osproductversion")
BOOT = 1592836479.918881  # kern.boottime of sysctl-a__1
DAY = 86400
PLIST = "/Library/LaunchDaemons/com.netwarden.sysctl.plist"
# Constructed (no capture has one: ip6addrctl is gone from macOS 26): KAME's `ip6addrctl show`
# layout with XNU's default policy table (in6_src.c).
IP6ADDRCTL = """Prefix                          Prec Label      Use
::1/128                           50     0        0
::/0                              40     1     2713
::ffff:0.0.0.0/96                 35     4     9120
2002::/16                         30     2        0
2001::/32                          5     5        0
fc00::/7                           3    13        0
::/96                              1     3        0
fec0::/10                          1    11        0
3ffe::/16                          1    12        0
"""


def mac(name: str) -> str:
    return fixture_text(f"macos/{name}")


def sysctl_answer(dump: str, names) -> str:
    """What `sysctl <names>` prints on the Mac whose `sysctl -a` is `dump`: each name's line, or
    its subtree's lines (sysctl's own rule)."""
    lines = [line for line in dump.splitlines()
             if any(line.startswith(f"{n}:") or line.startswith(f"{n}.") for n in names)]
    return "\n".join(lines) + "\n"


def clean_mac(uptime_days: float = 20 + 19.75 / 24) -> dict:
    """The clean 10.14.6 Mac, `uptime_days` after its boot (uptime__2 says 20 days, 19:45)."""
    dump = mac("sysctl-a__1.txt")
    return {
        "sysctl -a": dump,
        DETECT: sysctl_answer(dump, DETECT[1:]),
        TREES: sysctl_answer(dump, TREES[1:]),
        (NETSTAT, "-an", "-p", "tcp"): mac("netstat-anv-p-tcp__1.txt"),
        (NETSTAT, "-rn"): mac("netstat-rn__1.txt"),
        (NETSTAT, "-i", "-b", "-n"): mac("netstat-i__1.txt"),
        ("/sbin/ifconfig", "-a"): mac("ifconfig__2.txt"),
        ("/usr/sbin/scutil", "--dns"): mac("scutil-dns__4.txt"),
        ("/usr/sbin/scutil", "--nwi"): mac("scutil-nwi__1.txt"),
        ("/usr/sbin/networksetup", "-listnetworkserviceorder"): mac("networksetup-listnetworkserviceorder__1.txt"),
        ("/usr/sbin/ip6addrctl",): IP6ADDRCTL,
        ("/usr/bin/uptime",): mac("uptime__2.txt"),
        "now": BOOT + uptime_days * DAY,
        "euid": 0,
        "files": {},  # path -> text; any other path does not exist
    }


def with_sysctl(host: dict, drop: tuple[str, ...] = (), **values: str) -> dict:
    """The Mac with its `sysctl -a` lines changed (key with '__' for '.') or dropped."""
    keys = {k.replace("__", "."): v for k, v in values.items()}
    lines = []
    for line in host["sysctl -a"].splitlines():
        key = line.partition(":")[0]
        if any(line.startswith(f"{d}:") for d in drop):
            continue
        lines.append(f"{key}: {keys.pop(key)}" if key in keys else line)
    lines += [f"{k}: {v}" for k, v in keys.items()]
    dump = "\n".join(lines) + "\n"
    return {**host, "sysctl -a": dump, DETECT: sysctl_answer(dump, DETECT[1:]), TREES: sysctl_answer(dump, TREES[1:])}


def with_setting_reads(host: dict) -> dict:
    """The Mac answering `sysctl -n KEY` for every setting the daemon polls (darwin_facts.SETTINGS),
    from its `sysctl -a`."""
    from netwarden.platform.darwin_facts import SETTINGS

    values = _dump_values(host["sysctl -a"])
    reads = {(SYSCTL, "-n", key): f"{values[key]}\n" for keys in SETTINGS.values() for key in keys if key in values}
    return {**host, **reads}


def stale_vpn_mac() -> dict:
    """The clean Mac after a WireGuard VPN left utun6 behind: the VPN services are Disconnected
    (scutil-nc-list__2, a real capture), yet utun6 keeps an address and the default route.
    Constructed from captures: utun6 is the Tailscale block of ifconfig__5 renamed; the routes are
    netstat-rn__5 (a real WireGuard full tunnel, on utun3) with utun3 renamed utun6; the lsof row
    follows lsof-p__1's layout: WireGuard's network extension (`com.wireg`, lsof's 9 characters)
    still holds the utun_control socket of unit 7, which is utun6."""
    host = clean_mac()
    utun6 = mac("ifconfig__5.txt").replace("utun4", "utun6")
    host[("/sbin/ifconfig", "-a")] = mac("ifconfig__2.txt") + utun6
    host[(NETSTAT, "-rn")] = mac("netstat-rn__5.txt").replace("utun3", "utun6")
    host[("/usr/sbin/scutil", "--nc", "list")] = mac("scutil-nc-list__2.txt")
    host[("/usr/sbin/lsof", "-nP")] = (
        "COMMAND     PID USER   FD      TYPE             DEVICE SIZE/OFF                NODE NAME\n"
        "com.wireg   612 root    7u    systm 0x4715bfb02f5e8bd7      0t0                     "
        "[ctl com.apple.net.utun_control id 7 unit 7]\n")
    return host


def _answers(host: dict):
    for key, value in host.items():
        if isinstance(key, tuple):
            yield list(key), value


def entries(host: dict) -> list[dict]:
    """The Mac as support-bundle entries; a list of outputs answers the same command asked again,
    in order (the second TIME_WAIT sample)."""
    found = []
    for argv, value in _answers(host):
        for one in value if isinstance(value, list) else [value]:
            found.append(_entry(json.dumps(argv), one))
    return found + _calls_and_files(host)


def _entry(key: str, value) -> dict:
    if isinstance(value, type) and issubclass(value, OSError):
        return {"op": "run", "key": key, "error": {"errno": errno.ENOENT, "strerror": "No such file"}}
    if isinstance(value, CommandResult):
        return {"op": "run", "key": key, "result": value.__dict__}
    return {"op": "run", "key": key, "result": {"returncode": 0, "stdout": value, "stderr": ""}}


def _calls_and_files(host: dict) -> list[dict]:
    found = [{"op": "call", "key": json.dumps(["clock.now"]), "result": host["now"]},
             {"op": "call", "key": json.dumps(["os.geteuid"]), "result": host["euid"]}, *host.get("calls", ())]
    for path in (PLIST, "/etc/sysctl.conf"):
        if path in host["files"]:
            found.append({"op": "read", "key": path, "result": host["files"][path]})
        else:
            found.append({"op": "read", "key": path, "error": {"errno": errno.ENOENT, "strerror": "No such file"}})
    return found


def bundle(directory: Path, host: dict, settings=None) -> Path:
    """The Mac as a support bundle, carrying `settings` (the defaults) as a recording would."""
    from netwarden.config import Settings
    from netwarden.platform import bundle as bundles

    directory.parent.mkdir(parents=True, exist_ok=True)  # bundle.write makes DIR only, as --record does
    bundles.write(directory, entries(host), "darwin", [], settings or Settings())
    return directory


class FakeMac(Source):
    """A Mac as a live Source: commands answered from `host`, `sysctl -w` changing its sysctls
    (clamped to 1024-65535 for the port range, as XNU's RANGECHK does), `route -n delete/add`
    changing its routing table, files read from the real file system under `root` only. Every argv
    run is kept in `ran`. `fail`: argv prefixes that exit 1 (a refused write); `ignore`: sysctls
    whose `sysctl -w` exits 0 and changes nothing (a kernel that drops the write silently)."""

    system = "darwin"
    host: dict = {}
    root: Path = Path("/nonexistent")
    fail: tuple = ()
    ignore: tuple = ()
    ran: list = []
    sysctls: dict = {}

    def __init__(self):
        type(self).sysctls = type(self).sysctls or _dump_values(self.host["sysctl -a"])

    def run(self, argv, timeout=10.0):
        self.ran.append(list(argv))
        if any(list(argv[:len(f)]) == list(f) for f in self.fail):
            return CommandResult(1, "", f"{argv[0]}: refused\n")
        if argv[:2] == [SYSCTL, "-w"]:
            key, _, value = argv[2].partition("=")
            old = self.sysctls.get(key)
            if old is None:
                return CommandResult(1, "", f"sysctl: unknown oid '{key}'\n")
            if ".portrange." in key:
                value = str(min(max(int(value), 1024), 65535))
            if key not in self.ignore:
                self.sysctls[key] = value
            return CommandResult(0, f"{key}: {old} -> {value}\n", "")
        if argv[:2] == [SYSCTL, "-n"]:
            value = self.sysctls.get(argv[2])
            return CommandResult(0, f"{value}\n", "") if value is not None else CommandResult(1, "", "unknown oid\n")
        if argv[0] == SYSCTL:
            dump = "".join(f"{k}: {v}\n" for k, v in self.sysctls.items())
            return CommandResult(0, sysctl_answer(dump, argv[1:]), "")
        if argv[:3] == ["/sbin/route", "-n", "delete"] or argv[:3] == ["/sbin/route", "-n", "add"]:
            return self._route(argv)
        answer = self.host.get(tuple(argv))
        if answer is None or (isinstance(answer, type) and issubclass(answer, OSError)):
            raise FileNotFoundError(errno.ENOENT, f"{argv[0]}: not on this fake Mac")
        return answer if isinstance(answer, CommandResult) else CommandResult(0, answer, "")

    def _route(self, argv):
        """`route -n delete -inet default -interface utun6` takes the row off `netstat -rn`; add
        puts one back (in netstat's modern layout)."""
        table = self.host[(NETSTAT, "-rn")]
        dst, dev = argv[4], argv[-1]
        row = next((line for line in table.splitlines() if line.split()[:1] == [dst] and dev in line.split()[1:]), None)
        if argv[2] == "delete":
            if row is None:
                return CommandResult(1, "", "route: writing to routing socket: not in table\n")
            self.host[(NETSTAT, "-rn")] = table.replace(row + "\n", "")
        else:
            lines = table.splitlines()
            at = lines.index("Internet:") + 2
            lines.insert(at, f"{dst:<19}link#18            UCSg            {dev}")
            self.host[(NETSTAT, "-rn")] = "\n".join(lines) + "\n"
        return CommandResult(0, f"{argv[2]} net {dst}: gateway {dev}\n", "")

    def read(self, path):
        if not str(path).startswith(str(self.root)):
            raise FileNotFoundError(errno.ENOENT, "not on this fake Mac", path)
        return super().read(path)

    def exists(self, path):
        return str(path).startswith(str(self.root)) and super().exists(path)

    def call(self, name, fn, *args):
        if name == "clock.now":
            return self.host["now"]
        if name == "clock.sleep":
            self.ran.append(["sleep", *args])
            return None
        if name == "os.geteuid":
            return self.host["euid"]
        return fn(*args)


def _dump_values(dump: str) -> dict:
    values = {}
    for line in dump.splitlines():
        key, sep, value = line.partition(": ")
        if sep and "." in key:
            values[key] = value.strip()
    return values


def fake_mac(host: dict, root: Path, fail: tuple = (), ignore: tuple = ()) -> type[FakeMac]:
    """A FakeMac class for this host (class state: the CLI constructs its Source with no arguments)."""
    return type("Mac", (FakeMac,), {"host": host, "root": root, "fail": fail, "ignore": ignore, "ran": [],
                                    "sysctls": {}})
