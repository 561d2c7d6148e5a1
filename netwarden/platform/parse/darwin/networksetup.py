"""macOS `networksetup` outputs: -listnetworkserviceorder, -listallnetworkservices,
-listallhardwareports, -getinfo, -getMTU, -listvalidMTUrange, -getdnsservers, and its errors.

networksetup prints English `Label: value` lines; the header `An asterisk (*) denotes that a
network service is disabled.` may be missing from a paste, so it is recognised by its `(*)`,
not by being line 1. Errors come on stdout as `<service> is not a recognized network service.`
and `** Error: <reason>` (the service name may be empty: the line then starts with a space).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from netwarden.platform.parse.netfs import is_ip_address


def _is_header(line: str) -> bool:
    return "(*)" in line and "asterisk" in line.lower()


class ServiceOrderEntry(NamedTuple):
    order: int | None  # None for a disabled service, printed `(*)`
    name: str
    enabled: bool
    hardware_port: str | None
    device: str | None  # None when printed empty (VPN services: `Device: `)


_ORDER = re.compile(r"\((\d{1,4}|\*)\)\s+(.*)")
_PORT = re.compile(r"\(Hardware Port:\s*(.*?),\s*Device:\s*(.*?)\)?")


def parse_service_order(text: str) -> list[ServiceOrderEntry]:
    """`-listnetworkserviceorder`: `(N) Service` then `(Hardware Port: X, Device: enN)`. Map a
    service to its device by this pair: two services can share a Hardware Port name."""
    entries: list[ServiceOrderEntry] = []
    for line in text.splitlines():
        stripped = line.strip()
        if _is_header(stripped):
            continue
        if port := _PORT.fullmatch(stripped):
            if entries and entries[-1].hardware_port is None:
                entries[-1] = entries[-1]._replace(hardware_port=port.group(1).strip() or None,
                                                   device=port.group(2).strip() or None)
        elif m := _ORDER.fullmatch(stripped):
            disabled = m.group(1) == "*"
            entries.append(ServiceOrderEntry(None if disabled else int(m.group(1)), m.group(2).strip(),
                                             not disabled, None, None))
    return entries


class NetworkService(NamedTuple):
    name: str
    enabled: bool


def parse_network_services(text: str) -> list[NetworkService]:
    """`-listallnetworkservices`: one name a line, `*` before a disabled one."""
    services = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or _is_header(stripped) or networksetup_error(line):
            continue
        disabled = stripped.startswith("*")
        name = stripped.lstrip("*").strip()
        if name:
            services.append(NetworkService(name, not disabled))
    return services


class HardwarePort(NamedTuple):
    port: str
    device: str | None
    address: str | None  # `Ethernet Address:`; None for N/A


def parse_hardware_ports(text: str) -> list[HardwarePort]:
    """`-listallhardwareports`: `Hardware Port:` / `Device:` / `Ethernet Address:` groups; the
    `VLAN Configurations` footer is not a port."""
    ports: list[HardwarePort] = []
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        value = value.strip()
        if not sep:
            continue
        if key == "Hardware Port":
            ports.append(HardwarePort(value, None, None))
        elif ports and key == "Device":
            ports[-1] = ports[-1]._replace(device=value or None)
        elif ports and key == "Ethernet Address":
            ports[-1] = ports[-1]._replace(address=None if value in ("", "N/A") else value)
    return ports


class ServiceInfo(NamedTuple):
    """`-getinfo <service>`. The IPv4 lines are absent without a lease; `none` reads as None."""

    configuration: str | None  # "DHCP Configuration", "Manual Configuration", ...
    ip_address: str | None
    subnet_mask: str | None
    router: str | None
    ipv6: str | None  # Automatic, Manual, Off
    ipv6_address: str | None
    ipv6_router: str | None
    hardware_address: str | None  # `Wi-Fi ID:` or `Ethernet Address:`
    fields: tuple[tuple[str, str], ...]  # every `Label: value` line as printed


_INFO = {"IP address": "ip_address", "Subnet mask": "subnet_mask", "Router": "router", "IPv6": "ipv6",
         "IPv6 IP address": "ipv6_address", "IPv6 Router": "ipv6_router", "Wi-Fi ID": "hardware_address",
         "Ethernet Address": "hardware_address"}


def parse_getinfo(text: str) -> ServiceInfo:
    read: dict[str, str | None] = dict.fromkeys(ServiceInfo._fields[:-1])
    fields = []
    for line in text.splitlines():
        stripped = line.strip()
        key, sep, value = stripped.partition(":")
        if not sep:
            if stripped.endswith("Configuration") and read["configuration"] is None:
                read["configuration"] = stripped
            continue
        value = value.strip()
        fields.append((key.strip(), value))
        if key.strip() in _INFO:
            read[_INFO[key.strip()]] = None if value.lower() in ("", "none") else value
    return ServiceInfo(**read, fields=tuple(fields))


class MtuSetting(NamedTuple):
    active: int | None
    current: int | None  # the configured value; differs from active while a change is pending


def parse_get_mtu(text: str) -> MtuSetting:
    """`-getMTU <port>`: `Active MTU: 1500 (Current Setting: 1500)`."""
    active = re.search(r"Active MTU:\s*(\d{1,6})", text)
    current = re.search(r"Current Setting:\s*(\d{1,6})", text)
    return MtuSetting(int(active.group(1)) if active else None, int(current.group(1)) if current else None)


def parse_valid_mtu_range(text: str) -> tuple[int, int] | None:
    """`-listvalidMTUrange <port>`: `Valid MTU Range: 1280-1500`."""
    m = re.search(r"Valid MTU Range:\s*(\d{1,6})\s*-\s*(\d{1,6})", text)
    if not m or int(m.group(1)) > int(m.group(2)):
        return None
    return int(m.group(1)), int(m.group(2))


class DnsServers(NamedTuple):
    servers: tuple[str, ...]  # the lines that are addresses, in order
    other_lines: tuple[str, ...]  # e.g. "There aren't any DNS Servers set on Wi-Fi.", errors


def parse_dns_servers(text: str) -> DnsServers:
    """`-getdnsservers <service>`: one address a line. Read by structure, not wording: no address
    lines means none set (the sentence that says so is kept in other_lines)."""
    servers, other = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if is_ip_address(stripped):  # a %zone allowed
            servers.append(stripped)
        elif stripped:
            other.append(stripped)
    return DnsServers(tuple(servers), tuple(other))


class NetworksetupError(NamedTuple):
    message: str | None  # after `** Error:`
    unknown_service: str | None  # the name in `<name> is not a recognized network service.`


_UNKNOWN_SERVICE = re.compile(r"(.*?) ?is not a recognized network service\.?")


def networksetup_error(text: str) -> NetworksetupError | None:
    """The error networksetup printed (on stdout, with a non-zero exit status), or None if none."""
    message = unknown = None
    for line in text.splitlines():
        if line.strip().startswith("** Error:"):
            message = line.strip()[len("** Error:"):].strip() or None
        elif m := _UNKNOWN_SERVICE.fullmatch(line.rstrip()):
            unknown = m.group(1).strip()
    if message is None and unknown is None:
        return None
    return NetworksetupError(message, unknown)
