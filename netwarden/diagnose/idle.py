"""Idle survival (DOMAIN.md §6): open a connection, turn TCP keepalive off, stay idle N seconds,
then use it, as a pooled HTTP client reuses a kept-alive connection. NATs, firewalls and load
balancers forget idle flows (Azure 4 min, AWS ~350 s, Cloudflare 400 s, GCP 1,200 s) and then
answer the next packet with a reset, or with nothing, or close the connection while it idles.

"Use" is an HTTP/1.1 HEAD request (over TLS when the target speaks it): any answer, even an
error status, means the connection was still there. Returns plain JSON types for the Source.
"""

from __future__ import annotations

import select
import socket
import threading
import time

from netwarden.diagnose.tls import context, ended
from netwarden.platform.probe import _errname
from netwarden.platform.source import answers

STOP = threading.Event()  # set when the probe is interrupted: idle waits end at once


def request(host: str) -> bytes:
    shown = f"[{host}]" if ":" in host else host
    return f"HEAD / HTTP/1.1\r\nHost: {shown}\r\nUser-Agent: netwarden-probe\r\n\r\n".encode("ascii")


@answers({"idle": float, "outcome": str, "at": (float, type(None)), "ms": float, "error": str})
def trial(address: str, port: int, host: str, use_tls: bool, idle: float, timeout: float) -> dict:
    """Outcome: "ok" (answered after the idle time), "reset", "fin" (the peer closed it),
    "silence" (no answer within timeout), "no-connect" or "error". `at` is when, into the idle
    time, a reset or close arrived unasked (None when it came only after the request)."""
    result = {"idle": idle, "outcome": "", "at": None, "ms": 0.0, "error": ""}
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except OSError as e:
        return {**result, "outcome": "no-connect", "error": _errname(e)}
    try:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 0)  # a keepalive would refresh the middlebox
        # wrap_socket takes over the file descriptor: from here on only `conn` is the connection.
        conn = context("none", ("http/1.1",)).wrap_socket(raw, server_hostname=host) if use_tls else raw
        with conn:
            result.update(_idle(conn, idle) or _use(conn, host, timeout))
    except (socket.timeout, TimeoutError):
        result.update(outcome="error", error="the TLS handshake did not finish")
    except OSError as e:  # ssl.SSLError included: its errno is OpenSSL's, not the kernel's
        result.update(outcome="error", error=str(getattr(e, "reason", None) or _errname(e)))
    finally:
        raw.close()
    return result


def _idle(conn, idle: float) -> dict | None:
    """Wait `idle` seconds, watching for the peer: a reset or close that arrives meanwhile."""
    import ssl

    start = time.monotonic()
    deadline = start + idle
    conn.setblocking(False)
    try:
        while (left := deadline - time.monotonic()) > 0:
            if STOP.is_set():
                return {"outcome": "error", "error": "interrupted"}
            if not select.select([conn], [], [], min(left, 0.5))[0]:
                continue
            try:
                if conn.recv(4096) == b"":
                    return {"outcome": ended(conn), "at": round(time.monotonic() - start, 1)}
            except (ssl.SSLWantReadError, BlockingIOError):
                time.sleep(0.01)  # TLS housekeeping (session tickets), no application data
            except (ConnectionResetError, BrokenPipeError):
                return {"outcome": "reset", "at": round(time.monotonic() - start, 1)}
    finally:
        conn.setblocking(True)
    return None


def _use(conn, host: str, timeout: float) -> dict:
    conn.settimeout(timeout)
    start = time.monotonic()
    try:
        conn.sendall(request(host))
        answer = conn.recv(4096)
        outcome = "ok" if answer else ended(conn)
    except (socket.timeout, TimeoutError):
        outcome = "silence"
    except (ConnectionResetError, BrokenPipeError):
        outcome = "reset"
    return {"outcome": outcome, "ms": round((time.monotonic() - start) * 1000, 1)}
