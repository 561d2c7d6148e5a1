"""Active probes towards the configured targets. Each returns plain JSON types, in the form it
declares with @answers, so a Source can record it into a support bundle and replay it. Only called
when targets are configured. Every probe takes IPv6 addresses as well as IPv4 ones, link-local
ones with their scope (`fe80::1%eth0`)."""

from __future__ import annotations

import errno
import socket
import sys
import time

from netwarden.platform.parse.netfs import is_ip_address
from netwarden.platform.source import answers

SMALL_MSS = 1200  # fits a 1280-byte IPv6 minimum MTU with room for headers and a tunnel
TRANSFER_BYTES = 16384  # a dozen full-size segments: enough that a blackhole cannot miss them
# getsockopt names the socket module does not have: <linux/in.h> IP_MTU, <linux/in6.h> IPV6_MTU.
IP_MTU, IPV6_MTU = 14, 24
SO_NWRITE = 0x1024  # <sys/socket.h> on macOS: bytes in the send buffer (unsent + unacknowledged), TIOCOUTQ's twin
DARWIN = sys.platform == "darwin"
FAMILY = {socket.AF_INET: 4, socket.AF_INET6: 6}
# Windows has no SOCK_CLOEXEC (its sockets are not inherited anyway): 0 adds nothing there.
CLOEXEC = getattr(socket, "SOCK_CLOEXEC", 0)


def _family_and_address(value) -> bool:
    """a [4 or 6, IP address] pair"""
    return (isinstance(value, list) and len(value) == 2 and value[0] in (4, 6) and type(value[0]) is int
            and isinstance(value[1], str) and is_ip_address(value[1]))


def _errname(e: OSError) -> str:
    """ECONNREFUSED, EHOSTUNREACH...: what a probe result records of an error."""
    return errno.errorcode.get(e.errno, str(e)) if e.errno else str(e)


def _sockaddr(address: str, port: int) -> tuple:
    """(family, socket address) for an address literal. A link-local IPv6 address needs its scope
    as the fourth member: given `(fe80::1%eth0, port)`, connect() would drop it (EINVAL)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return family, socket.getaddrinfo(address, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)[0][4]


def _connect(address: str, port: int, timeout: float, mss: int | None = None) -> socket.socket:
    family, sockaddr = _sockaddr(address, port)
    sock = socket.socket(family, socket.SOCK_STREAM | CLOEXEC)
    try:
        # Linux takes the MSS before connect (and announces it in the SYN). XNU refuses one above
        # its unconnected default (tcp_mssdflt, 512) with EINVAL, so on macOS it is set after the
        # handshake, where it still caps the segments this side sends.
        if mss and not DARWIN:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        sock.settimeout(timeout)
        sock.connect(sockaddr)
        if mss and DARWIN:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        return sock
    except BaseException:
        sock.close()
        raise


@answers([_family_and_address])
def resolve(host: str, port: int) -> list[list]:
    """getaddrinfo's order: [[family 4|6, address], ...], duplicates dropped. A link-local IPv6
    address keeps its scope (the socket module gives it apart, as sockaddr[3])."""
    seen = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = f"{sockaddr[0]}%{sockaddr[3]}" if family == socket.AF_INET6 and sockaddr[3] else sockaddr[0]
        entry = [FAMILY.get(family, 0), address]
        if entry[0] and entry not in seen:
            seen.append(entry)
    return seen


def parse_getent_ahosts(text: str) -> list[list]:
    """`getent ahosts NAME`: one line per address and socket type, in getaddrinfo order (a
    link-local address with its scope as a number: `fe80::1%2`). Words that are not addresses
    are left out."""
    seen = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1] == "STREAM" and is_ip_address(words[0]):
            entry = [6 if ":" in words[0] else 4, words[0]]
            if entry not in seen:
                seen.append(entry)
    return seen


def _family(value) -> bool:
    """4 or 6"""
    return type(value) is int and value in (4, 6)


@answers({"family": _family, "address": is_ip_address, "outcome": str, "ms": float, "error": str})
def connect(address: str, port: int, timeout: float) -> dict:
    """One TCP connect: ok, fast-fail (an error came back: refused, unreachable) or timeout."""
    start = time.monotonic()
    try:
        _connect(address, port, timeout).close()
        outcome, error = "ok", ""
    except (socket.timeout, TimeoutError):
        outcome, error = "timeout", f"no answer within {timeout:g} s"
    except OSError as e:
        outcome, error = "fast-fail", _errname(e)
    return {"family": 6 if ":" in address else 4, "address": address, "outcome": outcome,
            "ms": round((time.monotonic() - start) * 1000, 1), "error": error}


@answers(int)
def route_mtu(address: str) -> int:
    """The kernel's MTU for the route to `address` (a learned path MTU when one is cached); 0 on
    macOS, which has no IP_MTU socket option (`route -n get` prints a route's MTU there)."""
    if DARWIN:
        return 0
    family, sockaddr = _sockaddr(address, 9)
    with socket.socket(family, socket.SOCK_DGRAM | CLOEXEC) as s:
        s.connect(sockaddr)  # UDP connect sends nothing
        if family == socket.AF_INET6:
            return s.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU)
        return s.getsockopt(socket.IPPROTO_IP, IP_MTU)


