"""Validated settings, remembered: a `netwarden check` with a config file (or NETWARDEN_*
variables) would otherwise pay pydantic-settings' import and validation, ~250 ms, on every run,
five times what the check itself costs.

The first run validates as always (config_load.py) and writes the result here; a later run whose
inputs are byte for byte the same — the config file's bytes and path, the NETWARDEN_* variables,
netwarden's version and its configuration code — rebuilds the same Settings from it without
pydantic. Anything else (a changed byte, an unreadable or foreign cache) means validating again:
the cache can make a run faster, never different.

The cache is the user's own ($XDG_CACHE_HOME/netwarden, else ~/.cache/netwarden, for root
/var/cache/netwarden), used only when it and its directory belong to this user and nobody else can
write them.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from netwarden import __version__, record
from netwarden.config import Settings, Thresholds

FORMAT = 1
KEEP = 8  # entries: a few configurations in turn (the daemon's, a CLI's with other variables) all stay warm
_CONFIG_CODE = ("config.py", "config_load.py", "config_rules.py", "config_cache.py")


def key(data: bytes | None, config_file: Path, environment: dict[str, str]) -> dict:
    """What the validated settings depend on, as the cache stores it: a later run's must be equal
    to the last byte. (Compared, not hashed: hashlib's import alone would cost what this saves.)"""
    here = Path(__file__).parent
    code = []
    for name in _CONFIG_CODE:  # an edited rule (a development install) is a new key, not a stale answer
        try:
            st = os.stat(here / name)
            code.append([name, st.st_size, st.st_mtime_ns])
        except OSError:
            code.append([name, None, None])
    return {"format": FORMAT, "version": __version__, "config_file": str(config_file),
            "data": None if data is None else data.decode("utf-8", "surrogateescape"),
            "environment": sorted([name, value] for name, value in environment.items()), "code": code}


def usable() -> bool:
    """Windows has no uid to tell the user's own cache from one anybody could have planted (nor
    O_NOFOLLOW): there every run validates, as without a cache."""
    return hasattr(os, "geteuid") and hasattr(os, "O_NOFOLLOW")


def directory() -> Path:
    """$XDG_CACHE_HOME/netwarden; else /var/cache/netwarden for root, ~/.cache/netwarden for others.
    A relative $XDG_CACHE_HOME is ignored, as the XDG spec says (it would be the working directory's)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):
        base = "/var/cache" if os.geteuid() == 0 else os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netwarden"


def load(cache_key: dict) -> Settings | None:
    """The settings cached under `cache_key`, or None (absent, another key, not ours, damaged)."""
    if not usable():
        return None
    path = _entry(cache_key)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not _private(os.fstat(fd)) or not _private(os.stat(path.parent)):
            return None
        with open(fd, "rb", closefd=False) as f:
            document = json.loads(f.read(1 << 20))
        if document.get("key") != cache_key:
            return None
        return _from_json(Settings, document["settings"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None  # anything odd: validate instead
    finally:
        os.close(fd)


def store(cache_key: dict, settings: Settings) -> None:
    """Remember `settings` under `cache_key`; silently not, where the cache cannot be written."""
    from netwarden.fsutil import atomic_write
    from netwarden.model import to_jsonable

    if not usable():
        return
    where = directory()
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(os.stat(where)):
            return
        document = {"format": FORMAT, "key": cache_key, "settings": to_jsonable(settings)}
        atomic_write(_entry(cache_key), json.dumps(document).encode(), mode=0o600)
        entries = sorted(where.glob("settings-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink()
    except OSError:
        pass  # a read-only /var/cache (the hardened unit), a full disk: the next run validates again


def _entry(cache_key: dict) -> Path:
    """Where the settings of these inputs are kept: named by a checksum of them (zlib's: cheap to
    import), the inputs themselves inside."""
    import zlib

    return directory() / f"settings-{zlib.crc32(json.dumps(cache_key, sort_keys=True).encode()):08x}.json"


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


# The field types of Settings and Thresholds, as written in config.py, and how each comes back from
# JSON. A type not listed here (a new field's) makes the cache unusable, never wrong: ValueError.
_CONVERT = {
    "Path": lambda v: Path(_str(v)),
    "Path | None": lambda v: None if v is None else Path(_str(v)),
    "str": lambda v: _str(v),
    "str | None": lambda v: None if v is None else _str(v),
    "bool": lambda v: _typed(v, bool),
    "int": lambda v: _typed(v, int),
    "float": lambda v: float(_typed(v, (int, float))),
    "tuple[Path, ...]": lambda v: tuple(Path(_str(x)) for x in _typed(v, list)),
    "tuple[str, ...]": lambda v: tuple(_str(x) for x in _typed(v, list)),
    "dict[str, Policy]": lambda v: {_str(k): _str(x) for k, x in _typed(v, dict).items()},
    "Thresholds": lambda v: _from_json(Thresholds, v),
}


def _from_json(cls, data: dict):
    if not isinstance(data, dict):
        raise ValueError("not an object")
    fields = {f.name: f for f in record.fields(cls)}
    if set(data) != set(fields):
        raise ValueError("other fields")
    return cls(**{name: _CONVERT[fields[name].type](value) for name, value in data.items()})


def _str(value) -> str:
    return _typed(value, str)


def _typed(value, types):
    if not isinstance(value, types) or (isinstance(value, bool) and types not in (bool,)):
        raise ValueError(f"{type(value).__name__} where {types} was written")
    return value
