"""Configuration: a TOML file plus NETWARDEN_* environment variables, validated by pydantic-settings.

The schema is written once, as the records below (record.py: dataclasses without their import
cost). Building them costs nothing, so when there is neither a config file nor a NETWARDEN_*
variable, netwarden runs on the defaults without importing pydantic (~220 ms, which would dwarf
`netwarden check`). When there is something to
read, config_load.py derives a pydantic-settings class from the same records to read it; the
rules every value must follow (ranges, paths, names) are here, and hold however Settings is built.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from netwarden import record
from netwarden.record import field

DEFAULT_CONFIG = (Path(os.environ.get("ProgramData") or "C:\\ProgramData") / "netwarden" / "netwarden.toml"
                  if sys.platform == "win32" else Path("/etc/netwarden/netwarden.toml"))
ENV_PREFIX = "NETWARDEN_"
CONFIG_ENV = "NETWARDEN_CONFIG"
MAX_CONFIG_BYTES = 1 << 20  # a netwarden.toml is a few KiB: more is the wrong file
UTF8_BOM = b"\xef\xbb\xbf"
# TOML's comments take no control character but tab (U+0000-U+0008, U+000A-U+001F, U+007F): here
# the bytes of those, LF aside (it ends the line; a CR is taken out of each CRLF first).
_NOT_IN_COMMENTS = bytes(c for c in range(0x20) if c not in (0x09, 0x0A)) + b"\x7f"

Policy = Literal["observe", "enforce", "always", "ignore"]


def platform_paths(system: str = sys.platform) -> dict[str, Path]:
    """The state directory and control socket by default. macOS has no /run and keeps daemons'
    state under /var/db; launchd/com.netwarden.daemon.plist names the same paths (tested).
    Windows keeps services' state under %ProgramData%."""
    if system == "win32":
        base = Path(os.environ.get("ProgramData") or "C:\\ProgramData") / "netwarden"
        return {"state_dir": base, "socket_path": base / "netwarden.sock"}
    if system == "darwin":
        return {"state_dir": Path("/var/db/netwarden"), "socket_path": Path("/var/run/netwarden/netwarden.sock")}
    return {"state_dir": Path("/var/lib/netwarden"), "socket_path": Path("/run/netwarden/netwarden.sock")}


_PATHS = platform_paths()


class ConfigError(Exception):
    """A configuration that cannot be used; the message is one line naming the key."""


def number(default: float, *, le: float, gt: float | None = None, ge: float | None = None, unit: str = ""):
    """A numeric setting with its sane range (config_rules checks it, README "Configuration" shows it)."""
    bounds = {name: value for name, value in (("gt", gt), ("ge", ge), ("le", le)) if value is not None}
    return field(default=default, metadata={"bounds": bounds, "unit": unit})


def _changed(obj) -> bool:
    """Whether any field is not its untouched default (a nested record checked itself)."""
    for f in record.fields(obj):
        value = getattr(obj, f.name)
        if not (value is f.default or record.is_record(value)
                or (f.default is record.MISSING and not value)):
            return True
    return False


@record.record(frozen=True)
class Thresholds:
    # ports.range: usable ephemeral ports (range minus reserved ports)
    ports_range_critical: int = number(4096, ge=1, le=65535, unit="ports")
    ports_range_warning: int = number(16384, ge=1, le=65535, unit="ports")
    # ports.pressure: share of the usable range held towards one destination
    ports_pressure_warning: float = number(0.5, gt=0, le=1)
    ports_pressure_critical: float = number(0.8, gt=0, le=1)
    # conntrack: share of nf_conntrack_max in use
    conntrack_warning: float = number(0.8, gt=0, le=1)
    conntrack_critical: float = number(0.9, gt=0, le=1)
    # dns.resolvers: an answer slower than this (milliseconds) is a warning
    dns_slow_ms: float = number(500.0, gt=0, le=60000, unit="milliseconds")

    def __post_init__(self) -> None:
        if _changed(self):
            from netwarden.config_rules import check_thresholds

            check_thresholds(self)


