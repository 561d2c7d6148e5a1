"""The daemon's pure parts: drift classification, history persistence, enforcement limits, logging
to journald's stream, and sd_notify's wrapper."""

import os
import socket

from netwarden.config import Settings
from netwarden.daemon.drift import DriftEvent, History, diff_findings
from netwarden.daemon.notify import Log, SdNotify
from netwarden.daemon.policy import Enforcer
from netwarden.model import Finding, Severity


def finding(severity, value="v", fid="ports.range"):
    return Finding(fid, Severity(severity), f"title {value}", value=value)


def test_drift_kinds():
    before = {"ports.range": {"severity": "ok", "value": "a", "title": ""}}
    assert [e.kind for e in diff_findings(before, [finding("critical", "b")], "t")] == ["appeared"]
    assert diff_findings(before, [finding("ok", "a")], "t") == []  # nothing moved
    assert [e.kind for e in diff_findings(before, [finding("ok", "c")], "t")] == ["changed"]  # value, still ok
    crit = {"ports.range": {"severity": "critical", "value": "b", "title": ""}}
    assert [e.kind for e in diff_findings(crit, [finding("warning", "b")], "t")] == ["changed"]
    assert [e.kind for e in diff_findings(crit, [finding("ok", "a")], "t")] == ["cleared"]
    assert diff_findings({}, [finding("ok")], "t") == []  # a healthy first sight is not news
    assert [e.kind for e in diff_findings({}, [finding("warning")], "t")] == ["appeared"]


def test_history_is_bounded_survives_restart_and_drops_a_torn_line(tmp_path):
    history = History(tmp_path, limit=5)
    for i in range(12):
        history.add(DriftEvent("file-changed", f"/f{i}", None, None, "t", "m"))
    history.save_findings({"ports.range": {"severity": "ok", "value": "x", "title": ""}})
    with open(tmp_path / "history.jsonl", "a") as f:
        f.write('{"kind": "torn')  # a crash mid-append
    again = History(tmp_path, limit=5)
    assert [e["subject"] for e in again.events] == ["/f7", "/f8", "/f9", "/f10", "/f11"]  # the torn line takes no slot
    assert again.findings["ports.range"]["value"] == "x"
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) <= 10


def test_a_history_grown_far_past_its_size_is_read_by_its_tail_and_trimmed(tmp_path):
    """A 471 MiB history.jsonl took 15 s and 2.4 GiB at start: only what `limit` events take is read."""
    import json
    import time

    from netwarden.daemon.drift import EVENT_BYTES

    (tmp_path / "history.jsonl").touch(mode=0o600)
    line = {"kind": "changed", "trigger": "t", "message": "m" * 200, "severity": "warning", "time": 0}
    with open(tmp_path / "history.jsonl", "w") as f:
        for i in range(100_000):  # ~27 MB, for a limit of 5 events
            f.write(json.dumps({**line, "subject": f"/f{i}"}) + "\n")
    started = time.monotonic()
    history = History(tmp_path, limit=5)
    assert time.monotonic() - started < 2
    assert [e["subject"] for e in history.events] == [f"/f{i}" for i in range(99_995, 100_000)]
    assert "kept its last part" in history.problems[0], history.problems
    assert (tmp_path / "history.jsonl").stat().st_size <= 5 * EVENT_BYTES
    again = History(tmp_path, limit=5)
    assert again.events == history.events and again.problems == []


def test_enforcer_contests_once_backs_off_after_the_limit_and_release_resets():
    settings = Settings(policy={"ports.range": "enforce", "ports.tw-reuse": "always"}, enforce_max_per_hour=2)
    e = Enforcer(settings)
    assert e.external_change("k", "ports.range", "1 2", "3 4", "t").kind == "contested"
    assert e.external_change("k", "ports.range", "1 2", "5 6", "t") is None  # once
    assert e.may_apply("k", "c", "t") == (False, None)
    assert e.external_change("j", "ports.tw-reuse", "1", "0", "t") is None  # "always" is never contested
    for now in (0, 1):
        assert e.may_apply("j", "c", "t", now=now)[0]
        e.applied("j", now=now)
    allowed, event = e.may_apply("j", "c", "t", now=2)
    assert not allowed and event.kind == "backed-off"
    assert e.may_apply("j", "c", "t", now=3) == (False, None)  # alerted once
    assert e.release("j") and e.release("k")
    assert e.may_apply("j", "c", "t", now=4)[0] and e.may_apply("k", "c", "t")[0]
    e2 = Enforcer(settings)
    e2.applied("x", now=0)
    e2.applied("x", now=1)
    assert e2.may_apply("x", "c", "t", now=3602)[0]  # older than an hour: forgotten


def test_log_uses_priority_prefixes_only_when_stderr_is_the_journal(tmp_path, monkeypatch):
    path = tmp_path / "err"
    with open(path, "w") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        Log(stream).write(4, "port range narrow")
        monkeypatch.setenv("JOURNAL_STREAM", "1:2")
        Log(stream).write(4, "plain now")
    assert path.read_text().splitlines() == ["<4>port range narrow", "netwarden: plain now"]


def test_sd_notify_wrapper_reconnects_each_time_and_sends_ascii(tmp_path, monkeypatch):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    notify = SdNotify(Log())
    notify.send("READY=1", "STATUS=ok: café ✓")
    assert sock.recv(100) == b"READY=1\nSTATUS=ok: caf? ?"
    sock.close()
    os.unlink(path)  # the manager re-creates its socket: the next message must still arrive
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    notify.send("WATCHDOG=1")
    assert sock.recv(100) == b"WATCHDOG=1"
    sock.close()


