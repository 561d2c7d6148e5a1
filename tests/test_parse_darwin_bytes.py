"""The daemon's macOS byte-level pieces: PF_ROUTE messages and struct xucred.

Every buffer here is CONSTRUCTED with struct.pack from the layouts in XNU's headers (bsd/net/route.h,
if.h, if_var.h, if_dl.h, bsd/sys/ucred.h; see the modules' docstrings), not captured from a Mac:
no public capture of routing-socket bytes or an xucred buffer exists in ../shared/fixtures."""

import socket
import struct

from hypothesis import given
from hypothesis import strategies as st

from netwarden.platform.parse.darwin import peercred
from netwarden.platform.parse.darwin.route_socket import (
    IFF_RUNNING, IFF_UP, RTF_GATEWAY, RTF_STATIC, RTF_UP, RouteMessages, parse_route_messages)

RTA_DST, RTA_GATEWAY, RTA_NETMASK, RTA_GENMASK, RTA_IFP, RTA_IFA, RTA_BRD = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x80


def sin(address: str) -> bytes:
    return struct.pack("=BBH4s8x", 16, 2, 0, socket.inet_aton(address))


def sin6(address: str, embedded_scope: int = 0, scope_id: int = 0) -> bytes:
    raw = bytearray(socket.inet_pton(socket.AF_INET6, address))
    raw[2:4] = embedded_scope.to_bytes(2, "big") if embedded_scope else raw[2:4]
    return struct.pack("=BBHI16sI", 28, 30, 0, 0, bytes(raw), scope_id)


def sdl(index: int, name: str = "", mac: bytes = b"") -> bytes:
    data = name.encode() + mac
    length = max(20, 8 + len(data))
    return struct.pack("=BBHBBBB", length, 18, index, 6, len(name), len(mac), 0) + data.ljust(length - 8, b"\0")


def trimmed_mask(mask: bytes, offset: int) -> bytes:
    """A netmask as rtm_scrub/sa_trim leave it: family 0, trailing zero bytes cut, sa_len shortened."""
    body = (b"\0" * (offset - 2) + mask).rstrip(b"\0")
    return bytes([len(body) + 2 if body else 0, 0]) + body if body else b""


def addresses(*sockaddrs: bytes, pad_last: bool = False) -> bytes:
    """Sockaddrs one after the other, each padded to 4 bytes (a zero-length one takes 4), the last
    unpadded as rt_msg1() leaves it."""
    out = b""
    for i, sa in enumerate(sockaddrs):
        if not sa:
            out += b"\0" * 4
        elif i == len(sockaddrs) - 1 and not pad_last:
            out += sa
        else:
            out += sa.ljust((len(sa) + 3) & ~3, b"\0")
    return out


def rt_msg(mtype: int, addrs: int, body: bytes, index: int = 0, flags: int = 0, pid: int = 0, seq: int = 0,
           errno: int = 0, mtu: int = 0, msglen: int | None = None, version: int = 5) -> bytes:
    header = struct.pack("=HBBH2xiiiiiiI", msglen or 92 + len(body), version, mtype, index, flags, addrs, pid, seq,
                         errno, 0, 0)
    return header + struct.pack("=IIIi10I", 0, mtu, 0, 0, *[0] * 10) + body


def ifa_msg(mtype: int, addrs: int, body: bytes, index: int, flags: int = 0) -> bytes:
    return struct.pack("=HBBiiH2xi", 20 + len(body), 5, mtype, addrs, flags, index, 0) + body


def if_msg(index: int, flags: int, mtu: int, body: bytes, addrs: int = RTA_IFP) -> bytes:
    if_data = struct.pack("=8B16Iii4I", 0xFF, 0, 0, 0, 0, 0, 0, 0, mtu, *[0] * 15, 0, 0, 0, 0, 0, 0)
    assert len(if_data) == 96
    return struct.pack("=HBBiiH2x", 112 + len(body), 5, 0xE, addrs, flags, index) + if_data + body


def test_rtm_add_default_route_with_zero_length_netmask():
    body = addresses(sin("0.0.0.0"), sin("192.168.1.1"), b"", sdl(4, "en0"), sin("192.168.1.20"))
    buffer = rt_msg(0x1, RTA_DST | RTA_GATEWAY | RTA_NETMASK | RTA_IFP | RTA_IFA, body, index=4,
                    flags=RTF_UP | RTF_GATEWAY | RTF_STATIC, pid=312, seq=7, mtu=1500)
    result = parse_route_messages(buffer)
    assert result.problems == ()
    message, = result.messages
    assert (message.type_name, message.index, message.flags, message.pid, message.seq, message.mtu) == (
        "RTM_ADD", 4, RTF_UP | RTF_GATEWAY | RTF_STATIC, 312, 7, 1500)
    assert message.addrs == {"dst": "0.0.0.0", "gateway": "192.168.1.1", "netmask": "0.0.0.0", "ifp": "en0",
                             "ifa": "192.168.1.20"}
    assert message.interface == "en0" and message.problems == ()


