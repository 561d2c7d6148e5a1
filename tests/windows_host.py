"""Windows hosts for tests: support bundles assembled from the real captures in
../shared/fixtures/windows (each command's argv answered with a fixture's text), and a simulated
host whose netsh keeps state, for --apply / --revert.

Where no real capture exists (INDEX.md's last section) the answer is constructed from the vendor's
documented format and named CONSTRUCTED here: `reg query` (Microsoft's reg query format: key line,
values indented four spaces, `NAME    REG_TYPE    DATA`), Tcpip events 4231/4266 (the 4227
fixture's XML with the other EventIDs and times), `ver` (`Microsoft Windows [Version N]`)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import fixture_text

from netwarden.platform.source import CommandResult, NotRecorded, Source

SYSTEM32 = "C:\\Windows\\System32"
WSL32 = "/mnt/c/Windows/System32"
PARAMETERS = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"
EVENTS_QUERY = "*[System[Provider[@Name='Tcpip'] and (EventID=4227 or EventID=4231 or EventID=4266)]]"
NOW = 1_735_000_000.0  # 2024-12-24T00:26:40Z: the recorded clock of the hosts below


def argv(program: str, *args: str, system32: str = SYSTEM32) -> list[str]:
    separator = "/" if system32.startswith("/") else "\\"
    return [f"{system32}{separator}{program}", *args]


def netsh(*args: str, system32: str = SYSTEM32) -> list[str]:
    return argv("netsh.exe", "interface", *args, system32=system32)


# What the Windows backend asks, by a short name (the argv are the recorded contract: a changed
# command must change here too).
QUESTIONS = {
    "ver": argv("cmd.exe", "/d", "/c", "ver"),
    "ipv4 tcp": netsh("ipv4", "show", "dynamicport", "tcp"),
    "ipv4 udp": netsh("ipv4", "show", "dynamicport", "udp"),
    "ipv6 tcp": netsh("ipv6", "show", "dynamicport", "tcp"),
    "ipv6 udp": netsh("ipv6", "show", "dynamicport", "udp"),
    "excluded tcp": netsh("ipv4", "show", "excludedportrange", "protocol=tcp"),
    "prefixpolicies": netsh("ipv6", "show", "prefixpolicies"),
    "subinterfaces": netsh("ipv4", "show", "subinterfaces"),
    "reg": argv("reg.exe", "query", PARAMETERS),
    "netstat": argv("netstat.exe", "-ano", "-p", "tcp"),
    "ipconfig": argv("ipconfig.exe", "/all"),
    "route": argv("route.exe", "print"),
    "events": argv("wevtutil.exe", "qe", "System", f"/q:{EVENTS_QUERY}", "/f:xml", "/c:20", "/rd:true"),
}


def fx(name: str) -> str:
    return fixture_text(f"windows/{name}")


def reg_query(**values: int) -> str:
    """CONSTRUCTED `reg query HKLM\\...\\Tcpip\\Parameters` output: a stock key (no tuning values)
    plus `values` as REG_DWORDs in hex, as reg prints them, CRLF."""
    rows = [("NV Hostname", "REG_SZ", "DESKTOP-NW"), ("DataBasePath", "REG_EXPAND_SZ",
                                                       "%SystemRoot%\\System32\\drivers\\etc"),
            ("NameServer", "REG_SZ", ""), ("ForwardBroadcasts", "REG_DWORD", "0x0"),
            ("UseDomainNameDevolution", "REG_DWORD", "0x1"), ("EnableICMPRedirect", "REG_DWORD", "0x1"),
            ("DeadGWDetectDefault", "REG_DWORD", "0x1"), ("Hostname", "REG_SZ", "DESKTOP-NW")]
    rows += [(name, "REG_DWORD", hex(value)) for name, value in values.items()]
    key = "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"
    lines = ["", key] + [f"    {name}    {kind}    {data}" for name, kind, data in rows] + [""]
    lines += [f"{key}\\{sub}" for sub in ("Adapters", "DNSRegisteredAdapters", "Interfaces", "PersistentRoutes",
                                          "Winsock")]
    return "\r\n".join(lines) + "\r\n"


def event(event_id: int, when: str, record: int) -> str:
    """One Tcpip event as wevtutil /f:xml prints it: the real 4227 fixture's XML (completed:
    the paste stopped inside EventData), with this id, time and record number (CONSTRUCTED for
    4231 / 4266, which have no real capture)."""
    return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
            "<Provider Name='Tcpip'/><EventID Qualifiers='32768'>" f"{event_id}</EventID><Level>3</Level>"
            f"<Task>0</Task><Keywords>0x80000000000000</Keywords><TimeCreated SystemTime='{when}'/>"
            f"<EventRecordID>{record}</EventRecordID><Channel>System</Channel><Computer>DESKTOP-NW</Computer>"
            "<Security/></System><EventData><Data></Data></EventData></Event>")


def ver(number: str = "10.0.26200.8875", word: str = "Version") -> str:
    """CONSTRUCTED `ver` output (cmd's builtin): `Microsoft Windows [Version N]`, localized word."""
    return f"\r\nMicrosoft Windows [{word} {number}]\r\n"


def english_host() -> dict[str, str]:
    """A Windows 11 developer box, English: the TCP range moved to 1024-15000 (WSL issue 40984,
    UDP left at the default on the same host), Hyper-V blocks inside it (WSL issue 5306), a
    Tailscale adapter, netstat with TIME_WAIT rows, the default prefix policies, a recent 4231."""
    return {
        "ver": ver(), "ipv4 tcp": fx("netsh-ipv4-show-dynamicport-tcp__3.txt"),
        "ipv4 udp": fx("netsh-ipv4-show-dynamicport-udp__2.txt"),
        "ipv6 tcp": fx("netsh-ipv4-show-dynamicport-tcp__1.txt"),  # identical for all four (usbipd-win #53)
        "ipv6 udp": fx("netsh-ipv4-show-dynamicport-tcp__1.txt").replace("tcp", "udp"),
        "excluded tcp": fx("netsh-ipv4-show-excludedportrange-tcp__2.txt"),
        "prefixpolicies": fx("netsh-ipv6-show-prefixpolicies__1.txt"),
        "subinterfaces": fx("netsh-ipv4-show-subinterfaces__1.txt"),
        "reg": reg_query(), "netstat": fx("netstat-ano__2.txt"), "ipconfig": fx("ipconfig-all__3.txt"),
        "route": fx("route-print__1.txt"),
        "events": "\r\n".join([event(4231, "2024-12-23T22:05:10.611477100Z", 15020),
                               event(4227, "2019-01-16T02:01:10.611477100Z", 14996)]),
    }


def chinese_host() -> dict[str, str]:
    """A zh-CN Windows 10 host: every answer that has a Chinese capture takes it (dynamic ranges
    1024/13977 in all four, exclusions, the partial prefix table without ::ffff:0:0/96, ipconfig,
    subinterfaces, netstat); route print has no Chinese capture and is English."""
    return {
        "ver": ver("10.0.19045.3570", "版本"), "ipv4 tcp": fx("netsh-ipv4-show-dynamicport-tcp__4.txt"),
        "ipv4 udp": fx("netsh-ipv4-show-dynamicport-tcp__4.txt").replace("tcp", "udp"),
        "ipv6 tcp": fx("netsh-ipv6-show-dynamicport-tcp__1.txt"),
        "ipv6 udp": fx("netsh-ipv6-show-dynamicport-udp__1.txt"),
        "excluded tcp": fx("netsh-ipv4-show-excludedportrange-tcp__6.txt"),
        "prefixpolicies": fx("netsh-ipv6-show-prefixpolicies__3.txt"),
        "subinterfaces": fx("netsh-ipv4-show-subinterfaces__5.txt"),
        "reg": reg_query(TcpTimedWaitDelay=30, KeepAliveTime=300_000), "netstat": fx("netstat-ano__3.txt"),
        "ipconfig": fx("ipconfig-all__1.txt"), "route": fx("route-print__1.txt"), "events": "",
    }


def entries(answers: dict, system32: str = SYSTEM32) -> list[dict]:
    """Bundle entries: each question answered with its text (exit 0); a (code, text) pair answers
    with that exit code; None leaves the question out of the bundle."""
    found = []
    for name, answer in answers.items():
        if answer is None:
            continue
        question = QUESTIONS[name]
        if system32 != SYSTEM32:
            question = argv(question[0].rsplit("\\", 1)[1], *question[1:], system32=system32)
        code, text = answer if isinstance(answer, tuple) else (0, answer)
        found.append({"op": "run", "key": json.dumps(question), "result": {"returncode": code, "stdout": text,
                                                                            "stderr": ""}})
    return found


def write_bundle(directory: Path, answers: dict, settings: dict | None = None, extra: list | None = None,
                 system: str = "win32") -> Path:
    """A support bundle as `netwarden --record` writes it (meta.json + entries.json), recorded on
    `system` with `settings` (RECORDED_SETTINGS' keys), the clock at NOW."""
    directory.mkdir(parents=True, exist_ok=True)
    clock = [{"op": "call", "key": json.dumps(["clock.now"]), "result": NOW},
             {"op": "call", "key": json.dumps(["windows.system32"]), "result": SYSTEM32}]
    meta = {"format": 1, "netwarden": "test", "created": "2024-12-24T00:26:40+0000", "system": system,
            "argv": ["netwarden", "--record", "bundle"], "settings": settings or {}}
    (directory / "meta.json").write_text(json.dumps(meta))
    all_entries = (entries(answers) + clock if system == "win32" else []) + (extra or [])
    (directory / "entries.json").write_text(json.dumps(all_entries))
    return directory


# ---- a simulated Windows host: netsh with state --------------------------------------------------

SHOW_DYNAMIC = "Protocol {protocol} Dynamic Port Range\r\n---------------------------------\r\nStart Port      : {start}\r\n" \
               "Number of Ports : {num}\r\n\r\n"
POLICY_HEAD = "Querying active state...\r\n\r\nPrecedence  Label  Prefix\r\n----------  -----  --------------------------------\r\n"


def elevation_error() -> str:
    """What netsh prints for a set command in a prompt that is not elevated (the fixture's line;
    the rest of that transcript is another command)."""
    return fx("netsh-set-error-elevation__1.txt").splitlines()[1] + "\r\n"


class SimulatedWindows(Source):
    """A Windows host whose netsh keeps its dynamic ranges and prefix policies: `show` prints them
    in netsh's format, `set` / `add` / `delete` change them (or fail like a non-elevated prompt
    with the real elevation error). Every argv run is kept in `ran`."""

    system = "win32"

    def __init__(self, ranges: dict[str, tuple[int, int]], policies: dict[str, tuple[int, int]],
                 answers: dict | None = None, fail: str | None = None):
        self.ranges, self.policies, self.answers = dict(ranges), dict(policies), answers or {}
        self.fail = fail  # a word: a set command whose argv contains it fails as not elevated
        self.ran: list[list[str]] = []

    def call(self, name, fn, *args):
        if name == "windows.system32":
            return SYSTEM32
        if name == "clock.now":
            return NOW
        raise NotRecorded("call", name)

    def run(self, argv, timeout=10.0, codepage=None):
        self.ran.append(list(argv))
        words = argv[1:]
        if argv[0] == f"{SYSTEM32}\\netsh.exe" and len(words) >= 5 and words[3] == "dynamicport":
            setting = f"{words[1]} {words[4]}"
            if words[2] == "show":
                start, num = self.ranges[setting]
                return CommandResult(0, SHOW_DYNAMIC.format(protocol=words[4], start=start, num=num), "")
            if self.fail and self.fail in " ".join(argv):
                return CommandResult(1, elevation_error(), "")
            values = dict(w.split("=") for w in words[5:])
            self.ranges[setting] = (int(values["start"]), int(values["num"]))
            return CommandResult(0, "Ok.\r\n\r\n", "")
        if argv[0] == f"{SYSTEM32}\\netsh.exe" and words[:2] == ["interface", "ipv6"] and words[3:4] == ["prefixpolicy"]:
            return self._policy(words[2], words[4:])
        if argv[0] == f"{SYSTEM32}\\netsh.exe" and words[1:] == ["ipv6", "show", "prefixpolicies"]:
            rows = sorted(self.policies.items(), key=lambda kv: -kv[1][0])
            return CommandResult(0, POLICY_HEAD + "".join(f"{p:>10}  {label:>5}  {prefix}\r\n"
                                                          for prefix, (p, label) in rows), "")
        for name, question in QUESTIONS.items():
            if question == list(argv) and name in self.answers:
                return CommandResult(0, self.answers[name], "")
        raise NotRecorded("run", json.dumps(argv))

    def _policy(self, verb: str, args: list[str]) -> CommandResult:
        if self.fail and self.fail == "prefixpolicy":
            return CommandResult(1, elevation_error(), "")
        prefix = args[0]
        if verb == "delete":
            if self.policies.pop(prefix, None) is None:
                return CommandResult(1, "Element not found.\r\n\r\n", "")
        elif verb == "set" and prefix not in self.policies:
            return CommandResult(1, "Element not found.\r\n\r\n", "")  # netsh-ipv6-set-prefixpolicy-error__1, in English
        else:
            self.policies[prefix] = (int(args[1]), int(args[2]))
        return CommandResult(0, "Ok.\r\n\r\n", "")


# ---- WSL2 hosts: Linux answers plus the Windows host's, through interop --------------------------

SYSCTL_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
INTEROP = "enabled\ninterpreter /init\nflags: PF\noffset 0\nmagic 4d5a\n"  # binfmt_misc's format


def reservation_table(low: int, high: int) -> str:
    """CONSTRUCTED: a real excludedportrange capture (fixture __10, a Windows runner) with one more
    row, the block WSL's mirrored networking reserves (no capture of a mirrored host's TCP table)."""
    text = fx("netsh-ipv4-show-excludedportrange-tcp__10.txt").rstrip("\n")
    return text + f"\n{low:>10}  {high:>10}\n"


def wsl_entries(mode: str, linux_range: str, windows: dict, interop: str | None = INTEROP,
                codepage: str = "Active code page: 437\r\n") -> list[dict]:
    """A WSL2 guest: /proc/version (a real WSL2 kernel), interop, the networking mode from wslinfo,
    the Linux range, no sysctl.d file, then the Windows answers under /mnt/c (`windows` as for
    entries(): "ipv4 tcp", "excluded tcp", "prefixpolicies")."""
    def read(path, text):
        return {"op": "read", "key": path, "result": text}

    def missing(op, key):
        return {"op": op, "key": key, "error": {"errno": 2, "strerror": "No such file or directory"}}

    found = [read("/proc/version", fixture_text("linux/proc-version__1.txt")),
             {"op": "exists", "key": "/proc/sys/fs/binfmt_misc/WSLInterop", "result": interop is not None},
             {"op": "run", "key": json.dumps(["wslinfo", "--networking-mode"]),
              "result": {"returncode": 0, "stdout": f"{mode}\n", "stderr": ""}},
             read("/proc/sys/net/ipv4/ip_local_port_range", linux_range),
             read("/proc/sys/net/ipv4/ip_local_reserved_ports", "\n"),
             read("/proc/sys/net/ipv4/tcp_tw_reuse", "2\n"),
             missing("read", "/etc/sysctl.conf")]
    found += [{"op": "listdir", "key": d, "result": []} for d in SYSCTL_DIRS]
    found.append(read("/proc/sys/fs/binfmt_misc/WSLInterop", interop) if interop is not None
                 else missing("read", "/proc/sys/fs/binfmt_misc/WSLInterop"))
    found += [missing("read", "/proc/sys/fs/binfmt_misc/WSLInterop-late"),
              {"op": "exists", "key": f"{WSL32}/netsh.exe", "result": True},
              {"op": "run", "key": json.dumps([f"{WSL32}/chcp.com"]),
               "result": {"returncode": 0, "stdout": codepage, "stderr": ""}}]
    return found + entries(windows, system32=WSL32)
