"""`ipconfig /all`: the global section and one block per adapter.

Every label is localized (`DNS Servers` / `DNS 服务器`, `Default Gateway` / `默认网关`), so fields are
found by structure, not by label text:
- a field is an indented `label . . . : value` line (the leader), its continuation lines are the
  deeper-indented lines after it without a leader (more DNS servers, gateways, suffixes);
- acronyms survive translation and are used: `DNS`, `DHCP`, `IPv4`, `IPv6`;
- ipconfig prints a block's fields in a fixed order: [Media State,] Connection-specific DNS
  Suffix, Description, Physical Address, DHCP Enabled, Autoconfiguration Enabled, addresses and
  masks, [lease times,] Default Gateway, then DHCP/DNS fields. So the description is the field
  after the first DNS-labelled one, the physical address the next, DHCP Enabled the next, a field
  before the connection-specific suffix can only be Media State (printed only when the media is
  disconnected), and the gateway is the field just before the first DHCP/DNS field that follows
  the addresses;
- the DNS servers are the DNS-labelled field whose values are addresses.
The one field read from a word is DHCP Enabled's yes/no (see _YES / _NO)."""

from __future__ import annotations

import re
from typing import NamedTuple

from netwarden.platform.parse.windows._text import (address_token, is_elision, is_prompt, leader, lines,
                                                     without_placeholders)
from netwarden.platform.parse.windows.route import mask_length

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5,7}$")  # 6 bytes; tunnels print 8
# The type words before an adapter's name: "Ethernet adapter Wi-Fi", "Ethernet-Adapter Wi-Fi",
# "以太网适配器 以太网". Other languages keep the whole header as the name.
_ADAPTER_WORD = re.compile(r"^.*?(?:\badapter|适配器)\s+(?P<name>\S.*)$", re.IGNORECASE)
# DHCP Enabled's value: English and Chinese as captured; German, French, Spanish not seen in a
# capture (their plain yes/no). Anything else leaves dhcp_enabled None.
_YES = {"yes", "是", "ja", "oui", "sí", "si"}
_NO = {"no", "否", "nein", "non"}


class Adapter(NamedTuple):
    header: str  # the block's first line without its colon, e.g. "Ethernet adapter Ethernet 2"
    name: str  # the interface name when the header's type words are known, else the header
    description: str | None
    physical_address: str | None  # "F8-E4-3B-AD-F2-6D"; None for tunnels without one
    dhcp_enabled: bool | None
    media_disconnected: bool
    dns_suffix: str | None  # connection-specific
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]  # zone kept on link-local ones (fe80::…%16)
    gateways: tuple[str, ...]
    dns_servers: tuple[str, ...]  # as printed, placeholders included

    @property
    def real_dns_servers(self) -> tuple[str, ...]:
        """Without the fec0:0:0:ffff::N placeholders Windows lists when nothing is configured."""
        return without_placeholders(self.dns_servers)

    @property
    def only_placeholder_dns(self) -> bool:
        """DNS servers listed, and every one is a placeholder: the adapter has no real resolver."""
        return bool(self.dns_servers) and not self.real_dns_servers


class IpConfig(NamedTuple):
    host_name: str | None
    primary_dns_suffix: str | None
    dns_search_list: tuple[str, ...]
    adapters: tuple[Adapter, ...]
    problems: tuple[str, ...]


class _Field(NamedTuple):
    label: str
    values: list  # the value on the leader line, then each continuation line's


def _sections(text: str, problems: list[str]):
    """[(header or None for the global section, [fields])], in order."""
    sections: list[tuple[str | None, list[_Field]]] = [(None, [])]
    field: _Field | None = None
    for number, line in enumerate(lines(text), start=1):
        if not line.strip() or is_prompt(line):
            continue
        if is_elision(line):
            problems.append(f"line {number}: output left out ({line.strip()!r})")
            field = None
        elif not line[0].isspace():
            if line.endswith(":"):
                sections.append((line[:-1].rstrip(), []))
            field = None  # a title such as "Windows IP Configuration" / "Windows IP 配置"
        elif found := leader(line):
            field = _Field(found[0], [found[1]] if found[1] else [])
            sections[-1][1].append(field)
        elif field is not None:
            field.values.append(line.strip())
    return sections


