"""The control socket: JSON-RPC 2.0 over a Unix socket, one JSON object per line.

One thread with a selector serves every client, so a slow or half-open client costs a buffer,
never a thread, and never stalls the others:
- a request line may be 64 KiB at most; a client idle for `socket_idle_timeout` is closed
  (subscribers excepted); past `socket_max_clients` new clients get an error and are closed;
  a client that does not read its answers is closed once 1 MiB waits for it;
- each peer's credentials are read at accept (SO_PEERCRED, SO_PEERGROUPS): uid 0 may do
  everything, members of the socket's group may read, anyone else is refused.
Read-only methods are answered here from the daemon's published snapshot; the others run on the
daemon's loop (the one place that changes state) and are answered when it is done.
"""

from __future__ import annotations

import errno
import grp
import json
import os
import selectors
import socket
import stat
import struct
import threading
import time
from collections import deque
from pathlib import Path

MAX_REQUEST = 64 * 1024
MAX_PENDING_OUTPUT = 1024 * 1024
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)

READ_METHODS = ("version", "status", "findings", "facts", "history")
LOOP_METHODS = ("check",)
ROOT_METHODS = ("apply", "revert", "release", "reload")
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603
PERMISSION_DENIED, TOO_MANY_CLIENTS, REQUEST_TOO_LARGE, BUSY = -32001, -32002, -32003, -32004


class ControlError(Exception):
    pass


class Encoded(bytes):
    """A result already encoded as JSON (the daemon encodes each snapshot once, not per request)."""


def _message(id_, result=None, error=None) -> bytes:
    if isinstance(result, Encoded) and error is None:
        return b'{"jsonrpc":"2.0","id":' + json.dumps(id_).encode() + b',"result":' + result + b"}\n"
    body = {"jsonrpc": "2.0", "id": id_}
    if error is not None:
        body["error"] = {"code": error[0], "message": error[1]}
    else:
        body["result"] = result
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


class _Client:
    __slots__ = ("sock", "fd", "inbuf", "outbuf", "uid", "admin", "subscribed", "last_active", "closing", "closed",
                 "writing")

    def __init__(self, sock: socket.socket, uid: int, admin: bool):
        self.sock, self.fd, self.uid, self.admin = sock, sock.fileno(), uid, admin
        self.inbuf, self.outbuf = bytearray(), bytearray()
        self.subscribed = False
        self.closing = False
        self.closed = False
        self.writing = False  # registered for EVENT_WRITE too (only while output waits)
        self.last_active = time.monotonic()


def resolve_group(name: str | None) -> int | None:
    if not name:
        return None
    try:
        return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid
    except KeyError:
        return None


