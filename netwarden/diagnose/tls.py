"""TLS handshakes with a classic-size ClientHello and one larger than a segment (DOMAIN.md §3).

Post-quantum key shares make a ClientHello of ~1.5-1.9 KB (OpenSSL 3.5, Node >= 24.5 / 22.20,
Go 1.24, Chrome 124); some middleboxes reset or drop a hello that spans two segments while the
classic ~517-byte one passes. Stock Python ssl cannot send a post-quantum key share, but it can
make the hello the same size: ALPN entries of up to 255 bytes each, listed after the real ones
(h2, http/1.1) so the server still picks a protocol it knows (RFC 7301 says unknown ones are
ignored).

Trust: the classic hello verifies against the system store, as curl does (OpenSSL's default
paths: SSL_CERT_FILE and SSL_CERT_DIR honoured). The large one verifies against what Node trusts:
its bundled public (Mozilla) roots plus NODE_EXTRA_CA_CERTS. A chain that passes the first and
fails the second is the classic "curl works, Node fails": a TLS-inspecting proxy or a private CA
that only the system store holds.

Each handshake returns plain JSON types, so a Source can record it into a support bundle.
"""

from __future__ import annotations

import os
import socket
import time
from functools import lru_cache

from netwarden.diagnose.x509 import cert_names
from netwarden.platform.probe import _errname
from netwarden.platform.source import answers

ALPN = ("h2", "http/1.1")
LARGE_HELLO_BYTES = 1800  # a post-quantum hello's size (X25519MLKEM768: ~1,550-1,850 bytes)
# Where distributions keep Mozilla's root list as separate PEM files (Debian, Ubuntu, Alpine):
# the public roots Node bundles. Not found: the large hello verifies against the system store.
PUBLIC_ROOTS_DIRS = ("/usr/share/ca-certificates/mozilla",)
TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8  # tcpi_state: after a reset, after the peer's FIN
# OpenSSL's reasons when the bytes that came back are not TLS at all (an HTTP or SSH server).
NOT_TLS = ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE",
           "UNKNOWN_PROTOCOL")


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of a socket (TCP_INFO's first byte), 0 when it cannot be read.
    After a reset Python's ssl reports a plain end of file; the state tells the two apart."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except (OSError, AttributeError):
        return 0


def ended(sock: socket.socket) -> str:
    """How a connection that read end-of-file ended: "reset" or "fin"."""
    return "reset" if tcp_state(sock) == TCP_CLOSE else "fin"


@lru_cache(maxsize=None)
def public_roots() -> tuple[str, str]:
    """(PEM text of the public roots plus NODE_EXTRA_CA_CERTS, what it is made of); ("", why
    not) when no public root list is found here."""
    for directory in PUBLIC_ROOTS_DIRS:
        try:
            names = sorted(n for n in os.listdir(directory) if n.endswith(".crt"))
        except OSError:
            continue
        pem = []
        for name in names:
            try:
                with open(os.path.join(directory, name), encoding="ascii", errors="replace") as f:
                    pem.append(f.read())
            except OSError:
                continue
        if not pem:
            continue
        label = f"public roots ({len(pem)} in {directory})"
        extra = os.environ.get("NODE_EXTRA_CA_CERTS")
        if extra:
            text, why = _extra_certs(extra)
            pem.append(text)
            label += f" + NODE_EXTRA_CA_CERTS={extra}" + (f" (not loaded: {why}; Node ignores it too)" if why else "")
        return "\n".join(pem), label
    return "", f"no public root list found (looked in {', '.join(PUBLIC_ROOTS_DIRS)})"


def _extra_certs(path: str) -> tuple[str, str]:
    """(the PEM text of NODE_EXTRA_CA_CERTS, "") or ("", why not): a file that does not load is
    left out, as Node does (with a warning), rather than failing every handshake."""
    import ssl

    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read()
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)
        return text, ""
    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
        return "", str(getattr(e, "strerror", None) or getattr(e, "reason", None) or e)


def system_store() -> str:
    """The system trust store OpenSSL uses, as a user would name it."""
    import ssl

    paths = ssl.get_default_verify_paths()
    chosen = [f"{env}={os.environ[env]}" for env in (paths.openssl_cafile_env, paths.openssl_capath_env)
              if os.environ.get(env)]
    return "system store (" + (", ".join(chosen) or paths.cafile or paths.capath or "OpenSSL default") + ")"


