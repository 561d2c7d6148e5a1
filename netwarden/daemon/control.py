"""The control socket: JSON-RPC 2.0 over a Unix socket, one JSON object per line (protocol.py).

One thread with a selector serves every client, so a slow or half-open client costs a buffer,
never a thread, and never stalls the others:
- a request line may be 64 KiB at most; a client idle for `socket_idle_timeout` is closed
  (subscribers and clients waiting for an answer excepted); past `socket_max_clients` new clients
  get an error and are closed, except root, for whom the oldest non-root client is closed (when
  every client is root's own, root is refused too: closing root's own connections could cut off
  a request or subscription of its own, and idle ones go after the idle timeout anyway); a uid
  other than root may hold SUBSCRIBERS_PER_UID subscriptions; a client that does not read its
  answers is closed once 1 MiB waits for it;
- a client that closes its writing side (EOF) is answered what it asked, then closed;
- each peer's credentials are read at accept (the host's: SO_PEERCRED and SO_PEERGROUPS on
  Linux, LOCAL_PEERCRED on macOS): uid 0 may do everything, members of the socket's group may
  read, anyone else (or a peer whose credentials cannot be read) is refused;
- nothing one client sends can end the serving thread: an unexpected error while serving a
  client closes that client and is logged (once per kind of error). If the thread ends anyway,
  the daemon's loop sees it (supervise.py) and the daemon exits for its service manager to restart.
Read-only methods are answered here from the daemon's published snapshot; the others run on the
daemon's loop (the one place that changes state) and are answered when it is done.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
import time
from collections import deque

from netwarden.daemon.listener import open_listener, resolve_group
from netwarden.daemon.protocol import (BUSY, INTERNAL_ERROR, INVALID_PARAMS, MAX_REQUEST, METHOD_NOT_FOUND, PERMISSION_DENIED,
                                       REQUEST_TOO_LARGE, TOO_MANY_CLIENTS, Request, encode_event, encode_message,
                                       parse_request)

MAX_PENDING_OUTPUT = 1024 * 1024
ANSWER_WAIT = 300.0  # seconds a client waiting for the loop's answer is kept (the CLI waits 120 for --apply)
SUBSCRIBERS_PER_UID = 8  # subscriptions one non-root uid may hold (root: bounded by socket_max_clients)
MEMBER_CHECK_EVERY = 10.0  # seconds between `check` runs the group's members may ask for: each probes the targets

READ_METHODS = ("version", "status", "findings", "facts", "history")
LOOP_METHODS = ("check",)
ROOT_METHODS = ("apply", "revert", "release", "reload")


class _Client:
    __slots__ = ("sock", "fd", "inbuf", "outbuf", "uid", "admin", "subscribed", "last_active", "closing", "closed",
                 "mask", "eof", "pending")

    def __init__(self, sock: socket.socket, uid: int, admin: bool):
        self.sock, self.fd, self.uid, self.admin = sock, sock.fileno(), uid, admin
        self.inbuf, self.outbuf = bytearray(), bytearray()
        self.subscribed = False
        self.closing = False  # close once the output is sent
        self.closed = False
        self.mask = selectors.EVENT_READ  # what the selector watches for it (0: not registered)
        self.eof = False  # it closed its writing side: nothing more to read
        self.pending = 0  # its requests still on the daemon's loop
        self.last_active = time.monotonic()


class ControlServer:
    def __init__(self, settings, daemon, log, peer_of) -> None:
        """peer_of(sock): the connected peer's host.Peer, or None when its credentials cannot be read."""
        self.settings, self.daemon, self.log, self.peer_of = settings, daemon, log, peer_of
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
        self._logged: set[str] = set()  # kinds of unexpected errors already logged
        self._member_check_at = -MEMBER_CHECK_EVERY  # when a member last had a check run (monotonic)

    # ---- set-up ---------------------------------------------------------------------------------

    def open(self) -> None:
        self.listener, self.activated = open_listener(self.settings, self.group, self.log)
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, "listen")
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")

    def start(self) -> threading.Thread:
        self.running = True
        thread = threading.Thread(target=self._serve, name="netwarden-control", daemon=True)
        thread.start()
        return thread

    def publish(self, snapshot) -> None:
        """Nothing to write: reads are answered from the daemon's latest snapshot as they come."""

    def refresh(self) -> None:
        """Nothing to keep fresh: a socket that answers is proof enough of life."""

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
        """An answer from the daemon's loop; the client object (not its fd, which a new client may
        reuse by then) says who asked."""
        self.inbox.append((client, data))
        self._wake()

    def broadcast(self, event: dict) -> None:
        self.inbox.append((None, encode_event(event)))
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
                elif (client := self.clients.get(key.fd)) is not None:
                    self._guarded(client, self._ready, client, mask)
            if time.monotonic() >= next_sweep:
                self._sweep_idle()
                next_sweep = time.monotonic() + 1
        for client in list(self.clients.values()):
            self._close(client)
        self.listener.close()

    def _guarded(self, client: _Client, action, *args) -> None:
        """Whatever goes wrong while serving one client closes that client, not the thread serving all."""
        try:
            action(*args)
        except Exception as e:  # noqa: BLE001 - a bug must cost one connection, never the socket
            kind = type(e).__name__
            if kind not in self._logged:
                self._logged.add(kind)
                self.log(f"control socket: closed a client of uid {client.uid} after an unexpected {kind} "
                         f"(a bug; please report it; further {kind}s are not logged): {e!r:.300}")
            self._close(client)

    def _ready(self, client: _Client, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            self._read(client)
        if mask & selectors.EVENT_WRITE and not client.closed:
            self._flush(client)

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
            try:
                self._admit(sock)
            except OSError:  # it left before we could read its credentials
                sock.close()

    def _admit(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        uid, admin, refusal = self._credentials(sock)
        full = len(self.clients) >= self.settings.socket_max_clients
        if refusal is None and full and not (admin and self._evict_for_root()):
            whose = ", all of them root's" if admin else ""
            refusal = (TOO_MANY_CLIENTS, f"too many clients ({self.settings.socket_max_clients}){whose}; try again later")
        if refusal is not None:
            try:
                sock.send(encode_message(None, error=refusal))
            except OSError:
                pass
            sock.close()
            return
        client = _Client(sock, uid, admin)
        self.clients[client.fd] = client
        self.selector.register(sock, selectors.EVENT_READ, "client")

    def _evict_for_root(self) -> bool:
        """Root gets in past other users: the oldest client that is not root makes room (clients
        are kept in accept order). False when every client is root's own (the module's docstring
        says why none of them is closed)."""
        victim = next((c for c in self.clients.values() if not c.admin), None)
        if victim is None:
            return False
        if not victim.outbuf:  # a whole line, never into the middle of an answer
            try:
                victim.sock.send(encode_message(None, error=(
                    TOO_MANY_CLIENTS, f"closed to make room for root: socket_max_clients "
                                      f"({self.settings.socket_max_clients}) reached")))
            except OSError:
                pass
        self._close(victim)
        return True

    def _credentials(self, sock: socket.socket) -> tuple[int, bool, tuple | None]:
        peer = self.peer_of(sock)
        if peer is None:
            return -1, False, (PERMISSION_DENIED, "permission denied: the peer's credentials cannot be read")
        if peer.uid == 0:
            return peer.uid, True, None
        if self.group is not None and self.group in peer.groups:
            return peer.uid, False, None
        return peer.uid, False, (PERMISSION_DENIED, f"permission denied: uid {peer.uid} is neither root nor in the "
                                                    "socket's group")

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(client)
            return
        client.last_active = time.monotonic()
        if client.closing:
            return  # refused already: what it sends now is ignored
        if not data:  # EOF: it asks nothing more; the last request may lack its newline
            client.eof = True
            self._take_requests(client, at_eof=True)
            client.subscribed = False
            self._settle(client)
            return
        client.inbuf += data
        self._take_requests(client)

    def _take_requests(self, client: _Client, at_eof: bool = False) -> None:
        while not client.closed and not client.closing:
            newline = client.inbuf.find(b"\n")
            if newline < 0:
                if len(client.inbuf) > MAX_REQUEST:
                    client.inbuf.clear()
                    client.closing = True
                    self._send(client, encode_message(None, error=(REQUEST_TOO_LARGE, f"request over {MAX_REQUEST} bytes")))
                    return
                if not at_eof or not client.inbuf.strip():
                    return
                newline = len(client.inbuf)
            line = bytes(client.inbuf[:newline])
            del client.inbuf[:newline + 1]
            if len(line) > MAX_REQUEST:
                self._send(client, encode_message(None, error=(REQUEST_TOO_LARGE, f"request over {MAX_REQUEST} bytes")))
            elif line.strip():
                self._request(client, line)

    def _request(self, client: _Client, line: bytes) -> None:
        request = parse_request(line)
        method, params = request.method, request.params
        if request.error is not None:
            self._answer(client, request, error=request.error)
        elif method == "subscribe":
            self._subscribe(client, request)
        elif method in READ_METHODS:
            try:
                result = self.daemon.read(method, params)
            except ValueError as e:
                self._answer(client, request, error=(INVALID_PARAMS, str(e)))
                return
            except Exception as e:  # noqa: BLE001 - a bug in one answer must not take the server down
                self.log(f"control socket: {method} failed: {e!r:.300}")
                self._answer(client, request, error=(INTERNAL_ERROR, "internal error"))
                return
            self._answer(client, request, result=result)
        elif method in LOOP_METHODS or method in ROOT_METHODS:
            if method in ROOT_METHODS and not client.admin:
                self._answer(client, request, error=(PERMISSION_DENIED, f"permission denied: {method} needs root"))
                return
            if method == "check" and not client.admin:  # a member looping on it would keep the targets probed
                waited = time.monotonic() - self._member_check_at
                if waited < MEMBER_CHECK_EVERY:
                    self._answer(client, request, error=(BUSY, f"busy: a check ran {waited:.0f} s ago; members may ask "
                                                               f"for one every {MEMBER_CHECK_EVERY:g} s (status shows "
                                                               "its findings)"))
                    return
                self._member_check_at = time.monotonic()
            if not request.notification:
                client.pending += 1
            self.daemon.submit(method, params, lambda result=None, error=None: self._from_loop(client, request, result, error))
        else:
            self._answer(client, request, error=(METHOD_NOT_FOUND, f"no such method: {method[:64]}"))

    def _from_loop(self, client: _Client, request: Request, result, error) -> None:
        """On the daemon's loop: its answer to a request, encoded there; always an answer, so the
        client's count of pending requests comes back to zero."""
        if request.notification:
            return
        try:
            data = encode_message(request.id, result, error)
        except (TypeError, ValueError, RecursionError) as e:
            data = encode_message(request.id, error=(INTERNAL_ERROR, f"internal error: the answer could not be encoded: {e}"))
        self.reply(client, data)

    def _subscribe(self, client: _Client, request: Request) -> None:
        held = sum(1 for c in self.clients.values() if c.subscribed and c.uid == client.uid)
        if not client.admin and not client.subscribed and held >= SUBSCRIBERS_PER_UID:
            self._answer(client, request, error=(TOO_MANY_CLIENTS, f"too many subscriptions: uid {client.uid} "
                                                                   f"holds {SUBSCRIBERS_PER_UID}, the most one uid may"))
            return
        client.subscribed = True
        self._answer(client, request, result={"subscribed": True})

    def _answer(self, client: _Client, request: Request, result=None, error=None) -> None:
        if not request.notification:
            self._send(client, encode_message(request.id, result, error))

    def _send(self, client: _Client, data: bytes) -> None:
        client.outbuf += data
        if len(client.outbuf) > MAX_PENDING_OUTPUT:
            self._close(client)  # it does not read what it asked for
            return
        self._settle(client)

    def _settle(self, client: _Client) -> None:
        """Send what waits; a client that said EOF is closed once it has every answer it asked for."""
        if client.eof and not client.pending:
            client.closing = True
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
        if not client.outbuf and client.closing:
            self._close(client)
            return
        # Read until EOF or refusal, write while output waits; an epoll_ctl only when that changes.
        mask = (0 if client.eof or client.closing else selectors.EVENT_READ) | \
            (selectors.EVENT_WRITE if client.outbuf else 0)
        if mask != client.mask:
            if not mask:
                self.selector.unregister(client.sock)  # EOF, answers still on the loop: nothing to watch
            elif not client.mask:
                self.selector.register(client.sock, mask, "client")
            else:
                self.selector.modify(client.sock, mask, "client")
            client.mask = mask

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
                    self._guarded(client, self._send, client, data)
            else:
                target.pending -= 1
                if not target.closed:
                    self._guarded(target, self._send, target, data)

    def _sweep_idle(self) -> None:
        """Idle clients are closed; subscribers never, one waiting for the loop's answer after ANSWER_WAIT."""
        now = time.monotonic()
        for client in [c for c in self.clients.values() if not c.subscribed and now - c.last_active >
                       (ANSWER_WAIT if c.pending else self.settings.socket_idle_timeout)]:
            self._close(client)

    def _close(self, client: _Client) -> None:
        if client.closed:
            return
        client.closed = True
        self.clients.pop(client.fd, None)
        if client.mask:
            self.selector.unregister(client.sock)
        client.sock.close()
