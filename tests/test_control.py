"""The control socket with a real daemon: who may do what, the protocol's errors, stale and live
sockets, live events, `netwarden status`, and the metrics."""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from factories import clean_env
from lab import ROOT, TOOLS

pytestmark = pytest.mark.lab

RANGE = "net.ipv4.ip_local_port_range"
MEMBER = ["setpriv", "--reuid=12345", "--regid=12345", "--groups=12346", "--"]
OUTSIDER = ["setpriv", "--reuid=12347", "--regid=12347", "--clear-groups", "--"]


@pytest.fixture
def socket_dir():
    """A directory others may traverse (pytest's tmp dirs are 0700), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="nwtest-sock-", dir="/run" if os.access("/run", os.W_OK) else None))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_as(prefix, *args, sock: Path, timeout=20):
    return subprocess.run([*prefix, sys.executable, *args], capture_output=True, text=True,
                          env=clean_env(NETWARDEN_SOCKET=str(sock)), cwd=ROOT,
                          timeout=timeout)


def rpc_lines(sock: Path, payload: bytes, expect: int, timeout=5.0) -> list[dict]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(payload)
        data = b""
        while data.count(b"\n") < expect:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def test_group_members_read_root_changes_others_cannot_connect(ns, daemon, socket_dir):
    sock = socket_dir / "nw.sock"
    d = daemon(env={"NETWARDEN_SOCKET": str(sock), "NETWARDEN_SOCKET_GROUP": "12346"})
    st = os.stat(sock)
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == 12346
    ns.sysctl(RANGE, "60700 61000")
    d.wait_event("appeared", "ports.range")

    member = run_as(MEMBER, "-m", "netwarden", "status", "--json", sock=sock)
    assert member.returncode == 2, member.stderr  # the daemon's worst finding: critical
    assert {f["id"]: f["severity"] for f in json.loads(member.stdout)["findings"]}["ports.range"] == "critical"
    refused = run_as(MEMBER, "-c", "from netwarden.daemon.client import call, RpcError\n"
                                   "import sys\ntry:\n    call(sys.argv[1], 'apply')\n"
                                   "except RpcError as e:\n    print(e.code, e)", str(sock), sock=sock)
    assert refused.stdout.startswith("-32001 permission denied: apply needs root"), refused.stdout + refused.stderr
    table = run_as(MEMBER, "-m", "netwarden", "status", sock=sock)
    assert table.returncode == 2 and "CRITICAL  ports.range" in table.stdout, table.stdout + table.stderr
    assert "(pid " in table.stdout and "drift events" in table.stdout
    outsider = run_as(OUTSIDER, "-m", "netwarden", "status", sock=sock)
    assert outsider.returncode == 77 and "permission denied" in outsider.stderr

    r = d.netwarden("--apply")  # root, through the daemon
    assert r.returncode == 0, r.stdout + r.stderr
    assert ns.sysctl(RANGE).split() == ["32768", "61000"]
    d.wait_event("cleared", "ports.range")


def test_peer_credentials_are_checked_even_when_the_file_mode_lets_anyone_in(ns, daemon, socket_dir):
    sock = socket_dir / "nw.sock"
    daemon(env={"NETWARDEN_SOCKET": str(sock), "NETWARDEN_SOCKET_GROUP": "12346"})
    os.chmod(sock, 0o666)  # as a careless admin might
    r = run_as(OUTSIDER, "-m", "netwarden", "status", sock=sock)
    assert r.returncode == 77 and "uid 12347 is neither root nor in the socket's group" in r.stderr


def test_protocol_errors_are_answered_and_requests_pipeline(ns, daemon, tmp_path):
    d = daemon()
    sock = Path(d.env["NETWARDEN_SOCKET"])
    requests = b"".join(line + b"\n" for line in (
        b"{bad json",
        b"[1, 2]",
        b'{"jsonrpc": "2.0", "method": "nope", "id": 1}',
        b'{"jsonrpc": "2.0", "method": "history", "params": {"limit": -1}, "id": 2}',
        b'{"jsonrpc": "2.0", "method": "history", "params": [1], "id": 3}',
        b'{"jsonrpc": "2.0", "method": "version"}',  # a notification: no answer
        b'{"jsonrpc": "2.0", "method": "version", "id": "v"}',
        b'{"jsonrpc": "2.0", "method": "apply", "params": {"only": ["ports.nope"]}, "id": 4}',
        b'{"jsonrpc": "2.0", "method": "apply", "params": {"only": 5}, "id": 5}',
        b'{"jsonrpc": "2.0", "method": "check", "params": {"ids": "ports.range"}, "id": 6}',
        b'{"jsonrpc": "2.0", "method": "release", "params": {"key": "../../etc"}, "id": 7}',
    ))
    answers = rpc_lines(sock, requests, expect=10)
    assert [a.get("error", {}).get("code") for a in answers] == [
        -32700, -32600, -32601, -32602, -32602, None, -32602, -32602, -32602, -32602]
    assert d.proc.poll() is None
    assert answers[5] == {"jsonrpc": "2.0", "id": "v", "result": {"netwarden": "0.1.0"}}
    oversized = rpc_lines(sock, b"x" * (70 * 1024), expect=1)
    assert oversized[0]["error"]["code"] == -32003
    assert rpc_lines(sock, b'{"jsonrpc": "2.0", "method": "status", "id": 9}\n', 1)[0]["result"]["status"] == "ok"


def test_history_pages_newest_first(ns, daemon):
    d = daemon()
    for value in ("60700 61000", "50000 60000", "32768 60999"):
        ns.sysctl(RANGE, value)
        time.sleep(0.5)
    d.wait_event("cleared", "ports.range")
    sock = Path(d.env["NETWARDEN_SOCKET"])
    first = rpc_lines(sock, b'{"jsonrpc":"2.0","method":"history","params":{"limit":2},"id":1}\n', 1)[0]["result"]
    second = rpc_lines(sock, b'{"jsonrpc":"2.0","method":"history","params":{"limit":2,"offset":2},"id":1}\n', 1)[0]["result"]
    assert first["total"] == 3
    assert [e["kind"] for e in first["events"] + second["events"]] == ["cleared", "changed", "appeared"]


def test_stale_socket_is_replaced_and_a_live_one_refuses_a_second_daemon(ns, daemon, tmp_path):
    sock = tmp_path / "netwarden.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock))
    stale.close()  # the file stays: what a crashed daemon leaves
    d = daemon()
    assert "replaced the stale control socket" in d.output()
    other_state = dict(d.env, NETWARDEN_STATE_DIR=str(tmp_path / "other-state"))
    r = ns.netwarden("daemon", env=other_state, timeout=20)
    assert r.returncode == 75 and f"another netwarden daemon is listening on {sock}" in r.stderr


@pytest.mark.parametrize("kind", ["a regular file", "a directory", "a FIFO", "a symlink to a file"])
def test_a_file_at_socket_path_that_is_not_a_socket_is_bad_configuration_not_another_daemon(ns, tmp_path, kind):
    """It exited 75 ("another daemon runs"): nothing runs, the configuration names the wrong file (78).
    The file is left as it was."""
    from daemon_lab import DaemonRun

    run = DaemonRun(ns, tmp_path)
    sock = Path(run.env["NETWARDEN_SOCKET"])
    {"a regular file": lambda: sock.write_text("mine"), "a directory": sock.mkdir, "a FIFO": lambda: os.mkfifo(sock),
     "a symlink to a file": lambda: ((tmp_path / "target").write_text("mine"), sock.symlink_to(tmp_path / "target"))}[kind]()
    before = os.lstat(sock)
    r = ns.netwarden("daemon", env=run.env, timeout=20)
    assert r.returncode == 78 and "Traceback" not in r.stderr, r.stderr
    last = r.stderr.splitlines()[-1]  # after the daemon's log of its stop
    assert last.startswith(f"netwarden: bad configuration: socket_path {sock} names a file that is not a socket"), last
    after = os.lstat(sock)
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (before.st_ino, before.st_mode, before.st_mtime_ns)


def test_events_stream_live(ns, daemon):
    d = daemon()
    env = dict(os.environ, NETWARDEN_SOCKET=d.env["NETWARDEN_SOCKET"])
    follower = subprocess.Popen([sys.executable, "-m", "netwarden", "events", "--json"], stdout=subprocess.PIPE,
                                text=True, env=env, cwd=ROOT)
    try:
        time.sleep(0.5)
        ns.sysctl(RANGE, "60700 61000")
        event = json.loads(follower.stdout.readline())
        assert (event["kind"], event["subject"]) == ("appeared", "ports.range")
    finally:
        follower.kill()
        follower.wait()


def test_status_without_a_daemon_is_exit_3_and_status_stays_light(tmp_path):
    env = clean_env(NETWARDEN_SOCKET=str(tmp_path / "nobody.sock"))
    r = subprocess.run([sys.executable, "-m", "netwarden", "status"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 3 and "no netwarden daemon is running" in r.stderr
    code = ("import sys\nfrom netwarden.cli import main\nmain(['status'])\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'pydantic_settings', 'pyroute2', "
            "'watchdog', 'prometheus_client'}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


def test_metrics_over_http_and_textfile_match_the_findings(ns, daemon, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    textfile = tmp_path / "netwarden.prom"
    d = daemon(env={"NETWARDEN_METRICS_ADDRESS": "127.0.0.1:9847", "NETWARDEN_METRICS_TEXTFILE": str(textfile)})
    ns.sysctl(RANGE, "60700 61000")
    d.wait_event("appeared", "ports.range")
    time.sleep(0.3)
    scraped = ns.run(sys.executable, "-c", "import urllib.request; "
                     "print(urllib.request.urlopen('http://127.0.0.1:9847/metrics', timeout=5).read().decode())").stdout

    def samples(text):
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    for text in (scraped, textfile.read_text()):
        got = samples(text)
        assert got[("netwarden_up", ())] == 1
        assert got[("netwarden_finding", (("check", "ports.range"), ("severity", "critical")))] == 1
        assert got[("netwarden_finding", (("check", "ports.range"), ("severity", "ok")))] == 0
        assert got[("netwarden_ephemeral_port_range_size", ())] == 301
        assert got[("netwarden_drift_events_total", (("check", "ports.range"),))] >= 1
        assert got[("netwarden_check_duration_seconds_count", ())] >= 2
        assert ("netwarden_time_wait_sockets", ()) in got
        assert abs(got[("netwarden_last_update_timestamp_seconds", ())] - time.time()) < 30

    # A clean stop leaves a textfile that says so (a stale "up 1" would hide the outage).
    assert d.stop()[0] == 0
    assert samples(textfile.read_text())[("netwarden_up", ())] == 0


def test_a_taken_metrics_address_stops_the_daemon_at_start_with_one_line(ns, tmp_path):
    from daemon_lab import DaemonRun

    holder = ns.start(sys.executable, "-c", "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 9847)); "
                      "s.listen(); print('ready', flush=True); time.sleep(60)", ready="ready")
    run = DaemonRun(ns, tmp_path, env={"NETWARDEN_METRICS_ADDRESS": "127.0.0.1:9847"})
    r = ns.run(sys.executable, "-m", "netwarden", "daemon", env=run.env, check=False, timeout=30)
    assert r.returncode == 75, r.stderr
    assert "metrics_address 127.0.0.1:9847" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "state" / "findings.json").exists()  # it stopped before doing any work
    holder.kill()


def test_socket_activation_uses_the_inherited_socket_and_leaves_it_in_place(ns, daemon, tmp_path):
    sock = tmp_path / "activated.sock"
    d = daemon()  # a normal daemon only to get its environment; stop it, then start one as systemd would
    d.stop()
    d.log = open(tmp_path / "daemon.log", "a")
    d.proc = ns.start(sys.executable, str(TOOLS), "activate", str(sock), sys.executable, "-m", "netwarden", "daemon",
                      env=dict(d.env, NETWARDEN_SOCKET=str(tmp_path / "unused.sock")), output=d.log)
    d.wait_for(lambda: sock.exists() and rpc_lines(sock, b'{"jsonrpc":"2.0","method":"version","id":1}\n', 1),
               "an answer on the activated socket")
    assert not (tmp_path / "unused.sock").exists()  # it did not bind its own
    code, _ = d.stop()
    assert code == 0 and sock.exists()  # systemd's socket, not the daemon's to remove


MEMBER2 = ["setpriv", "--reuid=12348", "--regid=12348", "--groups=12346", "--"]
# Run as a group member: holds subscriptions, on command. "fill": subscribe until refused, say how
# many are held and the refusal. "evicted": which held ones the daemon closed, with its last word.
HOLDER = r'''
import json, socket, sys
path, held = sys.argv[1], []

def subscribe():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    try:
        s.sendall(b'{"jsonrpc":"2.0","method":"subscribe","id":1}\n')
    except OSError:
        pass  # refused at once: the refusal is still there to read
    line = s.makefile("rb").readline()
    return s, json.loads(line) if line else {"error": {"code": None, "message": "closed without a word"}}

def last_word(s):
    """None while it stays open; else the error it was closed with (events before it are skipped)."""
    s.settimeout(0.3)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            return None
        if not chunk:
            errors = [json.loads(l)["error"]["message"] for l in data.splitlines() if b'"error"' in l]
            return errors[-1] if errors else "closed without a word"
        data += chunk

for command in sys.stdin:
    if command.strip() == "fill":
        while True:
            s, answer = subscribe()
            if "error" in answer:
                s.close()
                break
            held.append(s)
        print(json.dumps({"held": len(held), "refusal": answer["error"]}), flush=True)
    else:
        words = {s: last_word(s) for s in held}
        held = [s for s, word in words.items() if word is None]
        print(json.dumps({"evicted": [w for w in words.values() if w is not None]}), flush=True)
'''


class Holder:
    def __init__(self, prefix, sock: Path):
        self.proc = subprocess.Popen([*prefix, sys.executable, "-c", HOLDER, str(sock)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=clean_env(), cwd=ROOT)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the holder died (exit {self.proc.poll()})"
        return json.loads(line)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def one_line(r: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    return r.stderr


@pytest.mark.parametrize("group, logged", [("", False), ("no-such-group-nw", True)])
def test_a_root_only_socket_is_said_only_when_the_group_was_meant_to_exist(ns, daemon, socket_dir, group, logged):
    sock = socket_dir / "nw.sock"
    d = daemon(config=f"socket_group = {json.dumps(group)}\n", env={"NETWARDEN_SOCKET": str(sock)})
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert ("does not exist" in d.output()) is logged, d.output()


def test_members_may_ask_for_a_check_run_every_ten_seconds_root_always(ns, daemon, socket_dir):
    """Each check run probes the targets: a member looping on `check` must not keep them probed."""
    sock = socket_dir / "nw.sock"
    daemon(env={"NETWARDEN_SOCKET": str(sock), "NETWARDEN_SOCKET_GROUP": "12346"})
    code = ("from netwarden.daemon.client import call, RpcError\nimport sys\n"
            "for _ in range(3):\n    try:\n        print('ok', len(call(sys.argv[1], 'check', {'ids': ['ports.range']})['findings']))\n"
            "    except RpcError as e:\n        print(e.code, e)\n")
    member = run_as(MEMBER, "-c", code, str(sock), sock=sock).stdout.splitlines()
    assert member[0] == "ok 1" and all(line.startswith("-32004 busy: a check ran") for line in member[1:]), member
    root = run_as([], "-c", code, str(sock), sock=sock).stdout.splitlines()
    assert root == ["ok 1"] * 3, root


def test_root_gets_in_while_a_member_holds_every_slot_with_subscriptions(ns, daemon, socket_dir):
    sock = socket_dir / "nw.sock"
    d = daemon(env={"NETWARDEN_SOCKET": str(sock), "NETWARDEN_SOCKET_GROUP": "12346",
                    "NETWARDEN_SOCKET_MAX_CLIENTS": "4"})
    holder = Holder(MEMBER, sock)
    try:
        full = holder.ask("fill")
        assert full["held"] == 4 and full["refusal"]["code"] == -32002, full
        # Anyone else who is not root waits: "too many clients" is busy (75), one line.
        member = run_as(MEMBER2, "-m", "netwarden", "status", sock=sock)
        assert member.returncode == 75 and "too many clients (4)" in one_line(member)
        member = run_as(MEMBER2, "-m", "netwarden", "status", "--json", sock=sock)
        assert member.returncode == 75 and json.loads(member.stdout)["error"]["exit_code"] == 75
        assert run_as(MEMBER2, "-m", "netwarden", "events", sock=sock).returncode == 75
        # Root gets in for everything it may do; each time the oldest member connection makes room.
        for argv in (["status"], ["release", RANGE], ["--apply"], ["--revert"], ["status", "--json"]):
            r = d.netwarden(*argv)
            assert r.returncode == 0, (argv, r.stdout, r.stderr)
            evicted = holder.ask("evicted")["evicted"]
            assert evicted and all(word.startswith("closed to make room for root") for word in evicted), evicted
            assert holder.ask("fill")["held"] == 4  # full again for the next
        assert d.proc.poll() is None
    finally:
        holder.close()


def test_one_uid_holds_at_most_eight_subscriptions(ns, daemon, socket_dir):
    sock = socket_dir / "nw.sock"
    d = daemon(env={"NETWARDEN_SOCKET": str(sock), "NETWARDEN_SOCKET_GROUP": "12346"})
    holders = [Holder(MEMBER, sock), Holder(MEMBER2, sock)]
    try:
        for holder, uid in zip(holders, (12345, 12348)):  # per uid: the second is not hindered by the first
            held = holder.ask("fill")
            assert held["held"] == 8, held
            assert held["refusal"] == {"code": -32002, "message": f"too many subscriptions: uid {uid} holds 8, "
                                                                 "the most one uid may"}
        events = run_as(MEMBER, "-m", "netwarden", "events", sock=sock)
        assert events.returncode == 75 and "too many subscriptions" in one_line(events)
        follow = run_as(MEMBER, "-m", "netwarden", "status", "--follow", sock=sock)
        assert follow.returncode == 75 and "too many subscriptions" in one_line(follow)
        # Reading is not subscribing: the member still gets its status.
        assert run_as(MEMBER, "-m", "netwarden", "status", sock=sock).returncode == 0
        ns.sysctl(RANGE, "60700 61000")  # every subscription still gets the event
        d.wait_event("appeared", "ports.range")
        assert all(h.ask("evicted") == {"evicted": []} for h in holders)
    finally:
        for holder in holders:
            holder.close()


def test_release_of_something_that_is_not_a_key_netwarden_uses_is_a_usage_error(ns, daemon):
    d = daemon()
    for key in ("../../etc/passwd", "a b", "", "k" * 300):  # not a sysctl name: refused before asking
        r = d.netwarden("release", key)
        assert r.returncode == 64 and "not a sysctl key" in one_line(r), (key, r.stderr)
    for key in ("net.ipv4.tcp_nope", "kernel.hostname"):  # a name, but no check of netwarden's uses it
        r = d.netwarden("release", key)
        assert r.returncode == 64 and "is not a key netwarden's checks use" in one_line(r), (key, r.stderr)
    r = d.netwarden("release", RANGE)
    assert r.returncode == 0 and r.stdout == f"released {RANGE} (it was not held back)\n"


def test_release_of_a_key_that_is_not_held_back_answers_so_and_records_nothing(ns, daemon):
    """It wrote a `released` event to history and the log each time: any root user could fill
    the history (and a webhook) with noise. Only a key the daemon stood back from is news."""
    d = daemon()
    events, log = d.events(), d.output()
    keys = [RANGE, "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_keepalive_time"]
    for _ in range(5):
        r = d.netwarden("release", *keys)
        assert r.returncode == 0 and r.stdout == "".join(f"released {k} (it was not held back)\n" for k in keys), r
    assert d.events() == events
    assert "released" not in d.output()[len(log):], d.output()


def test_a_request_without_its_newline_before_eof_is_answered_then_the_connection_closed(ns, daemon):
    d = daemon()
    sock = str(d.env["NETWARDEN_SOCKET"])
    cases = {  # what is sent before EOF -> what the answers are
        b'{"jsonrpc":"2.0","method":"version","id":1}': [{"netwarden": "0.1.0"}],
        b'{"jsonrpc":"2.0","method":"status","id":1}\n{"jsonrpc":"2.0","method":"version","id":2}':
            ["status", {"netwarden": "0.1.0"}],
        b'{"jsonrpc":"2.0","method":"check","params":{"ids":["ports.range"]},"id":1}': ["check"],  # on the loop
        b'{"jsonrpc":"2.0","method":"subscribe","id":1}': [{"subscribed": True}],  # then it ends
        b'{"jsonrpc":"2.0","method":"vers': [-32700],
        b'{"jsonrpc":"2.0","method":"version"}': [],  # a notification: nothing, then closed
    }
    for payload, expected in cases.items():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(sock)
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)  # as `socat` does at the end of its input
            data = b""
            while chunk := s.recv(65536):  # until the daemon closes: it must, once it has answered
                data += chunk
        answers = [json.loads(line) for line in data.splitlines()]
        got = [a["error"]["code"] if "error" in a else "status" if "exit_code" in a["result"]
               else "check" if "findings" in a["result"] else a["result"] for a in answers]
        assert got == expected, (payload, answers)
    assert d.proc.poll() is None


def read_lines(stream, into: list) -> None:
    """On a thread: a follower's output, line by line, as it comes."""
    for line in stream:
        into.append(line)