def test_sd_notify_failure_is_logged_once_not_raised(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    notify = SdNotify(Log())
    notify.send("READY=1")
    notify.send("WATCHDOG=1")
    assert capsys.readouterr().err.count("sd_notify failed") == 1


class FakeJournal:
    def __init__(self):
        self.sent = []

    def send(self, message, **fields):
        self.sent.append((message, fields))


def test_journal_fields_name_the_check_for_events_about_a_key_it_manages():
    """`journalctl NETWARDEN_CHECK=ports.range` must find the enforcement events of that check's
    sysctl, not only its finding events (the subject of those is the key)."""
    settings = Settings(policy={"ports.range": "enforce"}, enforce_max_per_hour=1)
    e = Enforcer(settings)
    key = "net.ipv4.ip_local_port_range"
    contested = e.external_change(key, "ports.range", "1 2", "3 4", "t")
    e.release(key)
    e.applied(key, now=0)
    _, backed_off = e.may_apply(key, "ports.range", "t", now=1)
    (appeared,) = diff_findings({}, [finding("critical")], "t")
    file_event = DriftEvent("file-changed", "/etc/gai.conf", None, None, "t", "m")
    log = Log()
    log._journal = FakeJournal()
    for event in (contested, backed_off, appeared, file_event):
        log.event(event)
    fields = [f for _, f in log._journal.sent]
    assert [f.get("NETWARDEN_CHECK") for f in fields] == ["ports.range", "ports.range", "ports.range", None]
    assert [f["NETWARDEN_SUBJECT"] for f in fields] == [key, key, "ports.range", "/etc/gai.conf"]
    assert [f["NETWARDEN_EVENT"] for f in fields] == ["contested", "backed-off", "appeared", "file-changed"]


def test_supervisor_tells_threads_that_died_from_those_alive_or_ended_on_purpose():
    import threading

    from netwarden.daemon.supervise import Supervisor

    logged, woken = [], []
    supervisor = Supervisor(logged.append, lambda: woken.append(1))
    before = threading.excepthook
    supervisor.install()
    try:
        hold = threading.Event()

        def raises():
            raise RuntimeError("injected fault")

        def exits():
            raise SystemExit

        threads = {name: threading.Thread(target=target, name=f"t-{name}") for name, target in (
            ("raises", raises), ("exits", exits), ("returns", lambda: None), ("gives up", lambda: None),
            ("runs", hold.wait))}
        unwatched = threading.Thread(target=raises, name="unwatched")
        for name, thread in threads.items():
            supervisor.watch(name, thread, (lambda: True) if name == "gives up" else (lambda: False))
            thread.start()
        unwatched.start()
        for thread in [*threads.values(), unwatched]:
            if thread.name != "t-runs":
                thread.join(2)
        # "returns" ended without an exception: no hook hears of it, only is_alive() tells.
        assert sorted(supervisor.dead()) == ["exits", "raises", "returns"]
        assert woken == [1, 1]  # the hook woke the loop for the watched threads that raised, not the unwatched
        assert len(logged) == 3 and all("\n" not in line for line in logged)
        raised = next(line for line in logged if line.startswith("the raises thread died"))
        assert raised.startswith("the raises thread died (a bug; please report it): Traceback")
        assert "RuntimeError: injected fault" in raised
        assert any(line.startswith("thread unwatched died") for line in logged)
        hold.set()
    finally:
        supervisor.uninstall()
    assert threading.excepthook is before  # put back


def test_the_loop_stops_feeding_the_watchdog_and_exits_70_when_the_control_thread_dies(tmp_path, monkeypatch, capsys):
    import threading
    import time

    from factories import settings_for

    from netwarden.daemon.control import ControlServer
    from netwarden.daemon.service import Daemon

    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(0.5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # WATCHDOG=1 every 50 ms
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    settings = settings_for(tmp_path, poll_interval=3600, census_interval=3600, probe_interval=3600,
                            socket_path=tmp_path / "nw.sock", socket_group=None)
    daemon = Daemon(settings, None)
    daemon.supervisor.install()
    daemon.channel = ControlServer(settings, daemon.operations, print, daemon.host.peer)
    daemon.channel.open()
    daemon.supervisor.watch("control socket", daemon.channel.start())
    received = []  # (when, message)

    def listen():
        while True:
            try:
                received.append((time.monotonic(), notify.recv(100).decode()))
            except TimeoutError:
                return
            except OSError:
                return

    listener = threading.Thread(target=listen)
    listener.start()
    loop = threading.Thread(target=daemon._loop)
    try:
        loop.start()
        time.sleep(0.5)
        assert daemon.channel.running and loop.is_alive()

        def fault():
            raise RuntimeError("injected fault")

        daemon.channel._drain_inbox = fault  # the next wake-up kills the serving thread
        died = time.monotonic()
        daemon.channel.broadcast({"kind": "test"})
        loop.join(2)
        assert not loop.is_alive(), "the loop went on after the control thread died"
        stopped = time.monotonic()
    finally:
        daemon.channel.stop()
        daemon.supervisor.uninstall()
    listener.join(2)
    notify.close()
    assert daemon.exit_code == 70 and stopped - died < 1.0
    fed = [when for when, message in received if message == "WATCHDOG=1"]
    assert len([when for when in fed if when < died]) >= 5  # fed while all was well
    assert len([when for when in fed if when > died]) <= 1  # at most one already on its way
    err = capsys.readouterr().err
    assert "the control socket thread died (a bug; please report it)" in err and "injected fault" in err
    assert "control socket stopped working (its thread ended): exiting (70)" in err
