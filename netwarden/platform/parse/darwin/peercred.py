"""The control socket's peer on macOS: getsockopt(SOL_LOCAL, LOCAL_PEERCRED) fills a struct xucred
(Linux has SO_PEERCRED and struct ucred instead), getsockopt(SOL_LOCAL, LOCAL_PEERPID) a pid_t.

From XNU (apple-oss-distributions/xnu, tag xnu-11417.101.15):
- bsd/sys/un.h: SOL_LOCAL 0, LOCAL_PEERCRED 0x001, LOCAL_PEERPID 0x002.
- bsd/sys/ucred.h: struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups;
  gid_t cr_groups[NGROUPS]; } with XUCRED_VERSION 0 and cr_gid = cr_groups[0];
  bsd/sys/param.h + syslimits.h: NGROUPS = NGROUPS_MAX = 16. With the 2 bytes of padding after
  the short that is 4 + 4 + 2 + 2 + 16 * 4 = 76 bytes.
Read in native byte order, as the kernel wrote it.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

SOL_LOCAL = 0
LOCAL_PEERCRED = 0x001
LOCAL_PEERPID = 0x002
XUCRED_VERSION = 0
NGROUPS = 16
_XUCRED = struct.Struct(f"=IIh2x{NGROUPS}I")
XUCRED_SIZE = _XUCRED.size  # the buffer length to ask getsockopt for
_PID = struct.Struct("=i")


class PeerCred(NamedTuple):
    uid: int  # effective uid
    gid: int  # cr_groups[0], the effective gid
    groups: tuple[int, ...]  # the cr_ngroups groups, gid first


def parse_xucred(data: bytes) -> PeerCred | None:
    """None for a buffer shorter than struct xucred, another cr_version, or a group count outside
    1..NGROUPS: credentials that cannot be read are not credentials to trust."""
    if len(data) < XUCRED_SIZE:
        return None
    version, uid, ngroups, *groups = _XUCRED.unpack_from(bytes(data))
    if version != XUCRED_VERSION or not 1 <= ngroups <= NGROUPS:
        return None
    return PeerCred(uid, groups[0], tuple(groups[:ngroups]))


def parse_peer_pid(data: bytes) -> int | None:
    """LOCAL_PEERPID's pid_t; None unless it is a whole, positive pid."""
    if len(data) != _PID.size:
        return None
    pid = _PID.unpack(bytes(data))[0]
    return pid if pid > 0 else None