SECONDS = "seconds"


@record.record(frozen=True)
class Settings:
    # Where netwarden keeps its journal of originals and its apply lock.
    state_dir: Path = _PATHS["state_dir"]
    # netwarden's own sysctl drop-in: <sysctl_dir>/<sysctl_dropin>.
    sysctl_dir: Path = Path("/etc/sysctl.d")
    sysctl_dropin: str = "60-netwarden.conf"
    # Where boot-time sysctl settings come from, in systemd-sysctl's precedence order.
    sysctl_search_dirs: tuple[Path, ...] = (
        Path("/etc/sysctl.d"),
        Path("/run/sysctl.d"),
        Path("/usr/local/lib/sysctl.d"),
        Path("/usr/lib/sysctl.d"),
        Path("/lib/sysctl.d"),
    )
    sysctl_conf: Path = Path("/etc/sysctl.conf")
    # Kernel state; point elsewhere to read a host's /proc mounted into a container.
    proc_dir: Path = Path("/proc")
    # Apply lock; default <state_dir>/apply.lock.
    lock_path: Path | None = None
    # How long a second --apply waits for the first before giving up (0: not at all).
    lock_timeout: float = number(30.0, ge=0, le=3600, unit=SECONDS)
    # WSL2 only: the Windows-side .wslconfig; default: found under /mnt/c/Users.
    wslconfig_path: Path | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    # host:port pairs the network checks probe (ipv6.preference, dns.resolvers, mtu.path,
    # tunnels.stale); env NETWARDEN_TARGETS as a JSON list. No targets: nothing is probed.
    targets: tuple[str, ...] = ()
    # How long a probe (TCP connect, transfer) may take before it counts as a timeout.
    probe_timeout: float = number(3.0, gt=0, le=3600, unit=SECONDS)
    # ipv6.preference writes its precedence block here.
    gai_conf: Path = Path("/etc/gai.conf")
    # dns.resolvers: the resolver file, systemd-resolved's drop-in directory, and servers to add
    # after the live ones when netwarden rewrites a static resolv.conf.
    resolv_conf: Path = Path("/etc/resolv.conf")
    resolved_conf_dir: Path = Path("/etc/systemd/resolved.conf.d")
    dns_fallback: tuple[str, ...] = ()
    # keepalive.idle: the shortest idle timeout of a NAT / load balancer / firewall on the path
    # (Azure 240, AWS ~350, Cloudflare 400). At most the kernel's largest keepalive time.
    middlebox_idle_budget: int = number(300, ge=60, le=32767, unit=SECONDS)
    # tunnels.stale: let --apply delete routes through dead tunnels (otherwise advice only).
    tunnels_remove_stale_routes: bool = False
    # Per check id: "observe" (report; default), "enforce" (the daemon applies its fix, and backs
    # off when someone else changes the value), "always" (enforce even then), "ignore" (skip).
    policy: dict[str, Policy] = field(default_factory=dict)

    # ---- daemon ---- (intervals of at least 0.1 s: none may spin a core)
    # Between reads of the sysctls the checks use (/proc/sys has no inotify).
    poll_interval: float = number(5.0, ge=0.1, le=86400, unit=SECONDS)
    # Between socket censuses (ports.pressure).
    census_interval: float = number(30.0, ge=0.1, le=86400, unit=SECONDS)
    # Between probes of the targets (ipv6.preference, dns.resolvers, mtu.path).
    probe_interval: float = number(300.0, ge=0.1, le=86400, unit=SECONDS)
    # Events within this long of a check run are coalesced into the next run.
    debounce: float = number(0.2, ge=0, le=60, unit=SECONDS)
    # Files watched for changes, besides the sysctl files and the config file.
    watch_files: tuple[Path, ...] = (
        Path("/etc/gai.conf"), Path("/etc/resolv.conf"), Path("/etc/hosts"),
        Path("/etc/nsswitch.conf"), Path("/etc/wsl.conf"),
    )
    # Watch links and routes (netlink on Linux, the routing socket on macOS, re-read every
    # census_interval on Windows).
    watch_kernel: bool = True
    # Drift events kept in <state_dir>/history.jsonl.
    history_size: int = number(1000, ge=1, le=100000, unit="events")
    # Writes of one key per hour before the daemon backs off and alerts.
    enforce_max_per_hour: int = number(3, ge=1, le=3600)
    # On stop, put back every original (as --revert does) instead of leaving the fixes in place.
    rollback_on_stop: bool = False
    # Drift events as a JSON POST to this URL (timeout and retries with back-off).
    webhook_url: str | None = None
    webhook_timeout: float = number(5.0, gt=0, le=3600, unit=SECONDS)
    webhook_retries: int = number(3, ge=0, le=20)
    # A command (argv, no shell) run with each drift event as JSON on stdin.
    exec_hook: tuple[str, ...] = ()
    exec_hook_timeout: float = number(10.0, gt=0, le=3600, unit=SECONDS)

    # ---- control socket (`netwarden status`) ---- (env NETWARDEN_SOCKET too: SOCKET_ENV)
    socket_path: Path = _PATHS["socket_path"]
    # Members of this group (name or number) may read; "", or a group that does not exist: root only.
    socket_group: str | None = "netwarden"
    socket_idle_timeout: float = number(30.0, gt=0, le=3600, unit=SECONDS)
    # Each client holds a file descriptor (a service's soft limit is commonly 1024).
    socket_max_clients: int = number(64, ge=1, le=512, unit="clients")

    # ---- Prometheus metrics (opt-in) ----
    metrics_address: str | None = None  # "127.0.0.1:9847": loopback only
    metrics_textfile: Path | None = None  # for node_exporter's textfile collector
    metrics_top_destinations: int = number(10, ge=1, le=100, unit="destinations")

    def __post_init__(self) -> None:
        if _changed(self):  # the defaults follow the rules (tested): no need to import them at start-up
            from netwarden.config_rules import check_settings

            check_settings(self)

    def metrics_endpoint(self) -> tuple[str, int]:
        """(host, port) of metrics_address; loopback only: the fleet view goes through a scraper on the host."""
        import ipaddress

        from netwarden.target import Target

        try:
            endpoint = Target.parse(self.metrics_address or "")
            if endpoint.host == "localhost" or ipaddress.ip_address(endpoint.host).is_loopback:
                return endpoint.host, endpoint.port
        except ValueError:
            pass
        raise ValueError("must be a loopback host:port, e.g. 127.0.0.1:9847")

    @property
    def parsed_targets(self):
        from netwarden.target import Target

        return [Target.parse(t) for t in self.targets]

    @property
    def dropin_path(self) -> Path:
        return self.sysctl_dir / self.sysctl_dropin

    @property
    def apply_lock(self) -> Path:
        return self.lock_path or self.state_dir / "apply.lock"

    def policy_for(self, check_id: str) -> str:
        return self.policy.get(check_id, "observe")


