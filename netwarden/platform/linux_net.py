"""Linux network facts beyond sysctls: links, routes, IPv6 state, gai.conf, resolv.conf, and the
probes towards the configured targets. Files go through the Source; probes through Source.call."""

from __future__ import annotations

import os

from netwarden.model import (ConnectProbe, DnsProbe, GaiConf, Ipv6State, Link, PathProbe, ResolvConf, Route, Target,
                             TargetProbe, Unknown)
from netwarden.platform.parse.gai_conf import parse_gai_conf
from netwarden.platform.parse.netfs import (IFA_F_DEPRECATED, best_route, link_kind, parse_if_inet6, parse_ipv6_route,
                                            parse_proc_route)
from netwarden.platform.parse.resolv_conf import parse_resolv_conf

SYS_NET = "/sys/class/net"
DNS_TIMEOUT = 1.0  # the "1 s, no retry": a resolver slower than that is as good as dead


def _int(source, path: str) -> int | None:
    try:
        return int(source.read(path).strip(), 0)
    except (OSError, ValueError):
        return None


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
        except OSError:
            continue  # not a link (bonding_masters) or gone meanwhile
        flags = _int(source, f"{base}/flags") or 0
        try:
            operstate = source.read(f"{base}/operstate").strip()
        except OSError:
            operstate = "unknown"
        carrier = _int(source, f"{base}/carrier")  # EINVAL while the link is down
        found.append(Link(name, link_kind(uevent, _int(source, f"{base}/type"), _int(source, f"{base}/tun_flags")),
                          _int(source, f"{base}/mtu") or 0, bool(flags & 1), None if carrier is None else carrier == 1,
                          operstate, _int(source, f"{base}/statistics/rx_packets") or 0,
                          _int(source, f"{base}/statistics/tx_packets") or 0))
    return tuple(found)


def routes(source, proc: str) -> tuple[Route, ...] | Unknown:
    try:
        found = parse_proc_route(source.read(f"{proc}/net/route"))
    except OSError as e:
        return Unknown(f"{proc}/net/route: {e.strerror}")
    try:
        found += parse_ipv6_route(source.read(f"{proc}/net/ipv6_route"))
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


def resolv_conf(source, path: str) -> ResolvConf | Unknown:
    target = source.call("readlink", _readlink, path)
    try:
        text = source.read(path)
    except FileNotFoundError:
        if target is not None:
            return ResolvConf(path, symlink_target=target, dangling=True)
        return Unknown(f"{path} does not exist: libc falls back to a nameserver on 127.0.0.1")
    except OSError as e:
        return Unknown(f"{path}: {e.strerror}")
    return parse_resolv_conf(text, path, target)


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _pool(jobs):
    """Run (fn, *args) jobs in parallel, results in order: probes wait on the network."""
    from concurrent.futures import ThreadPoolExecutor  # only with targets: keep it out of start-up

    with ThreadPoolExecutor(max_workers=min(16, max(len(jobs), 1))) as pool:
        return [f.result() for f in [pool.submit(fn, *args) for fn, *args in jobs]]


def probe_targets(source, targets, timeout: float) -> tuple[TargetProbe, ...]:
    """getaddrinfo for each target, then one TCP connect per family, all in parallel."""
    from netwarden.platform import probe

    def one(target):
        try:
            addresses = resolve(source, target)
        except OSError as e:
            return TargetProbe(str(target), error=f"cannot resolve {target.host}: {e.strerror or e}")
        firsts = {}
        for family, address in addresses:
            firsts.setdefault(family, address)
        connects = _pool([(source.call, "probe.connect", probe.connect, a, target.port, timeout) for a in firsts.values()])
        return TargetProbe(str(target), tuple((f, a) for f, a in addresses), tuple(ConnectProbe(**c) for c in connects))

    return tuple(_pool([(one, t) for t in targets]))


def resolve(source, target) -> list[list]:
    """getaddrinfo's order for a target, from a fresh process (`getent ahosts`): glibc reads
    gai.conf once per process, so asking in-process would not see a change netwarden just made."""
    from netwarden.platform import probe

    try:
        result = source.run(["getent", "ahosts", target.host], timeout=10)
    except FileNotFoundError:
        return source.call("probe.resolve", probe.resolve, target.host, target.port)
    if result.returncode != 0:
        raise OSError(0, "no address (getent ahosts found nothing)")
    return probe.parse_getent_ahosts(result.stdout)


def probe_dns(source, resolv: ResolvConf, names: list[str]) -> tuple[DnsProbe, ...]:
    from netwarden.platform import probe

    jobs = [(source.call, "probe.dns", probe.dns_query, server, name, DNS_TIMEOUT)
            for server in resolv.nameservers for name in names]
    return tuple(DnsProbe(**r) for r in _pool(jobs))


def probe_paths(source, targets: tuple[TargetProbe, ...], route_table, link_table, timeout: float) -> tuple[PathProbe, ...]:
    """For each target's first address: egress link, route MTU, and a full-MSS vs small-MSS transfer."""
    from netwarden.platform import probe

    mtus = {link.name: link.mtu for link in link_table} if not isinstance(link_table, Unknown) else {}

    def one(t: TargetProbe):
        if not t.addresses:
            return PathProbe(t.target, "", error=t.error or "no address")
        address, port = t.addresses[0][1], Target.parse(t.target).port
        route = best_route(route_table, address) if not isinstance(route_table, Unknown) else None
        dev = route.dev if route else ""
        try:
            mtu = source.call("probe.route_mtu", probe.route_mtu, address)
        except OSError as e:
            return PathProbe(t.target, address, dev, mtus.get(dev, 0), error=f"no route: {e.strerror}")
        full, small = _pool([(source.call, "probe.transfer", probe.transfer, address, port, timeout, None),
                             (source.call, "probe.transfer", probe.transfer, address, port, timeout, probe.SMALL_MSS)])
        return PathProbe(t.target, address, dev, mtus.get(dev, 0), mtu, full, small)

    return tuple(_pool([(one, t) for t in targets]))
