"""Support bundles on disk: a directory with meta.json and entries.json.

meta.json: {"format", "netwarden", "created", "system", "argv", "settings"}; `settings` holds the
settings the recording ran with that decide what is read and how it is judged (paths, targets,
probe_timeout, thresholds, policy), so a replay asks for exactly the keys the bundle holds.
Daemon, socket, webhook and hook settings are left out: they play no part in a check, and a
webhook URL may carry a secret. Bundles written before settings were recorded have no `settings`.

entries.json: a list of {"op", "key", "result"} or {"op", "key", "error": {"errno", "strerror"}}.

Reading a bundle refuses, as BundleError (one line), anything that is not one: a missing, empty,
truncated, oversized or non-regular file, bad JSON (nesting too deep included), another format,
entries of the wrong shape, settings a config file could not hold. A single answer of the wrong
type is not refused here: the ReplaySource reports it as not recorded when it is asked for.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from pathlib import Path
from typing import Any, NamedTuple

from netwarden import __version__
from netwarden.fsutil import atomic_write
from netwarden.jsontext import loads
from netwarden.model import to_jsonable

BUNDLE_FORMAT = 1
SYSTEMS = ("linux", "darwin", "win32")  # sys.platform where netwarden records; each has a backend
MAX_FILE_BYTES = 256 << 20  # a host with a full BGP table has a ~150 MB /proc/net/route
# The settings a bundle carries: what decides which files are read, what is probed, and how the
# facts are judged. tests/test_bundle.py makes every new Settings field land in one of the two lists.
RECORDED_SETTINGS = (
    "sysctl_dir", "sysctl_dropin", "sysctl_search_dirs", "sysctl_conf", "proc_dir", "wslconfig_path", "thresholds",
    "targets", "probe_timeout", "gai_conf", "resolv_conf", "resolved_conf_dir", "dns_fallback",
    "middlebox_idle_budget", "tunnels_remove_stale_routes", "policy",
)
NOT_RECORDED_SETTINGS = (  # the daemon's, the apply lock's, and where notifications go
    "state_dir", "lock_path", "lock_timeout", "poll_interval", "census_interval", "probe_interval", "debounce",
    "watch_files", "watch_kernel", "history_size", "enforce_max_per_hour", "rollback_on_stop", "webhook_url",
    "webhook_timeout", "webhook_retries", "exec_hook", "exec_hook_timeout", "socket_path", "socket_group",
    "socket_idle_timeout", "socket_max_clients", "metrics_address", "metrics_textfile", "metrics_top_destinations",
)


class BundleError(Exception):
    """A support bundle that cannot be replayed; the message is one line."""

    def __init__(self, directory: Path, problem: str):
        super().__init__(" ".join(f"{directory}: {problem}".split()))


class Bundle(NamedTuple):
    system: str
    answers: dict[tuple[str, str], list[dict]]  # (op, key) -> its entries, in the order recorded
    settings: Any  # config.Settings, or None for a bundle that does not carry them
    meta: dict


def unusable_destination(directory: Path) -> str | None:
    """Why a bundle cannot be written to `directory` (checked before the work it records), or
    None: it must not exist or be an empty directory, and its parent must be a directory this
    user may write to (netwarden creates no parents: a typo must not become a tree)."""
    try:
        if directory.is_dir():
            if any(directory.iterdir()):
                return "is not empty (a bundle needs a new or empty directory)"
            return None if os.access(directory, os.W_OK | os.X_OK) else "is not writable"
        if os.path.islink(directory):
            return "is a symbolic link to nothing (a bundle needs a new or empty directory)"
        if os.path.lexists(directory):
            return "exists and is not a directory"
        parent = directory.absolute().parent
        if not parent.is_dir():
            if os.path.lexists(parent):
                return f"cannot be created: {parent} is not a directory"
            return f"{parent} does not exist (netwarden creates only DIR itself)"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"cannot be created: {parent} is not writable"
        directory.mkdir(mode=0o700)  # the one sure test (root may "write" /proc, where nothing is made)
        directory.rmdir()
        return None
    except OSError as e:  # a name too long, a directory that cannot be listed or made
        return f"cannot be created: {e.strerror}" if e.strerror else str(e)


def write(directory: Path, entries: list[dict], system: str, argv: list[str], settings) -> None:
    """The bundle in `directory`, which must not exist or be empty; it is made private (0700)."""
    directory.mkdir(mode=0o700, exist_ok=True)
    if any(directory.iterdir()):
        raise FileExistsError(errno.EEXIST, f"{directory} is not empty")
    meta = {"format": BUNDLE_FORMAT, "netwarden": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "system": system, "argv": argv,
            "settings": {name: to_jsonable(getattr(settings, name)) for name in RECORDED_SETTINGS}}
    atomic_write(directory / "entries.json", json.dumps(entries, indent=1).encode(), mode=0o600)
    atomic_write(directory / "meta.json", json.dumps(meta, indent=1).encode(), mode=0o600)


def read(directory: Path) -> Bundle:
    meta = _load(directory, "meta.json")
    if not isinstance(meta, dict):
        raise BundleError(directory, f"meta.json holds {_kind(meta)}, not an object: not a netwarden support bundle")
    if type(meta.get("format")) is not int or meta["format"] != BUNDLE_FORMAT:  # not true, nor 1.0: both == 1
        raise BundleError(directory, f"bundle format {json.dumps(meta.get('format'))[:40]} ({_kind(meta.get('format'))}), "
                                     f"this netwarden reads the number {BUNDLE_FORMAT}")
    if meta.get("system") not in SYSTEMS:
        raise BundleError(directory, f"meta.json names the system {str(meta.get('system'))[:40]!r}, not one a netwarden "
                                     f"records ({', '.join(SYSTEMS)}): not a netwarden support bundle")
    entries = _load(directory, "entries.json")
    if not isinstance(entries, list):
        raise BundleError(directory, f"entries.json holds {_kind(entries)}, not a list of entries")
    answers = {}
    for number, entry in enumerate(entries, start=1):
        if not (isinstance(entry, dict) and isinstance(entry.get("op"), str) and isinstance(entry.get("key"), str)
                and ("result" in entry or "error" in entry)):
            raise BundleError(directory, f"entries.json entry {number} is not an {{op, key, result | error}} object")
        answers.setdefault((entry["op"], entry["key"]), []).append(entry)
    settings = None
    if "settings" in meta:
        settings = _settings(directory, meta["settings"], meta.get("netwarden") == __version__)
    return Bundle(meta["system"], answers, settings, meta)


def _load(directory: Path, name: str) -> Any:
    """A bundle file's JSON: a regular file (never a FIFO or a device) of at most MAX_FILE_BYTES."""
    path = directory / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise BundleError(directory, f"{name} is not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                raise BundleError(directory, f"{name} is {info.st_size >> 20} MiB, more than a bundle may hold "
                                             f"({MAX_FILE_BYTES >> 20} MiB)")
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise BundleError(directory, f"cannot read {name}: {e.strerror or e}: not a netwarden support bundle") from None
    if len(data) > MAX_FILE_BYTES:
        raise BundleError(directory, f"{name} grew past {MAX_FILE_BYTES >> 20} MiB while read")
    try:
        return loads(data)
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BundleError(directory, f"{name} is not valid JSON ({str(e)[:200]})") from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def unknown_settings(data: dict) -> list[str]:
    """The keys of a bundle's recorded settings that this version does not record."""
    return sorted(str(name) for name in data if name not in RECORDED_SETTINGS)


def _settings(directory: Path, data: Any, same_version: bool):
    """The recorded settings as a Settings, validated as a config file's would be (pydantic: only a
    replay pays for its import). A key this netwarden does not record is refused, as a config file's
    unknown key is (a hand edit's typo must not pass unseen), unless another version recorded it."""
    from netwarden.config import ConfigError
    from netwarden.config_load import validate_table

    if not isinstance(data, dict):
        raise BundleError(directory, f"meta.json settings holds {_kind(data)}, not an object")
    unknown = unknown_settings(data)
    if unknown and same_version:
        raise BundleError(directory, f"meta.json settings: {', '.join(unknown)[:120]}: not a setting a bundle "
                                     f"carries ({', '.join(RECORDED_SETTINGS)})")
    known = {name: data[name] for name in RECORDED_SETTINGS if name in data}
    try:
        return validate_table(known, Path("meta.json settings"), None)  # this machine's environment plays no part
    except ConfigError as e:
        raise BundleError(directory, str(e)) from None
