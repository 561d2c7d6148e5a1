"""netwarden's state dir as an attacker would prepare it: root must not act on a journal (nor a
lock, history, findings or pid file) that another user could have planted or can still change.

Every layout below is refused before anything in the state dir is read: --apply and --revert exit
74 with one line, the daemon exits 74 before its first check, and the planted journal's victim
file is left exactly as it was. Planting "as uid 12345" is simulated with chown (the tests run as
root)."""

import base64
import json
import os
import stat

import pytest
from factories import NOT_REGULAR, assert_one_line_error, fake_host, run_cli

from netwarden import cli

OTHER = 12345  # another user
VICTIM_TEXT = b"the victim's own content\n"
PLANTED_TEXT = b"planted by uid 12345\n"


def planted_journal(victim, exists: bool = True) -> bytes:
    original = {"exists": exists, "content_b64": base64.b64encode(PLANTED_TEXT).decode(), "mode": 0o4755,
                "uid": OTHER, "gid": OTHER}
    return json.dumps({"format": 1, "entries": [{"kind": "file", "target": str(victim), "original": original,
                                                 "check": "ports.range", "state": "pending", "time": "x",
                                                 "written": None}]}).encode()


def _world_writable(state):
    state.chmod(0o777)


def _sticky_world_writable(state):  # /tmp's own mode: others may still create names in it
    state.chmod(0o1777)


def _group_writable(state):
    state.chmod(0o770)


def _another_users(state):
    os.chown(state, OTHER, OTHER)


def _in_a_world_writable_parent(state):  # the dir is fine, but anyone may rename it away
    state.parent.chmod(0o777)


def _through_another_users_symlink(state):
    real = state.with_name("real-state")
    state.rename(real)
    state.symlink_to(real)
    os.chown(state, OTHER, OTHER, follow_symlinks=False)


def _journal_of_another_user(state):
    os.chown(state / "journal.json", OTHER, OTHER)


def _journal_group_writable(state):
    (state / "journal.json").chmod(0o620)


def _journal_world_writable(state):
    (state / "journal.json").chmod(0o606)


def _journal_a_symlink(state):
    (state / "elsewhere.json").write_bytes((state / "journal.json").read_bytes())
    (state / "journal.json").unlink()
    (state / "journal.json").symlink_to(state / "elsewhere.json")


def _journal_a_hard_link_of_another_users_file(state):
    mine = state / "journal.json"
    theirs = state.parent / "theirs.json"
    theirs.write_bytes(mine.read_bytes())
    os.chown(theirs, OTHER, OTHER)
    mine.unlink()
    os.link(theirs, mine)


UNSAFE_DIRS = {f.__name__.lstrip("_"): f for f in (
    _world_writable, _sticky_world_writable, _group_writable, _another_users, _in_a_world_writable_parent,
    _through_another_users_symlink)}
UNSAFE_JOURNALS = {f.__name__.lstrip("_"): f for f in (
    _journal_of_another_user, _journal_group_writable, _journal_world_writable, _journal_a_symlink,
    _journal_a_hard_link_of_another_users_file)}
UNSAFE = {**UNSAFE_DIRS, **UNSAFE_JOURNALS}


@pytest.fixture
def host(tmp_path, no_netwarden_env):
    """A fake /proc and netwarden's paths in tmp_path/box (so the test may loosen box's own mode);
    a victim file elsewhere, and a state dir holding a planted journal that names it."""
    box = tmp_path / "box"
    box.mkdir()
    _, env = fake_host(box, no_netwarden_env)
    victim = tmp_path / "victim3.txt"
    victim.write_bytes(VICTIM_TEXT)
    state = box / "state"
    state.mkdir(mode=0o700)
    return state, victim, env


def untouched(victim) -> bool:
    st = victim.stat()
    return victim.read_bytes() == VICTIM_TEXT and (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o644)


