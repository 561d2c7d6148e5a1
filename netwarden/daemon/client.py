"""Talking to the running daemon over its control socket: JSON-RPC 2.0, one JSON object per line.

Standard library only (socket, json): `netwarden status` must not pay for pyroute2 or pydantic.
Whatever listens on the path may not be netwarden: every answer is checked before it is used,
and every wait has a deadline, so a foreign socket is one clear error, never a traceback or a hang.
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from pathlib import Path
from typing import Iterator

from netwarden.daemon.protocol import MAX_MESSAGE_TEXT, PERMISSION_DENIED
from netwarden.jsontext import loads
from netwarden.target import one_line

MAX_ANSWER = 16 * 1024 * 1024  # the daemon sends at most ~1 MiB per answer; more is not netwarden
_ids = itertools.count(1)


class NoDaemon(Exception):
    """No netwarden daemon listens: no socket file, a stale one, not a socket."""


class NoAnswer(NoDaemon):
    """Something listens on the path, but no netwarden answer came: it is not netwarden (garbage,
    not JSON-RPC), it closed without answering, or it did not answer in time."""


class RpcError(Exception):
    def __init__(self, code: int, message: str, path: Path | None = None):
        super().__init__(message)
        self.code, self.path = code, path


class _Connection:
    """One connection: requests out, JSON-RPC messages in, each read within a deadline."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path, self.timeout = path, timeout
        self.buffer = bytearray()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | getattr(socket, "SOCK_CLOEXEC", 0))  # not on macOS
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            self.close()
            raise NoDaemon(f"no netwarden daemon is running (nothing listens on {path})") from None
        except PermissionError:
            self.close()
            raise RpcError(PERMISSION_DENIED, f"permission denied on {path}: be root, or a member of the "
                                              "daemon's socket group") from None
        except (TimeoutError, BlockingIOError):  # its backlog is full: something listens, but does not accept
            self.close()
            raise NoAnswer(f"no netwarden daemon answers on {path}: it does not accept connections") from None
        except OSError as e:
            self.close()
            raise NoDaemon(f"no netwarden daemon answers on {path}: {e.strerror or e}") from None

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, method: str, params: dict | None = None) -> int:
        id_ = next(_ids)
        request = {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": id_}
        try:
            self.sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError:
            pass  # it closed already: a refusal it sent first (too many clients) is still there to read
        return id_

    def receive(self, deadline: float | None) -> dict | None:
        """The next message, None at EOF; NoDaemon past the deadline or when it is not JSON-RPC."""
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[:newline + 1]
                if line.strip():
                    return self._message(line)
                continue
            if len(self.buffer) > MAX_ANSWER:
                raise self.foreign("an endless line")
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self.silent()
                self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise self.silent() from None
            except OSError as e:
                raise self.foreign(f"nothing ({e.strerror or e})") from None
            if not chunk:
                if not self.buffer.strip():
                    return None
                chunk = b"\n"  # a last line without its newline
            self.buffer += chunk

    def _message(self, line: bytes) -> dict:
        try:
            message = loads(line)
        except ValueError:
            raise self.foreign("something that is not JSON") from None
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            raise self.foreign("JSON that is not JSON-RPC 2.0")
        error = message.get("error")
        if error is not None and not (isinstance(error, dict) and isinstance(error.get("code"), int)
                                      and isinstance(error.get("message"), str)):
            raise self.foreign("a malformed error")
        if error is None and "result" not in message and message.get("method") != "event":
            raise self.foreign("neither a result nor an error")
        return message

    def foreign(self, what: str) -> NoAnswer:
        return NoAnswer(f"no netwarden daemon answers on {self.path}: it answered {what}")

    def silent(self) -> NoAnswer:
        return NoAnswer(f"no netwarden daemon answers on {self.path}: no answer within {self.timeout:g} s")

    def error(self, message: dict) -> RpcError:
        """Its message as netwarden's daemon sends one (one line, at most MAX_MESSAGE_TEXT): what
        answers may not be netwarden, and the CLI prints it to a terminal."""
        return RpcError(message["error"]["code"], one_line(message["error"]["message"], MAX_MESSAGE_TEXT), self.path)

    def answer(self, id_: int, deadline: float | None):
        """The result of request `id_`; RpcError for an error answer (a refusal has id null)."""
        while (message := self.receive(deadline)) is not None:
            if "error" in message and message.get("id") in (id_, None):
                raise self.error(message)
            if message.get("id") == id_ and "result" in message:
                return message["result"]
        raise NoAnswer(f"no netwarden daemon answers on {self.path}: it closed the connection without answering")


def call(path: Path, method: str, params: dict | None = None, timeout: float = 10.0):
    """One request, one answer within `timeout` seconds; raises NoDaemon (NoAnswer) or RpcError."""
    with _Connection(path, timeout) as connection:
        id_ = connection.send(method, params)
        return connection.answer(id_, time.monotonic() + timeout)


def subscribe(path: Path, timeout: float = 10.0) -> Iterator[dict]:
    """Subscribes at once (the acknowledgement within `timeout`), then returns the drift events as
    the daemon sends them, until it stops (or the caller breaks off)."""
    connection = _Connection(path, timeout)
    try:
        if connection.answer(connection.send("subscribe"), time.monotonic() + timeout) != {"subscribed": True}:
            raise connection.foreign("something else than a subscription")
    except BaseException:
        connection.close()
        raise
    connection.sock.settimeout(None)
    return _events(connection)


def _events(connection: _Connection) -> Iterator[dict]:
    with connection:
        while (message := connection.receive(None)) is not None:
            if "error" in message:
                raise connection.error(message)
            event = message.get("params")
            if message.get("method") == "event":
                if not (isinstance(event, dict) and isinstance(event.get("kind"), str)
                        and isinstance(event.get("message"), str) and isinstance(event.get("time"), (int, float))
                        and 0 <= event["time"] < 1e11):
                    raise connection.foreign("an event without kind, message and time")
                yield event


def check_status(status, findings, path: Path) -> None:
    """`status` and `findings` as netwarden's daemon sends them, or NoDaemon: what answered is not it."""
    fields = {"status": str, "exit_code": int, "started_at": (int, float), "netwarden": str, "pid": int,
              "platform": str, "events_total": int, "policy": dict, "managed": list, "contested": dict,
              "backed_off": list}
    good = isinstance(status, dict) and (status.get("status") == "starting" or (
        all(isinstance(status.get(k), t) for k, t in fields.items()) and status["exit_code"] in (0, 1, 2, 3)
        and all(isinstance(v, dict) and {"now", "written"} <= set(v) for v in status["contested"].values())))
    probes = status.get("probes", {}) if isinstance(status, dict) else None
    good = good and isinstance(probes, dict) and all(
        isinstance(p, dict) and isinstance(p.get("status"), str) and isinstance(p.get("error"), str)
        and isinstance(p.get("phases"), list) and all(
            isinstance(ph, dict) and isinstance(ph.get("name"), str) and isinstance(ph.get("verdict"), str)
            and (ph.get("ms") is None or type(ph.get("ms")) in (int, float)) for ph in p["phases"])
        for p in probes.values())
    good = good and isinstance(findings, list) and all(
        isinstance(f, dict) and all(isinstance(f.get(k), str) for k in ("id", "severity", "title")) for f in findings)
    if not good:
        raise NoAnswer(f"no netwarden daemon answers on {path}: its status is not netwarden's")

