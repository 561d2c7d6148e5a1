"""Runs the probe's phases: resolve, connect, tls, mtu, idle, ports.

What depends on what: connecting needs the addresses, TLS, path MTU and idle survival need an
address that accepts a connection (the first one, in getaddrinfo's order), idle survival needs
to know whether the target speaks TLS. Everything else runs in parallel: the nameservers are
asked while getaddrinfo runs, the port census runs with the connects, TLS, MTU and idle trials
together (the port census first: the probe's own connections would count). A phase that cannot work (no address connects) is not run at all, so a dead path costs
its timeout once, in the phase that meets it.

Every measurement goes through the Source (files, `getent`, and Source.call for the probes), so
`--record` saves a support bundle and `--replay` answers from it; the phases' wall times are
recorded too (a replay does not wait for the network it no longer has).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from netwarden.checks.ports import bounding_range
from netwarden.diagnose.inputs import Plan
from netwarden.model import Facts, PathProbe, Unknown
from netwarden.platform.source import answers

PHASES = ("resolve", "connect", "tls", "mtu", "idle", "ports")
# The checks whose rules judge the phases' measurements. The host facts they read (resolv.conf,
# gai.conf, IPv6 state, links, routes, sysctls) are collected as `netwarden check` collects them,
# by a backend whose settings name no targets, so that it probes nothing itself.
CHECKS_BY_PHASE = {"resolve": ("dns.resolvers",), "connect": ("ipv6.preference",), "mtu": ("mtu.path",),
                   "ports": ("ports.range", "ports.pressure")}
SYN_RETRIES = "net.ipv4.tcp_syn_retries"  # how long a connect without its own timeout waits (Linux)
RECORD_TYPES = ("A", "AAAA")


def check_specs(phase: str | None = None) -> list:
    from netwarden.checks import all_checks

    specs = all_checks()
    return [specs[i] for name, ids in CHECKS_BY_PHASE.items() if phase in (None, name) for i in ids]


@dataclass
class Observations:
    """Everything the phases measured, as plain data; verdicts.py judges it."""

    plan: Plan
    facts: Facts  # what the checks of CHECKS_BY_PHASE read about this host
    literal: bool = False  # HOST is an address: nothing to resolve
    lookup: dict = field(default_factory=dict)  # {"addresses": [[4|6, address], ...], "error"}
    dns: list = field(default_factory=list)  # probes.dns_lookup answers (or Unknown)
    connects: list = field(default_factory=list)  # platform.probe.connect answers (or Unknown)
    address: str | None = None  # the first address, in getaddrinfo order, that accepted a connection
    hellos: dict = field(default_factory=dict)  # "classic" / "large" -> tls.handshake answer (or Unknown)
    path: PathProbe | None = None
    idle: dict | None = None  # {"tls": bool | None, "why": str, "baseline": trial, "trials": [trial]}
    ports: dict | Unknown | None = None  # probes.held_ports answer
    ms: dict = field(default_factory=dict)  # phase -> wall milliseconds; "lookup"; "total"
    syn_retries: str | None = None  # net.ipv4.tcp_syn_retries, where the platform has it


def run(source, backend, plan: Plan) -> Observations:
    from netwarden.diagnose import idle

    pool = ThreadPoolExecutor(max_workers=48)
    try:
        return _Runner(source, backend, plan, pool).run()
    except BaseException:  # Ctrl-C: idle trials stop now; everything else ends within --timeout
        idle.STOP.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _timing_table(value) -> bool:
    """milliseconds per phase"""
    return isinstance(value, dict) and all(k in PHASES + ("lookup", "total") and type(v) in (int, float)
                                           for k, v in value.items())


def held_in_census(census, addresses: list[str], port: int) -> dict | Unknown:
    """The backend's census (netstat on macOS and Windows) narrowed to the target, in the form of
    probes.held_ports' answer (`ages`: whether it measured TIME_WAIT ages)."""
    from netwarden.model import Census

    if not isinstance(census, Census):
        return census if isinstance(census, Unknown) else Unknown("no census")
    return {"window": census.window, "sockets": census.sockets, "time_wait": census.time_wait, "ages": census.ages,
            "destinations": [d._asdict() for d in census.destinations if d.address in addresses and d.port == port]}


