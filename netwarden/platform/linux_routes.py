"""Routes tunnels.stale deletes (opt-in), and their exact way back.

Before deleting a route, netwarden saves it with `ip route save` — the kernel's own netlink
message for exactly that route, every attribute in it (protocol, preferred source, metrics such as
mtu, scope) — and journals it (base64). `--revert` sends it back with `ip route restore`. A
journal entry written before that has no dump: its route is added back with `ip route add`, from
the parts netwarden reads (destination, device, gateway, metric). Every part is validated before
it reaches an argv; commands run with a timeout and their exit code checked.
"""

from __future__ import annotations

import base64
import binascii
import os
import socket
import subprocess

from netwarden.model import Route
from netwarden.platform.linux import ChangeFailed, valid_ifname
from netwarden.platform.parse.netfs import is_ip_address
from netwarden.platform.parse.route_dump import RT_TABLE_MAIN, RouteMessage, for_restore, route_message


def _argv(verb: str, route: dict, exact: bool = False) -> list[str]:
    """`ip -4|-6 route VERB DST dev DEV metric M [via GW]`, every part checked first."""
    import ipaddress

    dst, dev, gateway = route["dst"], route["dev"], route.get("gateway")
    try:
        if dst != "default":
            ipaddress.ip_network(dst, strict=False)
        if gateway and not is_ip_address(gateway):
            raise ValueError(f"not an address: {gateway!r}")
    except ValueError as e:
        raise ChangeFailed(f"route {dst}: {e}") from None
    if not valid_ifname(dev):
        raise ChangeFailed(f"not an interface name: {dev!r}")
    where = ["table", "main", "to", "exact", dst] if exact else [dst]
    argv = ["ip", f"-{route['family']}", "route", verb, *where, "dev", dev, "metric", str(int(route["metric"]))]
    return argv + (["via", gateway] if gateway else [])


def _run(argv: list[str], stdin=subprocess.DEVNULL) -> bytes:
    try:
        r = subprocess.run(argv, capture_output=True, timeout=10, stdin=stdin)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ChangeFailed(f"{' '.join(argv[:4])}: {e}") from None
    if r.returncode != 0:
        raise ChangeFailed(f"{' '.join(argv[1:])}: {r.stderr.decode(errors='replace').strip()[:300]}")
    return r.stdout


def ip_route(verb: str, route: dict) -> None:
    """`ip route add|del` for one route."""
    _run(_argv(verb, route))


def _matches(message: RouteMessage | str, route: dict) -> bool:
    return (isinstance(message, RouteMessage) and not message.multipath and message.table == RT_TABLE_MAIN
            and (message.family, message.dst, message.metric) == (route["family"], route["dst"], route["metric"]))


def save(route: dict) -> str | None:
    """The route as `ip route save` dumps it (base64), or None when the dump is not exactly this
    one single-path route of the main table (then `ip route add` brings it back)."""
    dump = _run(_argv("save", route, exact=True))
    return base64.b64encode(dump).decode() if _matches(route_message(dump), route) else None


def malformed_original(original) -> str | None:
    """Why a journaled route-del original cannot be put back, or None: {"route", "present"} and,
    since netwarden saves routes, "saved"."""
    try:
        route = Route(**original["route"])
        ok = isinstance(original["present"], bool) and route.family in (4, 6) and all(
            isinstance(v, str) for v in (route.dst, route.dev)) and isinstance(route.metric, int)
    except (KeyError, TypeError):
        ok = False
    if not ok:
        return "not a route"
    return malformed_saved(original["route"], original["saved"]) if "saved" in original else None


def malformed_saved(route: dict, saved) -> str | None:
    """Why a journaled dump cannot bring `route` back, or None."""
    try:
        dump = base64.b64decode(saved, validate=True) if isinstance(saved, str) else None
    except (binascii.Error, ValueError):
        dump = None
    if dump is None:
        return "a saved route that is not base64"
    message = route_message(dump)
    if not _matches(message, route):
        return f"a saved route that is not {route['dst']}: {message if isinstance(message, str) else 'another route'}"
    return None


def restore(route: dict, saved: str) -> None:
    """`ip route restore` of the saved dump, through the device's index now."""
    dump = base64.b64decode(saved)
    message = route_message(dump)
    if malformed_saved(route, saved) or not valid_ifname(route["dev"]):
        raise ChangeFailed(f"route {route['dst']}: the saved route is unusable")
    try:
        ifindex = socket.if_nametoindex(route["dev"])
    except OSError:
        raise ChangeFailed(f"route {route['dst']}: there is no interface {route['dev']} to put it back on") from None
    fd = os.memfd_create("netwarden-route", os.MFD_CLOEXEC)  # `ip route restore` seeks in its input
    try:
        os.write(fd, for_restore(dump, message, ifindex))
        os.lseek(fd, 0, os.SEEK_SET)
        _run(["ip", f"-{route['family']}", "route", "restore"], stdin=fd)
    finally:
        os.close(fd)
