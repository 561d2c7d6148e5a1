"""macOS `ifconfig` in its forms: the full listing (`ifconfig`, `ifconfig -a`), verbose (`-v`,
`-vr utunN`), one interface (`ifconfig utun3`), and the names only (`ifconfig -l`).

A block starts with `name: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> mtu 1380` (with `-v`
also `index 18`) at the start of a line; its lines follow indented by a tab (pastes show spaces)
and often end in a space. Point-to-point IPv4 reads `inet A --> B netmask 0xffffff00`; IPv6
`inet6 fe80::1%utun0 prefixlen 64 [flags] scopeid 0x12`. Lines this parser has no use for
(options, nd6, eflags, `agent domain:...`, bridge members, scheduler...) are skipped, and a
block cut short keeps what it had.
"""

from __future__ import annotations

import re
import socket
from typing import NamedTuple

from netwarden.platform.parse.numbers import as_int

_HEADER = re.compile(r"([A-Za-z][A-Za-z0-9_.-]{0,15}):\s+flags=([0-9A-Fa-f]{1,8})?(?:<([^>]*)>?)?(.*)")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,15}")  # IFNAMSIZ is 16 with the NUL
_HEX = re.compile(r"0x[0-9A-Fa-f]{1,8}")


class Inet(NamedTuple):
    address: str
    prefixlen: int | None  # from the netmask; None when absent or not contiguous
    netmask: str | None  # dotted, from ifconfig's hex
    peer: str | None  # the point-to-point destination after `-->`
    broadcast: str | None


class Inet6(NamedTuple):
    address: str  # without the %zone
    prefixlen: int | None
    zone: str | None  # the %zone ifconfig prints with link-local addresses
    scopeid: int | None
    flags: tuple[str, ...]  # autoconf, temporary, secured, deprecated, dynamic, ...

    @property
    def link_local(self) -> bool:
        """fe80::/10; an address that does not parse (a redaction) is not link-local."""
        bits = _v6_int(self.address)
        return bits is not None and bits >> 118 == 0x3FA


class Interface(NamedTuple):
    name: str
    flags: frozenset[str]
    flags_hex: int | None
    mtu: int | None
    index: int | None  # printed by -v only
    ether: str | None
    inet: tuple[Inet, ...]
    inet6: tuple[Inet6, ...]
    status: str | None  # "active" / "inactive" where printed
    media: str | None
    agents: tuple[str, ...]  # `agent domain:ids501 type:transport ...` lines (-v), as printed

    @property
    def up(self) -> bool:
        return "UP" in self.flags

    @property
    def is_utun(self) -> bool:
        return self.name.startswith("utun") and as_int(self.name[4:]) is not None


def _v6_int(address: str) -> int | None:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, address), "big")
    except (OSError, ValueError):
        return None


def mask_from_hex(text: str) -> tuple[str | None, int | None]:
    """`0xffffff00` (or a dotted mask) -> ('255.255.255.0', 24); prefixlen None if not contiguous."""
    if _HEX.fullmatch(text):
        value = int(text, 16)
    else:
        try:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
        except (OSError, ValueError):
            return None, None
    ones = bin(value).count("1")
    contiguous = value == (0xFFFFFFFF << (32 - ones)) & 0xFFFFFFFF
    return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big")), ones if contiguous else None


def _after(words: list[str], key: str) -> str | None:
    """The word after `key` in words, if any."""
    try:
        return words[words.index(key) + 1]
    except (ValueError, IndexError):
        return None


def _inet(words: list[str]) -> Inet | None:
    if len(words) < 2:
        return None
    mask = _after(words, "netmask")
    netmask, prefixlen = mask_from_hex(mask) if mask else (None, None)
    return Inet(words[1], prefixlen, netmask, _after(words, "-->"), _after(words, "broadcast"))


def _inet6(words: list[str]) -> Inet6 | None:
    if len(words) < 2:
        return None
    address, _, zone = words[1].partition("%")
    scopeid = _after(words, "scopeid")
    known = {"prefixlen", "scopeid", "-->"}
    flags, skip = [], False
    for word in words[2:]:
        if skip:
            skip = False
        elif word in known:
            skip = True
        else:
            flags.append(word)
    return Inet6(address, as_int(_after(words, "prefixlen")), zone or None, as_int(scopeid, 16), tuple(flags))


def parse_ifconfig(text: str) -> list[Interface]:
    """Every interface block, in the order printed."""
    interfaces: list[Interface] = []
    current: dict | None = None

    def close() -> None:
        if current is not None:
            interfaces.append(Interface(**{k: tuple(v) if isinstance(v, list) else v for k, v in current.items()}))

    for raw in text.splitlines():
        header = None if raw[:1].isspace() else _HEADER.fullmatch(raw.rstrip())
        if header:
            close()
            rest = header.group(4).split()
            current = dict(name=header.group(1), flags=frozenset(w for w in (header.group(3) or "").split(",") if w),
                           flags_hex=as_int(header.group(2), 16), mtu=as_int(_after(rest, "mtu")),
                           index=as_int(_after(rest, "index")), ether=None, inet=[], inet6=[], status=None,
                           media=None, agents=[])
            continue
        words = raw.split()
        if current is None or not words:
            continue
        key = words[0]
        if key == "inet":
            entry = _inet(words)
            if entry:
                current["inet"].append(entry)
        elif key == "inet6":
            entry6 = _inet6(words)
            if entry6:
                current["inet6"].append(entry6)
        elif key == "ether" and len(words) > 1:
            current["ether"] = words[1]
        elif key == "status:" and len(words) > 1:
            current["status"] = words[1]
        elif key == "media:":
            current["media"] = " ".join(words[1:]) or None
        elif key == "agent":
            current["agents"].append(" ".join(words[1:]))
    close()
    return interfaces


def parse_ifconfig_list(text: str) -> list[str]:
    """`ifconfig -l`: the names on its one line (attach order, not sorted); junk words dropped."""
    return [word for word in text.split() if _NAME.fullmatch(word)]
