"""The daemon on a macOS and a Windows backend, as far as Linux can show it: `netwarden daemon` runs
(tests/daemon_host.py) on a Mac or a Windows host replayed from support bundles assembled from the
real captures (tests/macos.py, tests/windows_host.py), with each OS's own daemon pieces, their OS
calls faked where they cannot run here. The first check runs, the status is published (the control
socket on the Mac, status.json on Windows), a setting that changes between two polls becomes a
drift event, SIGTERM stops it; on the Mac the TCP clock's 31 s wait happens off the loop."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from factories import clean_env
from macos import bundle, clean_mac, stale_vpn_mac, with_setting_reads, with_sysctl
from test_parse_darwin_bytes import RTA_DST, RTA_GATEWAY, RTA_IFP, RTA_NETMASK, addresses, rt_msg, sdl, sin
from windows_host import SHOW_DYNAMIC, english_host, write_bundle

from netwarden.daemon.client import call

ROOT = Path(__file__).resolve().parents[1]
HOST = Path(__file__).with_name("daemon_host.py")
RTF_UP, RTF_STATIC = 0x1, 0x800


class Run:
    """The daemon of one replayed host in a temp dir: its bundles, config, state and log."""

    def __init__(self, tmp: Path, kind: str, config: str = "") -> None:
        self.tmp, self.kind = tmp, kind
        self.state = tmp / "state"
        (tmp / "netwarden.toml").write_text("poll_interval = 0.2\ncensus_interval = 3600\nprobe_interval = 3600\n"
                                            "debounce = 0\n" + config)
        self.env = clean_env(NETWARDEN_CONFIG=str(tmp / "netwarden.toml"), NETWARDEN_STATE_DIR=str(self.state),
                             NETWARDEN_SOCKET=str(tmp / "nw.sock"),
                             NETWARDEN_WATCH_FILES=json.dumps([str(tmp / "hosts")]))
        self.proc = None

    def start(self) -> Run:
        self.log = open(self.tmp / "daemon.log", "w")
        self.proc = subprocess.Popen([sys.executable, str(HOST), self.kind, str(self.tmp)], env=self.env, cwd=ROOT,
                                     stdout=self.log, stderr=self.log)
        return self

    def output(self) -> str:
        return (self.tmp / "daemon.log").read_text()

    def events(self) -> list[dict]:
        try:
            return [json.loads(line) for line in (self.state / "history.jsonl").read_text().splitlines() if line]
        except FileNotFoundError:
            return []

    def wait_for(self, condition, what: str, timeout: float = 15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = condition()
            if found:
                return found
            assert self.proc.poll() is None, f"the daemon exited {self.proc.returncode} waiting for {what}:\n" \
                                             f"{self.output()}"
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; events {self.events()}\n{self.output()}")

    def event(self, kind: str, subject: str) -> dict:
        return self.wait_for(lambda: next((e for e in self.events() if e["kind"] == kind and e["subject"] == subject),
                                          None), f"a {kind} event for {subject}")

    def stop(self) -> tuple[int, float]:
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=10)
        return code, time.monotonic() - start

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def runs():
    made = []
    yield lambda *a, **k: made.append(Run(*a, **k)) or made[-1]
    for run in made:
        run.close()


def socket_status(run: Run):
    """`status` and `findings` over the control socket, once the first check is published."""
    def published():
        try:
            status = call(run.tmp / "nw.sock", "status", timeout=2)
        except Exception:  # noqa: BLE001 - not listening yet
            return None
        return status if status.get("status") != "starting" else None

    status = run.wait_for(published, "a published status")
    return status, call(run.tmp / "nw.sock", "findings", timeout=2)


def netwarden(run: Run, *args: str, windows: bool = False) -> subprocess.CompletedProcess:
    """The CLI against this daemon; `windows`: as on Windows, where status comes from status.json."""
    code = "import sys\nimport netwarden.cli_daemon as c\n" + ("c.CONTROL_SOCKET = False\n" if windows else "") + \
           "from netwarden.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=run.env, cwd=ROOT,
                          timeout=60)


def default_route_via_utun6() -> bytes:
    """RTM_ADD of `default dev utun6`, as XNU sends it when a VPN puts its default route in."""
    body = addresses(sin("0.0.0.0"), sdl(18, "utun6"), b"", sdl(18, "utun6"))
    return rt_msg(0x1, RTA_DST | RTA_GATEWAY | RTA_NETMASK | RTA_IFP, body, index=18, flags=RTF_UP | RTF_STATIC)


def test_the_daemon_runs_on_a_replayed_mac(tmp_path, runs):
    before = with_setting_reads(clean_mac())
    # Then a VPN leaves its default route on utun6 (tunnels.stale) and someone narrows the range.
    after = with_setting_reads(with_sysctl(stale_vpn_mac(), net__inet__ip__portrange__first="61000"))
    bundle(tmp_path / "before", before)
    bundle(tmp_path / "after", after)
    (tmp_path / "rtm.bin").write_bytes(default_route_via_utun6())
    run = runs(tmp_path, "mac").start()

    status, findings = socket_status(run)
    assert status["platform"].lower().startswith("macos") and status["pid"] == run.proc.pid
    found = {f["id"]: f["severity"] for f in findings}
    assert found["ports.range"] == "ok" and found["tunnels.stale"] == "ok", found
    r = netwarden(run, "status")  # the CLI, through the peer credentials read as on a Mac (xucred)
    assert r.returncode == status["exit_code"] and " on macos" in r.stdout.lower(), r.stdout + r.stderr

    (tmp_path / "changed").touch()
    polled = run.wait_for(lambda: next((e for e in run.events() if e["subject"] == "ports.range"), None),
                          "the range's drift")
    assert polled["trigger"].startswith("poll: net.inet.ip.portrange.first '49152' -> '61000'"), polled
    assert polled["after"]["value"] == "61000-65535"
    route = run.event("kernel-changed", "default route")
    assert route["trigger"] == "routing socket" and route["after"] == {"route": "default via utun6 dev utun6"}
    tunnel = run.event("appeared", "tunnels.stale")
    assert tunnel["severity"] == "critical" and tunnel["trigger"] == "routing socket default route", tunnel

    code, took = run.stop()
    assert code == 0 and took < 2, run.output()
    assert "netwarden daemon stopped" in run.output() and "Traceback" not in run.output()
    assert not (tmp_path / "nw.sock").exists()


def past_the_wrap(msl_ms: int) -> dict:
    """A Mac 50 days up (its TCP clock wrapped 1.4 days ago) with 16,211 TIME_WAIT sockets that do
    not drain (16,388 one sample later: constructed counts, as in test_darwin_replay)."""
    host = with_sysctl(clean_mac(uptime_days=50), net__inet__tcp__tw_pcbcount="16211",
                       net__inet__tcp__msl=str(msl_ms))
    host[("/usr/sbin/sysctl", "-n", "net.inet.tcp.tw_pcbcount")] = "16388\n"
    return with_setting_reads(host)


def test_the_mac_s_tcp_clock_waits_31_s_off_the_loop(tmp_path, runs):
    host = past_the_wrap(15000)  # the default MSL: the second sample 2 x 15 + 1 = 31 s after the first
    bundle(tmp_path / "before", host)
    bundle(tmp_path / "after", with_setting_reads(with_sysctl(host, net__inet__ip__portrange__first="61000")))
    run = runs(tmp_path, "mac").start()
    started = time.monotonic()

    status, findings = socket_status(run)  # published while the clock's reading sleeps
    assert "ports.range" in {f["id"] for f in findings} and "ports.clock-freeze" not in {f["id"] for f in findings}
    (tmp_path / "changed").touch()
    drift = run.wait_for(lambda: next((e for e in run.events() if e["subject"] == "ports.range"), None),
                         "the range's drift")
    assert drift["trigger"].startswith("poll: net.inet.ip.portrange.first")
    assert time.monotonic() - started < 20  # long before the 31 s wait is over
    code, took = run.stop()  # launchd's ExitTimeOut is 10 s: the wait must not hold the stop
    assert code == 0 and took < 2, run.output()


def test_the_clock_s_finding_arrives_when_its_wait_is_over(tmp_path, runs):
    bundle(tmp_path / "before", past_the_wrap(1000))  # MSL 1 s: the second sample 3 s later
    bundle(tmp_path / "after", past_the_wrap(1000))
    run = runs(tmp_path, "mac").start()
    started = time.monotonic()
    socket_status(run)
    clock = run.event("appeared", "ports.clock-freeze")
    assert clock["severity"] == "critical" and clock["trigger"] == "start"
    assert 3 <= time.monotonic() - started
    findings = call(tmp_path / "nw.sock", "findings", timeout=2)
    assert {f["id"]: f["severity"] for f in findings}["ports.clock-freeze"] == "critical"
    assert run.stop()[0] == 0


def test_the_daemon_runs_on_a_replayed_windows_host(tmp_path, runs):
    write_bundle(tmp_path / "before", english_host())
    narrowed = {**english_host(), "ipv4 tcp": SHOW_DYNAMIC.format(protocol="tcp", start=60000, num=1000)}
    write_bundle(tmp_path / "after", narrowed)
    run = runs(tmp_path, "windows").start()

    def published():
        r = netwarden(run, "status", "--json", windows=True)
        return json.loads(r.stdout) if r.returncode in (0, 1, 2) else None

    doc = run.wait_for(published, "status.json")
    assert doc["status"]["platform"].lower().startswith("windows") and doc["status"]["pid"] == run.proc.pid
    assert {f["id"] for f in doc["findings"]} >= {"ports.range", "ports.pressure", "ipv6.preference"}
    assert not (tmp_path / "nw.sock").exists()  # no control socket on Windows
    text = netwarden(run, "status", windows=True)
    assert " on windows" in text.stdout.lower() and "ports.range" in text.stdout, text.stdout + text.stderr

    mark = len(run.events())  # a stock range minus Hyper-V's blocks: warned about from the start
    (tmp_path / "changed").touch()
    drift = run.wait_for(lambda: next((e for e in run.events()[mark:] if e["subject"] == "ports.range"), None),
                         "the range's drift")
    assert drift["trigger"].startswith("poll: dynamicport ipv4 tcp 'start=1024 num=13977' -> 'start=60000 num=1000'")
    assert drift["severity"] == "critical"
    after = run.wait_for(lambda: (d := published()) and d["status"]["events_total"] >= 1 and d, "the new status")
    assert {f["id"]: f["severity"] for f in after["findings"]}["ports.range"] == "critical"

    for command in (["events"], ["status", "--follow"]):
        r = netwarden(run, *command, windows=True)
        assert r.returncode == 64 and "history.jsonl" in r.stderr and "Traceback" not in r.stderr, r.stderr
    code, took = run.stop()
    assert code == 0 and took < 2, run.output()
    stopped = netwarden(run, "status", windows=True)
    assert stopped.returncode == 3 and "no netwarden daemon is running (it stopped at" in stopped.stderr


def test_the_windows_daemon_s_modules_load_with_posix_only_modules_blocked(tmp_path):
    """What `netwarden daemon` and `status` import on Windows (the control socket's modules are not
    among them) loads without fcntl, grp, pwd or termios, and the status file is written and read."""
    code = (
        "import sys\n"
        "for name in ('fcntl', 'grp', 'pwd', 'termios'): sys.modules[name] = None  # import raises ImportError\n"
        "import netwarden.daemon.service, netwarden.daemon.host.windows, netwarden.daemon.metrics\n"
        "import netwarden.cli_daemon\n"
        "from netwarden.daemon.host import host_for\n"
        "from netwarden.daemon.statusfile import StatusFile, read_status\n"
        "host = host_for('win32')\n"
        "assert not host.control_socket and host.peer(None) is None\n"
        "host.file_observer(type('S', (), {'poll_interval': 5.0}))\n"
        f"channel = StatusFile({str(tmp_path)!r}, print)\n"
        "channel.open()\n"
        f"print(read_status({str(tmp_path / 'status.json')!r}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('netwarden.daemon.') and m.split('.')[2] in "
        "('control', 'listener')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=clean_env(),
                          timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["({'status': 'starting'}, [])", "[]"]
