"""Configuration: a TOML file plus NETWARDEN_* environment variables, validated by pydantic-settings.

The schema is written once, as the stdlib dataclasses below. Building them costs nothing, so when
there is neither a config file nor a NETWARDEN_* variable, netwarden runs on the defaults without
importing pydantic (~220 ms, which would dwarf `netwarden check`). When there is something to
read, a pydantic-settings class is derived from the same dataclasses and does all the validation.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

DEFAULT_CONFIG = Path("/etc/netwarden/netwarden.toml")
ENV_PREFIX = "NETWARDEN_"
CONFIG_ENV = "NETWARDEN_CONFIG"

Policy = Literal["observe", "enforce", "always", "ignore"]


def platform_paths(system: str = sys.platform) -> dict[str, Path]:
    """The state directory and control socket by default. macOS has no /run and keeps daemons'
    state under /var/db; launchd/com.netwarden.daemon.plist names the same paths (tested)."""
    if system == "darwin":
        return {"state_dir": Path("/var/db/netwarden"), "socket_path": Path("/var/run/netwarden/netwarden.sock")}
    return {"state_dir": Path("/var/lib/netwarden"), "socket_path": Path("/run/netwarden/netwarden.sock")}


_PATHS = platform_paths()


class ConfigError(Exception):
    """A configuration that cannot be used; the message is one line naming the key."""


@dataclass(frozen=True)
class Thresholds:
    # ports.range: usable ephemeral ports (range minus reserved ports)
    ports_range_critical: int = 4096
    ports_range_warning: int = 16384
    # ports.pressure: share of the usable range held towards one destination
    ports_pressure_warning: float = 0.5
    ports_pressure_critical: float = 0.8
    # conntrack: share of nf_conntrack_max in use
    conntrack_warning: float = 0.8
    conntrack_critical: float = 0.9
    # dns.resolvers: an answer slower than this (milliseconds) is a warning
    dns_slow_ms: float = 500.0

    def __post_init__(self) -> None:
        if not 0 < self.conntrack_warning <= self.conntrack_critical <= 1 or self.dns_slow_ms <= 0:
            raise ValueError("need 0 < conntrack_warning <= conntrack_critical <= 1 and dns_slow_ms > 0")
        if not 0 < self.ports_range_critical <= self.ports_range_warning:
            raise ValueError("need 0 < ports_range_critical <= ports_range_warning")
        if not 0 < self.ports_pressure_warning <= self.ports_pressure_critical <= 1:
            raise ValueError("need 0 < ports_pressure_warning <= ports_pressure_critical <= 1")


@dataclass(frozen=True)
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
    # How long a second --apply waits for the first before giving up (seconds).
    lock_timeout: float = 30.0
    # WSL2 only: the Windows-side .wslconfig; default: found under /mnt/c/Users.
    wslconfig_path: Path | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    # host:port pairs the network checks probe (ipv6.preference, dns.resolvers, mtu.path,
    # tunnels.stale); env NETWARDEN_TARGETS as a JSON list. No targets: nothing is probed.
    targets: tuple[str, ...] = ()
    # Seconds a probe (TCP connect, transfer) may take before it counts as a timeout.
    probe_timeout: float = 3.0
    # ipv6.preference writes its precedence block here.
    gai_conf: Path = Path("/etc/gai.conf")
    # dns.resolvers: the resolver file, systemd-resolved's drop-in directory, and servers to add
    # after the live ones when netwarden rewrites a static resolv.conf.
    resolv_conf: Path = Path("/etc/resolv.conf")
    resolved_conf_dir: Path = Path("/etc/systemd/resolved.conf.d")
    dns_fallback: tuple[str, ...] = ()
    # keepalive.idle: the shortest idle timeout of a NAT / load balancer / firewall on the path
    # (seconds; Azure 240, AWS ~350, Cloudflare 400).
    middlebox_idle_budget: int = 300
    # tunnels.stale: let --apply delete routes through dead tunnels (otherwise advice only).
    tunnels_remove_stale_routes: bool = False
    # Per check id: "observe" (report; default), "enforce" (the daemon applies its fix, and backs
    # off when someone else changes the value), "always" (enforce even then), "ignore" (skip).
    policy: dict[str, Policy] = field(default_factory=dict)

    # ---- daemon ----
    # Seconds between reads of the sysctls the checks use (/proc/sys has no inotify).
    poll_interval: float = 5.0
    # Seconds between socket censuses (ports.pressure).
    census_interval: float = 30.0
    # Seconds between probes of the targets (ipv6.preference, dns.resolvers, mtu.path).
    probe_interval: float = 300.0
    # Events within this many seconds of a check run are coalesced into the next run.
    debounce: float = 0.2
    # Files watched for changes, besides the sysctl files and the config file.
    watch_files: tuple[Path, ...] = (
        Path("/etc/gai.conf"), Path("/etc/resolv.conf"), Path("/etc/hosts"),
        Path("/etc/nsswitch.conf"), Path("/etc/wsl.conf"),
    )
    # Watch links and routes over netlink.
    watch_kernel: bool = True
    # Drift events kept in <state_dir>/history.jsonl.
    history_size: int = 1000
    # Writes of one key per hour before the daemon backs off and alerts.
    enforce_max_per_hour: int = 3
    # On stop, put back every original (as --revert does) instead of leaving the fixes in place.
    rollback_on_stop: bool = False
    # Drift events as a JSON POST to this URL (timeout and retries with back-off).
    webhook_url: str | None = None
    webhook_timeout: float = 5.0
    webhook_retries: int = 3
    # A command (argv, no shell) run with each drift event as JSON on stdin.
    exec_hook: tuple[str, ...] = ()
    exec_hook_timeout: float = 10.0

    # ---- control socket (`netwarden status`) ----
    socket_path: Path = field(default=_PATHS["socket_path"], metadata={"env": "NETWARDEN_SOCKET"})
    # Members of this group (name or number) may read; when it does not exist the socket is root-only.
    socket_group: str | None = "netwarden"
    socket_idle_timeout: float = 30.0
    socket_max_clients: int = 64

    # ---- Prometheus metrics (opt-in) ----
    metrics_address: str | None = None  # "127.0.0.1:9847": loopback only
    metrics_textfile: Path | None = None  # for node_exporter's textfile collector
    metrics_top_destinations: int = 10

    def __post_init__(self) -> None:
        if self.lock_timeout < 0:
            raise ValueError("lock_timeout must be >= 0")
        for name in ("poll_interval", "census_interval", "probe_interval", "webhook_timeout", "exec_hook_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.debounce < 0 or self.history_size < 1 or self.enforce_max_per_hour < 1 or self.webhook_retries < 0:
            raise ValueError("need debounce >= 0, history_size >= 1, enforce_max_per_hour >= 1, webhook_retries >= 0")
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError("webhook_url must be an http:// or https:// URL")
        if self.socket_idle_timeout <= 0 or self.socket_max_clients < 1 or self.metrics_top_destinations < 1:
            raise ValueError("need socket_idle_timeout > 0, socket_max_clients >= 1, metrics_top_destinations >= 1")
        if self.metrics_address is not None:
            self.metrics_endpoint()  # validates
        from netwarden.model import Target

        for target in self.targets:
            Target.parse(target)  # raises ValueError naming the bad one
        for server in self.dns_fallback:
            _ip_address(server, "dns_fallback")
        if self.probe_timeout <= 0 or self.middlebox_idle_budget < 60:
            raise ValueError("need probe_timeout > 0 and middlebox_idle_budget >= 60")
        if "/" in self.sysctl_dropin or not self.sysctl_dropin.endswith(".conf"):
            raise ValueError("sysctl_dropin must be a file name ending in .conf")

    def metrics_endpoint(self) -> tuple[str, int]:
        """(host, port) of metrics_address; loopback only: the fleet view goes through a scraper on the host."""
        import ipaddress

        host, sep, port = (self.metrics_address or "").rpartition(":")
        host = host.strip("[]")
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
            number = int(port)
        except ValueError:
            loopback, number = False, 0
        if not sep or not loopback or not 0 < number < 65536:
            raise ValueError("metrics_address must be a loopback host:port, e.g. 127.0.0.1:9847")
        return host, number

    @property
    def parsed_targets(self):
        from netwarden.model import Target

        return [Target.parse(t) for t in self.targets]

    @property
    def dropin_path(self) -> Path:
        return self.sysctl_dir / self.sysctl_dropin

    @property
    def apply_lock(self) -> Path:
        return self.lock_path or self.state_dir / "apply.lock"

    def policy_for(self, check_id: str) -> str:
        return self.policy.get(check_id, "observe")


def _ip_address(text: str, key: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{key}: {text!r} is not an IP address") from None


def config_file_path(path: str | os.PathLike | None = None) -> Path:
    """The config file in force: `path`, else $NETWARDEN_CONFIG, else the default location."""
    explicit = path if path is not None else os.environ.get(CONFIG_ENV)
    return Path(explicit) if explicit else DEFAULT_CONFIG


def control_socket_path(path: str | os.PathLike | None = None) -> Path:
    """Where the daemon listens, found without pydantic (`netwarden status` must start fast):
    $NETWARDEN_SOCKET, else `socket_path` in the config file, else the default. The daemon
    validates the value; a broken config file here just means the default."""
    if os.environ.get("NETWARDEN_SOCKET"):
        return Path(os.environ["NETWARDEN_SOCKET"])
    value = _read_toml(config_file_path(path)).get("socket_path")
    return Path(value) if isinstance(value, str) else _PATHS["socket_path"]


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Settings from `path` (else $NETWARDEN_CONFIG, else the default file if present) and the environment."""
    environ = os.environ
    explicit = path if path is not None else environ.get(CONFIG_ENV)
    config_file = config_file_path(path)
    if explicit and not config_file.is_file():
        raise ConfigError(f"config file {config_file} not found")
    has_file = config_file.is_file()
    has_env = any(k.startswith(ENV_PREFIX) and k != CONFIG_ENV for k in environ)
    if not has_env and (not has_file or _only_comments(config_file)):
        return Settings()
    settings = _validate(config_file if has_file else None)
    _check_policy_ids(settings, config_file if has_file else None)
    return settings


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def _read_toml(path: Path) -> dict:
    """The file's table; empty when it cannot be read or is not TOML (validation says why)."""
    try:
        with open(path, "rb") as f:
            return _tomllib().load(f)
    except (OSError, ValueError):
        return {}


