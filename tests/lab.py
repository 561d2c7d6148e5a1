"""The namespace lab: real network namespaces, veth links, servers and load, always cleaned up.

Nothing here touches the host namespace's settings: every sysctl is written inside a namespace,
and traffic stays on links between namespaces this lab created (198.18.0.0/15, the block
RFC 2544 sets aside for network benchmarks).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(__file__).with_name("lab_tools.py")
PREFIX = f"nwtest{os.getpid()}-"
_names = itertools.count()


# Checks that need `targets` report `unknown` without them. Tests about the other checks leave
# them out, so exit codes and daemon status speak about the check under test.
PROBE_CHECKS = ("ipv6.preference", "dns.resolvers", "mtu.path")


def without_probe_checks(config: str = "") -> str:
    """A config (TOML) with policy `ignore` for PROBE_CHECKS, merged into its [policy] table."""
    lines = "".join(f'"{c}" = "ignore"\n' for c in PROBE_CHECKS)
    if "[policy]\n" in config:
        return config.replace("[policy]\n", "[policy]\n" + lines, 1)
    return config + "\n[policy]\n" + lines


def lab_unavailable() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "the namespace lab needs root"
    probe = f"{PREFIX}probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot create network namespaces: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class Netns:
    def __init__(self) -> None:
        self.name = f"{PREFIX}{next(_names)}"
        self.procs: list[subprocess.Popen] = []
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run("ip", "link", "set", "lo", "up")

    def argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv: str, env: dict | None = None, check: bool = True, timeout: float = 120):
        r = subprocess.run(self.argv(*argv), capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
        if check and r.returncode != 0:
            raise AssertionError(f"{argv} exited {r.returncode}: {r.stderr.strip()}")
        return r

    def start(self, *argv: str, env: dict | None = None, ready: str | None = None, output=None) -> subprocess.Popen:
        """A background process; `output` (a file) takes its stdout and stderr where nothing would
        drain a pipe (a full pipe blocks the writer)."""
        pipe = subprocess.PIPE if output is None else output
        proc = subprocess.Popen(self.argv(*argv), stdout=pipe, stderr=pipe, text=True, env=env, cwd=ROOT)
        self.procs.append(proc)
        if ready is not None:
            line = proc.stdout.readline()
            if ready not in line:
                raise AssertionError(f"{argv} did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}")
        return proc

    def sysctl(self, key: str, value: str | None = None) -> str:
        """Read (and first write, if given) a sysctl inside this namespace."""
        path = "/proc/sys/" + key.replace(".", "/")
        if value is not None:
            self.run(sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2])", path, value)
        return self.run("cat", path).stdout.strip()

    def tool(self, *args: str, timeout: float = 120) -> dict:
        """A lab_tools.py command run here; its JSON answer."""
        return json.loads(self.run(sys.executable, str(TOOLS), *args, timeout=timeout).stdout)

    def etc(self, name: str, text: str) -> Path:
        """/etc/netns/<ns>/<name>: what `ip netns exec` bind-mounts over /etc/<name> here."""
        path = Path("/etc/netns") / self.name / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def nft(self, ruleset: str) -> None:
        r = subprocess.run(self.argv("nft", "-f", "-"), input=ruleset, capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"nft: {r.stderr.strip()}")

    def netwarden(self, *args: str, env: dict | None = None, timeout: float = 60):
        return self.run(sys.executable, "-m", "netwarden", *args, env=env, check=False, timeout=timeout)

    def serve(self, port: int, host: str = "0.0.0.0") -> subprocess.Popen:
        return self.start(sys.executable, str(TOOLS), "serve", str(port), host, ready="ready")

    def connect(self, host: str, port: int, count: int) -> dict:
        return json.loads(self.run(sys.executable, str(TOOLS), "connect", host, str(port), str(count)).stdout)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        shutil.rmtree(Path("/etc/netns") / self.name, ignore_errors=True)


def link(a: Netns, a_addr: str, b: Netns, b_addr: str, mtu: int | None = None, b_mtu: int | None = None,
         v6: tuple[str, str] | None = None) -> tuple[str, str]:
    """A veth pair between two namespaces, addressed (CIDR) and up; returns the two device names.
    `b_mtu` sets b's end apart (a path narrower one way); `v6` adds an IPv6 address to each end."""
    ifname = f"v{time.monotonic_ns() % 10**9}"
    subprocess.run(["ip", "link", "add", ifname + "a", "netns", a.name, "type", "veth",
                    "peer", "name", ifname + "b", "netns", b.name], check=True)
    ends = ((a, ifname + "a", a_addr, mtu, v6 and v6[0]), (b, ifname + "b", b_addr, b_mtu or mtu, v6 and v6[1]))
    for ns, dev, addr, dev_mtu, addr6 in ends:
        ns.run("ip", "addr", "add", addr, "dev", dev)
        if addr6:
            ns.run("ip", "addr", "add", addr6, "dev", dev, "nodad")  # usable at once, no DAD wait
        if dev_mtu:
            ns.run("ip", "link", "set", dev, "mtu", str(dev_mtu))
        ns.run("ip", "link", "set", dev, "up")
    return ifname + "a", ifname + "b"