def test_rtm_delete_trimmed_netmask_read_with_the_destination_family_and_link_gateway():
    body = addresses(sin("10.0.0.0"), sdl(18), trimmed_mask(b"\xff", 4))  # 255.0.0.0, sa_len 5, family 0
    message, = parse_route_messages(rt_msg(0x2, RTA_DST | RTA_GATEWAY | RTA_NETMASK, body, index=18)).messages
    assert message.addrs == {"dst": "10.0.0.0", "gateway": "link#18", "netmask": "255.0.0.0"}
    ether = addresses(sin("192.168.1.7"), sdl(4, "", bytes.fromhex("0090a9ede435")))
    arp, = parse_route_messages(rt_msg(0x1, RTA_DST | RTA_GATEWAY, ether)).messages
    assert arp.addrs["gateway"] == "00:90:a9:ed:e4:35"


def test_rtm_newaddr_ipv6_link_local_kame_scope_and_mask_hint_from_ifa():
    # NEWADDR carries NETMASK before IFA: the mask's family can only come from the IFA after it
    mask = trimmed_mask(b"\xff" * 8, 8)  # /64, sa_len 16, family 0
    body = addresses(mask, sdl(18, "utun3"), sin6("fe80::1", embedded_scope=18))
    message, = parse_route_messages(ifa_msg(0xC, RTA_NETMASK | RTA_IFP | RTA_IFA, body, index=18)).messages
    assert message.type_name == "RTM_NEWADDR" and message.index == 18 and message.pid is None
    assert message.addrs == {"netmask": "ffff:ffff:ffff:ffff::", "ifp": "utun3", "ifa": "fe80::1%18"}
    scoped = addresses(sin6("fe80::2", scope_id=7))
    deladdr, = parse_route_messages(ifa_msg(0xD, RTA_IFA, scoped, index=7)).messages
    assert deladdr.addrs == {"ifa": "fe80::2%7"} and deladdr.type_name == "RTM_DELADDR"


def test_rtm_ifinfo_flags_and_mtu():
    message, = parse_route_messages(if_msg(20, IFF_UP | IFF_RUNNING | 0x8000, 1280, sdl(20, "utun3"))).messages
    assert (message.type_name, message.index, message.mtu, message.interface) == ("RTM_IFINFO", 20, 1280, "utun3")
    assert message.flags & IFF_UP and message.flags & IFF_RUNNING
    down, = parse_route_messages(if_msg(20, 0x8000, 1280, b"", addrs=0)).messages
    assert not down.flags & IFF_UP and down.addrs == {}


def test_several_messages_and_padded_or_unpadded_last_address():
    first = rt_msg(0x1, RTA_DST | RTA_GATEWAY, addresses(sin("203.0.113.0"), sin("10.0.0.1"), pad_last=True), seq=1)
    second = if_msg(5, IFF_UP, 1500, sdl(5, "en1"))
    third = rt_msg(0x2, RTA_DST, addresses(sin6("2001:db8::", scope_id=0)), seq=3)
    result = parse_route_messages(first + second + third)
    assert [m.type_name for m in result.messages] == ["RTM_ADD", "RTM_IFINFO", "RTM_DELETE"]
    assert result.messages[2].addrs == {"dst": "2001:db8::"} and result.problems == ()


def test_zero_length_sockaddrs_take_four_bytes():
    body = addresses(sin("198.51.100.0"), b"", trimmed_mask(b"\xff\xff\xff", 4), b"", sdl(9, "en9"))
    message, = parse_route_messages(rt_msg(0x1, RTA_DST | RTA_GATEWAY | RTA_NETMASK | RTA_GENMASK | RTA_IFP,
                                           body)).messages
    assert message.addrs == {"dst": "198.51.100.0", "netmask": "255.255.255.0", "genmask": "0.0.0.0", "ifp": "en9"}
    assert message.problems == ()


def test_header_cut_short_is_a_problem_not_an_exception():
    full = rt_msg(0x1, RTA_DST, addresses(sin("192.0.2.1")))
    for cut in (1, 3, 4, 50, 91):
        result = parse_route_messages(full[:cut])
        assert isinstance(result, RouteMessages)
        if cut < 4:
            assert result.messages == () and "trailing bytes" in result.problems[0]
        else:
            message, = result.messages
            assert message.type_name == "RTM_ADD" and message.addrs == {}
            assert any("header cut" in p for p in message.problems) and any("truncated" in p for p in message.problems)


def test_msglen_larger_than_the_buffer_keeps_the_whole_addresses():
    body = addresses(sin("192.0.2.0"), sin("192.0.2.1"), trimmed_mask(b"\xff\xff\xff", 4))
    buffer = rt_msg(0x1, RTA_DST | RTA_GATEWAY | RTA_NETMASK, body, msglen=92 + len(body) + 40)
    message, = parse_route_messages(buffer[:92 + 16 + 10]).messages  # the gateway cut mid-way
    assert message.addrs == {"dst": "192.0.2.0"}
    assert any("gateway: sockaddr of 16 bytes cut at 10" in p for p in message.problems)
    assert any(f"truncated: rtm_msglen {92 + len(body) + 40}, 118 bytes" in p for p in message.problems)