def _only_comments(path: Path) -> bool:
    """Blank lines and comments only, as the packaged file ships: the defaults, and no pydantic
    (nor even tomllib: ~8 ms of `netwarden check` on a packaged host). Unreadable: False, so
    validation reports why."""
    try:
        with open(path, "rb") as f:
            return all(not line.strip() or line.lstrip().startswith(b"#") for line in f)
    except OSError:
        return False


def _validate(config_file: Path | None) -> Settings:
    from pydantic import Field, ValidationError, create_model
    from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

    tomllib = _tomllib()

    class Base(BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", toml_file=config_file
        )

        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                       file_secret_settings):
            # Environment beats the file; the file beats the defaults.
            return (env_settings, TomlConfigSettingsSource(settings_cls)) if config_file else (env_settings,)

    from pydantic import AliasChoices

    def field_info(f):
        default = {"default": f.default} if f.default is not dataclasses.MISSING else {"default_factory": f.default_factory}
        if "env" in f.metadata:  # a second, documented environment name (NETWARDEN_SOCKET)
            return Field(validation_alias=AliasChoices(f.name, f.metadata["env"].lower()), **default)
        return Field(**default)

    hints = typing.get_type_hints(Settings)
    fields = {f.name: (hints[f.name], field_info(f)) for f in dataclasses.fields(Settings)}
    model = create_model("Settings", __base__=Base, **fields)
    where = f"{config_file} / {ENV_PREFIX}* environment" if config_file else f"{ENV_PREFIX}* environment"
    try:
        loaded = model()
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{config_file}: not valid TOML: {e}") from None
    except ValidationError as e:
        raise ConfigError(f"{where}: {_first_error(e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{config_file}: cannot read: {e}") from None
    try:  # cross-field rules in Settings.__post_init__
        return Settings(**{f.name: getattr(loaded, f.name) for f in dataclasses.fields(Settings)})
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None


def _first_error(error) -> str:
    errors = error.errors()
    first = errors[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{key}: {msg}{more}"


def _check_policy_ids(settings: Settings, config_file: Path | None) -> None:
    from netwarden.checks import CHECK_IDS

    for check_id in settings.policy:
        if check_id not in CHECK_IDS:
            where = config_file or "NETWARDEN_POLICY"
            raise ConfigError(f"{where}: policy.{check_id}: no such check (known: {', '.join(CHECK_IDS)})")