@lru_cache(maxsize=None)
def context(trust: str, alpn: tuple[str, ...]):
    """A client context: trust "system", "node" (public roots + NODE_EXTRA_CA_CERTS) or "none".
    Made once per kind (loading a trust store costs ~50 ms) and shared: a context is safe to use
    from several threads. "none" loads no store at all: its hello is byte for byte the same size."""
    import ssl

    if trust == "system" or (trust == "node" and not public_roots()[0]):
        ctx = ssl.create_default_context()
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if trust == "node":
            ctx.load_verify_locations(cadata=public_roots()[0])
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def hello_bytes(ctx, server_name: str | None) -> int:
    """The size of the first TLS record this context sends (the ClientHello), made in memory."""
    import ssl

    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    try:
        ctx.wrap_bio(incoming, outgoing, server_hostname=server_name).do_handshake()
    except ssl.SSLError:
        pass  # it wants the server's answer: the hello is written
    return len(outgoing.read())


@lru_cache(maxsize=None)
def large_alpn(server_name: str | None, size: int = LARGE_HELLO_BYTES) -> tuple[str, ...]:
    """The real ALPN entries followed by fillers that make the ClientHello about `size` bytes.
    Measured again after each round: OpenSSL pads a hello of 256-511 bytes to 512, so the first
    fillers replace that padding before they add to the size."""
    alpn = ALPN
    for _ in range(3):
        missing = size - hello_bytes(context("none", alpn), server_name)
        while missing > 1:
            length = min(255, missing - 1)  # each entry costs its length plus one length byte
            alpn += (f"x-netwarden-probe-{len(alpn)}-".ljust(length, "p")[:length],)
            missing -= length + 1
    return alpn


@answers({"kind": str, "bytes": int, "outcome": str, "error": str, "ms": float, "version": str, "alpn": str,
          "verified": (bool, type(None)), "verify_error": str, "issuer": str, "subject": str, "trust": str})
def handshake(address: str, port: int, host: str, kind: str, timeout: float) -> dict:
    """One TLS handshake with the `kind` ("classic" or "large") of ClientHello. Outcome: "ok"
    (the server answered with its certificate: the hello got through), "alert" (the server
    refused the hello with an alert: it got through too), "reset", "stalled" (no answer within
    timeout), "closed", "not-tls", "no-connect", "error"."""
    import ssl

    # For an address as host, Python sends no SNI and matches the certificate's IP entries.
    alpn = ALPN if kind == "classic" else large_alpn(host)
    trust = "system" if kind == "classic" else "node"
    ctx = context(trust, alpn)
    result = {"kind": kind, "bytes": hello_bytes(ctx, host), "outcome": "", "error": "", "ms": 0.0,
              "version": "", "alpn": "", "verified": None, "verify_error": "", "issuer": "", "subject": "",
              "trust": system_store() if trust == "system" or not public_roots()[0] else public_roots()[1]}
    start = time.monotonic()
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except OSError as e:
        result.update(outcome="no-connect", error=_errname(e))
        return result
    try:
        with ctx.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False) as tls:
            try:
                tls.do_handshake()
                result.update(outcome="ok", verified=True, version=tls.version() or "",
                              alpn=tls.selected_alpn_protocol() or "", **cert_names(tls.getpeercert(True) or b""))
            except ssl.SSLCertVerificationError as e:
                result.update(outcome="ok", verified=False, verify_error=e.verify_message or str(e.reason))
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                result.update(outcome="reset" if ended(tls) == "reset" else "closed")
            except ssl.SSLError as e:
                reason = str(e.reason or e)
                outcome = "not-tls" if reason in NOT_TLS else "alert" if "ALERT" in reason else "error"
                result.update(outcome=outcome, error=reason)
    except (socket.timeout, TimeoutError):
        result.update(outcome="stalled", error=f"no answer within {timeout:g} s")
    except (ConnectionResetError, BrokenPipeError):
        result.update(outcome="reset", error="ECONNRESET")
    except OSError as e:
        result.update(outcome="error", error=_errname(e))
    finally:
        raw.close()
    result["ms"] = round((time.monotonic() - start) * 1000, 1)
    if result["verified"] is False:
        result.update(_certificate(address, port, host, alpn, timeout))
    return result


def _certificate(address: str, port: int, host: str, alpn: tuple[str, ...], timeout: float) -> dict:
    """Version, ALPN and the names of a certificate that failed verification: one more
    handshake that does not verify, only to read them (never to trust them)."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw, \
                context("none", alpn).wrap_socket(raw, server_hostname=host) as tls:
            return {"version": tls.version() or "", "alpn": tls.selected_alpn_protocol() or "",
                    **cert_names(tls.getpeercert(True) or b"")}
    except OSError:
        return {}