def config_file_path(path: str | os.PathLike | None = None) -> Path:
    """The config file in force: `path`, else $NETWARDEN_CONFIG, else the default location."""
    explicit = path if path is not None else os.environ.get(CONFIG_ENV)
    return Path(explicit) if explicit else DEFAULT_CONFIG


# The environment names of socket_path: the documented short one and the generic one. Empty
# NETWARDEN_* values count as unset, as an empty NETWARDEN_CONFIG does.
SOCKET_ENV = ("NETWARDEN_SOCKET", "NETWARDEN_SOCKET_PATH")


def socket_from_environment(environ) -> str | None:
    values = {environ[name] for name in SOCKET_ENV if environ.get(name)}
    if len(values) > 1:
        raise ConfigError(f"{' and '.join(SOCKET_ENV)} name different sockets: set one")
    return values.pop() if values else None


def control_socket_path(path: str | os.PathLike | None = None) -> Path:
    """Where the daemon listens, found without pydantic (`netwarden status` must start fast), by
    load_settings' rules: $NETWARDEN_SOCKET or $NETWARDEN_SOCKET_PATH (a bad value is a
    ConfigError), else `socket_path` in the config file, else the default. A config file named
    (`--config`, $NETWARDEN_CONFIG) or any other NETWARDEN_* variable is validated as `check`
    validates it (a ConfigError: a typo must not send the client to another daemon's socket, and
    what netwarden cannot use is refused by every command alike; remembered, so fast after the
    first run); the default file, not named, that cannot be used just means the default socket."""
    environment = our_environment()
    if path is not None or os.environ.get(CONFIG_ENV) or set(environment) - set(SOCKET_ENV):
        return load_settings(path).socket_path
    value = socket_from_environment(environment)
    if value is not None:
        return _socket_path(value, "/".join(name for name in SOCKET_ENV if os.environ.get(name)))
    try:
        data = read_config_file(config_file_path(path), explicit=False)
        table = toml_module().loads(data.decode()) if data and not _only_comments(data) else {}
        return _socket_path(table["socket_path"], "socket_path")
    except (ConfigError, KeyError, ValueError, TypeError, RecursionError):  # no such key, not TOML, not UTF-8...
        return _PATHS["socket_path"]