@pytest.mark.parametrize("exists", [True, False], ids=["overwrite", "delete"])
@pytest.mark.parametrize("layout", sorted(UNSAFE))
@pytest.mark.parametrize("command", ["--apply", "--revert"])
def test_a_journal_someone_else_could_plant_is_never_acted_on(host, capsys, command, layout, exists):
    state, victim, _ = host
    victim.chmod(0o644)
    (state / "journal.json").write_bytes(planted_journal(victim, exists))
    UNSAFE[layout](state)
    code = cli.main(["--only", "keepalive.idle", command])
    err = capsys.readouterr().err
    assert code == 74, (code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "no one else" in err and "nothing was done" in err, err
    assert untouched(victim)


@pytest.mark.parametrize("layout", sorted(UNSAFE_DIRS))
def test_the_daemon_refuses_an_unsafe_state_dir_before_reading_anything(host, tmp_path, layout):
    state, victim, env = host
    (state / "journal.json").write_bytes(planted_journal(victim))
    UNSAFE[layout](state)
    before = sorted(os.listdir(state))
    r = run_cli("daemon", env=env, timeout=30)
    assert_one_line_error(r, 74, "no one else")
    assert untouched(victim)
    assert sorted(os.listdir(state)) == before  # no pid file, findings or history written there


@pytest.mark.lab
@pytest.mark.parametrize("layout", sorted(UNSAFE_JOURNALS))
def test_the_daemon_leaves_a_journal_that_is_not_its_own_alone_and_says_why(daemon, tmp_path, layout):
    """In a state dir that is root's alone, a journal file someone else owns (or could write) is
    damage, as a torn one is: the daemon runs on, observing, and undoes nothing from it."""
    victim = tmp_path / "victim3.txt"
    victim.write_bytes(VICTIM_TEXT)
    victim.chmod(0o644)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "journal.json").write_bytes(planted_journal(victim))
    UNSAFE[layout](state)
    d = daemon()
    d.stop()
    assert "journal not reconciled" in d.output() and "no one else" in d.output(), d.output()
    assert untouched(victim)


def test_a_safe_state_dir_still_undoes_a_crashed_apply(host, capsys):
    """The same pending entry in a state dir that is root's alone is netwarden's own: it is undone."""
    state, victim, _ = host
    victim.chmod(0o644)
    (state / "journal.json").write_bytes(planted_journal(victim))
    code = cli.main(["--only", "keepalive.idle", "--revert"])
    assert code == 0, capsys.readouterr().err
    assert victim.read_bytes() == PLANTED_TEXT


def test_a_state_dir_netwarden_creates_is_private(host, capsys):
    state, _, _ = host
    state.rmdir()
    assert cli.main(["--only", "ports.range", "--apply"]) == 0, capsys.readouterr().err
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in os.listdir(state):
        st = os.lstat(state / name)
        assert stat.S_ISREG(st.st_mode) and not st.st_mode & 0o077, name


BAD_TARGETS = {
    "relative": "rel/x.conf",
    "bare name": "x.conf",
    "dot-dot inside": "/etc/../tmp/x.conf",
    "dot-dot at the end": "/etc/sysctl.d/..",
    "empty": "",
    "dot": ".",
    "NUL": "/etc/x\0.conf",
}


@pytest.mark.parametrize("name", sorted(BAD_TARGETS))
@pytest.mark.parametrize("command", ["--apply", "--revert"])
def test_a_file_target_that_is_not_an_absolute_normal_path_is_a_malformed_journal(host, capsys, tmp_path, monkeypatch,
                                                                                    name, command):
    state, _, _ = host
    work = tmp_path / "cwd"
    (work / "rel").mkdir(parents=True)
    (work / "rel" / "x.conf").write_bytes(VICTIM_TEXT)
    (work / "x.conf").write_bytes(VICTIM_TEXT)
    monkeypatch.chdir(work)
    entry = {"kind": "file", "target": BAD_TARGETS[name], "check": "ports.range", "state": "applied", "time": "x",
             "written": None, "original": {"exists": False, "content_b64": "", "mode": 420, "uid": 0, "gid": 0}}
    (state / "journal.json").write_text(json.dumps({"format": 1, "entries": [entry]}))
    code = cli.main(["--only", "keepalive.idle", command])
    err = capsys.readouterr().err
    assert code == 74 and "entry 1 is malformed" in err and len(err.strip().splitlines()) == 1, err
    assert (work / "rel" / "x.conf").read_bytes() == (work / "x.conf").read_bytes() == VICTIM_TEXT


def test_revert_prints_a_journal_target_holding_control_characters_escaped(host, capsys, tmp_path):
    """A file the journal says netwarden created, named with an ESC and a newline: its removal is
    said on one escaped line, not painted on the terminal."""
    state, _, _ = host
    target = tmp_path / "x\x1b[31m\nname"
    target.write_text("made by netwarden\n")
    entry = {"kind": "file", "target": str(target), "check": "ports.range", "state": "applied", "time": "x",
             "written": "made by netwarden\n",
             "original": {"exists": False, "content_b64": "", "mode": 420, "uid": 0, "gid": 0}}
    (state / "journal.json").write_text(json.dumps({"format": 1, "entries": [entry]}))
    code = cli.main(["--revert"])
    out = capsys.readouterr().out
    assert code == 0 and not target.exists(), out
    assert out.splitlines() == [f"removed   {tmp_path}/x\\x1b[31m\\nname"], out


# ---- a state file that is not a regular file ----------------------------------------------------
# Someone (or a confused admin, or a restore from a backup) can leave anything at a state file's
# name: each kind is refused as the FIFO always was, in one line, whichever way netwarden opens it
# (read: journal, findings, history; write: history; create: the apply lock and the pid file).



