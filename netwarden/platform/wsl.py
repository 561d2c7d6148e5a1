"""WSL2 networking mode: it decides whether widening the port range is safe (DOMAIN.md §1); and the
Windows host's side of the port budget, read through interop."""

from __future__ import annotations

from typing import NamedTuple

from netwarden.config import Settings
from netwarden.model import AddressPolicy, PortBlock, PortRange, Unknown
from netwarden.platform.parse.wsl import wslconfig_networking_mode
from netwarden.platform.source import Source

WINDOWS_USERS = "/mnt/c/Users"


def networking_mode(source: Source, settings: Settings) -> tuple[str | None, list[str]]:
    """('nat' | 'mirrored' | ..., evidence) or (None, why not known)."""
    evidence = []
    try:
        result = source.run(["wslinfo", "--networking-mode"], timeout=5)
        mode = result.stdout.strip().lower()
        if result.returncode == 0 and mode.isalpha():
            return mode, [f"`wslinfo --networking-mode` says {mode}"]
        evidence.append(f"`wslinfo --networking-mode` exited {result.returncode}")
    except OSError as e:
        evidence.append(f"wslinfo not available ({e.strerror or e})")

    for path in _wslconfig_candidates(source, settings):
        try:
            text = source.read(path)
        except OSError:
            continue
        mode = wslconfig_networking_mode(text)
        # No networkingMode key means WSL's default, NAT.
        return (mode or "nat"), evidence + [f"{path}: networkingMode = {mode or '(not set: default nat)'}"]
    return None, evidence + ["no .wslconfig found"]


def _wslconfig_candidates(source: Source, settings: Settings) -> list[str]:
    if settings.wslconfig_path:
        return [str(settings.wslconfig_path)]
    try:
        users = source.listdir(WINDOWS_USERS)
    except OSError:
        return []
    candidates = []
    for user in users:
        path = f"{WINDOWS_USERS}/{user}/.wslconfig"
        try:
            if source.exists(path):
                candidates.append(path)
        except OSError:
            continue
    # Several Windows users with their own .wslconfig: we cannot tell whose session this is.
    return candidates if len(candidates) == 1 else []


# ---- the Windows host, through interop (DOMAIN.md §1: both port budgets) ---------------------------

WINNAT = "the Windows host (WinNAT)"


class WindowsSide(NamedTuple):
    """What the Windows host says through interop: its TCP dynamic range minus the exclusions
    inside it (WinNAT translates a NAT-mode guest's connections from it), every excluded block
    (mirrored mode's reservation is one), and its prefix policies (read when asked)."""

    range: PortRange | Unknown
    excluded: tuple[PortBlock, ...] = ()
    policy: AddressPolicy | Unknown | None = None
    codepage: int | None = None


def windows_side(source: Source, policies: bool = False) -> WindowsSide | Unknown:
    """The Windows host's port settings through /mnt/c/Windows/System32/netsh.exe, decoded by
    the code page chcp.com reports; Unknown when interop is off or netsh cannot be run."""
    from netwarden.platform import windows_facts
    from netwarden.platform.detect import WSL_INTEROP
    from netwarden.platform.parse.windows.netsh_ports import parse_excluded_port_ranges
    from netwarden.platform.windows_commands import Commands

    for path in (WSL_INTEROP, WSL_INTEROP + "-late"):
        try:
            state = source.read(path).split("\n", 1)[0].strip()
        except OSError:
            continue
        if state != "enabled":
            return Unknown(f"WSL interop is {state or 'off'} ({path}): the Windows host was not read")
        break
    else:
        return Unknown(f"WSL interop is off (no {WSL_INTEROP}): the Windows host was not read")
    commands = Commands.interop(source)
    if isinstance(commands, Unknown):
        return commands
    excluded = commands.excluded_ports("tcp")
    table = parse_excluded_port_ranges(excluded) if isinstance(excluded, str) else None
    host = windows_facts.port_range(commands.dynamic_ports("ipv4", "tcp"), excluded, {}, layer=WINNAT)
    blocks = tuple(PortBlock(r.start, r.end, r.administered) for r in table.ranges) if table else ()
    policy = windows_facts.address_policy(commands.prefix_policies()) if policies else None
    return WindowsSide(host, blocks, policy, commands.codepage if isinstance(commands.codepage, int) else None)


def mirrored_evidence(side, low: int, high: int) -> list[str]:
    """Where a mirrored-mode guest's range comes from: the Windows reservation that holds it."""
    if not isinstance(side, WindowsSide):
        return [f"the Windows host's reservations unknown: {side.reason}"] if isinstance(side, Unknown) else []
    holding = [b for b in side.excluded if b.low <= low and b.high >= high]
    overlapping = holding or [b for b in side.excluded if b.low <= high and b.high >= low]
    if not overlapping:
        return [f"no excluded block on the Windows host covers {low}-{high} "
                "(`netsh int ipv4 show excludedportrange protocol=tcp`)"]
    named = ", ".join(f"{b.low}-{b.high}" for b in overlapping[:3])
    return [f"WSL wrote {low}-{high} from the Windows host's port reservation {named} "
            "(`netsh int ipv4 show excludedportrange protocol=tcp`, reserved for WSL's mirrored networking): "
            "its size is WSL's choice (300 ports in older builds, 4,096 in newer ones)"]
