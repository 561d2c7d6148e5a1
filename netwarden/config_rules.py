"""The rules a configuration value must follow beyond its type: numbers finite and in their range,
text the OS can take, targets, groups, addresses, socket paths.

Settings and Thresholds (config.py) call these whenever they are built with anything but their
defaults, whether from a file, the environment, a support bundle or a test, so no value that
breaks a rule reaches the checks or the daemon. Not imported for the defaults (start-up).
"""

from __future__ import annotations

from netwarden import record
import math
import os
from pathlib import PurePath

MAX_ITEMS = 256  # in any list or table: more is a mistake, not a configuration
MAX_TARGETS = 64  # probed in parallel at every check
PATH_MAX = 4096  # Linux's, with the terminating NUL
SUN_PATH_MAX = 107  # a Unix socket's path: 108 bytes with the NUL
NESTED = "__"  # NETWARDEN_THRESHOLDS__PORTS_RANGE_CRITICAL


class SettingError(ValueError):
    """A value that breaks its rule; `key` names the setting ("thresholds.dns_slow_ms")."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key


def _shown(value, limit: int = 60) -> str:
    from netwarden.target import shown  # only on the way to an error: `status` does not load the model

    return shown(value, limit)


def range_text(bounds: dict) -> str:
    low = f"{bounds['gt']} < x" if "gt" in bounds else f"{bounds['ge']} <= x"
    return f"{low} <= {bounds['le']}"


def check_settings(settings) -> None:
    check_fields(settings)
    if settings.webhook_url is not None:
        _check_url(settings.webhook_url)
    if settings.exec_hook:
        _check_command(settings.exec_hook)
    if settings.metrics_address is not None:
        try:
            settings.metrics_endpoint()
        except ValueError as e:
            raise SettingError("metrics_address", str(e)) from None
    _check_targets(settings.targets)
    for server in settings.dns_fallback:
        _check_ip_address(server, "dns_fallback")
    if "/" in settings.sysctl_dropin or not settings.sysctl_dropin.endswith(".conf"):
        raise SettingError("sysctl_dropin", "must be a file name ending in .conf")
    if settings.socket_group:  # "": root only
        _check_group(settings.socket_group)
    check_socket_path(settings.socket_path)


def _check_url(url: str) -> None:
    """An http:// or https:// URL the webhook can POST to: a host, a port from 1 to 65535, no
    spaces; what would fail only when the first event is sent is refused here."""
    from urllib.parse import urlsplit

    problem = None
    if any(c.isspace() or not c.isprintable() for c in url):
        problem = "spaces or control characters"
    else:
        try:
            parts = urlsplit(url)
            port = parts.port  # ValueError: not a number, or beyond 65535
        except ValueError as e:  # urllib's words ("Port could not be cast to integer value as ...") say it
            problem = ("a port that is not a number from 1 to 65535" if "Port" in str(e) else
                       "a bracketed host that is not an IPv6 address" if "IPv6" in str(e) else "a part that does not parse")
        else:
            if parts.scheme not in ("http", "https") or not url.partition(":")[2].startswith("//"):
                problem = "another scheme"
            elif not parts.hostname:
                problem = "no host"
            elif port == 0:
                problem = "port 0"
    if problem:  # the URL itself is not repeated: it may carry a secret token
        raise SettingError("webhook_url", f"must be an http:// or https:// URL with a host (and a port from 1 to "
                                          f"65535); this one has {problem}")


def _check_command(argv: tuple[str, ...]) -> None:
    """exec_hook's program: an absolute path. A bare name would be looked up in the daemon's PATH
    (the service manager's, not the shell's the admin tried it in), an empty one runs nothing."""
    if not argv[0]:
        raise SettingError("exec_hook", 'its first item, the program to run, is empty (e.g. ["/usr/local/bin/notify"])')
    if not os.path.isabs(argv[0]):
        raise SettingError("exec_hook", f"the program (its first item) must be an absolute path, not {_shown(argv[0])} "
                                        "(the daemon runs with the service manager's PATH, in /)")


def check_thresholds(thresholds) -> None:
    check_fields(thresholds, "thresholds.")
    for low, high in (("ports_range_critical", "ports_range_warning"),
                      ("ports_pressure_warning", "ports_pressure_critical"),
                      ("conntrack_warning", "conntrack_critical")):
        if getattr(thresholds, low) > getattr(thresholds, high):
            raise SettingError(f"thresholds.{low}",
                               f"must be <= {high} ({getattr(thresholds, low)} > {getattr(thresholds, high)})")


def check_fields(obj, prefix: str = "") -> None:
    """Every field's generic rule: numbers in their range (`number` in config.py), text the OS
    can take (no NUL, valid UTF-8, absolute paths within PATH_MAX), lists and tables of a sane
    size. A nested record has checked itself."""
    for f in record.fields(obj):
        key, value = prefix + f.name, getattr(obj, f.name)
        if "bounds" in f.metadata:
            _check_number(key, value, f.type == "int", f.metadata)
        elif not record.is_record(value):
            _check_text(key, value)


def _check_number(key: str, value, integer: bool, metadata) -> None:
    bounds = metadata["bounds"]
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise SettingError(key, f"must be {'an integer' if integer else 'a number'}, not {_shown(value)}")
    # NaN fails every comparison and the bounds are finite: no non-finite value passes.
    if not (("gt" not in bounds or value > bounds["gt"]) and ("ge" not in bounds or value >= bounds["ge"])
            and value <= bounds["le"]):
        unit = f" ({metadata['unit']})" if metadata["unit"] else ""
        raise SettingError(key, f"must be {range_text(bounds)}{unit}, not {_number_shown(value)}")


def _number_shown(value) -> str:
    """As written, as far as pydantic left it: 4000 (not 4000.0, its float); a 1e400, which TOML
    reads as inf, said to be no finite number."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float) and not math.isfinite(value):
        return "nan, which is no number" if value != value else f"{value}: not a finite number (1e400 is read as inf)"
    return _shown(value)


