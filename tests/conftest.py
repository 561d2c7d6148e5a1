from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon_lab import DaemonRun
from lab import Netns, lab_unavailable, link, without_probe_checks


def _find_fixtures() -> Path:
    """The real command outputs the parsers are tested on: ../shared/fixtures beside the checkout
    when it is there (/work/main -> /work/shared; a worktree one level deeper finds the same), the
    project's copy of it in tests/fixtures otherwise (a clone on its own: CI)."""
    for parent in Path(__file__).resolve().parents[1:]:
        if (parent / "shared" / "fixtures").is_dir():
            return parent / "shared" / "fixtures"
    return Path(__file__).resolve().parent / "fixtures"


FIXTURES = _find_fixtures()


@pytest.fixture(scope="session", autouse=True)
def _private_settings_cache(tmp_path_factory):
    """netwarden remembers validated settings in $XDG_CACHE_HOME/netwarden (config_cache.py): the
    tests' netwarden runs, and the subprocesses they start, keep theirs out of this machine's."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture
def no_netwarden_env(monkeypatch):
    """No NETWARDEN_* in this process's environment for the test (the developer's own must not leak in)."""
    for key in [k for k in os.environ if k.startswith("NETWARDEN_")]:
        monkeypatch.delenv(key)
    return monkeypatch


@pytest.fixture(scope="session")
def lab_reason():
    return lab_unavailable()


@pytest.fixture
def netns(lab_reason):
    """A factory of fresh network namespaces, all deleted after the test."""
    if lab_reason:
        pytest.skip(lab_reason)
    made: list[Netns] = []

    def make() -> Netns:
        ns = Netns()
        made.append(ns)
        return ns

    yield make
    for ns in made:
        ns.close()


@pytest.fixture
def client_server(netns):
    """Two namespaces joined by a veth link: client 198.18.0.1, server 198.18.0.2."""
    client, server = netns(), netns()
    link(client, "198.18.0.1/24", server, "198.18.0.2/24")
    return client, server


@pytest.fixture
def nw_env(tmp_path):
    """Environment for a netwarden run whose every written path is inside tmp_path."""
    sysctl_dir = tmp_path / "sysctl.d"
    sysctl_dir.mkdir()
    config = tmp_path / "netwarden.toml"
    config.write_text(without_probe_checks())
    env = dict(os.environ)
    env.update({
        "NETWARDEN_STATE_DIR": str(tmp_path / "state"),
        "NETWARDEN_SYSCTL_DIR": str(sysctl_dir),
        "NETWARDEN_SYSCTL_SEARCH_DIRS": f'["{sysctl_dir}"]',
        "NETWARDEN_SYSCTL_CONF": str(tmp_path / "sysctl.conf"),
        "NETWARDEN_CONFIG": str(config),
        "NETWARDEN_SOCKET": str(tmp_path / "netwarden.sock"),
    })
    return env


def fixture_text(relative: str) -> str:
    path = FIXTURES / relative
    if not path.exists():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    return path.read_text(encoding="utf-8")


@pytest.fixture
def ns(netns):
    return netns()


@pytest.fixture
def daemon(ns, tmp_path):
    runs = []

    def start(config: str = "", env: dict | None = None) -> DaemonRun:
        run = DaemonRun(ns, tmp_path, config, env).start()
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        run.log.close()