def _has(field: _Field, *acronyms: str) -> bool:
    label = field.label.upper()
    return any(acronym in label for acronym in acronyms)


def _first(field: _Field | None) -> str | None:
    return field.values[0] if field and field.values else None


def _at(fields: list[_Field], index: int | None) -> _Field | None:
    return fields[index] if index is not None and 0 <= index < len(fields) else None


def _adapter(header: str, fields: list[_Field], problems: list[str]) -> Adapter:
    suffix_at = next((i for i, f in enumerate(fields) if _has(f, "DNS")), None)

    def after(n: int) -> _Field | None:  # the n-th field after the connection-specific DNS suffix
        return None if suffix_at is None else _at(fields, suffix_at + n)

    mac = _first(after(2))
    yes_no = (_first(after(3)) or "").strip().casefold()
    ipv4, ipv6, last_address = [], [], None
    for i, field in enumerate(fields):
        if _has(field, "DNS", "DHCP", "WINS") or not (_has(field, "IPV4", "IPV6") or "(" in (_first(field) or "")):
            continue
        addresses = [a for a in map(address_token, field.values) if a]
        if not addresses and _has(field, "IPV4", "IPV6") and field.values:
            problems.append(f"{header}: {field.label}: not an address: {field.values[0][:60]!r}")
        for address in addresses:
            (ipv6 if ":" in address else ipv4).append(address)
        last_address = i if addresses else last_address
    type_words = _ADAPTER_WORD.match(header)
    return Adapter(
        header=header,
        name=type_words.group("name") if type_words else header,
        description=_first(after(1)),
        physical_address=mac.upper() if mac and _MAC.match(mac) else None,
        dhcp_enabled=True if yes_no in _YES else False if yes_no in _NO else None,
        media_disconnected=bool(suffix_at),
        dns_suffix=_first(_at(fields, suffix_at)),
        ipv4=tuple(ipv4),
        ipv6=tuple(ipv6),
        gateways=_gateways(fields, last_address),
        dns_servers=next((tuple(a for a in map(address_token, f.values) if a) for f in fields
                          if _has(f, "DNS") and address_token(_first(f))), ()),
    )


def _gateways(fields: list[_Field], last_address: int | None) -> tuple[str, ...]:
    """The field before the first DHCP/DNS field after the addresses (and the IPv4 mask after
    them), when its values are addresses; () when there is no such field (a date there means the
    gateway line is absent; the mask is never taken for a gateway)."""
    if last_address is None:
        return ()
    start = last_address + 1
    mask = _at(fields, start)
    if mask and mask.values and all(mask_length(value) not in (None, 0) for value in mask.values):
        start += 1
    following = next((i for i in range(start, len(fields)) if _has(fields[i], "DHCP", "DNS")), None)
    if following is None or following == start:
        return ()
    found = [address_token(value) for value in fields[following - 1].values]
    return tuple(found) if all(found) else ()


def parse_ipconfig(text: str) -> IpConfig | None:
    """None when the text has neither a global field nor an adapter block."""
    problems: list[str] = []
    sections = _sections(text, problems)
    global_fields = sections[0][1]
    if not global_fields and len(sections) == 1:
        return None
    dns_fields = [f for f in global_fields if _has(f, "DNS")]
    return IpConfig(
        host_name=_first(_at(global_fields, 0)),
        primary_dns_suffix=_first(_at(dns_fields, 0)),
        dns_search_list=tuple(v for f in dns_fields[1:] for v in f.values),
        adapters=tuple(_adapter(header, fields, problems) for header, fields in sections[1:] if header),
        problems=tuple(problems),
    )
