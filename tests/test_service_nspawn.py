"""netwarden as a service under real systemd 252: the Debian package built from this checkout,
installed into a booted Debian 12 container (systemd-nspawn), driven with systemctl, read back
from journald.

The first run on a machine builds the container's root with debootstrap (about a minute); later
runs reuse it. The container has its own network namespace, so the sysctls changed here are its
own, never the host's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from netwarden import __version__
from netwarden.daemon.notify import MESSAGE_IDS
import nspawn

pytestmark = pytest.mark.service
PORT_RANGE = "net.ipv4.ip_local_port_range"
CONFIG = "/etc/netwarden/netwarden.toml"


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    reason = nspawn.unavailable()
    if reason:
        pytest.skip(reason)
    dist = tmp_path_factory.mktemp("dist")
    deb = nspawn.build_deb(dist)
    container = nspawn.Container(nspawn.rootfs(), {dist: "/mnt/dist"}, tmp_path_factory.mktemp("nspawn") / "console.log")
    try:
        container.install = container.run("dpkg", "-i", f"/mnt/dist/{deb.name}", timeout=120)
        yield container
    finally:
        container.close()


def host_path(box, path: str) -> Path:
    """A file inside the container, as seen from the host (through its PID 1's root)."""
    return Path(f"/proc/{box.leader}/root{path}")


def port_range(box) -> str:
    """Read inside the container: /proc/sys/net shows the reader's network namespace."""
    return " ".join(box.run("sysctl", "-n", PORT_RANGE, check=True).stdout.split())


def ensure_running(box) -> dict[str, str]:
    box.run("systemctl", "start", "netwarden.service", check=True, timeout=60)
    return box.show("netwarden.service", "ActiveState", "MainPID", "InvocationID")


def wait_for_new_main_process(box, old_pid: str) -> dict[str, str]:
    """Active again with another main process (after a restart); its state."""
    def restarted():
        """a new main process, active"""
        s = box.show("netwarden.service", "ActiveState", "MainPID", "NRestarts")
        return s["ActiveState"] == "active" and s["MainPID"] not in ("0", old_pid) and s

    return box.wait_for(restarted, timeout=30)


def journal(box, invocation: str, *matches: str) -> list[dict]:
    """The unit's journal entries from one invocation (one start of the service), as JSON objects."""
    out = box.run("journalctl", "--no-pager", "-o", "json", "-u", "netwarden.service",
                  f"_SYSTEMD_INVOCATION_ID={invocation}", *matches, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def messages(box, invocation: str) -> list[str]:
    return [e.get("MESSAGE", "") for e in journal(box, invocation)]


def test_the_package_installs_enables_the_service_and_only_observes(box):
    assert box.install.returncode == 0, box.install
    assert box.run("getent", "group", "netwarden").returncode == 0, "no netwarden group"
    enabled = box.run("systemctl", "is-enabled", "netwarden.socket", "netwarden.service").stdout.split()
    assert enabled == ["enabled", "enabled"]
    # postinst started it (systemd runs), as Debian packages of daemons do
    box.wait_for(lambda: box.run("systemctl", "is-active", "netwarden.service").stdout.strip() == "active", 30)
    assert box.run("netwarden", "--version", check=True).stdout.strip() == f"netwarden {__version__}"
    # bytecode compiled by postinst for this interpreter: the service's /usr is read-only
    assert list(host_path(box, "/usr/lib/netwarden/python/netwarden/__pycache__").glob("cli.cpython-3*.pyc"))
    conffiles = box.run("dpkg-query", "-W", "-f=${Conffiles}", "netwarden", check=True).stdout
    assert CONFIG in conffiles
    # Only observing: no sysctl drop-in, no journaled change, and the shipped config loads.
    assert not host_path(box, "/etc/sysctl.d/60-netwarden.conf").exists()
    changes = host_path(box, "/var/lib/netwarden/journal.json")
    assert not changes.exists() or '"target"' not in changes.read_text()
    check = box.run("netwarden", "check", "--config", CONFIG)
    assert check.returncode in (0, 1, 2, 3), check
    assert "ports.range" in check.stdout


def test_start_returns_once_the_daemon_said_ready(box):
    box.run("systemctl", "stop", "netwarden.service", check=True)
    started = time.monotonic()
    box.run("systemctl", "start", "netwarden.service", check=True, timeout=60)
    elapsed = time.monotonic() - started
    state = box.show("netwarden.service", "ActiveState", "SubState", "Type", "StatusText", "WatchdogUSec",
                     "InvocationID")
    print(f"systemctl start -> active (READY=1): {elapsed * 1000:.0f} ms")
    assert (state["ActiveState"], state["SubState"], state["Type"]) == ("active", "running", "notify")
    # STATUS= comes with READY=1, after the first check run: systemctl start waited for both.
    assert "events" in state["StatusText"], state
    assert state["WatchdogUSec"] == "30s"
    assert any(m.startswith(f"daemon {__version__} started") for m in messages(box, state["InvocationID"]))


def test_status_answers_root_and_the_group_but_nobody_else(box):
    ensure_running(box)
    box.run("useradd", "--no-create-home", "--groups", "netwarden", "alice", check=True)
    box.run("useradd", "--no-create-home", "bob", check=True)
    as_root = box.run("netwarden", "status")
    as_member = box.run("netwarden", "status", user="alice")
    as_other = box.run("netwarden", "status", user="bob")
    assert as_root.returncode in (0, 1, 2, 3) and "ports.range" in as_root.stdout, as_root
    assert as_member.returncode == as_root.returncode and "ports.range" in as_member.stdout, as_member
    assert as_other.returncode == 77, as_other
    assert len(as_other.stderr.strip().splitlines()) == 1 and "socket group" in as_other.stderr


def test_a_sysctl_changed_in_the_container_is_drift_in_the_journal_and_left_alone(box):
    invocation = ensure_running(box)["InvocationID"]
    original = port_range(box)
    box.run("sysctl", "-w", f"{PORT_RANGE}=61000 61300", check=True)  # 301 ports
    changed = time.monotonic()
    try:
        def critical_drift():
            """a critical ports.range event in the journal"""
            return journal(box, invocation, "NETWARDEN_CHECK=ports.range", "NETWARDEN_SEVERITY=critical")

        event = box.wait_for(critical_drift, timeout=30)[-1]
        print(f"sysctl changed -> journal event: {(time.monotonic() - changed) * 1000:.0f} ms (poll_interval 5 s)")
        assert event["MESSAGE_ID"] in MESSAGE_IDS.values()
        assert event["NETWARDEN_EVENT"] in ("appeared", "changed")
        assert event["PRIORITY"] == "2"
        assert PORT_RANGE in event["NETWARDEN_TRIGGER"]
        # observe is the default: reported, not corrected
        assert port_range(box) == "61000 61300"
        assert box.run("netwarden", "status").returncode == 2
    finally:
        box.run("sysctl", "-w", f"{PORT_RANGE}={original}", check=True)

    def cleared():
        """the ports.range finding back to ok in the journal, after the critical event"""
        return [e for e in journal(box, invocation, "NETWARDEN_CHECK=ports.range", "NETWARDEN_SEVERITY=ok")
                if int(e["__REALTIME_TIMESTAMP"]) > int(event["__REALTIME_TIMESTAMP"])]

    box.wait_for(cleared, timeout=30)


def test_reload_rereads_the_config_in_the_same_process_and_keeps_it_when_bad(box):
    state = ensure_running(box)
    pid, invocation = state["MainPID"], state["InvocationID"]
    config = host_path(box, CONFIG)
    shipped = config.read_bytes()
    reloads = messages(box, invocation).count("configuration reloaded")
    box.run("systemctl", "reload", "netwarden.service", check=True)
    box.wait_for(lambda: messages(box, invocation).count("configuration reloaded") > reloads, timeout=15)
    config.write_bytes(b"poll_interval = -1\n")
    try:
        box.run("systemctl", "reload", "netwarden.service", check=True)

        def refused():
            """the bad config refused in the journal"""
            return [m for m in messages(box, invocation) if m.startswith("reload refused")]

        assert "poll_interval" in box.wait_for(refused, timeout=15)[0]
    finally:
        config.write_bytes(shipped)
    # (the daemon watches its config file too: writing it back reloads once more, RELOADING=1 .. READY=1)

    def active():
        """ActiveState=active again after the reloads"""
        s = box.show("netwarden.service", "ActiveState", "MainPID", "InvocationID")
        return s["ActiveState"] == "active" and s

    after = box.wait_for(active, timeout=15)
    assert (after["MainPID"], after["InvocationID"]) == (pid, invocation)


def test_the_sandbox_lets_it_write_only_what_it_must(box):
    pid = ensure_running(box)["MainPID"]

    def in_its_mounts(script: str):
        return box.run("nsenter", "--target", pid, "--mount", "--", "sh", "-c", script)

    for path in ("/etc/netwarden-escape", "/usr/lib/netwarden/escape", "/root/escape"):
        denied = in_its_mounts(f"touch {path}")
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr, (path, denied)
    assert in_its_mounts("echo nwtest > /proc/sys/kernel/domainname").returncode != 0
    allowed = in_its_mounts("touch /etc/sysctl.d/.nw-probe && rm /etc/sysctl.d/.nw-probe && "
                            "cat /proc/sys/net/ipv4/tcp_keepalive_time > /proc/sys/net/ipv4/tcp_keepalive_time")
    assert allowed.returncode == 0, allowed
    status = dict(line.split(":\t", 1) for line in host_path(box, f"/proc/{pid}/status").read_text().splitlines()
                  if ":\t" in line)
    assert int(status["CapBnd"], 16) == 1 << 12, status["CapBnd"]  # CAP_NET_ADMIN alone
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"  # a system call filter is in force


def test_stop_is_clean_and_the_socket_starts_it_again(box):
    invocation = ensure_running(box)["InvocationID"]
    box.run("systemctl", "stop", "netwarden.service", check=True)
    stopped = box.show("netwarden.service", "ActiveState", "Result", "ExecMainStatus")
    assert (stopped["ActiveState"], stopped["Result"], stopped["ExecMainStatus"]) == ("inactive", "success", "0")
    assert "netwarden daemon stopped" in messages(box, invocation)
    assert box.run("systemctl", "is-active", "netwarden.socket").stdout.strip() == "active"
    asked = box.run("netwarden", "status", timeout=60)  # socket activation
    assert asked.returncode in (0, 1, 2, 3) and "ports.range" in asked.stdout, asked
    again = box.show("netwarden.service", "ActiveState", "InvocationID")
    assert again["ActiveState"] == "active" and again["InvocationID"] != invocation


def test_the_watchdog_is_fed_and_a_hung_daemon_is_killed_and_restarted(box):
    """With WatchdogSec=2s (a drop-in; the unit's 30 s would make this slow) the daemon pings every
    second; a daemon that stops answering (SIGSTOP) is killed by systemd and started again."""
    dropin = host_path(box, "/etc/systemd/system/netwarden.service.d/watchdog.conf")
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text("[Service]\nWatchdogSec=2s\n")
    try:
        box.run("systemctl", "daemon-reload", check=True)
        box.run("systemctl", "restart", "netwarden.service", check=True)
        first = box.show("netwarden.service", "WatchdogTimestampMonotonic", "MainPID", "NRestarts")
        time.sleep(2.5)
        fed = box.show("netwarden.service", "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"]
        assert int(fed) > int(first["WatchdogTimestampMonotonic"]), "no WATCHDOG=1 in 2.5 s"
        box.run("kill", "-STOP", first["MainPID"], check=True)
        state = wait_for_new_main_process(box, first["MainPID"])
        assert int(state["NRestarts"]) == int(first["NRestarts"]) + 1
        log = box.run("journalctl", "--no-pager", "-u", "netwarden.service", "-o", "cat", check=True).stdout
        assert "Watchdog timeout" in log
    finally:
        dropin.unlink()
        box.run("systemctl", "daemon-reload", check=True)
        box.run("systemctl", "restart", "netwarden.service", check=True)


def test_a_crashed_daemon_is_restarted(box):
    pid = ensure_running(box)["MainPID"]
    restarts = int(box.show("netwarden.service", "NRestarts")["NRestarts"])
    box.run("kill", "-KILL", pid, check=True)
    state = wait_for_new_main_process(box, pid)
    assert int(state["NRestarts"]) == restarts + 1


def test_remove_stops_it_and_purge_leaves_nothing(box):
    ensure_running(box)
    box.run("dpkg", "--remove", "netwarden", check=True, timeout=120)
    assert box.run("systemctl", "is-active", "netwarden.service").stdout.strip() != "active"
    assert not host_path(box, "/usr/bin/netwarden").exists()
    assert host_path(box, CONFIG).exists(), "remove keeps the admin's configuration"
    box.run("dpkg", "--purge", "netwarden", check=True, timeout=120)
    assert not host_path(box, "/etc/netwarden").exists()
    assert not host_path(box, "/usr/lib/netwarden").exists(), "prerm's py3clean left bytecode behind"
    assert not host_path(box, "/var/lib/netwarden").exists()
