"""The validated-settings cache (config_cache.py): a second run with the same config file and
variables gets the same Settings without pydantic; anything changed, foreign or damaged means
validating again, so the cache can make a run faster, never different."""

import json
import os
import subprocess
import sys

import pytest
from factories import ROOT, clean_env

from netwarden import config_cache
from netwarden.config import ConfigError, load_settings

CONFIG = ('targets = ["api.example.com:443", "[2001:db8::1]:8443"]\nprobe_timeout = 2.5\n'
          'sysctl_search_dirs = ["/etc/sysctl.d", "/usr/lib/sysctl.d"]\nmetrics_textfile = "/tmp/nw.prom"\n'
          '[thresholds]\nports_range_warning = 20000\n[policy]\n"ports.range" = "enforce"\n')


@pytest.fixture
def cache(tmp_path, no_netwarden_env):
    no_netwarden_env.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = tmp_path / "netwarden.toml"
    config.write_text(CONFIG)
    no_netwarden_env.setenv("NETWARDEN_CONFIG", str(config))
    return tmp_path / "cache" / "netwarden", config


def loads_pydantic(env: dict) -> tuple[str, bool]:
    code = ("import sys\nfrom netwarden.config import load_settings\ns = load_settings()\n"
            "print(repr(s)); print('pydantic' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    settings, imported = r.stdout.splitlines()
    return settings, imported == "True"


def entry(directory):
    (path,) = directory.glob("settings-*.json")
    return path


def test_the_second_run_gets_the_same_settings_without_pydantic(cache, tmp_path):
    directory, config = cache
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"), NETWARDEN_CONFIG=str(config), NETWARDEN_PROBE_INTERVAL="60")
    first, validated = loads_pydantic(env)
    path = entry(directory)
    assert validated and oct(path.stat().st_mode & 0o777) == "0o600" and oct(directory.stat().st_mode & 0o777) == "0o700"
    second, validated_again = loads_pydantic(env)
    assert second == first and not validated_again
    # another variable, or another byte in the file: validated again, and what it says counts
    third, validated = loads_pydantic({**env, "NETWARDEN_PROBE_INTERVAL": "90"})
    assert validated and "probe_interval=90.0" in third
    config.write_text(CONFIG.replace("2.5", "1.5"))
    fourth, validated = loads_pydantic(env)
    assert validated and "probe_timeout=1.5" in fourth
    # configurations used in turn all stay remembered, up to KEEP of them
    other, validated = loads_pydantic({**env, "NETWARDEN_PROBE_INTERVAL": "90"})
    assert validated and loads_pydantic(env) == (fourth, False)
    assert loads_pydantic({**env, "NETWARDEN_PROBE_INTERVAL": "90"}) == (other, False)
    for n in range(config_cache.KEEP + 3):
        loads_pydantic({**env, "NETWARDEN_PROBE_INTERVAL": str(100 + n)})
    assert len(list(directory.glob("settings-*.json"))) == config_cache.KEEP


def test_a_bad_configuration_is_never_remembered(cache):
    directory, config = cache
    config.write_text("probe_timeout = nan\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="probe_timeout"):
            load_settings()
    assert not list(directory.glob("settings-*.json"))


def damage(path, how):
    document = json.loads(path.read_text())
    if how == "group-writable":
        os.chmod(path, 0o620)
    elif how == "another owner":
        os.chown(path, 12345, 12345)
    elif how == "a symlink":
        target = path.with_name("elsewhere.json")
        path.rename(target)
        path.symlink_to(target)
    elif how == "not JSON":
        path.write_text("{torn")
    elif how == "deeply nested":
        path.write_text("[" * 100000 + "]" * 100000)
    elif how == "another key":  # the same file name (a checksum's collision), other inputs inside
        document["key"]["data"] = "probe_timeout = 9\n"
        path.write_text(json.dumps(document))
    elif how == "a value of the wrong type":
        document["settings"]["probe_timeout"] = "2.5"
        path.write_text(json.dumps(document))
    elif how == "a field missing":
        del document["settings"]["targets"]
        path.write_text(json.dumps(document))
    elif how == "a field too many":
        document["settings"]["shell"] = "/bin/sh"
        path.write_text(json.dumps(document))
    elif how == "an out-of-range value":  # the key matches: only Settings' own checks stand in the way
        document["settings"]["thresholds"]["ports_range_warning"] = 10**9
        path.write_text(json.dumps(document))


@pytest.mark.parametrize("how", ["group-writable", "another owner", "a symlink", "not JSON", "deeply nested",
                                 "another key", "a value of the wrong type", "a field missing", "a field too many",
                                 "an out-of-range value"])
def test_a_foreign_or_damaged_cache_is_ignored_and_the_file_validated_again(cache, how):
    directory, config = cache
    good = load_settings()
    damage(entry(directory), how)
    assert config_cache.load(config_cache.key(CONFIG.encode(), config, {})) is None
    assert load_settings() == good


def test_a_cache_directory_others_can_write_is_not_used(cache, tmp_path):
    directory, _ = cache
    good = load_settings()
    os.chmod(directory, 0o777)
    entry(directory).unlink()
    assert load_settings() == good
    assert not list(directory.glob("settings-*.json"))  # nothing written where others could swap it


def test_a_relative_xdg_cache_home_is_ignored_as_the_xdg_spec_says(monkeypatch):
    """Not ./relative/netwarden in whatever directory the command ran in: the default instead."""
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    default = config_cache.directory()
    for relative in ("relative", "./x", "x/y"):
        monkeypatch.setenv("XDG_CACHE_HOME", relative)
        assert config_cache.directory() == default and default.is_absolute()


def test_on_windows_without_uids_the_settings_are_validated_every_time_and_nothing_is_cached(cache, monkeypatch):
    """Windows has no os.geteuid nor O_NOFOLLOW: a config file there used to end in AttributeError."""
    directory, config = cache
    monkeypatch.delattr(os, "geteuid")
    monkeypatch.delattr(os, "O_NOFOLLOW")
    assert load_settings().probe_timeout == 2.5
    assert load_settings().probe_timeout == 2.5
    assert not directory.exists()
    config.write_text("probe_timeout = nan\n")
    with pytest.raises(ConfigError):
        load_settings()
