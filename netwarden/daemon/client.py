"""Talking to the running daemon over its control socket: JSON-RPC 2.0, one JSON object per line.

Standard library only (socket, json): `netwarden status` must not pay for pyroute2 or pydantic.
"""

from __future__ import annotations

import errno
import itertools
import json
import socket
from pathlib import Path
from typing import Iterator

_ids = itertools.count(1)


class NoDaemon(Exception):
    """Nothing is listening: no socket file, or a stale one."""


class RpcError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


PERMISSION_DENIED = -32001  # as in control.py, which the client does not import (status starts fast)


def _connect(path: Path, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise NoDaemon(f"no netwarden daemon is running (nothing listens on {path})") from None
    except PermissionError:
        sock.close()
        raise RpcError(PERMISSION_DENIED, f"permission denied on {path}: be root, or a member of the "
                                          "daemon's socket group") from None
    except OSError as e:
        sock.close()
        if e.errno in (errno.ENOTSOCK, errno.ECONNRESET):
            raise NoDaemon(f"no netwarden daemon answers on {path}") from None
        raise
    return sock


def _lines(sock: socket.socket) -> Iterator[dict]:
    buffer = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            if buffer.strip():
                yield json.loads(buffer)
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)


def _result(message: dict):
    if "error" in message:
        raise RpcError(message["error"].get("code", -32603), message["error"].get("message", "error"))
    return message.get("result")


def call(path: Path, method: str, params: dict | None = None, timeout: float = 30.0):
    """One request, one answer; raises NoDaemon, RpcError, or OSError (socket.timeout)."""
    with _connect(path, timeout) as sock:
        request = {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": next(_ids)}
        sock.sendall(json.dumps(request).encode() + b"\n")
        for message in _lines(sock):
            if message.get("id") == request["id"] or "error" in message:
                return _result(message)
    raise NoDaemon(f"the daemon on {path} closed the connection without answering")


def subscribe(path: Path) -> Iterator[dict]:
    """Drift events as the daemon sees them, until the daemon stops or the caller breaks off."""
    with _connect(path, timeout=None) as sock:
        sock.sendall(json.dumps({"jsonrpc": "2.0", "method": "subscribe", "id": 1}).encode() + b"\n")
        for message in _lines(sock):
            if message.get("method") == "event":
                yield message["params"]
            elif "error" in message:
                _result(message)
