"""Platform detection through a Source, fed with real captured outputs."""

import json

import pytest
from conftest import fixture_text
from factories import LINUX, facts, on_linux, settings_for

from netwarden.checks import ports
from netwarden.config import Settings
from netwarden.platform.detect import UnsupportedPlatform, backend_for, detect
from netwarden.platform.linux import LinuxBackend
from netwarden.platform.source import ReplaySource, Source


def bundle(tmp_path, entries, system="linux"):
    (tmp_path / "meta.json").write_text(json.dumps({"format": 1, "system": system}))
    (tmp_path / "entries.json").write_text(json.dumps(entries))
    return ReplaySource(tmp_path)


def read(path, text):
    return {"op": "read", "key": path, "result": text}


def missing(op, key):
    return {"op": op, "key": key, "error": {"errno": 2, "strerror": "No such file or directory"}}


def test_plain_linux(tmp_path):
    src = bundle(tmp_path, [read("/proc/version", "Linux version 6.1.0-18-amd64 (gcc) #1 SMP"),
                            {"op": "exists", "key": "/proc/sys/fs/binfmt_misc/WSLInterop", "result": False}])
    p = detect(src, Settings())
    assert (p.flavor, p.kernel, p.wsl_networking_mode) == ("linux", "6.1.0-18-amd64", None)


def test_wsl1_sysctls_are_unknown(tmp_path):
    src = bundle(tmp_path, [read("/proc/version", fixture_text("linux/proc-version__3.txt")),
                            {"op": "exists", "key": "/proc/sys/fs/binfmt_misc/WSLInterop", "result": True}])
    backend = backend_for(src, Settings())
    assert backend.platform.flavor == "wsl1"
    assert "WSL1" in backend.read_sysctl("net.ipv4.ip_local_port_range").reason


def test_wsl2_mirrored_from_wslinfo_blocks_widening(tmp_path):
    src = bundle(tmp_path, [
        read("/proc/version", fixture_text("linux/proc-version__2.txt")),  # early WSL2: no -WSL2 suffix
        {"op": "exists", "key": "/proc/sys/fs/binfmt_misc/WSLInterop", "result": True},
        {"op": "run", "key": json.dumps(["wslinfo", "--networking-mode"]),
         "result": {"returncode": 0, "stdout": "mirrored\n", "stderr": ""}},
    ])
    p = detect(src, Settings())
    assert (p.flavor, p.wsl_networking_mode) == ("wsl2", "mirrored")
    assert "wslinfo" in " ".join(p.evidence)


def test_wsl2_mode_from_the_windows_wslconfig_when_wslinfo_is_missing(tmp_path):
    src = bundle(tmp_path, [
        read("/proc/version", fixture_text("linux/proc-version__1.txt")),
        {"op": "exists", "key": "/proc/sys/fs/binfmt_misc/WSLInterop", "result": True},
        missing("run", json.dumps(["wslinfo", "--networking-mode"])),
        {"op": "listdir", "key": "/mnt/c/Users", "result": ["Public", "ada"]},
        {"op": "exists", "key": "/mnt/c/Users/Public/.wslconfig", "result": False},
        {"op": "exists", "key": "/mnt/c/Users/ada/.wslconfig", "result": True},
        read("/mnt/c/Users/ada/.wslconfig", fixture_text("linux/wslconfig__1.txt")),
    ])
    assert detect(src, Settings()).wsl_networking_mode == "mirrored"


def test_wsl2_with_no_way_to_read_the_mode_is_unknown_not_guessed(tmp_path):
    src = bundle(tmp_path, [
        read("/proc/version", fixture_text("linux/proc-version__1.txt")),
        {"op": "exists", "key": "/proc/sys/fs/binfmt_misc/WSLInterop", "result": True},
        missing("run", json.dumps(["wslinfo", "--networking-mode"])),
        missing("listdir", "/mnt/c/Users"),
    ])
    assert detect(src, Settings()).wsl_networking_mode is None


def test_a_bundle_from_a_system_without_a_backend_is_refused_clearly(tmp_path):
    """No netwarden records there, so it is not a readable bundle (65), not an unknown host (3)."""
    from netwarden.platform.bundle import BundleError

    with pytest.raises(BundleError, match="freebsd14"):
        bundle(tmp_path, [], system="freebsd14")


def test_a_live_system_without_a_backend_is_refused_clearly():
    class FreeBSD(Source):
        system = "freebsd14"

    with pytest.raises(UnsupportedPlatform, match="no backend for freebsd14"):
        detect(FreeBSD(), Settings())


def test_a_macos_bundle_gets_the_macos_backend_even_when_it_lacks_the_kernel_release(tmp_path):
    backend = backend_for(bundle(tmp_path, [], system="darwin"), Settings())
    assert type(backend).__name__ == "DarwinBackend"
    assert (backend.platform.system, backend.platform.flavor, backend.platform.kernel) == ("darwin", "macos", "")
    assert "not in the support bundle" in backend.platform.evidence[0]


def test_malformed_sysctl_d_lines_are_reported_not_fatal(tmp_path):
    settings = settings_for(tmp_path)
    (settings.sysctl_dir / "50-broken.conf").write_text("net.ipv4.ip_local_port_range 1024 65000\n")
    (settings.sysctl_dir / "70-late.conf").write_text("net.ipv4.ip_local_port_range = 60700 61000\n")
    boot = LinuxBackend(Source(), settings, LINUX).boot_sysctls()
    f = facts("60700 61000")
    f.boot_sysctls = boot
    evidence = " ".join(on_linux(ports.check_range)(f, settings)[0].evidence)
    assert "ignored at boot" in evidence and "50-broken.conf:1" in evidence
    assert "70-late.conf is applied after netwarden's drop-in" in evidence
