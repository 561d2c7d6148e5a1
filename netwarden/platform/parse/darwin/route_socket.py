"""PF_ROUTE messages as macOS delivers them on socket(AF_ROUTE, SOCK_RAW, 0): the daemon's source
of route and interface changes there (Linux has netlink).

Layouts and constants from XNU (apple-oss-distributions/xnu, tag xnu-11417.101.15):
- bsd/net/route.h: struct rt_msghdr (u_short msglen; u_char version, type; u_short index;
  [2 bytes padding] int flags, addrs; pid_t pid; int seq, errno, use; u_int32_t inits; struct
  rt_metrics of 14 u_int32_t: locks, mtu, hopcount, expire, recvpipe, sendpipe, ssthresh, rtt,
  rttvar, pksent, filler[4]) = 92 bytes; RTM_VERSION 5; RTM_* types; RTA_* address bits.
- bsd/net/if.h: if_msghdr (msglen, version, type; int addrs, flags; u_short index; struct
  if_data at offset 16) = 112 bytes; ifa_msghdr (... u_short index; int metric) = 20 bytes;
  ifma_msghdr = 16 bytes. bsd/net/if_var.h: if_data (#pragma pack(4), timeval32) = 96 bytes,
  ifi_type at 0 and ifi_mtu at 8.
- bsd/net/if_dl.h: sockaddr_dl (len, family, u_short index, type, nlen, alen, slen, data: the
  interface name then the link-level address).
- bsd/net/rtsock.c rt_msg1(): the sockaddrs follow the header in RTA bit order, each advanced
  by ROUNDUP32(sa_len) - 4 bytes for a zero-length one -; rtm_msglen ends after the last one's
  own bytes. bsd/net/route.c rtm_scrub(): a netmask's sa_family is not to be trusted, its family
  is the destination's (or the interface address's); trailing zero bytes are trimmed.
- golang.org/x/net/route (zsys_darwin.go) agrees: sizeofRtMsghdrDarwin15 0x5c, if_msghdr 0x70,
  ifa_msghdr 0x14, ifma_msghdr 0x10, and 4-byte alignment of addresses on Darwin.
Fields are read in native byte order ("=": every Mac is little-endian; tests pack the same way).
A KAME-embedded IPv6 scope (link-local, bytes 2-3 of the address) is moved into the `%zone`.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

RTM_VERSION = 5
RTM_TYPES = {0x1: "RTM_ADD", 0x2: "RTM_DELETE", 0x3: "RTM_CHANGE", 0x4: "RTM_GET", 0x5: "RTM_LOSING",
             0x6: "RTM_REDIRECT", 0x7: "RTM_MISS", 0x8: "RTM_LOCK", 0x9: "RTM_OLDADD", 0xA: "RTM_OLDDEL",
             0xB: "RTM_RESOLVE", 0xC: "RTM_NEWADDR", 0xD: "RTM_DELADDR", 0xE: "RTM_IFINFO",
             0xF: "RTM_NEWMADDR", 0x10: "RTM_DELMADDR", 0x11: "RTM_GET_SILENT", 0x12: "RTM_IFINFO2",
             0x13: "RTM_NEWMADDR2", 0x14: "RTM_GET2", 0x15: "RTM_GET_EXT"}
RTA_ROLES = ("dst", "gateway", "netmask", "genmask", "ifp", "ifa", "author", "brd")  # bit i = 1 << i
RTF_UP, RTF_GATEWAY, RTF_HOST, RTF_STATIC, RTF_IFSCOPE = 0x1, 0x2, 0x4, 0x800, 0x1000000
IFF_UP, IFF_RUNNING = 0x1, 0x40
AF_UNSPEC, AF_INET, AF_LINK, AF_INET6 = 0, 2, 18, 30  # Darwin's numbers, not the host's

_COMMON = struct.Struct("=HBB")
_RT = struct.Struct("=HBBH2xiiiiiiI")  # rt_msghdr up to rtm_rmx (36 bytes)
_RT_METRICS = struct.Struct("=IIIi10I")  # locks, mtu, hopcount, expire, ... (56 bytes)
_IF = struct.Struct("=HBBiiH2x")  # if_msghdr and ifma_msghdr before if_data (16 bytes)
_IFA = struct.Struct("=HBBiiH2xi")  # ifa_msghdr (20 bytes)
IF_DATA_SIZE = 96
_HEADER_SIZE = {**dict.fromkeys((0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0x9, 0xA, 0xB, 0x11), 92),
                0xC: 20, 0xD: 20, 0xE: 112, 0xF: 16, 0x10: 16}


class RouteMessage(NamedTuple):
    type: int
    type_name: str  # RTM_ADD ...; "RTM_0x42" for a type this module does not know
    index: int | None  # the interface index the message is about
    flags: int  # rtm_flags (RTF_*), ifm_flags (IFF_*) or ifam_flags
    addrs: dict[str, str]  # role (dst, gateway, netmask, genmask, ifp, ifa, author, brd) -> address
    pid: int | None  # sender, for route messages
    seq: int | None
    errno: int | None
    mtu: int | None  # rmx_mtu of a route message, ifi_mtu of RTM_IFINFO
    problems: tuple[str, ...]  # what could not be read (truncation, an unknown family ...)

    @property
    def interface(self) -> str | None:
        """The interface name from RTA_IFP (a sockaddr_dl), when the kernel sent one."""
        return self.addrs.get("ifp")


class RouteMessages(NamedTuple):
    messages: tuple[RouteMessage, ...]
    problems: tuple[str, ...]  # about the buffer as a whole: a cut header, trailing bytes


def _roundup(length: int) -> int:
    return 4 if length == 0 else (length + 3) & ~3


def parse_route_messages(data: bytes) -> RouteMessages:
    """Every message in a buffer read from the routing socket, in order. A message cut short
    keeps its header and the addresses that were whole; nothing raises on garbage."""
    data = bytes(data)
    messages, problems, offset = [], [], 0
    while offset + _COMMON.size <= len(data):
        msglen, version, mtype = _COMMON.unpack_from(data, offset)
        if msglen < _COMMON.size:
            problems.append(f"offset {offset}: message length {msglen}: the rest ({len(data) - offset} bytes) skipped")
            return RouteMessages(tuple(messages), tuple(problems))
        body = data[offset:offset + msglen]
        if version != RTM_VERSION:
            problems.append(f"offset {offset}: version {version}, not {RTM_VERSION}: message skipped")
        else:
            message = _message(mtype, body)
            if len(body) < msglen:
                message = message._replace(problems=message.problems + (
                    f"truncated: rtm_msglen {msglen}, {len(body)} bytes in the buffer",))
            messages.append(message)
        offset += msglen
    if offset < len(data):
        problems.append(f"{len(data) - offset} trailing bytes, too few for a message header")
    return RouteMessages(tuple(messages), tuple(problems))


def _message(mtype: int, body: bytes) -> RouteMessage:
    name = RTM_TYPES.get(mtype, f"RTM_0x{mtype:02x}")
    size = _HEADER_SIZE.get(mtype)
    empty = RouteMessage(mtype, name, None, 0, {}, None, None, None, None, ())
    if size is None:
        return empty._replace(problems=(f"{name}: layout not parsed",))
    if len(body) < size:
        return empty._replace(problems=(f"{name}: header cut at {len(body)} of {size} bytes",))
    pid = seq = errno = mtu = None
    if size == 92:
        _, _, _, index, flags, addrs, pid, seq, errno, _, _ = _RT.unpack_from(body)
        mtu = _RT_METRICS.unpack_from(body, _RT.size)[1]
    elif mtype == 0xE:
        _, _, _, addrs, flags, index = _IF.unpack_from(body)
        mtu = struct.unpack_from("=I", body, _IF.size + 8)[0]
    elif size == 20:
        _, _, _, addrs, flags, index, _ = _IFA.unpack_from(body)
    else:
        _, _, _, addrs, flags, index = _IF.unpack_from(body)
    found, problems = _addresses(body, size, addrs)
    return RouteMessage(mtype, name, index, flags, found, pid, seq, errno, mtu, tuple(problems))


def _addresses(body: bytes, offset: int, addrs: int) -> tuple[dict[str, str], list[str]]:
    raw: dict[str, bytes] = {}
    problems: list[str] = []
    for bit, role in enumerate(RTA_ROLES):
        if not addrs & (1 << bit):
            continue
        if offset >= len(body):
            problems.append(f"{role}: missing, the message ends at {len(body)} bytes")
            break
        length = body[offset]
        if offset + length > len(body):
            problems.append(f"{role}: sockaddr of {length} bytes cut at {len(body) - offset}")
            break
        raw[role] = body[offset:offset + length]
        offset += _roundup(length)
    # a mask's family is its destination's, or the interface address's (after it, in NEWADDR)
    hint = next((sa[1] for sa in (raw.get("dst", b""), raw.get("ifa", b"")) if len(sa) > 1 and sa[1]), AF_UNSPEC)
    found: dict[str, str] = {}
    for role, sa in raw.items():
        if role in ("netmask", "genmask"):
            found[role] = _mask(sa, hint)
        elif sa:
            text = _sockaddr(sa)
            if text is None:
                problems.append(f"{role}: address family {sa[1] if len(sa) > 1 else AF_UNSPEC} "
                                f"({len(sa)} bytes) not decoded")
            else:
                found[role] = text
    return found, problems


def _mask(sa: bytes, hint: int) -> str:
    """A netmask sockaddr, trimmed of trailing zeros: the mask bytes start at sin_addr (4) or
    sin6_addr (8); with no usable hint, its length decides as golang.org/x/net/route does."""
    if hint == AF_INET6 or (hint != AF_INET and len(sa) == 28):
        return socket.inet_ntop(socket.AF_INET6, sa[8:24].ljust(16, b"\0"))
    return socket.inet_ntop(socket.AF_INET, sa[4:8].ljust(4, b"\0"))


def _sockaddr(sa: bytes) -> str | None:
    family = sa[1] if len(sa) > 1 else AF_UNSPEC
    if family == AF_INET and len(sa) >= 8:
        return socket.inet_ntop(socket.AF_INET, sa[4:8])
    if family == AF_INET6 and len(sa) >= 24:
        address = bytearray(sa[8:24])
        scope = struct.unpack_from("=I", sa, 24)[0] if len(sa) >= 28 else 0
        # KAME: the kernel keeps a link-local (fe80::/10, ff02::/16, ff01::/16) address's zone in bytes 2-3
        if (address[0] == 0xFE and address[1] & 0xC0 == 0x80) or (address[0] == 0xFF and address[1] & 0x0F in (1, 2)):
            scope = scope or int.from_bytes(address[2:4], "big")
            address[2:4] = b"\0\0"
        text = socket.inet_ntop(socket.AF_INET6, bytes(address))
        return f"{text}%{scope}" if scope else text
    if family == AF_LINK and len(sa) >= 8:
        index, _, nlen, alen = struct.unpack_from("=HBBB", sa, 2)
        data = sa[8:]
        if nlen and nlen <= len(data):
            return data[:nlen].decode("ascii", "replace")
        if alen and nlen + alen <= len(data):
            return ":".join(f"{b:02x}" for b in data[nlen:nlen + alen])
        return f"link#{index}"
    return None
