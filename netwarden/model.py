"""The data that flows through netwarden: Facts in, Findings and Changes out.

Plain records on purpose: `netwarden check` must start fast, so nothing here imports pydantic, nor
dataclasses (record.py says why). Facts are NamedTuples where they can be (cheap to define, and
JSON-ready through _asdict).
"""

from __future__ import annotations

import enum
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, NamedTuple

from netwarden.record import field, fields, is_record, record

if TYPE_CHECKING:  # Linux's raw facts, named in Facts' annotations only
    from netwarden.platform.linux_types import BootSysctls, GaiConf, ResolvConf, SockStat


class Severity(str, enum.Enum):
    OK = "ok"
    UNKNOWN = "unknown"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def exit_code(self) -> int:
        """The monitoring-plugin convention: 0 ok, 1 warning, 2 critical, 3 unknown."""
        return _EXIT[self]


_RANK = {Severity.OK: 0, Severity.UNKNOWN: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}
_EXIT = {Severity.OK: 0, Severity.WARNING: 1, Severity.CRITICAL: 2, Severity.UNKNOWN: 3}


def worst(severities) -> Severity:
    return max(severities, key=lambda s: s.rank, default=Severity.OK)


@record(frozen=True)
class Unknown:
    """A fact that could not be read, and why (no permission, absent sysctl, read-only /proc/sys...)."""

    reason: str


class PlatformInfo(NamedTuple):
    system: str  # sys.platform's word: "linux", "darwin", "win32"
    flavor: str  # "linux", "wsl1", "wsl2", ...
    kernel: str = ""
    wsl_networking_mode: str | None = None  # "nat", "mirrored", ... or None when not WSL2 / not known
    evidence: tuple[str, ...] = ()

    def describe(self) -> str:
        text = self.flavor if self.flavor != self.system else self.system
        if self.flavor == "wsl2":
            text += f", {self.wsl_networking_mode or 'networking mode unknown'}"
        return text


