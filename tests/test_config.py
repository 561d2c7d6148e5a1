"""Configuration: TOML + NETWARDEN_* environment, one-line errors naming the key, exit 78."""

import subprocess
import sys
from pathlib import Path

import pytest
from factories import ROOT, assert_one_line_error, clean_env, run_cli

from netwarden.config import ConfigError, Settings, load_settings


pytestmark = pytest.mark.usefixtures("no_netwarden_env")


def write(tmp_path, text):
    path = tmp_path / "netwarden.toml"
    path.write_text(text)
    return path


def test_no_file_and_no_env_gives_defaults_without_importing_pydantic():
    code = ("import sys; from netwarden.config import load_settings; s = load_settings(); "
            "print(s.state_dir, any(m in sys.modules for m in ('pydantic', 'netwarden.config_rules', 'tomllib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=clean_env(NETWARDEN_CONFIG=""), cwd=ROOT)  # empty: not set
    if Path("/etc/netwarden/netwarden.toml").exists():
        pytest.skip("this machine has /etc/netwarden/netwarden.toml")
    assert out.stdout.split() == ["/var/lib/netwarden", "False"], out.stderr


def test_file_values_nested_tables_and_policy(tmp_path):
    path = write(tmp_path, '''
state_dir = "/srv/nw"
sysctl_search_dirs = ["/a", "/b"]
[thresholds]
ports_range_warning = 20000
[policy]
"ports.range" = "enforce"
"ports.tw-reuse" = "ignore"
''')
    s = load_settings(path)
    assert s.state_dir == Path("/srv/nw")
    assert s.sysctl_search_dirs == (Path("/a"), Path("/b"))
    assert s.thresholds.ports_range_warning == 20000 and s.thresholds.ports_range_critical == 4096
    assert s.policy_for("ports.range") == "enforce" and s.policy_for("ports.pressure") == "observe"
    assert s.apply_lock == Path("/srv/nw/apply.lock")


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, 'state_dir = "/from/file"\nsysctl_dir = "/from/file/sysctl.d"\n')
    monkeypatch.setenv("NETWARDEN_STATE_DIR", "/from/env")
    monkeypatch.setenv("NETWARDEN_THRESHOLDS__PORTS_RANGE_CRITICAL", "100")
    s = load_settings(path)
    assert s.state_dir == Path("/from/env")
    assert s.sysctl_dir == Path("/from/file/sysctl.d")
    assert s.thresholds.ports_range_critical == 100


def test_netwarden_config_env_names_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, 'sysctl_dropin = "70-mine.conf"\n')
    monkeypatch.setenv("NETWARDEN_CONFIG", str(path))
    assert load_settings().dropin_path == Path("/etc/sysctl.d/70-mine.conf")


@pytest.mark.parametrize("text, words", [
    ("bogus = 1\n", ["bogus", "no such setting"]),
    ("[thresholds]\nports_range_critical = \"many\"\n", ["thresholds.ports_range_critical", "a number, not a string"]),
    ("[thresholds]\nports_range_critical = 20000\n", ["thresholds.ports_range_critical", "<= ports_range_warning"]),
    ("[policy]\n\"ports.nope\" = \"enforce\"\n", ["policy.ports.nope", "no such check"]),
    ("[policy]\n\"ports.range\" = \"sometimes\"\n", ["policy.ports.range", "observe"]),
    ("state_dir = [\n", ["not valid TOML"]),
    ("sysctl_dropin = \"../evil\"\n", ["sysctl_dropin"]),
])
def test_bad_config_is_one_line_naming_the_key_and_exit_78(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_settings(path)
    for word in words:
        assert word in str(e.value)
    assert_one_line_error(run_cli("--config", str(path)), 78, "netwarden: bad configuration:", *words)


def test_missing_explicit_config_file_is_exit_78(tmp_path):
    r = run_cli("--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 78 and "not found" in r.stderr


def test_bad_environment_value_is_exit_78():
    r = run_cli(env={"NETWARDEN_LOCK_TIMEOUT": "soon"})
    assert r.returncode == 78 and "lock_timeout" in r.stderr


def test_defaults_are_valid():
    assert Settings().dropin_path == Path("/etc/sysctl.d/60-netwarden.conf")


def test_the_packaged_config_is_the_defaults_and_loads_without_pydantic():
    """packaging/netwarden.toml (the .deb's /etc/netwarden/netwarden.toml) is comments only: every
    `netwarden check` on a packaged host reads it, and must not pay ~220 ms for pydantic."""
    shipped = ROOT / "packaging" / "netwarden.toml"
    code = ("import sys; from netwarden.config import load_settings, Settings; "
            f"print(load_settings({str(shipped)!r}) == Settings(), 'pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), cwd=ROOT)
    assert out.stdout.split() == ["True", "False"], out.stderr


def test_the_packaged_config_says_of_targets_what_the_readme_says():
    """It said the probing checks report "unknown" without targets: they judge what they see
    locally and say nothing was probed (README "Targets", and tests/test_checks_network.py)."""
    import re

    readme = " ".join((ROOT / "README.md").read_text().split())
    targets = readme[readme.index("**Targets.**"):readme.index("**IPv6.**")]
    probing = re.findall(r"`([a-z0-9.-]+)`", targets[:targets.index("probe the network")])
    comment = "\n".join(line for line in (ROOT / "packaging" / "netwarden.toml").read_text().splitlines()
                        if line.startswith("# "))
    block = " ".join(comment[comment.index("# Hosts the network checks probe"):comment.index("# targets = ")]
                     .replace("# ", "").split())
    assert re.search(r"probe \(" + ", ".join(map(re.escape, probing)) + r"[;)]", block), (probing, block)
    assert "unknown" not in block and "no path was probed" in targets and "no path was probed" in block


def test_the_examples_in_the_packaged_config_are_valid_when_uncommented(tmp_path):
    """The commented examples are what admins uncomment: one by one and all at once, they load."""
    lines = (ROOT / "packaging" / "netwarden.toml").read_text().splitlines()
    uncommented = [line.removeprefix("# ") for line in lines
                   if line.startswith("# ") and (" = " in line or line.removeprefix("# ").startswith("["))]
    load_settings(write(tmp_path, "\n".join(uncommented)))
    table = ""
    for line in uncommented:
        if line.startswith("["):
            table = line
        else:
            load_settings(write(tmp_path, f"{table}\n{line}\n"))
    assert sum(" = " in line for line in uncommented) >= 8