@answers(_timing_table)
def _timings(measured: dict) -> dict:
    """Each phase's wall time (ms), for the phases that ran: recorded like any answer, so a replay
    shows the run's own."""
    return measured


class _Runner:
    def __init__(self, source, backend, plan: Plan, pool: ThreadPoolExecutor):
        self.source, self.backend, self.plan, self.pool = source, backend, plan, pool
        self.spans: dict[str, list[float]] = {}  # phase -> [first start, last end]

    def submit(self, phase: str, fn, *args):
        """fn(*args) on the pool, its time counted in `phase` (the end is taken inside the task:
        a done-callback may run after a waiter has already read the result)."""
        now = time.monotonic()
        span = self.spans.setdefault(phase, [now, now])

        def timed():
            try:
                return fn(*args)
            finally:
                span[1] = max(span[1], time.monotonic())

        return self.pool.submit(timed)

    def call(self, phase: str, name: str, fn, *args):
        return self.submit(phase, self.answer, name, fn, *args)

    def answer(self, name: str, fn, *args):
        """Source.call, with an error (a replayed bundle without this answer, a route that does
        not exist) as an Unknown instead of an exception."""
        try:
            return self.source.call(name, fn, *args)
        except OSError as e:
            return Unknown(e.strerror or str(e))

    def run(self) -> Observations:
        from netwarden.diagnose.tls import handshake
        from netwarden.platform.parse.netfs import is_ip_address

        start = time.monotonic()
        plan, target = self.plan, self.plan.target
        facts_future = self.submit("resolve", self._host_facts)
        obs = Observations(plan, Facts(platform=self.backend.platform), literal=is_ip_address(target.host))
        if obs.literal:
            obs.lookup = {"addresses": [[6 if ":" in target.host else 4, target.host]], "error": "", "ms": 0.0}
        else:
            lookup_future = self.submit("resolve", self._lookup)
        obs.facts, obs.syn_retries = facts_future.result()
        dns = [] if obs.literal else self._ask_nameservers(obs.facts.resolv)
        if not obs.literal:
            obs.lookup = lookup_future.result()
        addresses = obs.lookup["addresses"]
        # Before the probe's own connections, which would count as held ports.
        ports = self._census(obs.facts, addresses)
        obs.ports = ports.result() if ports else None
        obs.connects = self._connect(addresses)
        obs.address = next((c["address"] for c in obs.connects if isinstance(c, dict) and c["outcome"] == "ok"), None)
        if obs.address:
            hellos = {kind: self.call("tls", "probe.tls", handshake, obs.address, target.port, target.host, kind,
                                      plan.timeout) for kind in ("classic", "large")} if plan.tls else {}
            path = self.submit("mtu", self._path, obs.address, obs.facts)
            obs.idle = self._idle(obs.address, hellos["classic"].result()) if plan.idle and plan.tls else None
            obs.hellos = {kind: f.result() for kind, f in hellos.items()}
            obs.path = path.result()
        obs.dns = [f.result() for f in dns]
        measured = {phase: round((end - begin) * 1000, 1) for phase, (begin, end) in self.spans.items()}
        measured.update(lookup=obs.lookup.get("ms", 0.0), total=round((time.monotonic() - start) * 1000, 1))
        # Recorded like any answer, so a replay shows the times of the run it replays.
        obs.ms = self.answer("probe.timings", partial(_timings, measured))  # the answer, not the question
        if isinstance(obs.ms, Unknown):
            obs.ms = {}
        obs.lookup.pop("ms", None)
        return obs

    def _host_facts(self) -> tuple[Facts, str | None]:
        from netwarden import engine

        read = getattr(self.backend, "read_sysctl", None)
        retries = read(SYN_RETRIES) if read else None
        return engine.collect(self.backend, check_specs()), retries if isinstance(retries, str) else None

    def _lookup(self) -> dict:
        """getaddrinfo's answer and order, from a fresh process as the ipv6 check asks it."""
        from netwarden.platform import linux_net

        start = time.monotonic()
        try:
            addresses, error = linux_net.resolve(self.source, self.plan.target.host), ""
        except OSError as e:
            addresses, error = [], f"cannot resolve {self.plan.target.host}: {e.strerror or e}"
        return {"addresses": addresses, "error": error, "ms": round((time.monotonic() - start) * 1000, 1)}

    def _ask_nameservers(self, resolv) -> list:
        from netwarden.diagnose.probes import dns_lookup
        from netwarden.platform.linux_net import DNS_TIMEOUT

        if resolv is None or isinstance(resolv, Unknown) or resolv.dangling:
            return []
        return [self.call("resolve", "probe.dns-lookup", dns_lookup, server, self.plan.target.host, rdtype,
                          DNS_TIMEOUT) for server in resolv.nameservers for rdtype in RECORD_TYPES]

    def _connect(self, addresses: list) -> list:
        """One TCP connect to the first address of each family (every address with --all)."""
        from netwarden.platform import probe

        chosen, families = [], set()
        for family, address in addresses:
            if self.plan.all_addresses or family not in families:
                chosen.append(address)
                families.add(family)
        futures = [self.call("connect", "probe.connect", probe.connect, a, self.plan.target.port, self.plan.timeout)
                   for a in chosen]
        return [f.result() for f in futures]

    def _census(self, facts: Facts, addresses: list):
        from netwarden.diagnose.probes import held_ports

        ports = bounding_range(facts)
        if not addresses or isinstance(ports, Unknown):
            return None
        if self.backend.platform.system != "linux":  # sock_diag is Linux's: the backend's own census (netstat)
            return self.submit("ports", held_in_census, facts.census, [a for _, a in addresses], self.plan.target.port)
        return self.call("ports", "probe.held-ports", held_ports, ports.low, ports.high,
                         [a for _, a in addresses], self.plan.target.port)

    def _path(self, address: str, facts: Facts) -> PathProbe:
        """The existing A/B transfer (full-size segments, then MSS 1200) and the route's MTU,
        towards the address that connected."""
        from netwarden.platform.probe import route_mtu
        from netwarden.platform import probe
        from netwarden.platform.parse.netfs import best_route

        plan = self.plan
        if self.backend.platform.system == "win32":
            from netwarden.platform.windows_facts import NOT_MEASURED

            return PathProbe(str(plan.target), address, error=NOT_MEASURED)
        routes = facts.routes if isinstance(facts.routes, tuple) else ()
        route = best_route(routes, address)
        dev = route.dev if route else ""
        link_mtu = {link.name: link.mtu for link in facts.links}.get(dev, 0) if isinstance(facts.links, tuple) else 0
        mtu = self.answer("probe.route_mtu", route_mtu, address)
        if isinstance(mtu, Unknown):
            return PathProbe(str(plan.target), address, dev, link_mtu, error=f"no route: {mtu.reason}")
        small = self.call("mtu", "probe.transfer", probe.transfer, address, plan.target.port, plan.timeout,
                          probe.SMALL_MSS)
        full = self.answer("probe.transfer", probe.transfer, address, plan.target.port, plan.timeout, None)
        small = small.result()
        if isinstance(full, Unknown) or isinstance(small, Unknown):
            return PathProbe(str(plan.target), address, dev, link_mtu, mtu,
                             error=(full if isinstance(full, Unknown) else small).reason)
        return PathProbe(str(plan.target), address, dev, link_mtu, mtu, full, small)

    def _idle(self, address: str, classic) -> dict:
        """Idle trials, all at once (the longest sets the phase's time), plus one used at once: a
        target that does not answer a fresh connection tells nothing about idle ones."""
        from netwarden.diagnose.idle import trial

        outcome = classic.get("outcome") if isinstance(classic, dict) else None
        if outcome not in ("ok", "not-tls"):
            return {"tls": None, "why": "the classic TLS handshake failed"
                    + (f" ({outcome})" if outcome else ""), "baseline": None, "trials": []}
        use_tls, plan = outcome == "ok", self.plan
        futures = [self.call("idle", "probe.idle", trial, address, plan.target.port, plan.target.host, use_tls,
                             seconds, plan.timeout) for seconds in (0.0, *plan.idle)]
        baseline, *trials = [f.result() for f in futures]
        return {"tls": use_tls, "why": "", "baseline": baseline, "trials": trials}
