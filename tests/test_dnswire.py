"""The standard-library DNS question (platform/dnswire.py) the checks and `netwarden probe` ask
each nameserver with: its bytes agree with dnspython's (the test suite's reference and lab DNS
server), every answer is read or refused with a ValueError, and a real exchange on the loopback
gives the outcomes users see (ok with the addresses, NXDOMAIN is alive, silence is a timeout)."""

from __future__ import annotations

import socket
import threading
import time

import dns.message
import dns.rcode
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netwarden.platform import dnswire


@pytest.mark.parametrize("name, rdtype", [("api.example.com", "A"), ("api.example.com.", "AAAA"), (".", "NS"),
                                          ("a" * 63 + ".b", "A"), ("x-y_z.lab", "AAAA")])
def test_the_query_is_the_one_dnspython_builds(name, rdtype):
    wire = dnswire.make_query(name, rdtype, 0x1234)
    parsed = dns.message.from_wire(wire)
    reference = dns.message.make_query(name, rdtype, use_edns=False)
    reference.id = 0x1234
    assert parsed == reference and wire == reference.to_wire()


@pytest.mark.parametrize("name", ["a..b", ".a", "a" * 64, ".".join(["a" * 63] * 4), "bücher.example"])
def test_a_name_that_is_not_a_dns_name_is_a_value_error(name):
    with pytest.raises(ValueError):
        dnswire.make_query(name, "A", 1)


def _answer(query: bytes, rcode=dns.rcode.NOERROR, records=(), truncate=False) -> bytes:
    reply = dns.message.make_response(dns.message.from_wire(query))
    reply.set_rcode(rcode)
    for rdtype, address in records:
        reply.answer.append(dns.rrset.from_text(reply.question[0].name, 60, "IN", rdtype, address))
    if truncate:
        reply.flags |= dns.flags.TC
    return reply.to_wire()


def test_answers_give_their_rcode_and_addresses():
    query = dnswire.make_query("svc.lab", "A", 7)
    wire = _answer(query, records=[("A", "10.0.0.2"), ("A", "10.0.0.1"), ("AAAA", "2001:db8::5"),
                                   ("CNAME", "other.lab.")])
    assert dnswire.parse_answer(wire, query) == ("NOERROR", ["10.0.0.1", "10.0.0.2", "2001:db8::5"])
    assert dnswire.parse_answer(_answer(query, dns.rcode.NXDOMAIN), query) == ("NXDOMAIN", [])
    assert dnswire.parse_answer(_answer(query, dns.rcode.REFUSED), query) == ("REFUSED", [])


def test_a_cut_answer_is_read_as_far_as_it_goes_when_it_says_so_and_refused_otherwise():
    query = dnswire.make_query("svc.lab", "A", 7)
    whole = _answer(query, records=[("A", "10.0.0.1"), ("A", "10.0.0.2")])
    cut = whole[:-3]
    with pytest.raises(ValueError, match="truncated"):
        dnswire.parse_answer(cut, query)
    flagged = bytearray(_answer(query, records=[("A", "10.0.0.1"), ("A", "10.0.0.2")], truncate=True)[:-3])
    assert dnswire.parse_answer(bytes(flagged), query) == ("NOERROR", ["10.0.0.1"])


@pytest.mark.parametrize("wire", [b"", b"\x00", b"\x00\x07", b"\x00\x08\x81\x80" + b"\0" * 8, b"\x00\x07\x01\x00" + b"\0" * 8])
def test_what_does_not_answer_this_query_is_not_ours(wire):
    with pytest.raises(dnswire.NotOurs):
        dnswire.parse_answer(wire, dnswire.make_query("svc.lab", "A", 7))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_after_our_id_are_parsed_or_refused_with_a_value_error(tail):
    query = dnswire.make_query("svc.lab", "A", 7)
    try:
        rcode, addresses = dnswire.parse_answer(b"\x00\x07" + tail, query)
    except ValueError:
        return
    assert isinstance(rcode, str) and all(isinstance(a, str) for a in addresses)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "AAAA"]), st.integers(0, 2 ** 32 - 1)), max_size=20),
       st.integers(0, 15))
def test_any_answer_dnspython_writes_is_read_back(records, rcode):
    query = dnswire.make_query("svc.lab", "AAAA", 9)
    as_text = [(t, socket.inet_ntop(socket.AF_INET, n.to_bytes(4, "big")) if t == "A"
                else socket.inet_ntop(socket.AF_INET6, n.to_bytes(16, "big"))) for t, n in records]
    code, addresses = dnswire.parse_answer(_answer(query, rcode, as_text), query)
    assert code == dns.rcode.to_text(rcode) or code == str(rcode)
    assert addresses == sorted({a for _, a in as_text})


class _Server:
    """A UDP nameserver on 127.0.0.1 that answers as told: 'a' (an A record), 'nx', 'silent',
    'stray' (first a datagram with another id, then the answer), 'garbage' (our id, then junk)."""

    def __init__(self, mode: str):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port, self.mode = self.sock.getsockname()[1], mode
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        data, peer = self.sock.recvfrom(4096)
        if self.mode == "silent":
            return
        if self.mode == "garbage":
            self.sock.sendto(data[:2] + b"\x81\x80\x00\x05", peer)
            return
        if self.mode == "stray":
            self.sock.sendto(bytes([data[0] ^ 0xFF, data[1]]) + data[2:], peer)
        rcode = dns.rcode.NXDOMAIN if self.mode == "nx" else dns.rcode.NOERROR
        self.sock.sendto(_answer(data, rcode, [("A", "10.9.8.7")] if self.mode != "nx" else []), peer)


@pytest.fixture
def port_53_elsewhere(monkeypatch):
    """ask() always asks port 53; the test's server listens on a free port instead."""
    real = socket.getaddrinfo
    ports = {}

    def getaddrinfo(host, port, *args):
        return real(host, ports.get("port", port), *args)

    monkeypatch.setattr(dnswire.socket, "getaddrinfo", getaddrinfo)
    return ports


@pytest.mark.parametrize("mode, outcome, rcode, addresses", [
    ("a", "ok", "NOERROR", ["10.9.8.7"]), ("nx", "ok", "NXDOMAIN", []), ("stray", "ok", "NOERROR", ["10.9.8.7"]),
    ("silent", "timeout", "", []), ("garbage", "error", "", [])])
def test_a_question_on_the_loopback(port_53_elsewhere, mode, outcome, rcode, addresses):
    server = _Server(mode)
    port_53_elsewhere["port"] = server.port
    start = time.monotonic()
    answer = dnswire.ask("127.0.0.1", "svc.lab", "A", 0.5)
    assert (answer["outcome"], answer["rcode"], answer["addresses"]) == (outcome, rcode, addresses)
    assert time.monotonic() - start < (0.9 if outcome == "timeout" else 0.4)
    assert answer["error"] or outcome == "ok"


def test_a_closed_port_is_an_error_at_once_not_a_timeout(port_53_elsewhere):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port_53_elsewhere["port"] = s.getsockname()[1]
    answer = dnswire.ask("127.0.0.1", "svc.lab", "A", 2)
    assert answer["outcome"] == "error" and answer["ms"] < 1000 and "refused" in answer["error"].lower()


@pytest.mark.parametrize("server", ["", "not-an-address", "999.1.1.1", "fe80::1%nosuchif0"])
def test_a_server_that_is_not_an_address_is_an_error_outcome(server):
    assert dnswire.ask(server, "svc.lab", "A", 0.2)["outcome"] == "error"
