"""Windows backend: collects Facts with netsh, reg, netstat, wevtutil, ipconfig and route (every
command through the Source: a Windows host records into a bundle and replays on Linux), and
carries out netsh Changes (the dynamic port ranges, the ::ffff:0:0/96 prefix policy), each read
back after it is made. Nothing here imports a POSIX-only module: it runs on Windows.

Which commands feed which neutral fact: windows_facts.py derives them; windows_plan.py turns the
checks' intents into changes and advice."""

from __future__ import annotations

from netwarden.config import Settings
from netwarden.model import Change, Facts, Finding, PathProbe, PlatformInfo, Resolvers, Unknown
from netwarden.platform import windows_facts as wf
from netwarden.platform.linux import ChangeFailed
from netwarden.platform.source import Source, answers
from netwarden.platform.windows_commands import Commands, shown
from netwarden.platform.windows_plan import (DYNAMIC, PREFIX_POLICY, SETTINGS, V4_MAPPED, dynamic_argv,
                                             dynamic_problem, policy_argv)

POLICY_KEY = f"prefixpolicy {V4_MAPPED}"
REGISTRY_KEYS = ("TcpTimedWaitDelay", "EnablePMTUBHDetect", "KeepAliveTime", "KeepAliveInterval",
                 "TcpMaxDataRetransmissions")
# neutral fact -> the settings behind it that the daemon polls for drift (see read_setting)
SETTING_KEYS = {
    "port_range": tuple(f"dynamicport {s}" for s in SETTINGS), "time_wait": ("registry TcpTimedWaitDelay",),
    "address_policy": (POLICY_KEY,), "pmtu": ("registry EnablePMTUBHDetect",),
    "keepalive": ("registry KeepAliveTime", "registry KeepAliveInterval", "registry TcpMaxDataRetransmissions"),
}


@answers(float)
def wall_clock() -> float:
    """Now, for the age of the Tcpip events (recorded: a replay judges them as of the recording)."""
    import time

    return time.time()


def parse_start_num(text: object) -> tuple[int, int] | None:
    """(start, num) from "start=S num=N", the form a dynamic-port Change carries."""
    parts = dict(word.split("=", 1) for word in str(text).split() if "=" in word)
    values = (parts.get("start", ""), parts.get("num", ""))
    return (int(values[0]), int(values[1])) if all(v.isascii() and v.isdigit() and len(v) <= 5 for v in values) else None


def _one_line(text: str, limit: int = 200) -> str:
    line = "; ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def detect_windows(source: Source) -> PlatformInfo:
    """Windows, with its version from `ver` (the words are localized, the number is not)."""
    text = Commands.native(source).version()
    number = wf.version(text)
    evidence = (f"`ver`: {text.strip()[:120]}",) if not isinstance(text, Unknown) else (f"`ver` unknown: {text.reason}",)
    return PlatformInfo("win32", "windows", number, None, evidence)


