"""`ip route save`'s output: a 4-byte magic, then the kernel's RTM_NEWROUTE netlink messages as
they were dumped (rtnetlink(7)), which `ip route restore` sends back. netwarden keeps one such
message per route it deletes, so `--revert` puts back every attribute (protocol, preferred
source, metrics such as mtu, scope...), not only what `ip route add` is told.

Pure: bytes in, a typed value out; anything that is not exactly one route message says why.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

MAGIC = struct.pack("=I", 0x45311224)  # iproute2's route_dump_magic, host byte order
RTM_NEWROUTE = 24
RTA_DST, RTA_OIF, RTA_PRIORITY, RTA_MULTIPATH, RTA_TABLE = 1, 4, 6, 9, 15
RT_TABLE_MAIN = 254
NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
ATTR = struct.Struct("=HH")  # len, type
# What the kernel reports about a next hop rather than what was configured; IPv4 refuses a route
# that carries DEAD or LINKDOWN ("Invalid rtm_flags"), so they are cleared before a restore.
STATE_FLAGS = 0x1 | 0x8 | 0x10 | 0x40 | 0x4000 | 0x8000 | 0x20000000  # DEAD OFFLOAD LINKDOWN TRAP, RTM_F_OFFLOAD TRAP FAILED
FAMILIES = {socket.AF_INET: 4, socket.AF_INET6: 6}


class RouteMessage(NamedTuple):
    family: int  # 4 or 6
    dst: str  # "198.19.1.0/24", "default"
    table: int
    oif: int | None  # the interface index it was dumped with
    metric: int
    multipath: bool
    oif_at: int | None  # offset of RTA_OIF's value in the dump (to point it at the interface's index now)
    flags_at: int  # offset of rtm_flags


def _align(n: int) -> int:
    return (n + 3) & ~3


def route_message(dump: bytes) -> RouteMessage | str:
    """The one route in an `ip route save` dump, or why it is not exactly one route message."""
    if not isinstance(dump, bytes) or dump[:4] != MAGIC:
        return "not an `ip route save` dump"
    if len(dump) < 4 + NLMSG.size + RTMSG.size:
        return "no route in it" if len(dump) == 4 else "truncated"
    length, kind, _, _, _ = NLMSG.unpack_from(dump, 4)
    if kind != RTM_NEWROUTE:
        return f"a netlink message of type {kind}, not a route"
    if length != len(dump) - 4:
        return "more than one message" if length < len(dump) - 4 and length >= NLMSG.size + RTMSG.size else "truncated"
    family, dst_len, _, _, table, _, _, _, _ = RTMSG.unpack_from(dump, 4 + NLMSG.size)
    if family not in FAMILIES:
        return f"address family {family}"
    attrs, at = {}, 4 + NLMSG.size + RTMSG.size
    while at + ATTR.size <= len(dump):
        size, kind = ATTR.unpack_from(dump, at)
        if size < ATTR.size or at + size > len(dump):
            return "truncated"
        attrs.setdefault(kind & 0x3FFF, (at + ATTR.size, dump[at + ATTR.size:at + size]))
        at += _align(size)
    if at < len(dump):
        return "truncated"
    width = 4 if family == socket.AF_INET else 16
    raw_dst = attrs.get(RTA_DST, (0, b"\0" * width))[1]
    if len(raw_dst) != width or dst_len > width * 8:
        return "a destination of the wrong size"
    dst = "default" if dst_len == 0 else f"{socket.inet_ntop(family, raw_dst)}/{dst_len}"
    numbers = {}
    for kind in (RTA_OIF, RTA_PRIORITY, RTA_TABLE):
        if kind in attrs:
            if len(attrs[kind][1]) != 4:
                return "an attribute of the wrong size"
            numbers[kind] = struct.unpack("=I", attrs[kind][1])[0]
    return RouteMessage(FAMILIES[family], dst, numbers.get(RTA_TABLE, table), numbers.get(RTA_OIF),
                        numbers.get(RTA_PRIORITY, 0), RTA_MULTIPATH in attrs,
                        attrs[RTA_OIF][0] if RTA_OIF in attrs else None, 4 + NLMSG.size + 8)


def for_restore(dump: bytes, message: RouteMessage, ifindex: int) -> bytes:
    """The dump as `ip route restore` should send it: through the interface's index now (a tunnel
    made again has a new one), without the flags that report the next hop's state."""
    data = bytearray(dump)
    flags = struct.unpack_from("=I", data, message.flags_at)[0]
    struct.pack_into("=I", data, message.flags_at, flags & ~STATE_FLAGS)
    if message.oif_at is not None:
        struct.pack_into("=I", data, message.oif_at, ifindex)
    return bytes(data)
