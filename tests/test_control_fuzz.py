"""The control socket under abuse: >= 10,000 malformed, oversized, truncated and slow requests.
The daemon must stay up, keep its memory bounded, and serve a well-formed client throughout."""

import json
import random
import socket
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.lab

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
REQUEST_LIKE = st.fixed_dictionaries({}, optional={
    "jsonrpc": st.sampled_from(["2.0", "1.0", 2, None]),
    "method": st.sampled_from(["status", "findings", "facts", "history", "version", "check", "apply", "subscribe",
                               "nope", "", 7]) | st.text(max_size=10),
    "params": JSON, "id": JSON})


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Watchdog(threading.Thread):
    """A well-formed client asking for status every 20 ms; records every failure."""

    def __init__(self, path: str):
        super().__init__(daemon=True)
        self.path, self.stop, self.ok, self.failures = path, threading.Event(), 0, []

    def run(self):
        while not self.stop.is_set():
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(2)
                    s.connect(self.path)
                    s.sendall(b'{"jsonrpc":"2.0","method":"status","id":1}\n')
                    answer = b""
                    while not answer.endswith(b"\n"):
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        answer += chunk
                    assert json.loads(answer)["result"]["status"] in ("ok", "warning", "critical", "unknown")
                    self.ok += 1
            except Exception as e:  # noqa: BLE001 - every failure is a finding of this test
                self.failures.append(repr(e))
            time.sleep(0.02)


@pytest.fixture
def abused(ns, daemon):
    d = daemon("socket_idle_timeout = 1.0\nsocket_max_clients = 200\n")
    path = d.env["NETWARDEN_SOCKET"]
    guard = Watchdog(path)
    guard.start()
    rss_before = rss_kib(d.proc.pid)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    conn.settimeout(5)
    yield d, path, conn
    conn.close()
    guard.stop.set()
    guard.join(5)
    assert d.proc.poll() is None, "the daemon died"
    assert guard.failures == [] and guard.ok > 50, (guard.ok, guard.failures[:5])
    assert rss_kib(d.proc.pid) - rss_before < 20 * 1024, "memory grew by more than 20 MiB"


def send_lines(conn: socket.socket, lines: list[bytes]) -> None:
    """Send and drain the answers, so the daemon never waits on us (answers are not checked here)."""
    conn.sendall(b"".join(lines))
    conn.setblocking(False)
    try:
        while conn.recv(1 << 20):
            pass
    except BlockingIOError:
        pass
    finally:
        conn.setblocking(True)
        conn.settimeout(5)


def test_ten_thousand_bad_requests_while_a_good_client_is_served(abused):
    d, path, conn = abused
    rng = random.Random(4)
    sent = 0
    # 1. 6,000 lines of random bytes (no newlines inside), 500 at a time
    for _ in range(12):
        batch = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200))).replace(b"\n", b" ") + b"\n"
                 for _ in range(500)]
        send_lines(conn, batch)
        sent += len(batch)
    # 2. 2,000 truncated valid requests, each cut at a random point
    valid = b'{"jsonrpc": "2.0", "method": "history", "params": {"limit": 5}, "id": 17}'
    for _ in range(4):
        batch = [valid[:rng.randint(0, len(valid) - 1)] + b"\n" for _ in range(500)]
        send_lines(conn, batch)
        sent += len(batch)
    # 3. oversized requests, each on its own connection (the daemon closes it)
    for size in (65 * 1024, 256 * 1024, 1024 * 1024):
        for _ in range(10):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(path)
                try:
                    s.sendall(b"A" * size)
                    s.recv(4096)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            sent += 1
    # 4. slow and half-open clients: a byte now and then, never a whole line; closed when idle
    slow = []
    for _ in range(40):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b'{"jsonrpc": "2.0", "meth')
        slow.append(s)
        sent += 1
    time.sleep(2.5)  # past the 1 s idle timeout
    closed = 0
    for s in slow:
        s.settimeout(1)
        try:
            closed += s.recv(10) == b""
        except (TimeoutError, ConnectionResetError):
            closed += 1
        s.close()
    assert closed == len(slow)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=REQUEST_LIKE)
def test_request_shaped_garbage_gets_an_answer_or_nothing_never_a_crash(abused, request):
    d, path, _ = abused
    # A connection per example: pauses between examples may outlast the 1 s idle timeout.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(path)
        conn.sendall(json.dumps(request).encode() + b"\n")
        if "id" not in request:
            return  # a notification: no answer
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(65536)
            assert chunk, "the daemon closed a connection that sent one well-framed line"
            data += chunk
    for line in data.splitlines():
        answer = json.loads(line)
        assert answer.get("jsonrpc") == "2.0" and ("result" in answer or "error" in answer)
