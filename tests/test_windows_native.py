"""What `netwarden check --apply / --revert` needs to run on Windows itself, tested here through the
same code paths with Windows' pieces simulated (there is no Windows in this test run): the journal's
atomic write without directory descriptors, the apply lock with msvcrt's byte-range lock, the
Administrator check, no control socket, and Windows' default paths and drive-rooted paths."""

import ctypes
import errno
import os
import sys
from pathlib import Path, PureWindowsPath

import pytest

from netwarden import cli, cli_daemon, journal
from netwarden.config import platform_paths
from netwarden.config_rules import SettingError, _check_text
from netwarden.fsutil import UnsafePath, atomic_write_portable


def test_the_portable_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path):
    target = tmp_path / "journal.json"
    atomic_write_portable(target, b"one")
    atomic_write_portable(target, b"two")
    assert target.read_bytes() == b"two" and os.listdir(tmp_path) == ["journal.json"]
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        atomic_write_portable(tmp_path / "dir", b"x")  # os.replace onto a directory fails
    assert sorted(os.listdir(tmp_path)) == ["dir", "journal.json"]


def test_the_portable_atomic_write_refuses_a_symlink(tmp_path):
    (tmp_path / "elsewhere").write_bytes(b"keep")
    (tmp_path / "journal.json").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePath):
        atomic_write_portable(tmp_path / "journal.json", b"x")
    assert (tmp_path / "elsewhere").read_bytes() == b"keep"


class FakeMsvcrt:
    """msvcrt.locking's contract: lock/unlock `n` bytes at the current position; LK_NBLCK fails at
    once (EACCES) when another descriptor holds them."""

    LK_UNLCK, LK_NBLCK = 0, 2

    def __init__(self):
        self.held: dict[tuple[int, int], int] = {}

    def locking(self, fd, mode, n):
        key = (os.fstat(fd).st_ino, os.lseek(fd, 0, os.SEEK_CUR))
        if mode == self.LK_UNLCK:
            self.held.pop(key, None)
        elif self.held.setdefault(key, fd) != fd:
            raise OSError(errno.EACCES, "Permission denied")


@pytest.fixture
def windows_lock(monkeypatch):
    fake = FakeMsvcrt()
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.setattr(journal, "WINDOWS", True)
    return fake


def test_the_apply_lock_on_windows_excludes_a_second_apply_and_names_the_holder(tmp_path, windows_lock):
    path = tmp_path / "state" / "apply.lock"
    with journal.ApplyLock(path, 0.1):
        assert path.read_bytes().startswith(f"{os.getpid()}\n".encode())
        with pytest.raises(journal.LockBusy, match=f"pid {os.getpid()}"):
            with journal.ApplyLock(path, 0.1):
                pass
    with journal.ApplyLock(path, 0):  # released on exit
        pass
    assert windows_lock.held == {}


def test_apply_without_an_elevated_prompt_is_refused_with_exit_77(monkeypatch):
    class Shell32:
        @staticmethod
        def IsUserAnAdmin():
            return 0

    monkeypatch.setattr(ctypes, "windll", type("windll", (), {"shell32": Shell32}), raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(cli.Fail) as refused:
        cli.require_root("--apply")
    assert refused.value.code == 77 and str(refused.value) == "--apply needs an elevated prompt (Run as administrator)"


def test_on_windows_no_socket_is_asked_and_status_reads_the_status_file(monkeypatch, capsys, no_netwarden_env,
                                                                        tmp_path):
    # What Windows decides at import (sys.platform), decided here: pydantic, which this test's
    # settings import, cannot load on Linux under a faked sys.platform.
    monkeypatch.setattr(cli_daemon, "CONTROL_SOCKET", False)
    assert cli_daemon.ask_daemon(None, "apply", {}, 120, absent_ok=True) is None  # --apply does it itself
    no_netwarden_env.setenv("NETWARDEN_CONFIG", "")
    no_netwarden_env.setenv("NETWARDEN_STATE_DIR", str(tmp_path))
    code = cli.main(["status"])
    err = capsys.readouterr().err
    assert code == 3 and err == f"netwarden: no netwarden daemon is running ({tmp_path / 'status.json'} does not " \
                                "exist)\n"
    for command in (["events"], ["status", "--follow"], ["release", "net.inet.tcp.msl"]):
        monkeypatch.setattr(cli, "require_root", lambda what: None)
        monkeypatch.setattr(cli_daemon, "require_root", lambda what: None)
        assert cli.main(command) == 64
        err = capsys.readouterr().err
        assert "Windows does not have" in err and "history.jsonl" in err and err.count("\n") == 1, err


def test_windows_keeps_state_under_programdata(monkeypatch):
    monkeypatch.setenv("ProgramData", "D:\\ProgramData")
    paths = platform_paths("win32")
    assert paths["state_dir"] == Path("D:\\ProgramData") / "netwarden"


@pytest.mark.parametrize("path, ok", [(PureWindowsPath("C:\\ProgramData\\netwarden"), True),
                                      (PureWindowsPath("/etc/sysctl.d"), True),  # the Linux settings' defaults
                                      (PureWindowsPath("etc\\sysctl.d"), False), (PureWindowsPath("C:etc"), False)])
def test_a_path_setting_on_windows_is_absolute_or_from_the_drive_root(path, ok):
    if ok:
        _check_text("state_dir", path)
    else:
        with pytest.raises(SettingError, match="must be an absolute path"):
            _check_text("state_dir", path)