class ControlServer:
    def __init__(self, settings, daemon, log) -> None:
        self.settings, self.daemon, self.log = settings, daemon, log
        self.group = resolve_group(settings.socket_group)
        self.selector = selectors.DefaultSelector()
        self.clients: dict[int, _Client] = {}
        self.inbox: deque = deque()  # (client or None, bytes) from other threads: replies, broadcasts
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.listener: socket.socket | None = None
        self.activated = False
        self.running = False

    # ---- set-up ---------------------------------------------------------------------------------

    def open(self) -> None:
        inherited = self._socket_activation()
        if inherited is not None:
            self.listener, self.activated = inherited, True
        else:
            self.listener = self._bind(Path(self.settings.socket_path))
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, "listen")
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")

    @staticmethod
    def _socket_activation() -> socket.socket | None:
        """systemd socket activation: fd 3 when LISTEN_PID is us."""
        if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS", "0") or 0) < 1:
            return None
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)
        try:
            is_socket = stat.S_ISSOCK(os.fstat(3).st_mode)
        except OSError:
            is_socket = False
        if not is_socket:
            raise ControlError("LISTEN_FDS says the control socket is fd 3, but fd 3 is not a socket")
        return socket.socket(fileno=3)

    def _bind(self, path: Path) -> socket.socket:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        parent = os.stat(path.parent)
        if parent.st_uid not in (0, os.geteuid()) or parent.st_mode & stat.S_IWOTH and not parent.st_mode & stat.S_ISVTX:
            raise ControlError(f"{path.parent}: other users can write there; refusing to put the control socket in it")
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None:
            if not stat.S_ISSOCK(st.st_mode):
                raise ControlError(f"{path} exists and is not a socket; refusing to replace it")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
                raise ControlError(f"another netwarden daemon is listening on {path}")
            except (ConnectionRefusedError, FileNotFoundError):
                os.unlink(path)  # a stale socket from a daemon that died
                self.log(f"replaced the stale control socket {path}")
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)  # born 0600: nobody can connect before the group is set
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        if self.group is not None:
            try:
                os.chown(path, -1, self.group)
                os.chmod(path, 0o660)
            except PermissionError:  # no CAP_CHOWN (the hardened unit expects netwarden.socket to do it)
                self.log(f"cannot give {path} to group {self.settings.socket_group}: it stays root-only "
                         "(use netwarden.socket, which sets the group)")
        else:
            self.log(f"socket group {self.settings.socket_group!r} does not exist: {path} is root-only")
        sock.listen(128)
        return sock

    def start(self) -> None:
        self.running = True
        threading.Thread(target=self._serve, name="netwarden-control", daemon=True).start()

    def stop(self) -> None:
        self.running = False
        self._wake()
        if self.listener is not None and not self.activated:
            try:
                os.unlink(self.settings.socket_path)
            except OSError:
                pass

    # ---- from other threads ------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake

    def reply(self, client: _Client, data: bytes) -> None:
        """From the daemon's loop; the client object (not its fd, which a new client may reuse by
        then) says who asked."""
        self.inbox.append((client, data))
        self._wake()

    def broadcast(self, event: dict) -> None:
        self.inbox.append((None, json.dumps({"jsonrpc": "2.0", "method": "event", "params": event}).encode() + b"\n"))
        self._wake()

    # ---- the server thread -----------------------------------------------------------------

    def _serve(self) -> None:
        next_sweep = time.monotonic() + 1
        while self.running:
            for key, mask in self.selector.select(timeout=1.0):
                if key.data == "listen":
                    self._accept()
                elif key.data == "wake":
                    self._drain_inbox()
                else:
                    client = self.clients.get(key.fd)
                    if client is None:
                        continue
                    if mask & selectors.EVENT_READ:
                        self._read(client)
                    if mask & selectors.EVENT_WRITE and not client.closed:
                        self._flush(client)
            if time.monotonic() >= next_sweep:
                self._sweep_idle()
                next_sweep = time.monotonic() + 1
        for client in list(self.clients.values()):
            self._close(client)
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    self.log(f"control socket: {e}")
                return
            sock.setblocking(False)
            uid, admin, refusal = self._credentials(sock)
            if refusal is None and len(self.clients) >= self.settings.socket_max_clients:
                refusal = (TOO_MANY_CLIENTS, f"too many clients ({self.settings.socket_max_clients}); try again later")
            if refusal is not None:
                try:
                    sock.send(_message(None, error=refusal))
                except OSError:
                    pass
                sock.close()
                continue
            client = _Client(sock, uid, admin)
            self.clients[client.fd] = client
            self.selector.register(sock, selectors.EVENT_READ, "client")

    def _credentials(self, sock: socket.socket) -> tuple[int, bool, tuple | None]:
        _, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid == 0:
            return uid, True, None
        groups = {gid}
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 4 * 256)
            groups.update(struct.unpack(f"{len(raw) // 4}I", raw))
        except OSError:
            pass
        if self.group is not None and self.group in groups:
            return uid, False, None
        return uid, False, (PERMISSION_DENIED, f"permission denied: uid {uid} is neither root nor in the socket's group")

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(client)
            return
        client.last_active = time.monotonic()
        client.inbuf += data
        while True:
            newline = client.inbuf.find(b"\n")
            if newline < 0:
                if len(client.inbuf) > MAX_REQUEST:
                    self._send(client, _message(None, error=(REQUEST_TOO_LARGE, f"request over {MAX_REQUEST} bytes")))
                    client.closing = True
                    client.inbuf.clear()
                    self._flush(client)
                return
            line = bytes(client.inbuf[:newline])
            del client.inbuf[:newline + 1]
            if len(line) > MAX_REQUEST:
                self._send(client, _message(None, error=(REQUEST_TOO_LARGE, f"request over {MAX_REQUEST} bytes")))
                continue
            if line.strip():
                self._request(client, line)
            if client.closed:
                return

    def _request(self, client: _Client, line: bytes) -> None:
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            self._send(client, _message(None, error=(PARSE_ERROR, "parse error: not JSON")))
            return
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
            self._send(client, _message(None, error=(INVALID_REQUEST, 'invalid request: need {"jsonrpc": "2.0", "method": ...}')))
            return
        id_, method, params = request.get("id"), request["method"], request.get("params", {})
        notification = "id" not in request
        if not isinstance(id_, (str, int, type(None))) or isinstance(id_, bool):
            self._send(client, _message(None, error=(INVALID_REQUEST, "invalid request: bad id")))
            return
        if params is None:
            params = {}
        if not isinstance(params, dict):
            self._answer(client, id_, notification, error=(INVALID_PARAMS, "params must be an object"))
            return
        if method == "subscribe":
            client.subscribed = True
            self._answer(client, id_, notification, result={"subscribed": True})
        elif method in READ_METHODS:
            try:
                result = self.daemon.read(method, params)
            except ValueError as e:
                self._answer(client, id_, notification, error=(INVALID_PARAMS, str(e)))
                return
            except Exception as e:  # noqa: BLE001 - a bug in one answer must not take the server down
                self.log(f"control socket: {method} failed: {e!r}")
                self._answer(client, id_, notification, error=(INTERNAL_ERROR, "internal error"))
                return
            self._answer(client, id_, notification, result=result)
        elif method in LOOP_METHODS or method in ROOT_METHODS:
            if method in ROOT_METHODS and not client.admin:
                self._answer(client, id_, notification, error=(PERMISSION_DENIED, f"permission denied: {method} needs root"))
                return
            self.daemon.submit(method, params, lambda result=None, error=None: None if notification
                               else self.reply(client, _message(id_, result, error)))
        else:
            self._answer(client, id_, notification, error=(METHOD_NOT_FOUND, f"no such method: {method[:64]}"))

    def _answer(self, client: _Client, id_, notification: bool, result=None, error=None) -> None:
        if not notification:
            self._send(client, _message(id_, result, error))

    def _send(self, client: _Client, data: bytes) -> None:
        client.outbuf += data
        if len(client.outbuf) > MAX_PENDING_OUTPUT:
            self._close(client)  # it does not read what it asked for
            return
        self._flush(client)

    def _flush(self, client: _Client) -> None:
        while client.outbuf:
            try:
                sent = client.sock.send(client.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._close(client)
                return
            del client.outbuf[:sent]
        if client.closed:
            return
        if bool(client.outbuf) != client.writing:  # an epoll_ctl only when the interest changes
            client.writing = bool(client.outbuf)
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.writing else 0)
            self.selector.modify(client.sock, mask, "client")
        if not client.outbuf and client.closing:
            self._close(client)

    def _drain_inbox(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while self.inbox:
            target, data = self.inbox.popleft()
            if target is None:
                for client in [c for c in self.clients.values() if c.subscribed]:
                    self._send(client, data)
            elif not target.closed:
                self._send(target, data)

    def _sweep_idle(self) -> None:
        limit = time.monotonic() - self.settings.socket_idle_timeout
        for client in [c for c in self.clients.values() if not c.subscribed and c.last_active < limit]:
            self._close(client)

    def _close(self, client: _Client) -> None:
        if client.closed:
            return
        client.closed = True
        self.clients.pop(client.fd, None)
        try:
            self.selector.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()
