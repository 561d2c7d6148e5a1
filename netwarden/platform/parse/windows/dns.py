"""Per-interface DNS servers from `netsh int ipv4|ipv6 show dnsservers`, `netsh interface ip show
config` and PowerShell's `Get-DnsClientServerAddress` table.

netsh blocks are read by structure: a line at the left margin naming the interface in quotes
(`Configuration for interface "Wi-Fi"`, `Configuración para la interfaz "Ethernet"`), indented
`label: value` lines, and continuation lines holding one address each. The DNS line is the first
label with the acronym `DNS` in it (no language spells it otherwise: `Servidores DNS`,
`DNS 服务器`); `DHCP` in that label means the servers came from DHCP, its absence means they are
static (netsh prints exactly these two variants). Words such as `None` / `Ninguno` are never
read: a value that is not an address is no server."""

from __future__ import annotations

import re
from typing import NamedTuple

from netwarden.platform.parse.windows._text import (address_token, is_elision, is_ip_address, is_prompt, leader, lines,
                                                     without_placeholders)

_QUOTED = re.compile(r'"([^"]*)"')
_FAMILY = re.compile(r"IPv4|IPv6|[0-9]{1,5}")
_INDEX = re.compile(r"[0-9]{1,10}")
_CUT = ("...", "…")  # PowerShell's marks for a cell cut at the console width


class InterfaceDns(NamedTuple):
    name: str | None  # None for a block whose `Configuration for interface` line is missing
    servers: tuple[str, ...]  # as printed, zone kept (`fec0:0:0:ffff::1%1`)
    source: str  # "dhcp", "static", or "unknown" for a block without a DNS line

    @property
    def real_servers(self) -> tuple[str, ...]:
        """Without Windows' fec0:0:0:ffff::N placeholders, which mean "no resolver configured"."""
        return without_placeholders(self.servers)


class NetshDns(NamedTuple):
    interfaces: tuple[InterfaceDns, ...]
    problems: tuple[str, ...]


class DnsClientServerAddress(NamedTuple):
    interface_alias: str
    interface_index: int
    family: str  # "IPv4" / "IPv6" (PowerShell's enum names, never localized) or the number
    servers: tuple[str, ...]

    @property
    def real_servers(self) -> tuple[str, ...]:
        return without_placeholders(self.servers)


class DnsClientServerAddresses(NamedTuple):
    rows: tuple[DnsClientServerAddress, ...]
    problems: tuple[str, ...]


class _Block:
    def __init__(self, name: str | None):
        self.name, self.servers, self.source, self.in_dns = name, [], "unknown", False

    def result(self) -> InterfaceDns:
        return InterfaceDns(self.name, tuple(self.servers), self.source)


def parse_netsh_dns(text: str) -> NetshDns | None:
    """Every interface block of `show dnsservers` or `show config`, in order. A block cut loose
    from its header (seen in a paste) is kept with name None and reported. None when no block was
    found."""
    blocks: list[_Block] = []
    problems: list[str] = []
    current: _Block | None = None
    for number, line in enumerate(lines(text), start=1):
        if not line.strip() or is_prompt(line):
            current = None  # netsh prints a block without blank lines; a prompt ends its output
            continue
        if is_elision(line):
            problems.append(f"line {number}: output left out ({line.strip()!r}); interfaces may be missing")
            current = None
            continue
        if not line[0].isspace():
            quoted = _QUOTED.search(line)
            current = _Block(quoted.group(1)) if quoted else None
            if current:
                blocks.append(current)
            continue
        field = leader(line)
        if field:
            label, value = field[0].upper(), field[1]
            is_dns = "DNS" in label and "WINS" not in label
            if current is None and is_dns:
                current = _Block(None)
                blocks.append(current)
                problems.append(f"line {number}: DNS servers without the line naming their interface")
            if current is None:
                continue
            current.in_dns = is_dns and current.source == "unknown"
            if current.in_dns:
                current.source = "dhcp" if "DHCP" in label else "static"
                _add_server(current, value)
        elif current is not None and current.in_dns:
            _add_server(current, line.strip())
    if not blocks:
        return None
    return NetshDns(tuple(block.result() for block in blocks), tuple(problems))


def _add_server(block: _Block, value: str | None) -> None:
    words = (value or "").split()
    address = address_token(words[0]) if len(words) == 1 else None
    if address:
        block.servers.append(address)


def parse_dns_client_server_address(text: str) -> DnsClientServerAddresses | None:
    """`Get-DnsClientServerAddress` as Format-Table prints it. Cells cut at the console width
    (`{a, b...}`, an alias ending in `...`) are reported: ask PowerShell for `| ConvertTo-Json`
    where the full list matters. None when no row was found."""
    rows, problems = [], []
    for number, line in enumerate(lines(text), start=1):
        brace = line.find("{")
        head = line[:brace].split() if brace > 0 else []
        # alias (spaces allowed, may end in `...`), index, family, then `{list}` (maybe cut)
        if len(head) < 3 or not _INDEX.fullmatch(head[-2]) or not _FAMILY.fullmatch(head[-1]):
            continue
        alias, index, family = " ".join(head[:-2]), int(head[-2]), head[-1]
        closing = line.find("}", brace)
        listed = line[brace + 1:closing if closing >= 0 else len(line)].strip()
        words = [word.strip() for word in listed.split(",") if word.strip()]
        list_cut = closing < 0 or listed.endswith(_CUT)
        if list_cut and words:
            words.pop()  # the cut entry may be a shorter, wrong address (`100.100.111.2` of `...24`)
        servers = [word for word in words if is_ip_address(word)]
        problems += [f"line {number}: not an address in the server list: {word[:60]!r}"
                     for word in words if not is_ip_address(word)]
        if list_cut or alias.endswith(_CUT):
            what = "its server list may be incomplete" if list_cut else "its name is shortened"
            problems.append(f"line {number}: {alias!r} cut by PowerShell at the console width: {what}")
        rows.append(DnsClientServerAddress(alias, index, family, tuple(servers)))
    return DnsClientServerAddresses(tuple(rows), tuple(problems)) if rows else None