def _socket_path(value, where: str) -> Path:
    from netwarden.config_rules import SettingError, check_socket_path

    try:
        check_socket_path(Path(value))
    except SettingError as e:
        raise ConfigError(f"{where}: {e}") from None
    return Path(value)



def our_environment() -> dict[str, str]:
    """The NETWARDEN_* variables in any case (pydantic-settings reads them so), NETWARDEN_CONFIG aside."""
    return {k: v for k, v in os.environ.items() if k[:len(ENV_PREFIX)].upper() == ENV_PREFIX and k != CONFIG_ENV}


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Settings from `path` (else $NETWARDEN_CONFIG, else the default file if present) and the
    environment. ConfigError when a value, a file or a NETWARDEN_* name cannot be used."""
    explicit = bool(path if path is not None else os.environ.get(CONFIG_ENV))
    config_file = config_file_path(path)
    data = read_config_file(config_file, explicit)
    environment = our_environment()
    if not environment and (data is None or _only_comments(data)):
        return Settings()
    from netwarden import config_cache

    cache_key = config_cache.key(data, config_file, environment)
    settings = config_cache.load(cache_key)
    if settings is None:  # not validated before with exactly these inputs: pydantic does it
        from netwarden.config_load import validate

        settings = validate(data, config_file, environment)
        config_cache.store(cache_key, settings)
    return settings


def read_config_file(path: Path, explicit: bool) -> bytes | None:
    """The file's bytes; None when no file was named and the default one is absent. Anything
    that is not a readable regular file of sane size is a ConfigError saying what it is."""
    import stat

    try:  # O_NONBLOCK: a FIFO named by mistake must not hang netwarden
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} not found") from None
        return None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise ConfigError(f"config file {path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"config file {path} is a directory (give the file: {path}/netwarden.toml?)")
        if not stat.S_ISREG(mode):
            raise ConfigError(f"config file {path} is not a regular file")
        with open(fd, "rb", closefd=False) as f:  # read() loops until the size or the end
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"config file {path}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is over {MAX_CONFIG_BYTES >> 20} MiB: not a netwarden configuration")
    return data.removeprefix(UTF8_BOM)  # Windows Notepad starts a UTF-8 file with one; TOML does not allow it


def toml_module():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def _only_comments(data: bytes) -> bool:
    """Blank lines and comments only, as the packaged file ships: the defaults, and no pydantic
    (nor even tomllib: ~8 ms of `netwarden check` on a packaged host). Only what TOML takes in a
    comment, so that this shortcut accepts no file the parser would refuse: UTF-8 text without
    control characters but tab (a CR only before a LF). Anything else goes to the parser, which
    says what is wrong."""
    lines = data.replace(b"\r\n", b"\n")
    if len(lines.translate(None, _NOT_IN_COMMENTS)) != len(lines):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(not line.strip() or line.lstrip().startswith(b"#") for line in lines.split(b"\n"))
