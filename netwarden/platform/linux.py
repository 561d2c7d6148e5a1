"""Linux (and WSL2) backend: collects Facts from /proc and netlink, carries out Changes."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from netwarden import __version__
from netwarden.config import Settings
from netwarden.fsutil import FileOriginal, UnsafePath, read_original, replace_file, restore_original, write_refusal
from netwarden.model import Census, Change, Destination, Facts, Finding, PlatformInfo, Route, Unknown
from netwarden.platform.linux_types import BootSysctls, SockStat
from netwarden.platform.parse.netfs import is_ip_address
from netwarden.platform.parse.procfs import parse_port_range, parse_sockstat
from netwarden.platform.parse.sysctl_conf import parse_sysctl_conf, same_value, valid_sysctl_key
from netwarden.platform.source import NotRecorded, Source, answers, file_bytes, unknown_if_not_recorded

PORT_RANGE = "net.ipv4.ip_local_port_range"
DISABLE_IPV6 = "net.ipv6.conf.all.disable_ipv6"


def valid_ifname(name: object) -> bool:
    """A Linux interface name: 1-15 bytes, no '/', no whitespace, not '.' or '..'."""
    return isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_.:@+-]{1,15}", name) is not None and name not in (".", "..")


@answers(int)
def _file_mode(path: str) -> int:
    return os.stat(path).st_mode


@answers(bool)
def _read_only_fs(path: str) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def _kept_owner(path: str) -> tuple[int, int | None, int | None]:
    """(mode, uid, gid) a rewritten file keeps: its own; 0644 and this user's for a new one."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return 0o644, None, None
    return st.st_mode & 0o7777, st.st_uid, st.st_gid


class ChangeFailed(Exception):
    """A change that could not be made, or that read back different from what was written."""


def _explain(e: OSError, sysctl: bool = False) -> str:
    """An OSError in words; for a /proc/sys path, ENOENT means the kernel lacks the setting and
    EINVAL that it refused the value (elsewhere EINVAL has its own words: "not a regular file")."""
    if isinstance(e, UnsafePath):
        return f"{e.strerror}"
    if e.errno == errno.ENOENT and not sysctl:
        return f"{e.filename} does not exist" if e.filename else "no such file or directory"
    if e.errno == errno.EINVAL and not sysctl:
        return e.strerror or str(e)
    return {
        errno.ENOENT: "this kernel has no such setting",
        errno.EROFS: "/proc/sys is read-only here (a container?)",
        errno.EACCES: "permission denied (needs root)",
        errno.EPERM: "operation not permitted (needs root / CAP_NET_ADMIN)",
        errno.EINVAL: "the kernel rejected the value",
        errno.ENOSPC: "no space left on the device",
    }.get(e.errno, e.strerror or str(e))


def _malformed_original(kind: str, original) -> str | None:
    """Why a journaled original cannot be put back as `kind`, or None (a hand-edited or damaged
    journal must fail one revert clearly, not crash it)."""
    if kind == "sysctl":
        return None if isinstance(original, str) and "\n" not in original.strip() else "not a sysctl value"
    if kind == "file":
        try:
            FileOriginal.from_json(original)
            return None
        except (KeyError, TypeError, ValueError, AttributeError) as e:  # binascii.Error is a ValueError
            return f"not a file original: {type(e).__name__}"
    if kind == "route-del":
        from netwarden.platform.linux_routes import malformed_original

        return malformed_original(original)
    return f"unknown change kind {kind!r}"


def _route_of(change: Change) -> dict:
    import json  # only for a route change: kept off `netwarden check`'s start-up

    return json.loads(change.current)


