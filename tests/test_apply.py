"""--apply / --revert over a fake /proc tree: journal first, all or nothing, revert exact to the byte."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from factories import fake_host

from netwarden import cli
from netwarden.journal import ApplyLock, Journal

ROOT = Path(__file__).resolve().parents[1]
RANGE_FILE = "sys/net/ipv4/ip_local_port_range"
ORIGINAL_DROPIN = b"# keep me\nnet.core.somaxconn = 4096\nnot a sysctl line\n"


@pytest.fixture
def host(tmp_path, no_netwarden_env):
    """A fake /proc with the 301-port range and netwarden's paths relocated into tmp_path."""
    proc, _ = fake_host(tmp_path, no_netwarden_env)
    return tmp_path, proc, tmp_path / "sysctl.d" / "60-netwarden.conf"


def nw(capsys, *args):
    code = cli.main(["--only", "ports.range", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_apply_then_revert_is_exact_to_the_byte_and_keeps_foreign_lines(host, capsys):
    tmp, proc, dropin = host
    dropin.write_bytes(ORIGINAL_DROPIN)
    os.chmod(dropin, 0o640)
    code, out, err = nw(capsys, "--apply")
    assert code == 0, err
    assert (proc / RANGE_FILE).read_text() == "32768 61000\n"
    text = dropin.read_text()
    assert text.startswith(ORIGINAL_DROPIN.decode())  # foreign and unreadable lines kept as they were
    assert "net.ipv4.ip_local_port_range = 32768 61000\n" in text
    code, out, err = nw(capsys, "--revert")
    assert code == 0, err
    assert dropin.read_bytes() == ORIGINAL_DROPIN
    assert stat.S_IMODE(dropin.stat().st_mode) == 0o640
    assert (proc / RANGE_FILE).read_text() == "60700\t61000\n"
    assert Journal(tmp / "state").entries == []


def test_a_second_apply_keeps_the_first_original(host, capsys):
    tmp, proc, dropin = host
    assert nw(capsys, "--apply")[0] == 0
    (proc / RANGE_FILE).write_text("61000 61100\n")  # narrowed again by someone
    assert nw(capsys, "--apply")[0] == 0
    assert nw(capsys, "--revert")[0] == 0
    assert (proc / RANGE_FILE).read_text() == "60700\t61000\n"  # what the machine had before netwarden
    assert not dropin.exists()


def test_dry_run_changes_nothing(host, capsys):
    tmp, proc, dropin = host
    code, out, _ = nw(capsys, "--dry-run")
    assert code == 2 and "plans 2 change(s)" in out
    assert (proc / RANGE_FILE).read_text() == "60700\t61000\n" and not dropin.exists()
    assert not (tmp / "state" / "journal.json").exists()


@pytest.fixture
def race(monkeypatch):
    """The file system changes between planning and writing (the plan saw nothing to refuse): the
    write-time checks must still refuse, and roll back."""
    from netwarden.platform.linux import LinuxBackend

    monkeypatch.setattr(LinuxBackend, "refusal", lambda self, change: None)


def test_failed_write_rolls_back_what_this_run_changed(host, capsys, race):
    tmp, proc, dropin = host
    os.chmod(dropin.parent, 0o777)  # others could swap files under us: refused at write time
    code, out, err = nw(capsys, "--apply")
    assert code == 74
    assert "other users can write" in err and "put back net.ipv4.ip_local_port_range" in err
    assert (proc / RANGE_FILE).read_text() == "60700\t61000\n"  # rolled back, exactly
    assert not dropin.exists()
    assert Journal(tmp / "state").entries == []


def test_symlinked_dropin_is_refused_and_nothing_stays_changed(host, capsys, tmp_path, race):
    _, proc, dropin = host
    target = tmp_path / "elsewhere.conf"
    target.write_text("x = 1\n")
    dropin.symlink_to(target)
    code, _, err = nw(capsys, "--apply")
    assert code == 74 and "symlink" in err
    assert target.read_text() == "x = 1\n" and (proc / RANGE_FILE).read_text() == "60700\t61000\n"


@pytest.mark.parametrize("damage", ["symlink", "others can write", "missing directory", "directory is a file"])
def test_dry_run_never_plans_what_apply_would_refuse_and_apply_says_why(host, capsys, tmp_path, damage):
    tmp, proc, dropin = host
    if damage == "symlink":
        (tmp_path / "elsewhere.conf").write_text("x = 1\n")
        dropin.symlink_to(tmp_path / "elsewhere.conf")
    elif damage == "others can write":
        os.chmod(dropin.parent, 0o777)
    elif damage == "missing directory":
        dropin.parent.rmdir()
    else:
        dropin.parent.rmdir()
        dropin.parent.write_text("")
    code, out, err = nw(capsys, "--dry-run")
    assert code == 2 and "(as root) plans" not in out and "Traceback" not in err
    assert "--apply would not make: net.ipv4.ip_local_port_range" in out
    assert "this kernel has no such setting" not in out  # a missing directory is not a missing sysctl
    doc = json.loads(nw(capsys, "--dry-run", "--json")[1])
    assert doc["changes"] == [] and [c["target"] for c in doc["refused"]] == ["net.ipv4.ip_local_port_range"]
    code, out, err = nw(capsys, "--apply")
    assert code == 74 and "refused" in err and "Traceback" not in err
    assert "not made: net.ipv4.ip_local_port_range" in out and "would not make" not in out  # it ran, not foreseen
    assert (proc / RANGE_FILE).read_text() == "60700\t61000\n"  # nothing half-done: no runtime-only fix
    assert not (tmp / "state" / "journal.json").exists()


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4])
def test_killed_apply_leaves_files_old_or_new_and_revert_is_exact(host, capsys, crash_at):
    tmp, proc, dropin = host
    dropin.write_bytes(ORIGINAL_DROPIN)
    r = subprocess.run([sys.executable, str(ROOT / "tests/crash_apply.py"), str(tmp), str(proc), str(crash_at)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 9, r.stdout + r.stderr  # it really died mid-apply
    new_dropin = ORIGINAL_DROPIN + b"# ports.range\nnet.ipv4.ip_local_port_range = 32768 61000\n"
    assert dropin.read_bytes() in (ORIGINAL_DROPIN, new_dropin)  # never torn
    assert (proc / RANGE_FILE).read_text() in ("60700\t61000\n", "32768 61000\n")
    assert not [p for p in dropin.parent.iterdir() if p.name.endswith(".tmp")]
    code, out, err = nw(capsys, "--revert")
    assert code == 0, err
    assert dropin.read_bytes() == ORIGINAL_DROPIN
    assert (proc / RANGE_FILE).read_text() == "60700\t61000\n"


def test_apply_killed_inside_the_dropin_write_is_finished_by_the_next_apply(host, capsys):
    """Killed between the runtime write and the drop-in's rename: the range is wide at runtime, no
    drop-in keeps it, a `pending` entry and a temp file are left. The next run must not call that
    OK: at boot 50-narrow.conf would bring back the 301 ports."""
    tmp, proc, dropin = host
    (dropin.parent / "50-narrow.conf").write_text("net.ipv4.ip_local_port_range = 60700 61000\n")
    r = subprocess.run([sys.executable, str(ROOT / "tests/crash_apply.py"), str(tmp), str(proc), "rename"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 9, r.stdout + r.stderr
    assert (proc / RANGE_FILE).read_text() == "32768 61000\n" and not dropin.exists()
    assert [p.name for p in dropin.parent.iterdir() if p.name.endswith(".tmp")]
    assert [e["state"] for e in Journal(tmp / "state").entries] == ["applied", "pending"]

    code, out, err = nw(capsys, "--json")  # read-only: reports, changes nothing
    doc = json.loads(out)
    (finding,) = doc["findings"]
    assert code == 1 and finding["severity"] == "warning" and "not persisted" in finding["title"]
    assert "50-narrow.conf:1 sets 60700 61000" in finding["title"]

    code, out, err = nw(capsys, "--apply")
    assert code == 0, err
    assert "undid a crashed apply of" in err and "removed the temp file" in err
    assert not [p for p in dropin.parent.iterdir() if p.name.endswith(".tmp")]
    assert "net.ipv4.ip_local_port_range = 32768 61000\n" in dropin.read_text()
    assert (proc / RANGE_FILE).read_text() == "32768 61000\n"
    assert nw(capsys)[0] == 0  # persisted now: ok

    code, out, err = nw(capsys, "--revert")
    assert code == 0, err
    assert (proc / RANGE_FILE).read_text() == "60700\t61000\n" and not dropin.exists()
    assert Journal(tmp / "state").entries == []


def test_concurrent_apply_waits_then_fails_clearly(host, capsys):
    tmp, _, _ = host
    with ApplyLock(tmp / "state" / "apply.lock", 0):
        code, _, err = nw(capsys, "--apply")
    assert code == 75
    # The pid in the lock file is who last took it, which may not be who holds it now: said so.
    assert f"holds {tmp / 'state' / 'apply.lock'} (pid {os.getpid()} last wrote it)" in err
    assert "gave up after 0.3 s" in err and err.count("\n") == 1


def test_a_failed_revert_says_once_that_the_original_stays_in_the_journal(host, capsys):
    tmp, proc, _ = host
    journal = Journal(tmp / "state")
    for target, original in (("net.ipv4.ip_local_port_range", "1 2\n3 4"),  # unusable: two lines
                             ("net.ipv4.tcp_nope", "1")):  # no such file in the fake /proc: the write fails
        journal.record("sysctl", target, original, "ports.range")
        journal.mark_applied("sysctl", target, "5")
    code, _, err = nw(capsys, "--revert")
    assert code == 74
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.count("stays in the journal") == 1 for line in lines), err
    unusable = next(line for line in lines if "unusable" in line)
    assert "run --revert again" not in unusable  # another run cannot help a journaled value that is not one
    assert "run --revert again" in next(line for line in lines if line is not unusable)
    assert {e["target"] for e in Journal(tmp / "state").entries} == {"net.ipv4.ip_local_port_range",
                                                                     "net.ipv4.tcp_nope"}


def test_unreadable_journal_stops_before_any_change(host, capsys):
    tmp, proc, _ = host
    (tmp / "state").mkdir()
    (tmp / "state" / "journal.json").write_text("{torn")
    code, _, err = nw(capsys, "--apply")
    assert code == 74 and "unreadable journal" in err
    assert (proc / RANGE_FILE).read_text() == "60700\t61000\n"


def test_apply_and_revert_need_root(host, capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert nw(capsys, "--apply")[0] == 77
    assert nw(capsys, "--revert")[0] == 77
    assert nw(capsys)[0] == 2  # the read-only check still works


def test_absent_sysctl_is_unknown_with_the_reason(host, capsys):
    _, proc, _ = host
    (proc / RANGE_FILE).unlink()
    code, out, _ = nw(capsys, "--json")
    finding = json.loads(out)["findings"][0]
    assert code == 3 and finding["severity"] == "unknown"
    assert "no such setting" in finding["observed"]


def test_revert_with_empty_journal_says_so(host, capsys):
    code, out, _ = nw(capsys, "--revert")
    assert code == 0 and "Nothing to revert" in out


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs, filled up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "full"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.decode().strip()}")
    try:
        (mnt / "sysctl.d").mkdir()
        (mnt / "state").mkdir(mode=0o700)
        with open(mnt / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_full_disk_for_the_dropin_rolls_back_the_runtime_change(host, capsys, monkeypatch, full_disk):
    tmp, proc, _ = host
    monkeypatch.setenv("NETWARDEN_SYSCTL_DIR", str(full_disk / "sysctl.d"))
    code, _, err = nw(capsys, "--apply")
    assert code == 74 and "no space left" in err
    assert (proc / RANGE_FILE).read_text() == "60700\t61000\n"
    assert list((full_disk / "sysctl.d").iterdir()) == []


def test_full_disk_for_the_journal_changes_nothing(host, capsys, monkeypatch, full_disk):
    tmp, proc, _ = host
    monkeypatch.setenv("NETWARDEN_STATE_DIR", str(full_disk / "state"))
    monkeypatch.setenv("NETWARDEN_LOCK_PATH", str(tmp / "apply.lock"))
    code, _, err = nw(capsys, "--apply")
    assert code == 74 and "cannot write the journal" in err
    assert (proc / RANGE_FILE).read_text() == "60700\t61000\n"


def test_revert_restores_a_foreign_owner_too(host, capsys):
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    _, _, dropin = host
    dropin.write_bytes(ORIGINAL_DROPIN)
    os.chown(dropin, 1234, 5678)
    assert nw(capsys, "--apply")[0] == 0
    assert nw(capsys, "--revert")[0] == 0
    st = dropin.stat()
    assert (st.st_uid, st.st_gid) == (1234, 5678) and dropin.read_bytes() == ORIGINAL_DROPIN
