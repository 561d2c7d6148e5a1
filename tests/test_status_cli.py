"""`netwarden status`, `events` and `release` when no netwarden daemon answers: nothing on the
path, or a socket that is not netwarden's. Each class of server gets one line on stderr and exit 3
(with --json also a JSON error object on stdout), never a traceback (exit 70), never a long hang."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from factories import clean_env

ROOT = Path(__file__).resolve().parents[1]
STATUS_TIMEOUT = 10  # seconds: cli.STATUS_TIMEOUT, as README and --help say


def request_id(data: bytes):
    try:
        return json.loads(data.split(b"\n", 1)[0])["id"]
    except (ValueError, KeyError, TypeError):
        return None


# What a server that is not netwarden's daemon does with a connection (given what it was sent).
BEHAVIOURS = {
    "closes at once": None,
    "answers garbage bytes": lambda data: b"\x00\xff\xfe garbage \x01\n",
    "answers HTTP": lambda data: b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    "answers a JSON array": lambda data: b"[1, 2, 3]\n",
    "answers JSON that is not JSON-RPC": lambda data: b'{"hello": "world"}\n',
    "echoes the request": lambda data: data,
    "answers blank lines, then closes": lambda data: b"\n" * 100000,
    "answers an endless line": lambda data: b"x" * (20 << 20),
    "answers nested JSON": lambda data: b"[" * 100000 + b"\n",
    "answers NaN": lambda data: b'{"jsonrpc": "2.0", "id": %d, "result": NaN}\n' % (request_id(data) or 0),
    "answers method not found": lambda data: b'{"jsonrpc":"2.0","id":null,"error":{"code":-32601,"message":"Method not found"}}\n',
    "answers a result of the wrong shape": lambda data: json.dumps(
        {"jsonrpc": "2.0", "id": request_id(data), "result": {"status": "ok", "exit_code": 99}}).encode() + b"\n",
    "answers an error of the wrong shape": lambda data: json.dumps(
        {"jsonrpc": "2.0", "id": request_id(data), "error": "no"}).encode() + b"\n",
}
COMMANDS = {
    "status": ["status"],
    "status --json": ["status", "--json"],
    "status --follow": ["status", "--follow"],
    "events --json": ["events", "--json"],
    "release": ["release", "net.ipv4.tcp_tw_reuse"],  # as root (the tests' user): it reaches the socket
}


class Impostor:
    """A Unix socket server that is not netwarden: each connection gets `behaviour`."""

    def __init__(self, path: Path, behaviour) -> None:
        self.path, self.behaviour = path, behaviour
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(16)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        if self.behaviour is None:
            conn.close()
            return
        if self.behaviour == "silent":
            self.held.append(conn)  # reads nothing, answers nothing, never closes
            return
        conn.settimeout(5)
        try:
            data = conn.recv(65536)
            conn.sendall(self.behaviour(data))
            time.sleep(0.2)
        except OSError:
            pass
        conn.close()

    def close(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


def netwarden(*args: str, sock: Path, timeout: float = 30) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "netwarden", *args], capture_output=True, text=True,
                       env=clean_env(NETWARDEN_SOCKET=str(sock)), cwd=ROOT, timeout=timeout)
    return r, time.monotonic() - started


def assert_no_daemon_answers(r: subprocess.CompletedProcess, args) -> None:
    assert r.returncode == 3, (args, r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("netwarden: no netwarden daemon "), (args, r.stderr)
    if "--json" in args:
        assert json.loads(r.stdout) == {"error": {"exit_code": 3, "message": lines[0].removeprefix("netwarden: ")}}


@pytest.mark.skipif(os.geteuid() != 0, reason="release asks root first")
@pytest.mark.parametrize("behaviour", list(BEHAVIOURS))
def test_a_socket_that_is_not_netwarden_s_is_one_line_and_exit_3_for_every_command(tmp_path, behaviour):
    sock = tmp_path / "impostor.sock"
    impostor = Impostor(sock, BEHAVIOURS[behaviour])
    try:
        for name, args in COMMANDS.items():
            r, seconds = netwarden(*args, sock=sock)
            assert_no_daemon_answers(r, args)
            assert seconds < 5, (name, seconds)
            assert str(sock) in r.stderr
    finally:
        impostor.close()


def test_a_socket_that_never_answers_is_given_up_after_the_timeout(tmp_path):
    sock = tmp_path / "silent.sock"
    impostor = Impostor(sock, "silent")
    try:
        started = time.monotonic()
        # release waits longer (30 s: it runs on the daemon's loop, which may be busy): not here
        runs = {name: subprocess.Popen([sys.executable, "-m", "netwarden", *args], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env=clean_env(NETWARDEN_SOCKET=str(sock)),
                                       cwd=ROOT)
                for name, args in COMMANDS.items() if name != "release"}
        for name, proc in runs.items():
            out, err = proc.communicate(timeout=STATUS_TIMEOUT + 20)
            assert_no_daemon_answers(subprocess.CompletedProcess(COMMANDS[name], proc.returncode, out, err),
                                     COMMANDS[name])
            assert f"no answer within {STATUS_TIMEOUT} s" in err
        assert time.monotonic() - started < STATUS_TIMEOUT + 8  # in parallel: the timeout, not its multiple
    finally:
        impostor.close()


# An error's message as a server that is not netwarden (or a netwarden of another version) may word
# it: what the CLI prints of it must be one line of text, as long as the daemon's own at most.
EVIL_MESSAGES = {
    "an ANSI escape, a newline and 5,000 more characters": "EEE\u001b[31mRED\nSECOND LINE" + "x" * 5000,
    "a carriage return": "looks fine\rnetwarden: all ok",
    "a NUL and a DEL": "a\u0000b\u007fc",
    "a C1 control sequence introducer": "\u009b2J cleared",
    "a line separator": "one\u2028two\u2029three",
    "a bidi override": "txt.\u202eexe",
    "a lone surrogate": "\udce9",
    "a tab": "a\tb",
    "5,000 plain characters": "y" * 5000,
    "escapes only": "\u001b" * 3000,
    "empty": "",
}
ERROR_EXITS = {-32603: 74, -32001: 77, -32002: 75, -32004: 75, -32602: 64, -32003: 64, -32700: 3, -32601: 3, 7: 74}


def answers_error(code: int, message: str):
    return lambda data: json.dumps({"jsonrpc": "2.0", "id": request_id(data),
                                    "error": {"code": code, "message": message}}).encode() + b"\n"


def assert_one_printable_line(r: subprocess.CompletedProcess, code: int, args) -> str:
    assert r.returncode == code, (args, r.returncode, r.stderr[-300:])
    line, *rest = r.stderr.split("\n")
    assert rest == [""], (args, r.stderr[:1000])
    assert line.startswith("netwarden: ") and line.isprintable(), (args, line[:1000])
    assert len(line) <= len("netwarden: ") + 500 + 150, (args, len(line))  # 150: the words around a foreign error
    if "--json" in args:
        assert line.removeprefix("netwarden: ").startswith(json.loads(r.stdout)["error"]["message"])  # + the --help hint
    return line


@pytest.mark.skipif(os.geteuid() != 0, reason="release and --apply ask root first")
@pytest.mark.parametrize("message", list(EVIL_MESSAGES))
def test_an_error_answered_on_the_socket_is_printed_as_one_line_of_text_by_every_command(tmp_path, message):
    from factories import fake_host

    sock = tmp_path / "errors.sock"
    _, host_env = fake_host(tmp_path)  # --apply: should it ever not ask the socket, it would change this fake host
    impostor = Impostor(sock, answers_error(-32603, EVIL_MESSAGES[message]))
    try:
        for args in [*COMMANDS.values(), ["--only", "ports.range", "--apply"]]:
            r = subprocess.run([sys.executable, "-m", "netwarden", *args], capture_output=True, text=True,
                               env=clean_env(**{**host_env, "NETWARDEN_SOCKET": str(sock)}), cwd=ROOT, timeout=30)
            line = assert_one_printable_line(r, 74, args)
            if message.startswith("an ANSI escape"):
                assert "EEE\\x1b[31mRED\\nSECOND LINE" in line and line.endswith("x…"), line
    finally:
        impostor.close()


@pytest.mark.parametrize("code", list(ERROR_EXITS))
def test_an_error_of_every_code_is_one_line_of_text_with_its_exit_code(tmp_path, code):
    sock = tmp_path / "errors.sock"
    impostor = Impostor(sock, answers_error(code, EVIL_MESSAGES["an ANSI escape, a newline and 5,000 more characters"]))
    try:
        for args in (["status"], ["status", "--json"], ["events"]):
            r, _ = netwarden(*args, sock=sock)
            # "bad params" to a request that sent none (status, subscribe) can only come from something else
            expected = 3 if code == -32602 else ERROR_EXITS[code]
            assert "EEE\\x1b[31mRED\\nSECOND LINE" in assert_one_printable_line(r, expected, args)
        if code == -32602 and os.geteuid() == 0:  # release sends a key: its refusal is a usage error
            r, _ = netwarden("release", "net.ipv4.tcp_tw_reuse", sock=sock)
            assert_one_printable_line(r, 64, ["release"])
    finally:
        impostor.close()


def stale_socket(path: Path) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the file stays, nobody listens


@pytest.mark.parametrize("what", ["nothing", "a stale socket", "a regular file", "a directory"])
def test_nothing_listening_is_one_line_and_exit_3_and_a_json_error_object_with_json(tmp_path, what):
    sock = tmp_path / "nw.sock"
    if what == "a stale socket":
        stale_socket(sock)
    elif what == "a regular file":
        sock.write_text("not a socket\n")
    elif what == "a directory":
        sock.mkdir()
    for args in (["status"], ["status", "--json"], ["status", "--follow", "--json"], ["events"]):
        r, seconds = netwarden(*args, sock=sock)
        assert_no_daemon_answers(r, args)
        assert seconds < 5


def test_a_socket_path_too_long_is_bad_configuration_in_the_environment_and_no_daemon_on_the_command_line(tmp_path):
    """No Unix socket has a path over 107 bytes: NETWARDEN_SOCKET is refused like any bad
    setting (78); --socket naming a place nothing can listen on is a usage error (64)."""
    sock = tmp_path / ("d" * 200) / "nw.sock"
    r, _ = netwarden("status", sock=sock)
    assert r.returncode == 78 and "107 bytes" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    r = subprocess.run([sys.executable, "-m", "netwarden", "status", "--socket", str(sock)], capture_output=True,
                       text=True, env=clean_env(), cwd=ROOT, timeout=30)
    assert r.returncode == 64 and "107 bytes" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


@pytest.mark.parametrize("command", [["status"], ["events"], ["release", "net.ipv4.tcp_tw_reuse"]])
@pytest.mark.parametrize("config", ["missing", "directory", "unknown key", "relative socket_path", "not TOML",
                                    "NETWARDEN_CONFIG missing", "a bad variable"])
@pytest.mark.parametrize("socket_named", ["", "NETWARDEN_SOCKET", "--socket"])
def test_a_named_config_the_client_cannot_use_is_exit_78_not_the_default_socket(tmp_path, command, config,
                                                                               socket_named):
    """A typo in the config named for a client must not read as "the daemon is down", nor send it
    to the default socket (where another daemon may answer); nor be passed over because the socket
    is named: a client refuses what `check` refuses."""
    env, path = {}, tmp_path / "netwarden.toml"
    if socket_named == "NETWARDEN_SOCKET":
        env["NETWARDEN_SOCKET"] = str(tmp_path / "nw.sock")
    if config == "directory":
        path = tmp_path
    elif config in ("unknown key", "relative socket_path", "not TOML"):
        path.write_text({"unknown key": "bogus = 1\n", "relative socket_path": 'socket_path = "nw.sock"\n',
                         "not TOML": "socket_path = \n"}[config])
    args = [*command, "--config", str(path)]
    if config == "NETWARDEN_CONFIG missing":
        args, env = command, {**env, "NETWARDEN_CONFIG": str(tmp_path / "nowhere.toml")}
    if config == "a bad variable":
        args, env = command, {**env, "NETWARDEN_PROBE_TIMEOUT": "nan"}
    if socket_named == "--socket":
        args = [*args, "--socket", str(tmp_path / "nw.sock")]
    r = subprocess.run([sys.executable, "-m", "netwarden", *args], capture_output=True, text=True,
                       env=clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"), **env), cwd=ROOT, timeout=30)
    if socket_named == "NETWARDEN_SOCKET" and config == "relative socket_path":  # the variable wins, in `check` too
        assert r.returncode == 3 and f"nothing listens on {tmp_path / 'nw.sock'}" in r.stderr, r.stderr
        return
    assert r.returncode == 78 and "bad configuration" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert "/run/netwarden" not in r.stderr


def test_an_impostors_event_text_is_printed_escaped_one_line_each(tmp_path):
    """A drift event's words come from the socket: an impostor's ANSI escapes and newlines must
    not reach the terminal as such."""
    sock = tmp_path / "events.sock"
    evil = "EEE\x1b[31mRED\nSECOND LINE\u202e" + "x" * 5000

    def subscribed(data):
        ack = {"jsonrpc": "2.0", "id": request_id(data), "result": {"subscribed": True}}
        event = {"jsonrpc": "2.0", "method": "event", "params": {"kind": "changed\x1b[2J", "message": evil,
                                                                  "time": time.time()}}
        return (json.dumps(ack) + "\n" + json.dumps(event) + "\n").encode()

    impostor = Impostor(sock, subscribed)
    try:
        r, _ = netwarden("events", sock=sock)
    finally:
        impostor.close()
    (line,) = r.stdout.splitlines()
    assert line.isprintable() and "\\x1b[31mRED\\nSECOND LINE\\u202e" in line and len(line) < 600, line[:700]