@pytest.mark.parametrize("flags", ["read", "append", "create"])
@pytest.mark.parametrize("kind", sorted(NOT_REGULAR))
def test_a_state_file_that_is_not_a_regular_file_is_unsafe_however_it_is_opened(tmp_path, kind, flags):
    from netwarden.fsutil import UnsafePath, open_private_dir, open_private_file

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    NOT_REGULAR[kind](state / "x")
    how = {"read": os.O_RDONLY, "append": os.O_WRONLY | os.O_APPEND | os.O_CREAT, "create": os.O_RDWR | os.O_CREAT}
    dfd = open_private_dir(state)
    try:
        with pytest.raises(UnsafePath) as caught:
            os.close(open_private_file(dfd, "x", how[flags], state))
    finally:
        os.close(dfd)
    assert caught.value.filename == str(state / "x")
    assert caught.value.strerror in ("not a regular file", "a symlink")


@pytest.mark.parametrize("name", ["journal.json", "apply.lock"])
@pytest.mark.parametrize("kind", sorted(NOT_REGULAR))
@pytest.mark.parametrize("command", ["--apply", "--revert"])
def test_apply_and_revert_refuse_a_journal_or_lock_that_is_not_a_regular_file_in_one_line(host, capsys, name, kind,
                                                                                           command):
    state, _, _ = host
    NOT_REGULAR[kind](state / name)
    code = cli.main(["--only", "ports.range", command])
    err = capsys.readouterr().err
    assert code == 74, (code, err)
    assert err.count("\n") == 1 and "Errno" not in err and "Traceback" not in err, err
    assert f"{state / name}: " in err and ("not a regular file" in err or "a symlink" in err), err


def test_a_lock_that_cannot_be_taken_for_another_reason_says_why_in_words(host, capsys, monkeypatch):
    """Not only what is in the lock's place: a disk that is read-only or full, a flock the file
    system refuses. One line, the lock named, the reason in words, as the daemon says it too."""
    import errno
    import fcntl

    state, _, _ = host

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    code = cli.main(["--only", "ports.range", "--apply"])
    err = capsys.readouterr().err
    assert code == 74, err
    assert err == f"netwarden: cannot take the apply lock {state / 'apply.lock'}: No locks available; nothing was done\n"


@pytest.mark.parametrize("kind", sorted(NOT_REGULAR))
def test_the_daemon_refuses_a_pid_file_that_is_not_a_regular_file_in_one_line(host, kind):
    """It crashed with a traceback (exit 70) on a directory: every kind is the documented 74."""
    state, _, env = host
    NOT_REGULAR[kind](state / "daemon.pid")
    r = run_cli("daemon", env=env, timeout=30)
    assert_one_line_error(r, 74, f"{state / 'daemon.pid'}: ")
    assert "Errno" not in r.stderr
    assert not (state / "findings.json").exists()  # refused before any work


@pytest.mark.lab
@pytest.mark.parametrize("name", ["journal.json", "apply.lock", "findings.json", "history.jsonl"])
def test_the_daemon_runs_on_with_a_state_file_that_is_a_directory_and_says_it_as_the_cli_does(ns, daemon, tmp_path,
                                                                                               name):
    """The daemon logs the damage once, in words (it logged `[Errno 21] Is a directory: 'apply.lock'`),
    and goes on observing. An apply or revert sent to it that needs the file is refused (74) with the
    very line the CLI prints without a daemon (it said "internal error in apply: [Errno 21]...")."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / name).mkdir()
    d = daemon()
    d.wait_for(lambda: "started on" in d.output() and d.netwarden("status").returncode in (0, 1, 2), "its status")
    log = d.output()
    assert "Errno" not in log and "Traceback" not in log and "a bug" not in log, log
    said = [line for line in log.splitlines() if str(state / name) in line and "cannot write" not in line]
    assert len(said) == 1, log  # the damage, said once at start
    ns.sysctl("net.ipv4.ip_local_port_range", "60700 61000")  # something to apply
    through_daemon = {command: d.netwarden(command) for command in ("--apply", "--revert")}
    assert "Errno" not in d.output() and "a bug" not in d.output(), d.output()
    d.stop()
    for command, r in through_daemon.items():
        if name in ("journal.json", "apply.lock"):
            line = assert_one_line_error(r, 74, f"{state / name}: not a regular file")
            alone = d.netwarden(command)  # the CLI without a daemon
            assert alone.stderr == line, (alone.stderr, line)
        else:  # not needed to apply: the daemon applies, and its write of the file fails, said once
            assert r.returncode == 0, r.stderr
    if name in ("findings.json", "history.jsonl"):
        assert d.output().count(f"cannot write {state / name}: ") == 1, d.output()
