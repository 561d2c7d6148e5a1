"""Linux's sources for the neutral facts the checks read, and how each is derived from them.

The backend reads raw Linux facts (sysctls, sysctl.d files, /proc/net, gai.conf, resolv.conf);
`derive` turns them into PortRange, TimeWait, AddressPolicy, Resolvers, PmtuProbing, Keepalive
and Conntrack. Pure: no I/O here.
"""

from __future__ import annotations

from netwarden.config import Settings
from netwarden.model import (AddressPolicy, AtBoot, Conntrack, Facts, Keepalive, PmtuProbing, PortBlock, PortRange,
                             Resolvers, TimeWait, Unknown)
from netwarden.platform.linux_types import BootSysctls, GaiConf, ResolvConf, SockStat
from netwarden.platform.parse.numbers import as_int
from netwarden.platform.parse.procfs import count_in_range, parse_port_list, parse_port_range

RANGE = "net.ipv4.ip_local_port_range"
RESERVED = "net.ipv4.ip_local_reserved_ports"
TW_REUSE = "net.ipv4.tcp_tw_reuse"
DISABLE_IPV6 = "net.ipv6.conf.all.disable_ipv6"
PROBING, BASE_MSS = "net.ipv4.tcp_mtu_probing", "net.ipv4.tcp_base_mss"
KEEPALIVE = ("net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
             "net.ipv4.tcp_retries2")
CT_COUNT, CT_MAX, CT_LIBERAL = ("net.netfilter.nf_conntrack_count", "net.netfilter.nf_conntrack_max",
                                "net.netfilter.nf_conntrack_tcp_be_liberal")
KERNEL_DEFAULT = (32768, 60999)
INT_MAX, U8_MAX, U32_MAX = 2**31 - 1, 255, 2**32 - 1
# The largest value of each sysctl's type in the kernel: the keepalive times are ints (of
# jiffies: fewer seconds fit, this is the outer bound), tcp_keepalive_probes and tcp_retries2 are
# u8 (proc_dou8vec_minmax), the conntrack count and size unsigned ints.
KEEPALIVE_LIMITS = dict(zip(KEEPALIVE, (INT_MAX, INT_MAX, U8_MAX, U8_MAX)))
CONNTRACK_LIMITS = {CT_COUNT: U32_MAX, CT_MAX: U32_MAX}
RES_MAXRETRANS, RES_MAXRETRY = 30, 5  # glibc's <resolv.h>: resolv.conf's timeout and attempts are capped there
TIME_WAIT_SECONDS = 60  # fixed in the kernel (TCP_TIMEWAIT_LEN); tcp_fin_timeout does not shorten it

# neutral fact -> (settings the daemon polls for drift, counters read alongside, raw facts)
SOURCES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "port_range": ((RANGE, RESERVED), (), ("boot_sysctls", "windows_host")),  # windows_host: WSL2 only
    "time_wait": ((), (), ("sockstat",)),
    "census": ((RANGE,), (), ("census",)),
    "tw_reuse": ((TW_REUSE,), (), ()),
    "address_policy": ((), (), ("gai",)),
    "ipv6": ((DISABLE_IPV6,), (), ("ipv6",)),
    "resolvers": ((), (), ("resolv",)),
    "dns": ((), (), ("resolv", "dns")),
    "pmtu": ((PROBING, BASE_MSS), (), ()),
    "keepalive": (KEEPALIVE, (), ()),
    "conntrack": ((CT_MAX, CT_LIBERAL), (CT_COUNT,), ("read_only_sysctls",)),
    "links": ((), (), ("links",)),
    "routes": ((), (), ("routes",)),
    "targets": ((), (), ("targets",)),
    "paths": ((), (), ("paths",)),
}


def setting_keys(facts) -> tuple[str, ...]:
    """The sysctls behind these facts that the daemon polls (settings, not counters)."""
    return tuple(sorted({key for name in facts for key in SOURCES.get(name, ((), (), ()))[0]}))


def raw_needs(facts) -> tuple[set[str], set[str]]:
    """(sysctls to read, raw facts to collect) for these neutral facts."""
    sysctls, raw = set(), set()
    for name in facts:
        keys, gauges, needs = SOURCES.get(name, ((), (), ()))
        sysctls |= set(keys) | set(gauges)
        raw |= set(needs)
    return sysctls, raw


def derive(facts: Facts, wanted, settings: Settings) -> None:
    """Fill the neutral facts in `wanted` from the raw ones collected."""
    derivations = {"port_range": port_range, "time_wait": time_wait, "address_policy": address_policy,
                   "resolvers": resolvers, "pmtu": pmtu, "keepalive": keepalive, "conntrack": conntrack}
    for name in wanted:
        if name in derivations:
            setattr(facts, name, derivations[name](facts, settings))
    if "port_range" in wanted:
        facts.host_port_range = _windows_layer(facts)