class Destination(NamedTuple):
    """Sockets holding an ephemeral port towards one (remote address, remote port)."""

    address: str
    port: int
    total: int
    time_wait: int
    tw_young: int = 0  # TIME_WAIT sockets closed within the last WINDOW seconds
    tw_expiring: int = 0  # TIME_WAIT sockets that leave within the next WINDOW seconds

    @property
    def name(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


class Census(NamedTuple):
    """Per-destination use of ephemeral ports (local port inside the ephemeral range)."""

    window: int  # seconds, for tw_young / tw_expiring (when `ages`)
    sockets: int  # sockets with a local port in the range, all destinations
    time_wait: int
    destinations: tuple[Destination, ...] = ()  # busiest first, bounded
    ages: bool = True  # tw_young / tw_expiring measured (netstat on Windows and macOS shows no socket ages: False)
    notes: tuple[str, ...] = ()  # the platform's own record of port use (Windows' Tcpip events), or what its
    # listing leaves out (macOS 10.10-10.14's netstat: TIME_WAIT), as evidence
    exhausted: str = ""  # the platform recorded that ports ran out recently (a Tcpip 4231 event): what, when


TUNNEL_KINDS = ("tun", "tap", "wireguard", "ipip", "gre", "sit", "ip6tnl", "ip6gre", "ppp", "gif", "stf", "ipsec")


class Link(NamedTuple):
    """A network interface, as /sys/class/net shows it."""

    name: str
    kind: str  # "tun", "tap", "wireguard", "ipip", "gre", ... (TUNNEL_KINDS), "loopback", "ether", "other"
    mtu: int
    up: bool  # administratively (IFF_UP)
    carrier: bool | None  # None when the kernel cannot tell (the link is down)
    operstate: str
    rx_packets: int = 0
    tx_packets: int = 0

    @property
    def tunnel(self) -> bool:
        return self.kind in TUNNEL_KINDS


class Route(NamedTuple):
    """A route of the main table (/proc/net/route, /proc/net/ipv6_route)."""

    family: int  # 4 or 6
    dst: str  # "198.18.1.0/24", "default"
    dev: str
    gateway: str | None = None
    metric: int = 0

    @property
    def prefixlen(self) -> int:
        return 0 if self.dst == "default" else int(self.dst.rsplit("/", 1)[1])

    def describe(self) -> str:
        via = f" via {self.gateway}" if self.gateway else ""
        return f"{'-6 ' if self.family == 6 else ''}{self.dst}{via} dev {self.dev} metric {self.metric}"


class Ipv6State(NamedTuple):
    disabled: bool  # net.ipv6.conf.all.disable_ipv6, or no IPv6 in this kernel
    global_addresses: tuple[str, ...] = ()  # usable (not deprecated), not ULA
    ula_addresses: tuple[str, ...] = ()
    deprecated: int = 0
    default_route: bool = False


class ConnectProbe(NamedTuple):
    family: int
    address: str
    outcome: str  # "ok", "fast-fail", "timeout"
    ms: float
    error: str = ""


class TargetProbe(NamedTuple):
    """getaddrinfo's order for a target, and a TCP connect to the first address of each family."""

    target: str
    addresses: tuple[tuple[int, str], ...] = ()  # (family 4/6, address), in getaddrinfo order
    connects: tuple[ConnectProbe, ...] = ()
    error: str = ""  # resolution failed

    def connect(self, family: int) -> ConnectProbe | None:
        return next((c for c in self.connects if c.family == family), None)


class DnsProbe(NamedTuple):
    server: str
    name: str
    outcome: str  # "ok" (any answer, even NXDOMAIN), "timeout", "error"
    ms: float
    error: str = ""


class PathProbe(NamedTuple):
    """Path MTU to a target: its egress route and a TCP A/B (full-size segments vs small ones)."""

    target: str
    address: str
    dev: str = ""
    link_mtu: int = 0
    route_mtu: int = 0  # the kernel's cached path MTU for the address (0: none cached)
    full: str = ""  # "delivered", "stalled", "failed: ..." with the default MSS
    small: str = ""  # the same with TCP_MAXSEG = SMALL_MSS
    error: str = ""


# ---- platform-neutral facts: what the checks read; each backend fills them from its own sources ----

class PortBlock(NamedTuple):
    """Ports inside the ephemeral range that connect() will not use (Linux reserved ports, a
    Windows excluded range; `administered`: set by an admin, not by Hyper-V/WinNAT)."""

    low: int
    high: int
    administered: bool = True


class AtBoot(NamedTuple):
    """The port range after a reboot, when the platform can tell (Linux: sysctl.d, else the kernel
    default); `beats_mine`: it comes from a file applied after netwarden's own, so netwarden
    cannot persist a fix there."""

    low: int
    high: int
    usable: int
    where: str
    beats_mine: bool = False


class PortRange(NamedTuple):
    """The ephemeral ports connect() draws from (outgoing TCP, IPv4)."""

    low: int
    high: int
    usable: int  # what connect() can count on: minus excluded blocks, counted as the kernel searches
    default: tuple[int, int]  # the platform's own default range: netwarden widens to at least this
    setting: str  # where it is read, for evidence: "net.ipv4.ip_local_port_range = '60700 61000'"
    excluded: tuple[PortBlock, ...] = ()
    evidence: tuple[str, ...] = ()  # platform notes (boot-time files, reservations)
    at_boot: AtBoot | None = None
    managed_by: str = ""  # another program writes this range (WSL2 mirrored mode): never widened
    layer: str = "this host"  # "this host", or "the Windows host (WinNAT)" for WSL2's NAT layer
    # One pool for all destinations (Windows: a port in use towards one host is not taken for
    # another), so the host's total runs out, not one destination's share.
    shared_pool: bool = False


class TimeWait(NamedTuple):
    """How long a closed connection holds its port, and how many do now."""

    seconds: float
    count: int | None = None
    setting: str = ""  # "Linux: fixed 60 s", "TcpTimedWaitDelay = 120 s (registry)", "2 x net.inet.tcp.msl"


class AddressPolicy(NamedTuple):
    """RFC 6724 destination-address selection: (prefix, precedence) rows; higher sorts first."""

    table: tuple[tuple[str, int], ...]
    source: str  # "/etc/gai.conf: 3 precedence lines", "glibc's default table", "netsh … show prefixpolicies"
    problems: tuple[str, ...] = ()


class ScopedResolvers(NamedTuple):
    """Nameservers used only for one interface or domain (a VPN's, a Windows adapter's)."""

    scope: str
    nameservers: tuple[str, ...]
    domains: tuple[str, ...] = ()


class Resolvers(NamedTuple):
    """The nameservers lookups use, in order, and how the resolver waits on them."""

    source: str  # "/etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf", "scutil --dns"
    manager: str  # who writes them: "static", "systemd-resolved", "NetworkManager", "wsl", "windows", "macos"
    nameservers: tuple[str, ...] = ()
    timeout: float = 5.0  # seconds the resolver waits for one server before the next
    attempts: int = 2
    rotate: bool = False
    problems: tuple[str, ...] = ()  # lines the resolver ignores or misreads
    dangling: bool = False  # the configuration is a link to nothing: every lookup fails
    scoped: tuple[ScopedResolvers, ...] = ()
    blocking: tuple[str, ...] = ()  # what makes every lookup fail or hang (a line the resolver never finishes)


class PmtuProbing(NamedTuple):
    """Whether TCP recovers from a path-MTU blackhole by itself (Linux tcp_mtu_probing, macOS
    pmtud_blackhole_detection, Windows EnablePMTUBHDetect)."""

    enabled: bool
    setting: str


class Keepalive(NamedTuple):
    idle: int  # seconds before the first keepalive probe of a socket with SO_KEEPALIVE
    interval: int
    probes: int
    setting: str  # the platform's names and values, for evidence
    retries: int | None = None  # retransmissions before a dead peer's connection errors out
    retries_timeout: float | None = None  # seconds that takes


class Conntrack(NamedTuple):
    """Linux's connection-tracking table."""

    count: int
    max: int
    liberal: str | None = None
    read_only: bool = False  # nf_conntrack_max outside the host's network namespace


class TcpClock(NamedTuple):
    """macOS's TCP clock (tcp_now): a 32-bit count of milliseconds that starts at
    net.inet.tcp.now_init at boot and freezes when it wraps; TIME_WAIT then never drains."""

    boot_time: float  # Unix time of the boot (kern.boottime)
    now_init: int
    wraps_at: float  # Unix time: boot_time + (2^32 - now_init) ms
    now: float  # Unix time of the reading
    # Past wraps_at only: (seconds after the first sample, TIME_WAIT sockets), more than 2 x MSL apart
    time_wait_samples: tuple[tuple[float, int], ...] = ()
    lingering: int | None = None  # TIME_WAIT sockets of the first sample still there in the last
    note: str = ""  # why the samples are missing or partial


class Intent(NamedTuple):
    """What a check wants done, in the platform's neutral terms ("widen-port-range"); the backend
    turns it into its own Changes, or into advice where it cannot or must not act."""

    action: str
    params: dict = {}  # shared default, never mutated: an intent is built once and read


@record
class Facts:
    platform: PlatformInfo
    # neutral: read by the checks
    port_range: PortRange | Unknown | None = None
    host_port_range: PortRange | None = None  # WSL2 NAT: the Windows host's range bounds us too
    time_wait: TimeWait | Unknown | None = None
    census: Census | Unknown | None = None
    address_policy: AddressPolicy | Unknown | None = None
    resolvers: Resolvers | Unknown | None = None
    pmtu: PmtuProbing | Unknown | None = None
    keepalive: Keepalive | Unknown | None = None
    conntrack: Conntrack | Unknown | None = None
    tcp_clock: TcpClock | Unknown | None = None  # macOS only
    links: tuple[Link, ...] | Unknown | None = None
    routes: tuple[Route, ...] | Unknown | None = None
    ipv6: Ipv6State | Unknown | None = None
    targets: tuple[TargetProbe, ...] | Unknown | None = None
    dns: tuple[DnsProbe, ...] | Unknown | None = None
    paths: tuple[PathProbe, ...] | Unknown | None = None
    # platform-specific: what a backend needs to plan its changes (and shows as evidence)
    sysctls: dict[str, str | Unknown] = field(default_factory=dict)
    boot_sysctls: BootSysctls | Unknown | None = None
    sockstat: SockStat | Unknown | None = None
    read_only_sysctls: tuple[str, ...] = ()  # present but read-only here (a network namespace)
    gai: GaiConf | Unknown | None = None
    resolv: ResolvConf | Unknown | None = None
    host: dict = field(default_factory=dict)  # other per-platform raw facts (Windows, macOS), by name


class Change(NamedTuple):
    """A planned change, as data. `kind` says which backend operation carries it out."""

    check: str
    # "sysctl" (runtime write: /proc/sys on Linux, `sysctl -w` on macOS), "file" (whole-file write:
    # atomic, or in place for a bind-mounted file), "route-del" (delete a route; `current` is the
    # route, as JSON), "netsh-dynamicport" / "netsh-prefixpolicy" (Windows: `summary` is the exact
    # netsh command)
    kind: str
    target: str  # sysctl key, file path, or route description
    current: str | None
    new: str
    persist: bool = False  # sysctl: also write netwarden's sysctl.d drop-in
    needs_root: bool = True
    summary: str = ""

    def describe(self) -> str:
        if self.kind == "file":
            return f"write {self.target}" + (f" ({self.summary})" if self.summary else "")
        if self.kind == "route-del":
            return f"delete the route {self.target}" + (f" ({self.summary})" if self.summary else "")
        if self.kind.startswith("netsh-"):
            return f"{self.summary} (was {self.current or 'absent'}; netsh keeps it across reboots)"
        if self.persist and self.current == self.new:
            return f"{self.target} = {self.new} into the drop-in (already in force; kept across reboots)"
        where = "runtime + drop-in" if self.persist else "runtime only"
        return f"{self.target}: {self.current} -> {self.new} ({where})"


class Finding(NamedTuple):
    id: str
    severity: Severity
    title: str
    observed: str = ""
    expected: str = ""
    evidence: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    advice: tuple[str, ...] = ()
    # What drift is judged on besides severity: the setting itself ("32768-60999"), not counts
    # that move with every census.
    value: str = ""
    # What the check wants done, for the backend to turn into `changes` and `advice`.
    intents: tuple[Intent, ...] = ()


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums and paths to plain JSON types; an Unknown becomes {"unknown": reason}."""
    if isinstance(value, Unknown):
        return {"unknown": value.reason}
    if isinstance(value, enum.Enum):
        return value.value
    if is_record(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a NamedTuple
        return {k: to_jsonable(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    return value
