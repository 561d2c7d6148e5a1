"""Which platform this is (from the Source, so a replayed bundle is detected as its own host): Linux
(and WSL) here, macOS in darwin.py."""

from __future__ import annotations

from netwarden.config import Settings
from netwarden.model import PlatformInfo
from netwarden.platform.parse.wsl import classify_kernel
from netwarden.platform.source import Source

WSL_INTEROP = "/proc/sys/fs/binfmt_misc/WSLInterop"


class UnsupportedPlatform(Exception):
    pass


def detect(source: Source, settings: Settings) -> PlatformInfo:
    if source.system == "darwin":
        from netwarden.platform.darwin import detect as detect_darwin

        return detect_darwin(source)
    if source.system == "win32":
        from netwarden.platform.windows import detect_windows

        return detect_windows(source)
    if not source.system.startswith("linux"):
        raise UnsupportedPlatform(f"no backend for {source.system} yet")
    proc = str(settings.proc_dir)
    evidence = []
    try:
        version = source.read(f"{proc}/version").strip()
        evidence.append(f"{proc}/version: {version[:120]}")
    except OSError as e:
        version = ""
        evidence.append(f"{proc}/version unreadable: {e.strerror}")
    flavor = classify_kernel(version)
    try:
        interop = source.exists(WSL_INTEROP)
    except OSError as e:
        interop = False
        evidence.append(f"{WSL_INTEROP} unknown: {e.strerror}")
    if interop:
        evidence.append(f"{WSL_INTEROP} exists")
        flavor = flavor or "wsl2"  # custom WSL2 kernels may not say "microsoft"
    kernel = version.split()[2] if len(version.split()) > 2 else ""
    if flavor != "wsl2":
        return PlatformInfo("linux", flavor or "linux", kernel, None, tuple(evidence))
    from netwarden.platform.wsl import networking_mode

    mode, mode_evidence = networking_mode(source, settings)
    return PlatformInfo("linux", "wsl2", kernel, mode, tuple(evidence + mode_evidence))


def backend_for(source: Source, settings: Settings):
    """The backend of the Source's system: a replayed bundle gets its own host's backend. Each is
    imported only when chosen, so Linux never loads the macOS modules (start-up)."""
    if source.system == "darwin":
        from netwarden.platform.darwin import DarwinBackend

        return DarwinBackend(source, settings, detect(source, settings))
    if source.system == "win32":
        from netwarden.platform.windows import WindowsBackend

        return WindowsBackend(source, settings, detect(source, settings))
    from netwarden.platform.linux import LinuxBackend

    return LinuxBackend(source, settings, detect(source, settings))
