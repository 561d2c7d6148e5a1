"""Linux network facts beyond sysctls: links, routes, IPv6 state, gai.conf, resolv.conf, and the
probes towards the configured targets. Files go through the Source; probes through Source.call.

A live read that fails often means something (a link without a carrier file, a kernel without
IPv6); a question a replayed bundle cannot answer (NotRecorded) means nothing is known, so the
fallbacks below re-raise it and the fact becomes Unknown."""

from __future__ import annotations

import os

from netwarden.model import ConnectProbe, DnsProbe, Ipv6State, Link, PathProbe, Route, TargetProbe, Unknown
from netwarden.platform.linux_types import GaiConf, ResolvConf
from netwarden.target import Target
from netwarden.platform.parse.gai_conf import parse_gai_conf
from netwarden.platform.parse.netfs import (IFA_F_DEPRECATED, best_route, link_kind, parse_if_inet6, parse_ipv6_route,
                                            parse_proc_route)
from netwarden.platform.parse.numbers import as_int
from netwarden.platform.parse.resolv_conf import parse_resolv_conf
from netwarden.platform.source import NotRecorded, answers, unknown_if_not_recorded

SYS_NET = "/sys/class/net"
DNS_TIMEOUT = 1.0  # the "1 s, no retry": a resolver slower than that is as good as dead


def _int(source, path: str) -> int | None:
    """A sysfs number: decimal (mtu, carrier, counters) or 0x-prefixed hex (flags, tun_flags)."""
    try:
        text = source.read(path).strip()
    except NotRecorded:
        raise
    except OSError:
        return None
    return as_int(text, 16) if text[:2].lower() == "0x" else as_int(text)


@unknown_if_not_recorded
def links(source) -> tuple[Link, ...] | Unknown:
    try:
        names = source.listdir(SYS_NET)
    except OSError as e:
        return Unknown(f"{SYS_NET}: {e.strerror}")
    found = []
    for name in names:
        base = f"{SYS_NET}/{name}"
        try:
            uevent = source.read(f"{base}/uevent")
        except NotRecorded:
            raise
        except OSError:
            continue  # not a link (bonding_masters) or gone meanwhile
        flags = _int(source, f"{base}/flags") or 0
        try:
            operstate = source.read(f"{base}/operstate").strip()
        except NotRecorded:
            raise
        except OSError:
            operstate = "unknown"
        carrier = _int(source, f"{base}/carrier")  # EINVAL while the link is down
        found.append(Link(name, link_kind(uevent, _int(source, f"{base}/type"), _int(source, f"{base}/tun_flags")),
                          _int(source, f"{base}/mtu") or 0, bool(flags & 1), None if carrier is None else carrier == 1,
                          operstate, _int(source, f"{base}/statistics/rx_packets") or 0,
                          _int(source, f"{base}/statistics/tx_packets") or 0))
    return tuple(found)


@unknown_if_not_recorded
def routes(source, proc: str) -> tuple[Route, ...] | Unknown:
    try:
        found = parse_proc_route(source.read(f"{proc}/net/route"))
    except OSError as e:
        return Unknown(f"{proc}/net/route: {e.strerror}")
    try:
        found += parse_ipv6_route(source.read(f"{proc}/net/ipv6_route"))
    except NotRecorded:
        raise
    except OSError:
        pass  # no IPv6 in this kernel
    return tuple(found)


def ipv6_state(source, proc: str, disabled: str | Unknown, route_table) -> Ipv6State | Unknown:
    try:
        rows = parse_if_inet6(source.read(f"{proc}/net/if_inet6"))
    except FileNotFoundError:
        return Ipv6State(disabled=True)
    except OSError as e:
        return Unknown(f"{proc}/net/if_inet6: {e.strerror}")
    usable = [(addr, flags) for addr, _, scope, flags in rows if scope == 0]
    fresh = [addr for addr, flags in usable if not flags & IFA_F_DEPRECATED]
    ula = tuple(a for a in fresh if a[:2] in ("fc", "fd"))
    has_default = not isinstance(route_table, Unknown) and any(r.family == 6 and r.dst == "default" for r in route_table)
    return Ipv6State(disabled == "1", tuple(a for a in fresh if a not in ula), ula, len(usable) - len(fresh),
                     has_default)


