"""WSL2 networking mode: it decides whether widening the port range is safe (DOMAIN.md §1)."""

from __future__ import annotations

from netwarden.config import Settings
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
