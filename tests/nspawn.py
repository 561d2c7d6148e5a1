"""A real Debian 12 booted under systemd-nspawn, to test netwarden as a service under real systemd.

The root file system is built once with debootstrap and cached in CACHE (a later run on the same
machine reuses it); each test module boots a throwaway copy of it (`--ephemeral`) with its own
network namespace (`--private-network`: only a loopback, so nothing the container does reaches
the host's network or settings). Commands run inside with nsenter, with a clean environment.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("NWTEST_CACHE", "/var/cache/netwarden-test"))
SUITE = "bookworm"
MIRROR = os.environ.get("NWTEST_MIRROR", "http://deb.debian.org/debian")
# What the package needs (python3, python3-systemd, iproute2) is installed up front: the container
# has no network, so `dpkg -i` must find every dependency already there.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-systemd", "iproute2", "procps")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def unavailable() -> str | None:
    """Why a container cannot be booted here, or None."""
    if os.geteuid() != 0:
        return "booting a container needs root"
    missing = [tool for tool in ("debootstrap", "systemd-nspawn", "dpkg-deb") if not shutil.which(tool)]
    if missing:
        return f"not installed: {', '.join(missing)} (`make test` installs them when run as root)"
    return None


def rootfs() -> Path:
    """The cached minimal root file system, built on first use (about a minute)."""
    key = hashlib.sha256(f"{SUITE} {MIRROR} {' '.join(PACKAGES)}".encode()).hexdigest()[:12]
    path = CACHE / f"{SUITE}-{key}"
    if (path / "usr/bin/python3").exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{SUITE}-", dir=CACHE))
    try:
        r = subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
                            str(building), MIRROR], capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            raise RuntimeError(f"debootstrap exited {r.returncode}: {(r.stdout + r.stderr)[-2000:]}")
        os.replace(building, path)  # complete or absent: a half-built tree is never reused
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return path


def build_deb(out: Path) -> Path:
    r = subprocess.run([sys.executable, str(ROOT / "packaging/debian/build_deb.py"), "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"build_deb.py exited {r.returncode}: {r.stderr[-2000:]}")
    return Path(r.stdout.strip().splitlines()[-1])


class Result:
    def __init__(self, argv, completed: subprocess.CompletedProcess):
        self.argv, self.returncode = argv, completed.returncode
        self.stdout, self.stderr = completed.stdout, completed.stderr

    def __repr__(self) -> str:
        return f"{self.argv} exited {self.returncode}: {self.stdout.strip()[-1500:]} {self.stderr.strip()[-1500:]}"


class Container:
    """A booted ephemeral copy of `root`, with `binds` (host dir -> container dir) mounted read-only."""

    def __init__(self, root: Path, binds: dict[Path, str], log: Path) -> None:
        self.name = f"nwtest{os.getpid()}"
        self.log = log
        argv = ["systemd-nspawn", "--quiet", "--ephemeral", "--directory", str(root), "--boot",
                "--private-network", "--register=no", "--keep-unit", f"--machine={self.name}",
                "--console=pipe", *(f"--bind-ro={host}:{inside}" for host, inside in binds.items())]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log.open("wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.leader = self._wait_for_leader()
            self._wait_for_boot()
        except BaseException:
            self.close()
            raise

    def _wait_for_leader(self, timeout: float = 60) -> int:
        """The container's PID 1, as a host PID: systemd-nspawn's child."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                children = (task / "children").read_text().split()
                if children and Path(f"/proc/{children[0]}/exe").resolve().name == "systemd":
                    return int(children[0])
            time.sleep(0.1)
        raise RuntimeError("the container's systemd did not start")

    def _wait_for_boot(self, timeout: float = 120) -> None:
        """Until systemd says the boot is over (systemctl fails at first: its socket is not there yet)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running", "--wait", timeout=timeout).stdout.strip()
            if state in ("running", "degraded"):
                return
            if state not in ("", "offline", "initializing", "starting"):
                raise RuntimeError(f"the container booted to state {state!r}")
            time.sleep(0.2)
        raise RuntimeError(f"the container did not finish booting in {timeout} s")

    def run(self, *argv: str, user: str | None = None, check: bool = False, timeout: float = 60,
            stdin: str | None = None) -> Result:
        """`argv` inside the container, as root or as `user`, with a clean environment."""
        inner = ["runuser", "-u", user, "--", *argv] if user else list(argv)
        full = ["nsenter", "--target", str(self.leader), "--all", "--",
                "env", "-i", f"PATH={PATH}", "LANG=C.UTF-8", *inner]
        result = Result(argv, subprocess.run(full, capture_output=True, text=True, timeout=timeout, input=stdin))
        if check and result.returncode != 0:
            raise AssertionError(repr(result))
        return result

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.run("systemctl", "show", unit, "-p", ",".join(props), check=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def wait_for(self, predicate, timeout: float = 30, interval: float = 0.5):
        """Polls `predicate()` until it returns something true; that value, or AssertionError."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {predicate.__doc__ or predicate}")
            time.sleep(interval)

    def close(self) -> None:
        """Halts the container (SIGTERM asks systemd-nspawn for a clean shutdown; the ephemeral copy
        is removed by it), then kills what is left."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