def _windows_layer(facts: Facts) -> PortRange | None:
    """WSL2 in NAT mode: WinNAT translates every connection, so the Windows host's range bounds
    them too (checks/ports.py judges both layers)."""
    side = facts.host.get("windows_host")
    if facts.platform.wsl_networking_mode != "nat" or side is None or isinstance(side, Unknown):
        return None
    return side.range if isinstance(side.range, PortRange) else None


def _clipped(value: str) -> str:
    """A value as evidence: quoted, at most 40 characters of it (a bundle may hold megabytes)."""
    return repr(value) if len(value) <= 40 else f"{value[:40]!r}... ({len(value):,} characters)"


def _sysctl(facts: Facts, key: str) -> str | Unknown:
    return facts.sysctls.get(key, Unknown(f"{key} not collected"))


def port_range(facts: Facts, settings: Settings) -> PortRange | Unknown:
    """The range minus the reserved ports inside it: what connect() can draw from. (Older kernels'
    port search stepped over an even count and could miss one port of an odd-width range; this
    counts them all, as a 6.x kernel uses them: 60700-61000 gives 301 connections to one
    destination before EADDRNOTAVAIL, measured in the lab.)"""
    raw = _sysctl(facts, RANGE)
    if isinstance(raw, Unknown):
        return raw
    bounds = parse_port_range(raw)
    if bounds is None:
        return Unknown(f"{RANGE} = {_clipped(raw)} is not two port numbers")
    low, high = bounds
    reserved_raw = facts.sysctls.get(RESERVED, "")
    reserved, _ = parse_port_list("" if isinstance(reserved_raw, Unknown) else reserved_raw)
    in_range = count_in_range(reserved, low, high)
    evidence = [f"{RESERVED} = {reserved_raw!r}: {in_range} of them inside the range"] if in_range else []
    evidence += boot_evidence(facts.boot_sysctls, settings)
    platform = facts.platform
    managed = ""
    if platform.flavor == "wsl2" and platform.wsl_networking_mode != "nat":
        from netwarden.platform.wsl import mirrored_evidence

        mode = platform.wsl_networking_mode
        managed = ("WSL2 mirrored mode" if mode == "mirrored" else
                   f"WSL2 networking mode {mode or 'unknown'} (widening is only safe in NAT mode)")
        evidence += mirrored_evidence(facts.host.get("windows_host"), low, high)
    elif platform.flavor == "wsl2":  # NAT: the Windows host's range is judged too, when it could be read
        side = facts.host.get("windows_host")
        side = getattr(side, "range", side)
        if isinstance(side, Unknown):
            evidence.append(f"the Windows host's range (WinNAT translates every connection) is unknown: {side.reason}")
    return PortRange(low, high, _usable(low, high, in_range), KERNEL_DEFAULT, f"{RANGE} = {raw!r}",
                     tuple(PortBlock(a, b) for a, b in reserved if a <= high and b >= low), tuple(evidence),
                     None if managed else _at_boot(facts.boot_sysctls, settings, reserved), managed)


def _usable(low: int, high: int, reserved: int) -> int:
    width = high - low + 1
    return max(width - reserved, 0)


def _at_boot(boot, settings: Settings, reserved) -> AtBoot | None:
    """The range after a reboot: the last sysctl.d / sysctl.conf line that sets it, else the
    kernel default; None when the boot-time settings are unknown or unreadable."""
    if not isinstance(boot, BootSysctls):
        return None
    setters = boot.setters(RANGE)
    if not setters:
        low, high = KERNEL_DEFAULT
        return AtBoot(low, high, _usable(low, high, count_in_range(reserved, low, high)), "the kernel default")
    winner = setters[-1]
    bounds = parse_port_range(winner.value)
    if bounds is None:
        return None
    # Boot order is by file name across directories, then sysctl.conf last.
    after_mine = winner.path == str(settings.sysctl_conf) or winner.path.rsplit("/", 1)[-1] > settings.sysctl_dropin
    return AtBoot(*bounds, _usable(*bounds, count_in_range(reserved, *bounds)), f"{winner.path}:{winner.line}",
                  winner.path != str(settings.dropin_path) and after_mine)