class WindowsBackend:
    def __init__(self, source: Source, settings: Settings, platform: PlatformInfo, commands: Commands | None = None):
        self.source = source
        self.settings = settings
        self.platform = platform
        self.commands = commands or Commands.native(source)

    # ---- collect -------------------------------------------------------------------------------

    def collect(self, wanted: set[str]) -> Facts:
        c, result = self.commands, Facts(platform=self.platform)
        c.forget()
        need = wanted.__and__
        ports = Unknown("not collected")
        if need({"port_range", "census"}):
            ports = wf.port_range(c.dynamic_ports("ipv4", "tcp"), c.excluded_ports("tcp"),
                                  {s: c.dynamic_ports(*s.split()) for s in SETTINGS[1:]})
            self._raw_ranges(result)
        reg = wf.registry(c.tcpip_parameters()) if need({"time_wait", "pmtu", "keepalive"}) else None
        rows = wf.connections(c.netstat()) if need({"time_wait", "census"}) else None
        config = wf.ipconfig(c.ipconfig()) if need({"resolvers", "dns", "links", "routes", "ipv6", "paths"}) else None
        routes = wf.routes(c.route_print(), config) if need({"routes", "ipv6", "paths"}) else None
        facts = {
            "port_range": lambda: ports,
            "time_wait": lambda: wf.time_wait(reg, rows),
            "census": lambda: wf.census(rows, ports, c.events(), self._now()),
            "address_policy": lambda: self._address_policy(result),
            "resolvers": lambda: wf.resolvers(config),
            "links": lambda: wf.links(c.subinterfaces(), config),
            "routes": lambda: routes,
            "ipv6": lambda: wf.ipv6(config, routes),
            "pmtu": lambda: wf.pmtu(reg),
            "keepalive": lambda: wf.keepalive(reg),
            "conntrack": lambda: Unknown("Windows has no connection-tracking table (netfilter is Linux's)"),
        }
        for name in sorted(wanted | ({"resolvers"} if "dns" in wanted else set()) | (
                {"links", "routes"} if "paths" in wanted else set())):
            if name in facts:
                setattr(result, name, facts[name]())
        if reg is not None and not isinstance(reg, Unknown):
            result.sysctls.update({f"registry {name}": _registry_value(reg, name) for name in REGISTRY_KEYS})
        self._probe(result, wanted)
        return result

    def _raw_ranges(self, result: Facts) -> None:
        """The four dynamic ranges as numbers (the planner widens each) and as settings."""
        ranges = {}
        for setting in SETTINGS:
            parsed = wf.dynamic_ports(self.commands.dynamic_ports(*setting.split()), setting)
            if not isinstance(parsed, Unknown):
                ranges[setting] = (parsed.start, parsed.count)
            result.sysctls[f"dynamicport {setting}"] = (parsed if isinstance(parsed, Unknown)
                                                        else f"start={parsed.start} num={parsed.count}")
        result.host["dynamic_ports"] = ranges

    def _address_policy(self, result: Facts):
        text = self.commands.prefix_policies()
        policy = wf.address_policy(text)
        if not isinstance(policy, Unknown):
            from netwarden.platform.parse.windows.netsh_interfaces import parse_prefix_policies

            rows = {row.prefix: (row.precedence, row.label) for row in parse_prefix_policies(text) or ()}
            result.host["prefix_policies"] = rows
            row = rows.get(V4_MAPPED)
            result.sysctls[POLICY_KEY] = f"{row[0]} {row[1]}" if row else "absent"
        return policy

    def _now(self) -> float | None:
        import math

        try:
            now = self.source.call("clock.now", wall_clock)
        except OSError:
            return None
        return now if math.isfinite(now) else None  # a bundle's NaN: the events stay undated

    def _probe(self, result: Facts, wanted: set[str]) -> None:
        """The same probes as Linux, resolved in-process (no getent here); the path-MTU transfer is
        not measured on Windows."""
        from netwarden.platform import linux_net as net
        from netwarden.platform.parse.netfs import best_route, is_ip_address

        targets = self.settings.parsed_targets
        if not targets or not wanted & {"targets", "dns", "paths"}:
            return
        if wanted & {"targets", "paths"}:
            result.targets = net.probe_targets(self.source, targets, self.settings.probe_timeout, in_process=True)
        if "dns" in wanted:
            names = sorted({t.host for t in targets if not is_ip_address(t.host)}) or ["."]
            result.dns = (net.probe_dns(self.source, result.resolvers, names) if isinstance(result.resolvers, Resolvers)
                          else Unknown(f"nameservers unknown: {result.resolvers.reason}"))
        if "paths" in wanted:
            routes = result.routes if isinstance(result.routes, tuple) else ()
            mtus = {link.name: link.mtu for link in result.links} if isinstance(result.links, tuple) else {}
            paths = []
            for t in result.targets:
                if not t.addresses:
                    paths.append(PathProbe(t.target, "", error=t.error or "no address"))
                    continue
                route = best_route(routes, t.addresses[0][1])
                dev = route.dev if route else ""
                paths.append(PathProbe(t.target, t.addresses[0][1], dev, mtus.get(dev, 0), error=wf.NOT_MEASURED))
            result.paths = tuple(paths)

    def setting_keys(self, wanted) -> tuple[str, ...]:
        """What the daemon polls for drift behind these facts (read_setting reads each)."""
        return tuple(sorted({key for name in wanted for key in SETTING_KEYS.get(name, ())}))

    def read_setting(self, key: str) -> str | Unknown:
        c = self.commands
        c.forget()
        if key.startswith("dynamicport ") and key[12:] in SETTINGS:
            parsed = wf.dynamic_ports(c.dynamic_ports(*key[12:].split()), key)
            return parsed if isinstance(parsed, Unknown) else f"start={parsed.start} num={parsed.count}"
        if key == POLICY_KEY:
            row = self._policy_row()
            return row if isinstance(row, Unknown) else f"{row[0]} {row[1]}" if row else "absent"
        if key.startswith("registry ") and key[9:] in REGISTRY_KEYS:
            reg = wf.registry(c.tcpip_parameters())
            return reg if isinstance(reg, Unknown) else _registry_value(reg, key[9:])
        return Unknown(f"not a Windows setting netwarden reads: {key[:60]!r}")

    def watched_files(self) -> dict[str, tuple[str, ...]]:
        """None: Windows keeps these settings in the registry and netsh, which the daemon polls."""
        return {}

    def realize(self, finding: Finding, facts: Facts) -> Finding:
        from netwarden.platform.windows_plan import realize

        return realize(finding, facts, self.settings)

    # ---- change --------------------------------------------------------------------------------

    def refusal(self, change: Change) -> str | None:
        """Why apply() would refuse `change` (a range netsh does not accept), or None."""
        if change.kind == DYNAMIC:
            values = parse_start_num(change.new)
            return "not a start=N num=N value" if values is None else dynamic_problem(change.target, *values)
        return None if change.kind == PREFIX_POLICY else f"Windows makes no {change.kind!r} change"

    def dropin_change(self, changes: list[Change]) -> Change | None:
        """None: netsh's changes persist by themselves (no file keeps them)."""
        return None

    def snapshot(self, change: Change) -> dict:
        """The current value of a change's target, as journal-ready JSON."""
        if change.kind == DYNAMIC:
            start, num = self._dynamic(change.target)
            return {"start": start, "num": num}
        if change.kind == PREFIX_POLICY:
            row = self._policy_row()
            if isinstance(row, Unknown):
                raise ChangeFailed(row.reason)
            return {"present": False} if row is None else {"present": True, "precedence": row[0], "label": row[1]}
        raise ChangeFailed(f"Windows makes no {change.kind!r} change")

    def apply(self, change: Change) -> None:
        if change.kind == DYNAMIC:
            values = parse_start_num(change.new)
            if values is None:
                raise ChangeFailed(f"{change.target}: not a start=N num=N value: {change.new[:40]!r}")
            self._set_dynamic(change.target, *values)
        elif change.kind == PREFIX_POLICY:
            words = change.new.split()
            if change.target != V4_MAPPED or len(words) != 2 or not all(w.isascii() and w.isdigit() for w in words):
                raise ChangeFailed(f"{change.target[:60]}: not a prefix policy netwarden sets")
            self._set_policy(int(words[0]), int(words[1]))
        else:
            raise ChangeFailed(f"Windows makes no {change.kind!r} change")

    def restore(self, kind: str, target: str, original) -> None:
        """Put a target back; nothing is run when it already holds the original."""
        if kind == DYNAMIC:
            if not isinstance(original, dict) or dynamic_problem(target, original.get("start"), original.get("num")):
                raise ChangeFailed(f"{target[:60]}: the journaled original is unusable; it stays in the journal")
            if self._dynamic(target) != (original["start"], original["num"]):
                self._set_dynamic(target, original["start"], original["num"])
            return
        if kind == PREFIX_POLICY and target == V4_MAPPED and _policy_original(original):
            row = self._policy_row()
            if isinstance(row, Unknown):
                raise ChangeFailed(row.reason)
            if not original["present"]:
                if row is not None:
                    self._netsh(policy_argv("delete"))
                return
            wanted = (original["precedence"], original["label"])
            if row != wanted:
                self._set_policy(*wanted)
            return
        raise ChangeFailed(f"{target[:60]}: the journaled original is unusable ({kind}); it stays in the journal")

    def _dynamic(self, setting: str) -> tuple[int, int]:
        self.commands.forget()
        parsed = wf.dynamic_ports(self.commands.dynamic_ports(*setting.split()), setting)
        if isinstance(parsed, Unknown):
            raise ChangeFailed(f"{setting}: {parsed.reason}")
        return parsed.start, parsed.count

    def _set_dynamic(self, setting: str, start: int, num: int) -> None:
        try:
            argv = dynamic_argv(setting, start, num)
        except ValueError as e:
            raise ChangeFailed(f"{setting}: {e}") from None
        self._netsh(argv)
        back = self._dynamic(setting)
        if back != (start, num):
            raise ChangeFailed(f"{setting}: set start={start} num={num} but it reads back start={back[0]} num={back[1]}")

    def _policy_row(self) -> tuple[int, int] | None | Unknown:
        """(precedence, label) of ::ffff:0:0/96, None when the table has no such row."""
        from netwarden.platform.parse.windows.netsh_interfaces import parse_prefix_policies

        self.commands.forget()
        text = self.commands.prefix_policies()
        rows = text if isinstance(text, Unknown) else parse_prefix_policies(text)
        if rows is None:
            return Unknown("`netsh interface ipv6 show prefixpolicies`: nothing readable in its output")
        if isinstance(rows, Unknown):
            return rows
        return next(((r.precedence, r.label) for r in rows if r.prefix == V4_MAPPED), None)

    def _set_policy(self, precedence: int, label: int) -> None:
        row = self._policy_row()
        if isinstance(row, Unknown):
            raise ChangeFailed(row.reason)
        self._netsh(policy_argv("set" if row is not None else "add", precedence, label))
        back = self._policy_row()
        if back != (precedence, label):
            raise ChangeFailed(f"{V4_MAPPED}: set to {precedence} {label} but it reads back {back}")

    def _netsh(self, args: list[str]) -> None:
        """Run a netsh set/add/delete; ChangeFailed with one line unless netsh says it was done."""
        from netwarden.platform.parse.windows.netsh_result import NEEDS_ELEVATION, OK, classify_netsh_result

        command = shown(self.commands.argv("netsh.exe", *args))
        try:
            result = self.commands.run("netsh.exe", *args)
        except OSError as e:
            raise ChangeFailed(f"`{command}`: {e.strerror or e}") from None
        verdict = classify_netsh_result(f"{result.stdout}\n{result.stderr}", result.returncode)
        if verdict.status == OK:
            return
        said = _one_line(verdict.message) or "no message"
        if verdict.status == NEEDS_ELEVATION:
            raise ChangeFailed(f"`{command}` needs an elevated prompt (Run as administrator): {said}")
        raise ChangeFailed(f"`{command}` exited {result.returncode}: {said}")


def _registry_value(reg, name: str) -> str:
    value = wf.dword(reg, name)
    return "absent" if value is None else str(value)


def _policy_original(original) -> bool:
    if not isinstance(original, dict) or not isinstance(original.get("present"), bool):
        return False
    return not original["present"] or all(
        isinstance(original.get(k), int) and not isinstance(original.get(k), bool) for k in ("precedence", "label"))