def test_unknown_family_type_and_version():
    odd = bytes([8, 99]) + b"\x01" * 6  # a family this parser does not know
    message, = parse_route_messages(rt_msg(0x1, RTA_DST | RTA_GATEWAY, addresses(odd, sin("10.1.1.1")))).messages
    assert message.addrs == {"gateway": "10.1.1.1"}
    assert message.problems == ("dst: address family 99 (8 bytes) not decoded",)
    unknown = struct.pack("=HBB", 8, 5, 0x42) + b"\0" * 4
    wrong_version = rt_msg(0x1, 0, b"", version=4)
    result = parse_route_messages(unknown + wrong_version + if_msg(3, IFF_UP, 9000, b"", addrs=0))
    assert [m.type_name for m in result.messages] == ["RTM_0x42", "RTM_IFINFO"]
    assert result.messages[0].problems == ("RTM_0x42: layout not parsed",) and result.messages[1].mtu == 9000
    assert result.problems == ("offset 8: version 4, not 5: message skipped",)


def test_a_length_below_the_header_stops_instead_of_looping():
    result = parse_route_messages(struct.pack("=HBB", 2, 5, 1) + b"\0" * 200)
    assert result.messages == () and "message length 2" in result.problems[0]
    assert parse_route_messages(b"") == RouteMessages((), ())
    assert parse_route_messages(bytearray(if_msg(1, 0, 16384, b"", addrs=0))).messages[0].mtu == 16384
    assert parse_route_messages(memoryview(if_msg(1, 0, 16384, b"", addrs=0))).messages[0].index == 1


VALID = [rt_msg(0x1, RTA_DST | RTA_GATEWAY | RTA_NETMASK | RTA_IFP,
                addresses(sin("10.0.0.0"), sin("10.0.0.1"), trimmed_mask(b"\xff", 4), sdl(3, "utun2"))),
         ifa_msg(0xC, RTA_NETMASK | RTA_IFA, addresses(trimmed_mask(b"\xff" * 8, 8), sin6("fe80::5", 4)), index=4),
         if_msg(6, IFF_UP, 1500, sdl(6, "en0"))]


@given(st.binary(max_size=600))
def test_route_messages_never_raise_on_arbitrary_bytes(data):
    result = parse_route_messages(data)
    assert isinstance(result, RouteMessages)
    assert all(isinstance(v, str) for m in result.messages for v in m.addrs.values())


@given(st.lists(st.sampled_from(VALID), min_size=1, max_size=4), st.integers(0, 2000),
       st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=6))
def test_route_messages_never_raise_on_cut_or_flipped_buffers(parts, cut, flips):
    data = bytearray(b"".join(parts))
    for position, value in flips:
        if position < len(data):
            data[position] = value
    result = parse_route_messages(bytes(data[:cut]))
    assert isinstance(result, RouteMessages)


def xucred(version=0, uid=501, groups=(20, 12, 61), ngroups=None) -> bytes:
    padded = list(groups) + [0] * (16 - len(groups))
    return struct.pack("=IIh2x16I", version, uid, len(groups) if ngroups is None else ngroups, *padded)


def test_xucred_layout_and_values():
    assert (peercred.SOL_LOCAL, peercred.LOCAL_PEERCRED, peercred.LOCAL_PEERPID) == (0, 1, 2)
    assert peercred.XUCRED_SIZE == 76
    assert peercred.parse_xucred(xucred()) == peercred.PeerCred(501, 20, (20, 12, 61))
    assert peercred.parse_xucred(xucred(uid=0, groups=(0,))) == peercred.PeerCred(0, 0, (0,))
    sixteen = tuple(range(100, 116))
    assert peercred.parse_xucred(xucred(groups=sixteen)).groups == sixteen
    assert peercred.parse_xucred(bytearray(xucred()) + b"\0\0\0\0").uid == 501  # a larger buffer: the struct first


def test_xucred_refused_when_it_cannot_be_trusted():
    assert peercred.parse_xucred(xucred(version=1)) is None
    assert peercred.parse_xucred(xucred()[:75]) is None and peercred.parse_xucred(b"") is None
    for ngroups in (0, 17, -1):
        assert peercred.parse_xucred(xucred(ngroups=ngroups)) is None


def test_peer_pid():
    assert peercred.parse_peer_pid(struct.pack("=i", 4242)) == 4242
    assert peercred.parse_peer_pid(struct.pack("=i", 0)) is None and peercred.parse_peer_pid(struct.pack("=i", -5)) is None
    assert peercred.parse_peer_pid(b"\1\0\0") is None and peercred.parse_peer_pid(b"\1\0\0\0\0") is None


@given(st.binary(max_size=120))
def test_peer_parsers_never_raise(data):
    cred = peercred.parse_xucred(data)
    assert cred is None or 1 <= len(cred.groups) <= 16
    peercred.parse_peer_pid(data)