def gai_conf(source, path: str) -> GaiConf | Unknown:
    try:
        return parse_gai_conf(source.read(path), path)
    except FileNotFoundError:
        return GaiConf(path, exists=False)
    except OSError as e:
        return Unknown(f"{path}: {e.strerror}")


@unknown_if_not_recorded
def resolv_conf(source, path: str) -> ResolvConf | Unknown:
    try:  # who writes the file shows in where it points
        target = source.call("readlink", _readlink, path)
    except OSError:  # not from this machine (_readlink says None), but a bundle may hold one
        target = None
    try:
        text = source.read(path)
    except FileNotFoundError:
        if target is not None:
            return ResolvConf(path, symlink_target=target, dangling=True)
        return Unknown(f"{path} does not exist: libc falls back to a nameserver on 127.0.0.1")
    except OSError as e:
        return Unknown(f"{path}: {e.strerror}")
    return parse_resolv_conf(text, path, target)


@answers((str, type(None)))
def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _once_each(jobs) -> dict:
    """Run each distinct (fn, *args) job once, all in parallel (probes wait on the network), on at
    most 16 threads: {job: its result, or the OSError it raised}. Targets that share a name or an
    address share its probes, so one run never asks the same question twice (and a replay finds
    one answer). Plain threads: concurrent.futures would import logging (~10 ms of start-up)."""
    import threading

    unique = list(dict.fromkeys(jobs))
    results, failures, waiting, lock = {}, [], iter(unique), threading.Lock()

    def work():
        while True:
            with lock:
                job = next(waiting, None)
            if job is None:
                return
            try:
                results[job] = job[0](*job[1:])
            except OSError as e:
                results[job] = e
            except BaseException as e:  # noqa: BLE001 - a bug: raised again below, in the caller
                failures.append(e)

    threads = [threading.Thread(target=work, name="netwarden-probe") for _ in range(min(16, len(unique)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return {job: results[job] for job in unique}


def probe_targets(source, targets, timeout: float, in_process: bool = False) -> tuple[TargetProbe, ...]:
    """getaddrinfo for each target, then one TCP connect per family, all in parallel. in_process:
    getaddrinfo in this process (Windows: there is no getent, and its resolver reads the address
    policy afresh on each call)."""
    from netwarden.platform import probe

    lookup = resolve_in_process if in_process else resolve
    resolved = _once_each([(lookup, source, t.host) for t in targets])
    connect = {t: [(source.call, "probe.connect", probe.connect, a, t.port, timeout)
                   for a in _first_per_family(resolved[(lookup, source, t.host)])] for t in targets}
    connected = _once_each([job for jobs in connect.values() for job in jobs])
    found = []
    for t in targets:
        addresses = resolved[(lookup, source, t.host)]
        if isinstance(addresses, OSError):
            found.append(TargetProbe(str(t), error=f"cannot resolve {t.host}: {addresses.strerror or addresses}"))
            continue
        replies = [connected[job] for job in connect[t]]
        failed = next((a for a in replies if isinstance(a, OSError)), None)
        # probe.connect reports its own errors as outcomes: an OSError is a bundle without the answer
        found.append(TargetProbe(str(t), tuple((f, a) for f, a in addresses),
                                 () if failed else tuple(ConnectProbe(**c) for c in replies),
                                 error=f"connect: {failed.strerror}" if failed else ""))
    return tuple(found)


def _first_per_family(addresses) -> list[str]:
    if isinstance(addresses, OSError):
        return []
    firsts: dict[int, str] = {}
    for family, address in addresses:
        firsts.setdefault(family, address)
    return list(firsts.values())


def resolve(source, host: str) -> list[list]:
    """getaddrinfo's order for a host, from a fresh process (`getent ahosts`): glibc reads
    gai.conf once per process, so asking in-process would not see a change netwarden just made."""
    from netwarden.platform import probe

    try:
        result = source.run(["getent", "ahosts", host], timeout=10)
    except FileNotFoundError:
        return resolve_in_process(source, host)
    if result.returncode != 0:
        raise OSError(0, "no address (getent ahosts found nothing)")
    return probe.parse_getent_ahosts(result.stdout)


def resolve_in_process(source, host: str) -> list[list]:
    from netwarden.platform import probe

    return source.call("probe.resolve", probe.resolve, host, 0)


def probe_dns(source, resolv: ResolvConf, names: list[str]) -> tuple[DnsProbe, ...] | Unknown:
    from netwarden.platform import probe

    replies = _once_each([(source.call, "probe.dns", probe.dns_query, server, name, DNS_TIMEOUT)
                          for server in resolv.nameservers for name in names]).values()
    failed = next((a for a in replies if isinstance(a, OSError)), None)
    if failed:  # dns_query reports its own errors as outcomes: this is a bundle without the answer
        return Unknown(f"nameservers not queried: {failed.strerror}")
    return tuple(DnsProbe(**a) for a in replies)


def _reached(t: TargetProbe) -> str:
    connected = {c.address for c in t.connects if c.outcome == "ok"}
    return next((address for _, address in t.addresses if address in connected), t.addresses[0][1])


def probe_paths(source, targets: tuple[TargetProbe, ...], route_table, link_table, timeout: float) -> tuple[PathProbe, ...]:
    """For each target's address that a client ends up on (the first that connected, in getaddrinfo
    order; else the first): egress link, route MTU, and a full-MSS vs small-MSS transfer. An IPv6
    address that times out while IPv4 connects is ipv6.preference's finding, not a path unmeasured."""
    from netwarden.platform import probe

    mtus = {link.name: link.mtu for link in link_table} if not isinstance(link_table, Unknown) else {}
    first = {t: (_reached(t), Target.parse(t.target).port) for t in targets if t.addresses}
    # An address whose connect already timed out is not connected to again for the transfers (a
    # target that never answers would cost another probe_timeout): their outcome is that timeout.
    silent = {t for t, (address, _) in first.items()
              if any(c.address == address and c.outcome == "timeout" for c in t.connects)}
    jobs = {t: [(source.call, "probe.route_mtu", probe.route_mtu, address)] +
               ([] if t in silent else [(source.call, "probe.transfer", probe.transfer, address, port, timeout, mss)
                                        for mss in (None, probe.SMALL_MSS)]) for t, (address, port) in first.items()}
    replies = _once_each([job for parts in jobs.values() for job in parts])
    found = []
    for t in targets:
        if t not in first:
            found.append(PathProbe(t.target, "", error=t.error or "no address"))
            continue
        address = first[t][0]
        route = best_route(route_table, address) if not isinstance(route_table, Unknown) else None
        dev = route.dev if route else ""
        mtu, *transfers = (replies[job] for job in jobs[t])
        full, small = transfers or (probe.CONNECT_TIMED_OUT,) * 2  # not asked: the connect timed out
        failed = next((a for a in (mtu, full, small) if isinstance(a, OSError)), None)
        if failed:  # route_mtu's live error is a missing route; the transfers report theirs as outcomes
            why = failed.strerror if isinstance(failed, NotRecorded) else f"no route: {failed.strerror}"
            found.append(PathProbe(t.target, address, dev, mtus.get(dev, 0), error=why))
        else:
            found.append(PathProbe(t.target, address, dev, mtus.get(dev, 0), mtu, full, small))
    return tuple(found)
