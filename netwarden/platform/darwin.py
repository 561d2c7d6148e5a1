"""macOS backend: collects Facts with sysctl, netstat, ifconfig, scutil, networksetup, lsof and
ip6addrctl, and carries out Changes with `sysctl -w` (read back with `sysctl -n`), netwarden's
LaunchDaemon plist and `route -n delete|add`.

Every command goes through the Source (so a Mac recorded into a bundle replays on Linux), by its
absolute path, with a timeout, its exit code checked: a missing, failed or unreadable answer is an
Unknown fact with the reason, never an exception. The facts are derived in darwin_facts, the
network ones collected in darwin_net, the changes planned in darwin_plan (whose docstring shows
their journal entries); README's "On macOS" table says which command feeds which check.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from netwarden.config import Settings
from netwarden.fsutil import FileOriginal, read_original, replace_file, restore_original, write_refusal
from netwarden.model import Change, Facts, Finding, PlatformInfo, Route, TcpClock, Unknown
from netwarden.platform import darwin_facts as df
from netwarden.platform import darwin_net
from netwarden.platform.darwin_net import NETSTAT, TIMEOUT, UPTIME, output
from netwarden.platform.darwin_plan import (SYSCTL, SYSCTL_PLIST, boot_assignments, plist_text, route_argv, valid_key,
                                            valid_value)
from netwarden.platform.linux import ChangeFailed, _malformed_original
from netwarden.platform.parse.darwin import sysctl as sc
from netwarden.platform.source import Source, answers, file_bytes

SYSCTL_CONF = "/etc/sysctl.conf"
TCP_SOCKETS = [NETSTAT, "-an", "-p", "tcp"]  # asked again for the second TIME_WAIT sample: a bundle answers in order


def detect(source: Source) -> PlatformInfo:
    """macOS, its Darwin kernel release (which tells the netstat and tool differences) and version."""
    from netwarden.platform.parse.darwin.sysctl import parse_sysctl

    text = output(source, [SYSCTL, "kern.osrelease", "kern.osproductversion"], 5, lenient=True)
    if isinstance(text, Unknown):
        return PlatformInfo("darwin", "macos", "", None, (f"kernel release unknown: {text.reason}",))
    values = parse_sysctl(text)
    kernel = values.get("kern.osrelease", "")
    evidence = [f"kern.osrelease: {kernel or '?'}"] + (
        [f"macOS {values['kern.osproductversion']}"] if values.get("kern.osproductversion") else [])
    return PlatformInfo("darwin", "macos", kernel, None, tuple(evidence))


@answers(float)
def _now() -> float:
    """The time of this reading, through the Source: a replay judges the clock as it was then."""
    return time.time()


@answers(type(None))
def _sleep(seconds: float) -> None:
    time.sleep(seconds)


class DarwinBackend:
    def __init__(self, source: Source, settings: Settings, platform: PlatformInfo, sysctl_plist: str | None = None):
        self.source = source
        self.settings = settings
        self.platform = platform
        # netwarden's LaunchDaemon; not a setting (tests give their own path)
        self.sysctl_plist = sysctl_plist or SYSCTL_PLIST

    def _output(self, argv: list[str], timeout: float = TIMEOUT, lenient: bool = False) -> str | Unknown:
        return output(self.source, argv, timeout, lenient)

    # ---- collect -------------------------------------------------------------------------------

    def collect(self, wanted: set[str]) -> Facts:
        wanted = set(wanted)
        facts = Facts(platform=self.platform)
        if wanted & {"port_range", "time_wait", "census", "pmtu", "keepalive", "tcp_clock"}:
            facts.sysctls = df.sysctl_values(self._sysctl_answer(df.SYSCTL_TREES))
        sockets = self._tcp_sockets(TCP_SOCKETS) if "census" in wanted else None
        if wanted & {"port_range", "census"}:
            facts.port_range = df.port_range(facts.sysctls, self._at_boot() if "port_range" in wanted else (None, []))
        if "time_wait" in wanted:
            rows = len(df.time_wait_sockets(sockets)) if isinstance(sockets, list) else None
            facts.time_wait = df.time_wait(facts.sysctls, rows, self.platform.kernel)
        if "census" in wanted:
            facts.census = df.census(sockets, facts.port_range, self.platform.kernel)
        if "pmtu" in wanted:
            facts.pmtu = df.pmtu(facts.sysctls)
        if "keepalive" in wanted:
            facts.keepalive = df.keepalive(facts.sysctls)
        if "tcp_clock" in wanted:
            facts.tcp_clock = self._tcp_clock(facts.sysctls, sockets)
        darwin_net.collect(self.source, self.settings, facts, wanted)
        return facts

    def setting_keys(self, wanted) -> tuple[str, ...]:
        return df.setting_keys(wanted)

    def read_setting(self, key: str) -> str | Unknown:
        if not valid_key(key):
            return Unknown(f"not a sysctl name: {key!r}")
        text = self._output([SYSCTL, "-n", key], 5)
        if isinstance(text, Unknown):
            return text
        return text.strip() or Unknown(f"{key}: sysctl printed nothing")

    def watched_files(self) -> dict[str, tuple[str, ...]]:
        """netwarden's LaunchDaemon decides the range at boot; configd rewrites /etc/resolv.conf's
        target when the resolvers change."""
        return {self.sysctl_plist: ("port_range",), "/etc/resolv.conf": ("resolvers", "dns")}

    def realize(self, finding: Finding, facts: Facts) -> Finding:
        from netwarden.platform.darwin_plan import realize

        return realize(finding, facts, self.settings)

    def _sysctl_answer(self, names) -> dict[str, str] | Unknown:
        """One `sysctl` of whole subtrees: what it printed, even when one name was unknown to it
        (each value it did not print is then Unknown)."""
        text = self._output([SYSCTL, *names], 5, lenient=True)
        return text if isinstance(text, Unknown) else sc.parse_sysctl(text)

    def _tcp_sockets(self, argv: list[str]) -> list | Unknown:
        from netwarden.platform.parse.darwin.netstat import parse_netstat_tcp

        text = self._output(argv)
        return text if isinstance(text, Unknown) else parse_netstat_tcp(text)

    def _at_boot(self):
        """(AtBoot, evidence) from netwarden's plist and /etc/sysctl.conf, read through the Source."""
        from netwarden.platform.parse.sysctl_conf import parse_sysctl_conf

        try:
            assignments = boot_assignments(self.source.read(self.sysctl_plist), self.sysctl_plist)
        except FileNotFoundError:
            assignments = None
        except OSError as e:
            assignments = Unknown(f"{self.sysctl_plist}: {e.strerror or e}")
        try:
            found, _ = parse_sysctl_conf(self.source.read(SYSCTL_CONF), SYSCTL_CONF)
        except OSError:
            found = []
        conf = [f"{a.path}:{a.line} sets {a.key} = {a.value}" for a in found if a.key in (df.FIRST, df.LAST)]
        return df.at_boot(self.sysctl_plist, assignments, conf)

    # ---- the TCP clock -------------------------------------------------------------------------

    def _tcp_clock(self, values, sockets) -> TcpClock | Unknown:
        """When tcp_now wraps; past that point only, two TIME_WAIT samples more than 2 x MSL apart
        (the second costs a wait: a Mac before its wrap pays nothing)."""
        strings = {k: v for k, v in values.items() if isinstance(v, str)}
        now_init = sc.tcp_settings(strings).now_init
        if now_init is None:
            return Unknown(f"{df.NOW_INIT} not read ({df.reason(values, df.NOW_INIT)}): the wrap cannot be placed "
                           "without it (older releases do not print it)")
        try:
            now = self.source.call("clock.now", _now)
        except OSError as e:
            return Unknown(f"the time of this reading is unknown: {e.strerror or e}")
        if type(now) not in (int, float) or not 0 < now < 2**34:  # finite, and a date a Mac can have
            return Unknown(f"the time of this reading is unreadable: {now!r}"[:200])
        boot = sc.parse_boottime(strings.get(df.BOOTTIME, ""))
        if boot is None:
            from netwarden.platform.parse.darwin.uptime import parse_uptime

            text = self._output([UPTIME], 5)
            up = None if isinstance(text, Unknown) else parse_uptime(text)
            if up is None:
                return Unknown("neither kern.boottime nor uptime tells when this Mac booted"
                               + (f" ({text.reason})" if isinstance(text, Unknown) else ""))
            boot = now - up
        if boot > now:
            return Unknown(f"kern.boottime ({boot:.0f}) is later than the time of this reading ({now:.0f})")
        clock = TcpClock(boot, now_init, sc.tcp_clock_wrap_epoch(boot, now_init), now)
        return clock if now < clock.wraps_at else self._time_wait_samples(clock, strings, sockets)

    def _time_wait_samples(self, clock: TcpClock, strings: dict[str, str], sockets) -> TcpClock:
        msl = sc.tcp_settings(strings).msl_ms or 15000
        wait = 2 * msl / 1000 + 1
        counted = sc.sysctl_int(strings, df.TW_PCBCOUNT)
        if counted is None and df.old_netstat(self.platform.kernel):
            return clock._replace(note="this macOS's netstat leaves TIME_WAIT sockets out and it has no tw_pcbcount")
        if counted is None and sockets is None:  # the census did not list them: only now, past the wrap
            sockets = self._tcp_sockets(TCP_SOCKETS)
        if counted is None and not isinstance(sockets, list):
            return clock._replace(note=f"TIME_WAIT sockets could not be listed: {sockets.reason}")
        first = df.time_wait_sockets(sockets) if counted is None else set()
        count = len(first) if counted is None else counted
        if count == 0:
            return clock._replace(time_wait_samples=((0.0, 0),), note="no TIME_WAIT socket to watch drain")
        try:
            self.source.call("clock.sleep", _sleep, wait)
        except OSError as e:
            return clock._replace(time_wait_samples=((0.0, count),), note=f"no second sample: {e.strerror or e}")
        if counted is not None:
            again = self._output([SYSCTL, "-n", df.TW_PCBCOUNT], 5)
            later = sc.sysctl_int({"n": again.strip()}, "n") if isinstance(again, str) else None
            if later is None:
                return clock._replace(time_wait_samples=((0.0, count),), note=f"no second sample of {df.TW_PCBCOUNT}")
            return clock._replace(time_wait_samples=((0.0, count), (wait, later)),
                                  note=f"counts from {df.TW_PCBCOUNT} (a count that does not fall can also be steady traffic)")
        again = self._tcp_sockets(TCP_SOCKETS)
        if isinstance(again, Unknown):
            return clock._replace(time_wait_samples=((0.0, count),), note=f"no second sample: {again.reason}")
        second = df.time_wait_sockets(again)
        return clock._replace(time_wait_samples=((0.0, count), (wait, len(second))), lingering=len(first & second))

    # ---- change --------------------------------------------------------------------------------

    def refusal(self, change: Change) -> str | None:
        """What apply() would refuse, known before trying: a plist whose directory is unsafe or
        whose path is a symlink, a value macOS would clamp. Not being root is not one: the CLI
        says --apply needs root."""
        if change.kind == "file":
            try:
                return self.source.call("fs.write_refusal", write_refusal, change.target)
            except OSError:
                return None
        if change.kind == "sysctl" and not (valid_key(change.target) and valid_value(change.target, change.new)):
            return f"{change.target} = {change.new!r} is not a value netwarden writes on macOS"
        return None

    def dropin_change(self, changes: list[Change]) -> Change | None:
        """ONE write of netwarden's LaunchDaemon plist carrying every persistent sysctl change
        (and the keys it already carries), run by launchd at boot."""
        persistent = {c.target: c for c in changes if c.kind == "sysctl" and c.persist}
        if not persistent:
            return None
        path = self.sysctl_plist
        why = self.refusal(Change("", "file", path, None, ""))  # a symlink is refused, not read through
        if why:
            raise ChangeFailed(why)
        try:
            kept = boot_assignments(self.source.read(path), path)
        except FileNotFoundError:
            kept = {}
        except OSError as e:
            raise ChangeFailed(f"{path}: {e.strerror or e}") from None
        if isinstance(kept, Unknown):
            raise ChangeFailed(kept.reason)
        kept.update({key: c.new for key, c in persistent.items()})
        return Change(check=",".join(sorted({c.check for c in persistent.values()})), kind="file", target=path,
                      current=None, new=plist_text(kept),
                      summary="at boot: sysctl -w " + " ".join(f"{k}={v}" for k, v in kept.items()))

    def snapshot(self, change: Change) -> str | dict:
        """The current state of a change's target, in the form `restore` takes (journal-ready JSON)."""
        if change.kind == "sysctl":
            value = self.read_setting(change.target)
            if isinstance(value, Unknown):
                raise ChangeFailed(value.reason)
            return value
        if change.kind == "route-del":
            route = json.loads(change.current)
            return {"route": route, "present": self._route_present(Route(**route))}
        if change.kind == "file":
            try:
                return read_original(Path(change.target)).to_json()
            except OSError as e:
                raise ChangeFailed(f"{change.target}: {e.strerror or e}") from None
        raise ChangeFailed(f"unknown change kind {change.kind!r}")

    def apply(self, change: Change) -> None:
        if change.kind == "sysctl":
            self.write_sysctl(change.target, change.new)
        elif change.kind == "route-del":
            route = Route(**json.loads(change.current))
            if self._route_present(route):
                self._route("delete", route)
                if self._route_present(route):
                    raise ChangeFailed(f"{change.target}: still in the table after route delete")
        elif change.kind == "file":
            try:  # root:wheel 0644, as launchd wants a LaunchDaemon
                replace_file(Path(change.target), file_bytes(change.new), mode=0o644, uid=0, gid=0)
                written = self.source.read(change.target)
            except OSError as e:
                raise ChangeFailed(f"{change.target}: {e.strerror or e}") from None
            if written != change.new:
                raise ChangeFailed(f"{change.target}: reads back different from what was written")
        else:
            raise ChangeFailed(f"unknown change kind {change.kind!r}")

    def restore(self, kind: str, target: str, original) -> None:
        """Put a target back; nothing is written when it already holds the original."""
        problem = _malformed_original(kind, original)
        if kind == "sysctl" and not problem and not (valid_key(target) and valid_value(target, original)):
            problem = "not a sysctl value netwarden writes on macOS"
        if problem:
            raise ChangeFailed(f"{target[:120]}: the journaled original is unusable ({problem}); it stays in the journal")
        if kind == "sysctl":
            current = self.read_setting(target)
            if isinstance(current, Unknown) or current != original:
                self.write_sysctl(target, original)
        elif kind == "route-del":
            route = Route(**original["route"])
            if original["present"] and not self._route_present(route):
                self._route("add", route)
        else:
            try:
                restore_original(Path(target), FileOriginal.from_json(original))
            except OSError as e:
                raise ChangeFailed(f"{target}: {e.strerror or e}") from None

    def write_sysctl(self, key: str, value: str) -> None:
        """`sysctl -w key=value`, then read back: XNU clamps some values instead of refusing them."""
        if not valid_key(key) or not valid_value(key, value):
            raise ChangeFailed(f"{key} = {value!r} is not a value netwarden writes on macOS")
        self._command([SYSCTL, "-w", f"{key}={value}"])
        back = self.read_setting(key)
        if isinstance(back, Unknown):
            raise ChangeFailed(back.reason)
        if back != value:
            raise ChangeFailed(f"{key}: wrote {value!r} but it reads back {back!r}")

    def _command(self, argv: list[str]) -> None:
        result = self._output(argv)
        if isinstance(result, Unknown):
            raise ChangeFailed(result.reason)

    def _route_present(self, route: Route) -> bool:
        table = darwin_net.route_table(self.source)
        if isinstance(table, Unknown):
            raise ChangeFailed(table.reason)
        return route in df.routes(table)

    def _route(self, verb: str, route: Route) -> None:
        try:
            argv = route_argv(verb, route)
        except ValueError as e:
            raise ChangeFailed(f"route {route.dst}: {e}") from None
        self._command(argv)
