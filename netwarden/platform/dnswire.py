"""One DNS question over UDP, straight to one nameserver, with the standard library only.

The checks and `netwarden probe` ask each configured nameserver whether it answers: one query,
no retry, no EDNS. dnspython did this before; its import (~80 ms: dns.message pulls in
importlib.metadata and email) was most of what a config naming targets added to `check`'s start.
The wire format is RFC 1035 section 4; the parser is pure and never raises but ValueError.
"""

from __future__ import annotations

import os
import socket
import time

TYPES = {"A": 1, "NS": 2, "AAAA": 28}
RCODES = ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
          "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE")
_HEADER = 12


def encode_name(name: str) -> bytes:
    """"api.example.com" (or with its final dot; "." is the root) -> wire labels. ValueError for
    what is not a DNS name: a label of 0 or more than 63 bytes, more than 255 bytes in all."""
    if name in (".", ""):
        return b"\0"
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    if not name.isascii():
        raise ValueError(f"not a DNS name (ASCII labels only): {name[:80]!r}")
    if not all(0 < len(label) <= 63 for label in labels):
        raise ValueError("each dot-separated part of a name has 1 to 63 characters")
    wire = b"".join(len(label).to_bytes(1, "big") + label.encode("ascii") for label in labels) + b"\0"
    if len(wire) > 255:
        raise ValueError("a DNS name has at most 255 bytes on the wire")
    return wire


class NotOurs(ValueError):
    """A datagram that does not answer this query (another id, or not an answer at all)."""


def make_query(name: str, rdtype: str, query_id: int) -> bytes:
    """A standard query with recursion desired, one question, class IN."""
    header = query_id.to_bytes(2, "big") + b"\x01\x00" + b"\x00\x01" + b"\x00\x00" * 3
    return header + encode_name(name) + TYPES[rdtype].to_bytes(2, "big") + b"\x00\x01"


def _skip_name(data: bytes, at: int) -> int:
    """The offset just past a (possibly compressed) name starting at `at`."""
    while True:
        if at >= len(data):
            raise ValueError("truncated name")
        length = data[at]
        if length == 0:
            return at + 1
        if length & 0xC0 == 0xC0:  # a pointer ends the name
            if at + 2 > len(data):
                raise ValueError("truncated name")
            return at + 2
        if length & 0xC0:
            raise ValueError("unknown label type")
        at += 1 + length


def parse_answer(data: bytes, query: bytes) -> tuple[str, list[str]]:
    """An answer to `query` -> (its rcode's name, the A and AAAA addresses in it). NotOurs when
    it does not answer that query at all, ValueError when it is malformed; an answer the server
    flagged as cut short (TC) is read as far as it goes: the server answered."""
    if len(data) < 3 or data[:2] != query[:2] or not data[2] & 0x80:
        raise NotOurs("not an answer to this query")
    if len(data) < _HEADER:
        raise ValueError("an answer shorter than its header")
    rcode, truncated = data[3] & 0x0F, bool(data[2] & 0x02)
    questions, answers = int.from_bytes(data[4:6], "big"), int.from_bytes(data[6:8], "big")
    at = _HEADER
    for _ in range(questions):
        at = _skip_name(data, at) + 4
    addresses = []
    for _ in range(answers):
        try:
            at, address = _record(data, at)
        except ValueError:
            if truncated:
                break
            raise
        if address:
            addresses.append(address)
    return (RCODES[rcode] if rcode < len(RCODES) else str(rcode)), sorted(set(addresses))


def _record(data: bytes, at: int) -> tuple[int, str | None]:
    """The offset past the resource record at `at`, and its address if it is an A or AAAA."""
    at = _skip_name(data, at)
    if at + 10 > len(data):
        raise ValueError("truncated record")
    rtype, length = int.from_bytes(data[at:at + 2], "big"), int.from_bytes(data[at + 8:at + 10], "big")
    rdata = data[at + 10:at + 10 + length]
    if len(rdata) < length:
        raise ValueError("truncated record")
    address = None
    if (rtype, length) in ((1, 4), (28, 16)):
        address = socket.inet_ntop(socket.AF_INET if rtype == 1 else socket.AF_INET6, rdata)
    return at + 10 + length, address


def ask(server: str, name: str, rdtype: str, timeout: float) -> dict:
    """One UDP question to `server` (an IP address; a link-local one keeps its scope,
    `fe80::1%eth0`), no retry: outcome "ok" for any answer (even NXDOMAIN: the server is alive),
    "timeout" or "error"; the rcode, the addresses, the time."""
    result = {"outcome": "", "rcode": "", "addresses": [], "error": "", "ms": 0.0}
    start = time.monotonic()
    deadline = start + timeout
    try:
        query = make_query(name, rdtype, int.from_bytes(os.urandom(2), "big"))
        # bytes: a str host is IDNA-encoded by getaddrinfo, which imports encodings.idna (~2 ms)
        family, _, _, _, address = socket.getaddrinfo(server.encode("ascii"), 53, 0, socket.SOCK_DGRAM, 0,
                                                      socket.AI_NUMERICHOST)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(address)  # a connected socket takes datagrams from the server alone
            sock.send(query)
            while True:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                data = sock.recv(65535)
                try:
                    rcode, addresses = parse_answer(data, query)
                except NotOurs:
                    continue  # another query's late answer: wait on for ours
                except ValueError as e:  # it answered, but not in a way a resolver could use
                    result.update(outcome="error", error=f"malformed answer: {e}")
                    break
                result.update(outcome="ok", rcode=rcode, addresses=addresses)
                break
    except socket.timeout:
        result.update(outcome="timeout", error=f"no answer within {timeout:g} s")
    except (OSError, ValueError) as e:  # refused (ICMP port unreachable), no route, a bad name
        result.update(outcome="error", error=(e.strerror if isinstance(e, OSError) and e.strerror else str(e))
                      or type(e).__name__)
    result["ms"] = round((time.monotonic() - start) * 1000, 1)
    return result
