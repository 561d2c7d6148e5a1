"""status.json, the daemon's status where there is no control socket (Windows): written atomically
by the daemon, read by `netwarden status`, which never shows a dead daemon's findings as current
and never breaks on a file that is not the daemon's."""

from __future__ import annotations

import importlib
import json
import sys
import time

import pytest

from netwarden import cli_daemon
from netwarden.daemon.client import NoAnswer, NoDaemon
from netwarden.daemon.statusfile import STALE, StatusFile, read_status

STATUS = {"status": "warning", "exit_code": 1, "started_at": 1.0, "netwarden": "0.1.0", "pid": 4242,
          "platform": "Windows 11", "events_total": 3, "policy": {}, "managed": [], "contested": {},
          "backed_off": [], "probes": {}}
FINDINGS = [{"id": "ports.range", "severity": "warning", "title": "13,977 ports"}]


def write(path, **changes):
    doc = {"format": 1, "updated_at": time.time(), "stopped": False, "status": STATUS, "findings": FINDINGS}
    doc.update(changes)
    path.write_text(json.dumps(doc))
    return path


def test_what_the_daemon_writes_status_reads_and_a_clean_stop_says_so(tmp_path):
    logged = []
    channel = StatusFile(tmp_path, logged.append)
    channel.open()
    assert read_status(tmp_path / "status.json") == ({"status": "starting"}, [])  # before the first check
    channel.publish({"status": STATUS, "findings": FINDINGS, "facts": {"big": "x" * 1000}, "gauges": {}})
    assert read_status(tmp_path / "status.json") == (STATUS, FINDINGS)
    assert "facts" not in json.loads((tmp_path / "status.json").read_text())  # what status shows, no more
    before = json.loads((tmp_path / "status.json").read_text())["updated_at"]
    time.sleep(0.01)
    channel.refresh()  # the loop's 60 s refresh: the age says the daemon is alive
    assert json.loads((tmp_path / "status.json").read_text())["updated_at"] > before
    channel.stop()
    with pytest.raises(NoDaemon, match=r"no netwarden daemon is running \(it stopped at "):
        read_status(tmp_path / "status.json")
    assert logged == []
    assert not [p for p in tmp_path.iterdir() if p.name != "status.json"]  # no temp file left


def test_an_unwritable_state_dir_is_logged_once_not_raised_and_again_once_it_works(tmp_path):
    logged = []
    channel = StatusFile(tmp_path / "missing", logged.append)
    for _ in range(3):  # every refresh fails the same way: said once
        channel.publish({"status": STATUS, "findings": FINDINGS})
    assert len(logged) == 1 and "cannot write" in logged[0] and "status.json" in logged[0]
    (tmp_path / "missing").mkdir(mode=0o700)
    channel.refresh()
    assert read_status(tmp_path / "missing" / "status.json") == (STATUS, FINDINGS)
    (tmp_path / "missing" / "status.json").unlink()
    (tmp_path / "missing").rmdir()
    channel.refresh()  # failing again after it worked: said again
    assert len(logged) == 2


def test_a_file_nobody_keeps_current_is_no_daemon(tmp_path):
    path = write(tmp_path / "status.json", updated_at=time.time() - STALE - 1)
    with pytest.raises(NoDaemon, match="minutes ago \\(a running daemon rewrites it every 60 s\\)"):
        read_status(path)
    write(path, updated_at=time.time() + STALE + 60)  # from the future (a clock set back): not current either
    with pytest.raises(NoDaemon):
        read_status(path)
    assert read_status(write(path, updated_at=time.time() - STALE + 5))[0] == STATUS
    with pytest.raises(NoDaemon, match="does not exist"):
        read_status(tmp_path / "nothing.json")
    with pytest.raises(NoDaemon):
        read_status(tmp_path)  # a directory


@pytest.mark.parametrize("content", [
    b"", b"{", b"[]", b"null", b'{"format": 1}', b"\xff\xfe garbage", b'{"format": 1, "updated_at": NaN}',
    json.dumps({"format": 2, "updated_at": 1, "stopped": False}).encode(),
    json.dumps({"format": 1, "updated_at": "today", "stopped": False}).encode(),
    json.dumps({"format": 1, "updated_at": 1e300, "stopped": "no"}).encode(),
    b'{"a":' * 100000,
])
def test_a_file_that_is_not_the_daemon_s_is_one_clear_error(tmp_path, content):
    path = tmp_path / "status.json"
    path.write_bytes(content)
    with pytest.raises(NoAnswer, match="is not a netwarden daemon's status"):
        read_status(path)


@pytest.mark.parametrize("change", [
    {"status": {"status": "ok"}}, {"status": []}, {"findings": [{"id": 1}]}, {"findings": "none"},
    {"status": {**STATUS, "exit_code": 9}}, {"status": {**STATUS, "probes": {"a:1": {"status": "ok"}}}},
    {"status": {**STATUS, "probes": {"a:1": {"status": "ok", "error": "", "phases": [{"name": "tls"}]}}}},
])
def test_a_status_of_the_wrong_shape_is_not_shown(tmp_path, change):
    with pytest.raises(NoAnswer):
        read_status(write(tmp_path / "status.json", **change))


def test_status_on_windows_prints_what_the_file_says(tmp_path, monkeypatch, capsys, no_netwarden_env):
    from netwarden import cli

    monkeypatch.setattr(cli_daemon, "CONTROL_SOCKET", False)
    no_netwarden_env.setenv("NETWARDEN_STATE_DIR", str(tmp_path))
    no_netwarden_env.setenv("NETWARDEN_CONFIG", "")
    probes = {"api.example.com:443": {"at": 1.0, "status": "critical", "error": "", "phases": [
        {"name": "connect", "verdict": "ok", "ms": 12.5, "summary": ""},
        {"name": "tls", "verdict": "critical", "ms": 40.0, "summary": ""}]}}
    write(tmp_path / "status.json", status={**STATUS, "probes": probes})
    assert cli.main(["status"]) == 1
    out = capsys.readouterr().out
    assert "pid 4242) on Windows 11" in out and "WARNING   ports.range" in out
    assert "probe     api.example.com:443: critical (connect ok 12 ms, tls critical 40 ms)" in out
    assert cli.main(["status", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"status": {**STATUS, "probes": probes}, "findings": FINDINGS}
    assert cli.main(["status", "--socket", str(tmp_path / "x.sock")]) == 64
    assert "Windows has no control socket" in capsys.readouterr().err


def test_windows_is_told_apart_when_the_cli_is_imported(monkeypatch):
    try:
        monkeypatch.setattr(sys, "platform", "win32")
        assert importlib.reload(cli_daemon).CONTROL_SOCKET is False
    finally:
        monkeypatch.undo()
        assert importlib.reload(cli_daemon).CONTROL_SOCKET is True
