"""The alerting rules shipped in packaging/prometheus/, checked and unit-tested by promtool."""

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[1] / "packaging" / "prometheus"


@pytest.fixture
def promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (Debian package prometheus; `make test` installs it as root)")
    return path


def test_rules_are_valid(promtool):
    r = subprocess.run([promtool, "check", "rules", "netwarden.rules.yml"], cwd=RULES, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 7 rules found" in r.stdout


def test_rules_fire_when_and_only_when_they_should(promtool):
    r = subprocess.run([promtool, "test", "rules", "netwarden.rules.test.yml"], cwd=RULES, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