def test_status_follow_prints_the_status_first_then_the_events(ns, daemon):
    d = daemon()
    env = clean_env(NETWARDEN_SOCKET=d.env["NETWARDEN_SOCKET"])
    for json_flag, value, kind in (([], "60700 61000", "appeared"), (["--json"], "32768 60999", "cleared")):
        follower = subprocess.Popen([sys.executable, "-m", "netwarden", "status", "--follow", *json_flag],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        lines: list[str] = []
        threading.Thread(target=read_lines, args=(follower.stdout, lines), daemon=True).start()
        try:
            d.wait_for(lambda: lines, "the status")
            time.sleep(0.3)  # all of it
            if json_flag:  # one JSON object per line: the status document, then the events
                assert len(lines) == 1
                doc = json.loads(lines[0])
                assert doc["status"]["pid"] == d.proc.pid and "ports.range" in {f["id"] for f in doc["findings"]}
            else:  # the same text as `status`
                status = run_as([], "-m", "netwarden", "status", sock=Path(d.env["NETWARDEN_SOCKET"])).stdout
                assert "".join(lines).split("\n")[1:] == status.split("\n")[1:]  # but for the uptime line
                assert lines[0].startswith("netwarden daemon 0.1.0 (pid ") and "drift events" in lines[0]
            shown = len(lines)
            ns.sysctl(RANGE, value)
            d.wait_event(kind, "ports.range")
            d.wait_for(lambda: len(lines) > shown, "the event")
            assert "ports.range" in lines[shown] and kind in lines[shown]
            if json_flag:
                assert json.loads(lines[shown])["kind"] == kind
        finally:
            follower.kill()
            follower.wait()


def test_root_is_refused_only_when_every_slot_is_root_s_own_and_gets_in_once_idle_ones_are_closed(ns, daemon):
    """README: root gets in past other users, not past itself. When root holds every slot, a
    root `status` is refused in one line saying so (75), none of root's connections is cut off
    for it, and the idle ones are closed after socket_idle_timeout, which lets root in again."""
    d = daemon(env={"NETWARDEN_SOCKET_MAX_CLIENTS": "4", "NETWARDEN_SOCKET_IDLE_TIMEOUT": "3"})
    sock = str(d.env["NETWARDEN_SOCKET"])
    held = []
    try:
        for number in range(4):  # root's own: one subscription, three that sit idle
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(sock)
            if number == 0:
                s.sendall(b'{"jsonrpc":"2.0","method":"subscribe","id":1}\n')
                assert json.loads(s.makefile("rb").readline())["result"] == {"subscribed": True}
            held.append(s)
        started = time.monotonic()
        r = d.netwarden("status")
        assert r.returncode == 75 and "too many clients (4), all of them root's" in one_line(r), r.stderr
        held[0].setblocking(False)
        with pytest.raises(BlockingIOError):  # still subscribed: not closed for the newcomer
            held[0].recv(1)
        while d.netwarden("status").returncode == 75:
            assert time.monotonic() - started < 3 + 5, "root's idle connections were never closed"
            time.sleep(0.5)
        assert time.monotonic() - started >= 2  # in by the idle timeout, not by closing a connection of root's
        with pytest.raises(BlockingIOError):  # the subscription held its place through it all
            held[0].recv(1)
    finally:
        for s in held:
            s.close()