def boot_evidence(boot, settings: Settings) -> list[str]:
    """Which file sets the range at boot, and whether it overrides netwarden's drop-in."""
    if boot is None or isinstance(boot, Unknown):
        return [f"boot-time settings unknown: {boot.reason}"] if isinstance(boot, Unknown) else []
    problems = [f"ignored at boot: {p}" for p in boot.problems[:3]]
    setters = boot.setters(RANGE)
    if not setters:
        return problems + ["no sysctl.d file sets it: the kernel default applies at boot"]
    at_boot = _at_boot(boot, settings, [])
    winner = setters[-1]
    lines = problems + [f"at boot {winner.path}:{winner.line} sets {winner.value!r} (the last of {len(setters)} setting it)"]
    if at_boot is not None and at_boot.beats_mine:
        lines.append(f"{winner.path} is applied after netwarden's drop-in {settings.dropin_path} "
                     "and wins at boot: edit or remove that line")
    return lines


def time_wait(facts: Facts, settings: Settings) -> TimeWait:
    count = facts.sockstat.time_wait if isinstance(facts.sockstat, SockStat) else None
    return TimeWait(TIME_WAIT_SECONDS, count, "Linux: a fixed 60 s (tcp_fin_timeout does not shorten it)")


def address_policy(facts: Facts, settings: Settings) -> AddressPolicy | Unknown:
    from netwarden.platform.parse.gai_conf import effective_table

    gai = facts.gai
    if not isinstance(gai, GaiConf):
        return gai or Unknown("gai.conf not collected")
    source = (f"{gai.path}: {len(gai.precedence)} precedence lines" if gai.precedence
              else f"glibc's default table ({gai.path} {'sets no precedence' if gai.exists else 'absent'})")
    return AddressPolicy(effective_table(gai), source, gai.problems)


def resolvers(facts: Facts, settings: Settings) -> Resolvers | Unknown:
    resolv = facts.resolv
    if not isinstance(resolv, ResolvConf):
        return resolv or Unknown("resolv.conf not collected")
    source = resolv.path + (f" -> {resolv.symlink_target}" if resolv.symlink_target else "")
    return Resolvers(source, resolv.manager, resolv.nameservers, resolv.option("timeout", 5, RES_MAXRETRANS),
                     resolv.option("attempts", 2, RES_MAXRETRY), "rotate" in resolv.options, resolv.problems,
                     resolv.dangling, blocking=resolv.blocking)


def pmtu(facts: Facts, settings: Settings) -> PmtuProbing | Unknown:
    probing = _sysctl(facts, PROBING)
    if isinstance(probing, Unknown):
        return probing
    base = facts.sysctls.get(BASE_MSS, "?")
    return PmtuProbing(probing in ("1", "2"), f"{PROBING} = {probing}, {BASE_MSS} = {base if isinstance(base, str) else '?'}")


def _numbers(facts: Facts, limits: dict[str, int]) -> list[int] | Unknown:
    """The sysctls in `limits`, each a number of ASCII digits the kernel can hold (its type's
    largest value); else Unknown naming each one that is not."""
    values = [_sysctl(facts, key) for key in limits]
    numbers = [None if isinstance(v, Unknown) else as_int(v, maximum=limit) for v, limit in zip(values, limits.values())]
    wrong = [v.reason if isinstance(v, Unknown) else f"{key} = {_clipped(v)} is not a number from 0 to {limits[key]}"
             for key, v, n in zip(limits, values, numbers) if n is None]
    return Unknown("; ".join(wrong)) if wrong else numbers


def keepalive(facts: Facts, settings: Settings) -> Keepalive | Unknown:
    from netwarden.checks.keepalive import retries_timeout

    numbers = _numbers(facts, KEEPALIVE_LIMITS)
    if isinstance(numbers, Unknown):
        return numbers
    idle, intvl, probes, retries = numbers
    return Keepalive(idle, intvl, probes, f"keepalive {idle}/{intvl}/{probes} (tcp_keepalive_time/intvl/probes), "
                                          f"tcp_retries2 {retries}", retries, retries_timeout(retries))


def conntrack(facts: Facts, settings: Settings) -> Conntrack | Unknown:
    for value in (_sysctl(facts, CT_COUNT), _sysctl(facts, CT_MAX)):
        if isinstance(value, Unknown):
            if "no such setting" in value.reason:
                return Unknown("nf_conntrack is not loaded: there is no connection-tracking table here")
            return value
    numbers = _numbers(facts, CONNTRACK_LIMITS)
    if isinstance(numbers, Unknown):
        return numbers
    count, limit = numbers
    if limit == 0:
        return Unknown(f"{CT_MAX} = 0: no table size to judge the count against")
    liberal = facts.sysctls.get(CT_LIBERAL)
    return Conntrack(count, limit, liberal if isinstance(liberal, str) else None, CT_MAX in facts.read_only_sysctls)