def _check_text(key: str, value) -> None:
    if isinstance(value, (tuple, list, dict)):
        if key == "targets" and len(value) > MAX_TARGETS:  # the same words however many more
            raise SettingError("targets", f"{len(value)} targets; at most {MAX_TARGETS} (probed in parallel)")
        if len(value) > MAX_ITEMS:
            raise SettingError(key, f"holds {len(value)} items; at most {MAX_ITEMS}")
        for item in value.items() if isinstance(value, dict) else value:
            _check_text(key, item)
        return
    if not isinstance(value, (str, PurePath)):
        return
    text = str(value)
    if "\0" in text:
        raise SettingError(key, f"{_shown(text)} contains a NUL character")
    try:
        text.encode()
    except UnicodeEncodeError:  # undecodable bytes of an environment variable (surrogates)
        raise SettingError(key, f"{_shown(text)} is not valid UTF-8") from None
    if isinstance(value, PurePath) and not _absolute(value):  # "" is Path("."): refused too
        raise SettingError(key, f"must be an absolute path, not {_shown(text)} "
                                "(the daemon and the command line run in different directories)")
    if isinstance(value, PurePath) and len(os.fsencode(text)) >= PATH_MAX:
        raise SettingError(key, f"is longer than PATH_MAX ({PATH_MAX} bytes)")


def _absolute(path: PurePath) -> bool:
    """Absolute; on Windows a path from the root of the drive (`/etc/sysctl.d`, the Linux-only
    settings' defaults) counts too: it does not depend on the working directory's folder."""
    from pathlib import PureWindowsPath

    return path.is_absolute() or (isinstance(path, PureWindowsPath) and bool(path.root))


def _check_targets(targets: tuple[str, ...]) -> None:
    from netwarden.target import Target

    if len(targets) > MAX_TARGETS:
        raise SettingError("targets", f"{len(targets)} targets; at most {MAX_TARGETS} (probed in parallel)")
    for target in targets:
        try:
            Target.parse(target)
        except ValueError as e:
            raise SettingError("targets", str(e)) from None


def _check_group(group: str) -> None:
    """A group number (a gid below 2**32 - 1) or a name as shadow-utils allows: a letter or an
    underscore first, then letters, digits, '_', '.', '-', an optional final '$'; 32 at most."""
    body = group.removesuffix("$")
    if group.isascii() and group.isdigit():
        ok = len(group) <= 10 and int(group) < 2**32 - 1  # int() of 4,301 digits raises
    else:
        ok = (group.isascii() and len(group) <= 32 and (body[:1].isalpha() or body[:1] == "_")
              and all(c.isalnum() or c in "_.-" for c in body))
    if not ok:
        raise SettingError("socket_group", f"{_shown(group)} is not a group name or number")


def check_socket_path(path: PurePath) -> None:
    _check_text("socket_path", path)
    if len(os.fsencode(str(path))) > SUN_PATH_MAX:
        raise SettingError("socket_path", f"is longer than a Unix socket's {SUN_PATH_MAX} bytes")


def _check_ip_address(text: str, key: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(text)
        if not text.isprintable() or " " in text:  # ipaddress takes anything as a zone id
            raise ValueError
    except ValueError:
        raise SettingError(key, f"{_shown(text)} is not an IP address") from None


def environment_names() -> dict[str, str]:
    """Every NETWARDEN_* name netwarden reads, with what it sets; NETWARDEN_POLICY__<check id>
    besides (the ids are checked as policy keys)."""
    from netwarden.config import CONFIG_ENV, ENV_PREFIX, SOCKET_ENV, Settings

    names = {CONFIG_ENV: "the config file", **{name: "socket_path" for name in SOCKET_ENV}}
    for f in record.fields(Settings):
        names[ENV_PREFIX + f.name.upper()] = f.name
        if record.is_record(f.default_factory):  # thresholds
            for sub in record.fields(f.default_factory):
                names[f"{ENV_PREFIX}{f.name.upper()}{NESTED}{sub.name.upper()}"] = f"{f.name}.{sub.name}"
    return names


def check_names(environment) -> None:
    """A misspelt variable must not be silently ignored, as an unknown key in the file is not.
    ConfigError naming it, and the closest known name."""
    from netwarden.config import ENV_PREFIX, ConfigError

    known, policy = environment_names(), f"{ENV_PREFIX}POLICY{NESTED}"
    for name in sorted(environment):
        if name in known or name.startswith(policy):
            continue
        if name.upper() in known or name.upper().startswith(policy):
            raise ConfigError(f"{name}: write netwarden's variables in upper case ({name.upper()})")
        import difflib

        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else " (README, Configuration, lists the settings)"
        raise ConfigError(f"{_shown(name, 80)[1:-1]}: no such netwarden setting{hint}")