class LinuxBackend:
    def __init__(self, source: Source, settings: Settings, platform: PlatformInfo):
        self.source = source
        self.settings = settings
        self.platform = platform

    # ---- collect -------------------------------------------------------------------------------

    def collect(self, wanted: set[str]) -> Facts:
        """The neutral facts in `wanted` (and the raw Linux facts they come from)."""
        from netwarden.platform import linux_facts

        sysctls, raw = linux_facts.raw_needs(wanted)
        result = self._collect_raw(sysctls, raw)
        linux_facts.derive(result, wanted, self.settings)
        return result

    def setting_keys(self, wanted) -> tuple[str, ...]:
        """What the daemon polls for drift behind these facts: sysctl names."""
        from netwarden.platform.linux_facts import setting_keys

        return setting_keys(wanted)

    def watched_files(self) -> dict[str, tuple[str, ...]]:
        """The files behind the facts (a change re-runs the checks that read them): the sysctl
        files decide the range at boot."""
        s = self.settings
        watched = {str(s.gai_conf): ("address_policy",), str(s.resolv_conf): ("resolvers", "dns")}
        for path in (s.sysctl_dir, *s.sysctl_search_dirs, s.sysctl_conf):
            watched[str(path)] = ("port_range",)
        return watched

    def realize(self, finding: Finding, facts: Facts) -> Finding:
        from netwarden.platform.linux_plan import realize

        return realize(finding, facts, self.settings)

    def _collect_raw(self, sysctls: set[str], facts: set[str]) -> Facts:
        result = Facts(platform=self.platform)
        if "census" in facts:
            sysctls = sysctls | {PORT_RANGE}
        result.sysctls = {key: self.read_sysctl(key) for key in sorted(sysctls)}
        if "boot_sysctls" in facts:
            result.boot_sysctls = self.boot_sysctls()
        if "sockstat" in facts:
            result.sockstat = self._sockstat()
        if "census" in facts:
            result.census = self._census(result.sysctls[PORT_RANGE])
        if "windows_host" in facts and self.platform.flavor == "wsl2":
            from netwarden.platform.wsl import windows_side

            result.host["windows_host"] = windows_side(self.source, policies="gai" in facts)
        self._collect_network(result, facts)
        return result

    def _collect_network(self, result: Facts, facts: set[str]) -> None:
        """Links, routes, resolver files, and (only with targets configured) the probes."""
        from netwarden.platform import linux_net as net

        proc = str(self.settings.proc_dir)
        if facts & {"links", "paths"}:
            result.links = net.links(self.source)
        if facts & {"routes", "ipv6", "paths"}:
            result.routes = net.routes(self.source, proc)
        if "ipv6" in facts:
            disabled = self.read_sysctl(DISABLE_IPV6)
            result.ipv6 = net.ipv6_state(self.source, proc, disabled, result.routes)
        if "gai" in facts:
            result.gai = net.gai_conf(self.source, str(self.settings.gai_conf))
        if facts & {"resolv", "dns"}:
            result.resolv = net.resolv_conf(self.source, str(self.settings.resolv_conf))
        if "read_only_sysctls" in facts:
            result.read_only_sysctls = tuple(k for k in sorted(result.sysctls) if self._read_only(k))
        targets = self.settings.parsed_targets
        if not targets or not facts & {"targets", "dns", "paths"}:
            return
        if facts & {"targets", "paths"}:
            result.targets = net.probe_targets(self.source, targets, self.settings.probe_timeout)
        if "dns" in facts and not isinstance(result.resolv, Unknown) and not result.resolv.dangling:
            names = sorted({t.host for t in targets if not is_ip_address(t.host)}) or ["."]
            result.dns = net.probe_dns(self.source, result.resolv, names)
        if "paths" in facts:
            result.paths = net.probe_paths(self.source, result.targets, result.routes, result.links,
                                           self.settings.probe_timeout)

    def _read_only(self, key: str) -> bool:
        """A sysctl the kernel shows read-only (mode 0444): e.g. nf_conntrack_max outside the
        host's network namespace."""
        try:
            mode = self.source.call("stat.mode", _file_mode, self._sysctl_path(key))
        except OSError:
            return False
        return not mode & 0o222

    def _sysctl_path(self, key: str) -> str:
        if not valid_sysctl_key(key):
            raise ValueError(f"not a sysctl name: {key!r}")
        return f"{self.settings.proc_dir}/sys/{key.replace('.', '/')}"

    def read_setting(self, key: str) -> str | Unknown:
        """The backend interface's name for what the daemon polls: here a sysctl."""
        return self.read_sysctl(key)

    def read_sysctl(self, key: str) -> str | Unknown:
        if self.platform.flavor == "wsl1":
            return Unknown("WSL1 has no Linux network stack: Windows' settings apply")
        try:
            return self.source.read(self._sysctl_path(key)).strip()
        except OSError as e:
            return Unknown(f"{key}: {_explain(e, sysctl=True)}")

    @unknown_if_not_recorded
    def boot_sysctls(self) -> BootSysctls | Unknown:
        """What systemd-sysctl applies at boot: *.conf by file name across the search directories
        (a name in an earlier directory masks the same name later), then sysctl.conf, as
        `sysctl --system` does. Later assignments win."""
        dirs = [self.settings.sysctl_dir] + [d for d in self.settings.sysctl_search_dirs if d != self.settings.sysctl_dir]
        chosen: dict[str, str] = {}
        problems: list[str] = []
        for directory in dirs:
            try:
                names = self.source.listdir(str(directory))
            except NotRecorded:
                raise  # a directory the bundle does not list may hold the file that sets a key
            except FileNotFoundError:
                continue
            except OSError as e:
                problems.append(f"{directory}: {_explain(e)}")
                continue
            for name in names:
                if name.endswith(".conf"):
                    chosen.setdefault(name, f"{directory}/{name}")
        files = [chosen[name] for name in sorted(chosen)] + [str(self.settings.sysctl_conf)]
        assignments = []
        for path in files:
            try:
                text = self.source.read(path)
            except NotRecorded:
                raise
            except FileNotFoundError:
                continue
            except OSError as e:
                problems.append(f"{path}: {_explain(e)}")
                continue
            found, bad = parse_sysctl_conf(text, path)
            assignments += found
            problems += bad
        return BootSysctls(tuple(assignments), tuple(problems))

    def _sockstat(self) -> SockStat | Unknown:
        path = f"{self.settings.proc_dir}/net/sockstat"
        try:
            parsed = parse_sockstat(self.source.read(path))
        except OSError as e:
            return Unknown(f"{path}: {_explain(e)}")
        return parsed or Unknown(f"{path}: no TCP line")

    def _census(self, port_range: str | Unknown) -> Census | Unknown:
        if isinstance(port_range, Unknown):
            return Unknown(f"needs the port range: {port_range.reason}")
        bounds = parse_port_range(port_range)
        if bounds is None:
            return Unknown(f"cannot read the port range {port_range!r}")
        from netwarden.platform import sockdiag

        try:
            data = self.source.call("sock_diag.census", sockdiag.census, *bounds)
        except OSError as e:
            return Unknown(f"sock_diag census failed: {_explain(e)}")
        return Census(data["window"], data["sockets"], data["time_wait"],
                      tuple(Destination(**d) for d in data["destinations"]))

    # ---- change --------------------------------------------------------------------------------

    def dropin_change(self, sysctl_changes: list[Change]) -> Change | None:
        """One write of netwarden's own drop-in carrying every persistent sysctl change, keeping the
        lines it already has for other keys (and any line it cannot read) as they are."""
        persistent = {c.target: c for c in sysctl_changes if c.kind == "sysctl" and c.persist}
        if not persistent:
            return None
        from netwarden.platform.parse.lines import Line, join_lines, split_lines

        path = self.settings.dropin_path
        try:  # through the Source, so a replayed bundle plans against its own host's drop-in
            lines = split_lines(self.source.read(str(path)))
        except FileNotFoundError:
            lines = []
        except OSError as e:
            raise ChangeFailed(f"{path}: {_explain(e)}") from None
        if not lines:
            lines = [Line(f"# Written by netwarden {__version__}. `netwarden --revert` puts back what was here before.")]
        for change in persistent.values():
            line = f"{change.target} = {change.new}"
            found, _ = parse_sysctl_conf(join_lines(lines), str(path))
            mine = [a.line for a in found if a.key == change.target]
            if mine:  # rewritten where it is, with its own line ending
                lines[mine[-1] - 1] = lines[mine[-1] - 1]._replace(body=line)
            else:
                lines += [Line(f"# {change.check}"), Line(line)]
        content = join_lines(lines)
        return Change(check=",".join(sorted({c.check for c in persistent.values()})), kind="file",
                      target=str(path), current=None, new=content,
                      summary=", ".join(f"{k} = {c.new}" for k, c in persistent.items()))

    def refusal(self, change: Change) -> str | None:
        """Why apply() would refuse `change` here, known before trying (a read-only sysctl, a
        symlinked or misplaced file), or None. Asked through the Source: a replay answers from its
        bundle, and an answer it lacks refuses nothing."""
        try:
            if change.kind == "sysctl":
                path = self._sysctl_path(change.target)
                if self.source.call("fs.read_only", _read_only_fs, path):
                    return f"{self.settings.proc_dir}/sys is read-only here (a container?)"
                return f"{change.target} is read-only here" if self._read_only(change.target) else None
            if change.kind == "file":
                return self.source.call("fs.write_refusal", write_refusal, change.target)
        except (OSError, ValueError):
            return None
        return None

    def snapshot(self, change: Change) -> str | dict:
        """The current state of a change's target, in the form `restore` takes (journal-ready JSON)."""
        if change.kind == "route-del":
            from netwarden.platform import linux_routes

            route = _route_of(change)
            present = self._route_present(route)
            saved = linux_routes.save(route) if present else None
            return {"route": route, "present": present, **({"saved": saved} if saved else {})}
        if change.kind == "sysctl":
            value = self.read_sysctl(change.target)
            if isinstance(value, Unknown):
                raise ChangeFailed(value.reason)
            return value
        try:
            return read_original(Path(change.target)).to_json()
        except OSError as e:
            raise ChangeFailed(f"{change.target}: {_explain(e)}") from None

    def apply(self, change: Change) -> None:
        if change.kind == "route-del":
            from netwarden.platform.linux_routes import ip_route

            route = _route_of(change)
            if self._route_present(route):
                ip_route("del", route)
        elif change.kind == "sysctl":
            self.write_sysctl(change.target, change.new)
        elif change.kind == "file":
            try:
                replace_file(Path(change.target), file_bytes(change.new), *_kept_owner(change.target))
            except OSError as e:
                raise ChangeFailed(f"{change.target}: {_explain(e)}") from None
            if self.source.read(change.target) != change.new:
                raise ChangeFailed(f"{change.target}: reads back different from what was written")
        else:
            raise ChangeFailed(f"unknown change kind {change.kind!r}")

    def restore(self, kind: str, target: str, original: str | dict) -> None:
        """Put a target back; nothing is written when it already holds the original (so rolling
        back a change that never happened works on a read-only /proc/sys too)."""
        problem = _malformed_original(kind, original)
        if kind == "sysctl" and not valid_sysctl_key(target):
            problem = "not a sysctl name"
        if problem:
            raise ChangeFailed(f"{target[:120]}: the journaled original is unusable ({problem}); it stays in the journal")
        if kind == "route-del":
            from netwarden.platform import linux_routes

            if original["present"] and not self._route_present(original["route"]):
                if "saved" in original:  # exactly as it was: every attribute
                    linux_routes.restore(original["route"], original["saved"])
                else:
                    linux_routes.ip_route("add", original["route"])
            return
        if kind == "sysctl":
            current = self.read_sysctl(target)
            if isinstance(current, Unknown) or current != original:
                self.write_sysctl(target, original)
            return
        try:
            restore_original(Path(target), FileOriginal.from_json(original))
        except OSError as e:
            raise ChangeFailed(f"{target}: {_explain(e)}") from None

    def _route_present(self, route: dict) -> bool:
        from netwarden.platform import linux_net as net

        table = net.routes(self.source, str(self.settings.proc_dir))
        if isinstance(table, Unknown):
            raise ChangeFailed(table.reason)
        return Route(**route) in table

    def write_sysctl(self, key: str, value: str) -> None:
        """Write /proc/sys and read back: `sysctl -w` exits 0 even when the kernel refuses."""
        path = self._sysctl_path(key)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)  # never O_CREAT under /proc
            try:
                os.write(fd, f"{value}\n".encode())
            finally:
                os.close(fd)
            back = self.source.read(path).strip()
        except OSError as e:
            raise ChangeFailed(f"{key}: {_explain(e, sysctl=True)}") from None
        if not same_value(back, value):
            raise ChangeFailed(f"{key}: wrote {value!r} but it reads back {back!r}")