CONNECT_TIMED_OUT = "failed: connect: timeout"  # a transfer whose connect got no answer


@answers(str)
def transfer(address: str, port: int, timeout: float, mss: int | None = None) -> str:
    """Send TRANSFER_BYTES (zeros) and wait until the peer has acknowledged them (send queue
    empty) or answered at all (reset, close): "delivered", "stalled", or "failed: <why>".

    Full-size segments lost without an ICMP error coming back (a path-MTU blackhole) stay
    unacknowledged; with a small MSS the same bytes go through. POSIX only (TIOCOUTQ, SO_NWRITE):
    the Windows backend does not call it."""
    deadline = time.monotonic() + timeout
    try:
        sock = _connect(address, port, timeout, mss)
    except OSError as e:
        return f"failed: connect: {_errname(e)}" if e.errno else CONNECT_TIMED_OUT
    with sock:
        sock.setblocking(False)
        try:
            sock.send(b"\0" * TRANSFER_BYTES)
            while time.monotonic() < deadline:
                if _unacknowledged(sock) == 0:
                    return "delivered"
                try:
                    if sock.recv(4096, socket.MSG_PEEK) == b"":
                        return "delivered"  # the peer closed: it read our bytes
                except BlockingIOError:
                    pass
                time.sleep(0.02)
        except (ConnectionResetError, BrokenPipeError):
            return "delivered"  # a reset answers data that arrived
        except OSError as e:
            return f"failed: {_errname(e)}"
    return "stalled"


def _unacknowledged(sock: socket.socket) -> int:
    """Bytes sent but not yet acknowledged (or not yet sent): Linux's TIOCOUTQ, macOS's SO_NWRITE
    (XNU keeps TCP data in the send buffer until it is acknowledged)."""
    if DARWIN:
        return sock.getsockopt(socket.SOL_SOCKET, SO_NWRITE)
    import fcntl  # imported here: the probes' other functions run on Windows too
    import termios

    outq = bytearray(4)
    fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, outq)
    return int.from_bytes(outq, "little")


@answers({"server": is_ip_address, "name": str, "outcome": str, "ms": float, "error": str})
def dns_query(server: str, name: str, timeout: float) -> dict:
    """One UDP query straight to a nameserver, no retry. Any answer (even SERVFAIL or NXDOMAIN)
    means the server is alive; a link-local server keeps its scope (`fe80::1%eth0`)."""
    from netwarden.platform.dnswire import ask

    answer = ask(server, name, "A" if name != "." else "NS", timeout)
    return {"server": server, "name": name, "outcome": answer["outcome"], "ms": answer["ms"],
            "error": answer["rcode"] if answer["outcome"] == "ok" else answer["error"]}
