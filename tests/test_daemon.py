"""The daemon, as a real process in a namespace: drift, enforcement without fighting, watchers,
lifecycle and notifications."""

import json
import subprocess
import os
import signal
import socket
import sys
import time

import pytest
from lab import TOOLS, link

pytestmark = pytest.mark.lab

RANGE = "net.ipv4.ip_local_port_range"
ENFORCE = '[policy]\n"ports.range" = "enforce"\n'


def test_narrowed_range_is_drift_and_enforce_restores_it(ns, daemon):
    d = daemon(ENFORCE)
    ns.sysctl(RANGE, "60700 61000")
    appeared = d.wait_event("appeared", "ports.range")
    assert appeared["after"]["severity"] == "critical" and appeared["after"]["value"] == "60700-61000"
    assert appeared["before"]["value"] == "32768-60999"
    assert "poll" in appeared["trigger"]
    enforced = d.wait_event("enforced", RANGE)
    assert enforced["after"] == {"value": "32768 61000"}
    d.wait_event("cleared", "ports.range")
    assert ns.sysctl(RANGE).split() == ["32768", "61000"]
    assert f"{RANGE} = 32768 61000" in (d.tmp / "sysctl.d" / "60-netwarden.conf").read_text()
    assert not [e for e in d.events() if e["kind"] == "file-changed"]  # its own drop-in write is not news


def test_observe_only_reports(ns, daemon):
    d = daemon()
    ns.sysctl(RANGE, "60700 61000")
    d.wait_event("appeared", "ports.range")
    time.sleep(1)
    assert ns.sysctl(RANGE) == "60700\t61000"
    assert not [e for e in d.events() if e["kind"] == "enforced"]


def test_someone_else_changing_an_enforced_value_is_reported_once_then_left_alone_until_release(ns, daemon):
    d = daemon(ENFORCE)
    ns.sysctl(RANGE, "60700 61000")
    d.wait_event("enforced", RANGE)
    mark = len(d.events())
    for value in ("50000 51000", "50000 52000"):  # someone else, twice
        ns.sysctl(RANGE, value)
        time.sleep(0.8)
    contested = [e for e in d.events()[mark:] if e["kind"] == "contested"]
    assert len(contested) == 1
    assert contested[0]["before"] == {"value": "32768 61000"} and contested[0]["after"]["value"].split() == ["50000", "51000"]
    assert "was '32768 61000', now '50000 51000'" in contested[0]["message"]  # one way of writing, not a tab
    assert ns.sysctl(RANGE).split() == ["50000", "52000"]  # not fought over
    r = d.netwarden("release", RANGE)
    assert r.returncode == 0, r.stderr
    d.wait_event("released", RANGE, after=mark)
    d.wait_event("enforced", RANGE, after=mark)  # at once, not at the next change
    assert ns.sysctl(RANGE).split() == ["32768", "60999"]  # from 50000-52000: widened, never narrowed


def test_always_policy_backs_off_after_the_hourly_limit_and_alerts_once_without_spinning(ns, daemon):
    d = daemon('enforce_max_per_hour = 3\n[policy]\n"ports.range" = "always"\n')
    cpu_before = d.cpu_seconds()
    for _ in range(6):  # another program flips it every second
        ns.sysctl(RANGE, "60700 61000")
        time.sleep(1)
    kinds = [e["kind"] for e in d.events() if e["subject"] == RANGE]
    assert kinds.count("enforced") == 3
    assert kinds.count("backed-off") == 1
    assert "contested" not in kinds
    assert ns.sysctl(RANGE) == "60700\t61000"  # left as the other program set it
    assert d.cpu_seconds() - cpu_before < 1.5  # over ~6 s: no busy loop


def test_netwarden_s_own_one_shot_writes_are_not_mistaken_for_someone_else_s(ns, daemon):
    d = daemon("enforce_max_per_hour = 10\n" + ENFORCE)
    ns.sysctl(RANGE, "60700 61000")
    d.wait_event("enforced", RANGE)
    for _ in range(3):  # the admin reverts; the enforcing daemon fixes it again; never "contested"
        mark = len(d.events())
        r = d.netwarden("--revert")
        assert r.returncode == 0, r.stderr
        d.wait_event("enforced", RANGE, after=mark)
        assert not [e for e in d.events()[mark:] if e["kind"] == "contested"]
    r = d.netwarden("--apply")  # nothing left to do while the daemon holds it fixed
    assert r.returncode == 0 and "Nothing to change" in r.stdout, r.stdout + r.stderr


def test_atomic_rewrites_of_watched_files_including_through_a_retargeted_symlink(ns, daemon, tmp_path):
    etc, run_a, run_b = tmp_path / "etc", tmp_path / "run-a", tmp_path / "run-b"
    for directory in (etc, run_a, run_b):
        directory.mkdir()
    (run_a / "resolv.conf").write_text("nameserver 198.18.0.53\n")
    (run_b / "resolv.conf").write_text("nameserver 198.18.0.54\n")
    (etc / "resolv.conf").symlink_to(run_a / "resolv.conf")
    (etc / "gai.conf").write_text("# stock\n")
    d = daemon(env={"NETWARDEN_WATCH_FILES": json.dumps([str(etc / "gai.conf"), str(etc / "resolv.conf")])})

    def replace(path, text):  # as editors and resolvconf do: write aside, rename over
        tmp = path.with_name(path.name + ".new")
        tmp.write_text(text)
        os.rename(tmp, path)

    mark = len(d.events())
    replace(etc / "gai.conf", "precedence ::ffff:0:0/96 100\n")
    d.wait_event("file-changed", str(etc / "gai.conf"), after=mark)
    replace(run_a / "resolv.conf", "nameserver 198.18.0.55\n")  # behind the link
    d.wait_event("file-changed", str(etc / "resolv.conf"), after=mark)
    mark = len(d.events())
    new_link = etc / "resolv.conf.new"
    new_link.symlink_to(run_b / "resolv.conf")
    os.rename(new_link, etc / "resolv.conf")  # retarget the link
    d.wait_event("file-changed", str(etc / "resolv.conf"), after=mark)
    mark = len(d.events())
    replace(run_b / "resolv.conf", "nameserver 198.18.0.56\n")  # behind the new target: watch re-armed
    d.wait_event("file-changed", str(etc / "resolv.conf"), after=mark)


def test_a_write_to_a_bind_mounted_watched_file_is_seen_on_the_poll(ns, daemon, tmp_path):
    """`ip netns exec` and container runtimes bind-mount resolv.conf and gai.conf: an in-place write
    through the mount's source reaches inotify on the source's directory only, so the daemon
    compares the watched files on its poll timer too (0.3 s here)."""
    etc, source = tmp_path / "etc", tmp_path / "netns-etc"
    etc.mkdir(), source.mkdir()
    (etc / "resolv.conf").write_text("nameserver 198.18.0.53\n")
    (source / "resolv.conf").write_text("nameserver 198.18.0.54\n")
    subprocess.run(["mount", "--bind", str(source / "resolv.conf"), str(etc / "resolv.conf")], check=True)
    try:
        d = daemon(env={"NETWARDEN_WATCH_FILES": json.dumps([str(etc / "resolv.conf")])})
        mark = len(d.events())
        with open(source / "resolv.conf", "a") as f:  # in place, as `echo >>` does: a bind mount cannot be renamed over
            f.write("nameserver 198.18.0.55\n")
        event = d.wait_event("file-changed", str(etc / "resolv.conf"), after=mark, timeout=3)
        assert event["before"] != event["after"]
    finally:
        subprocess.run(["umount", str(etc / "resolv.conf")], check=False)


def test_mtu_change_on_a_veth_is_an_event(ns, netns, daemon):
    peer = netns()
    link(ns, "198.18.1.1/24", peer, "198.18.1.2/24")
    d = daemon()
    dev = ns.run("ip", "-o", "link", "show", "type", "veth").stdout.split(":")[1].strip().split("@")[0]
    ns.run("ip", "link", "set", dev, "mtu", "1280")
    event = d.wait_event("kernel-changed", f"link {dev}")
    assert event["before"]["mtu"] == 1500 and event["after"]["mtu"] == 1280
    assert "mtu 1500 -> 1280" in event["message"]


def test_sighup_with_a_broken_config_keeps_the_old_one_and_sigterm_stops_quickly(ns, daemon):
    d = daemon(ENFORCE)
    # Written whole (a rename): written in place, the file can be seen empty by the daemon's watch,
    # which reloads it (the defaults: valid) before the broken text arrives. That race is the
    # daemon's (reported), not what this test is about.
    new = d.config.with_name("new.toml")
    new.write_text("poll_interval = 'soon'\n")
    new.replace(d.config)
    d.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert d.proc.poll() is None
    ns.sysctl(RANGE, "60700 61000")  # the old config (enforce) still rules
    d.wait_event("enforced", RANGE)
    code, seconds = d.stop()
    assert code == 0 and seconds < 2
    assert "reload refused" in d.output()


def test_a_reload_applies_what_it_can_and_refuses_what_only_a_restart_changes(ns, daemon):
    from lab import without_probe_checks

    d = daemon()
    base = "poll_interval = 0.3\ncensus_interval = 60\n"
    ns.sysctl(RANGE, "32768 60999")  # 28,232 ports: ok at the default thresholds

    def reload_with(text: str) -> None:
        new = d.config.with_name("new.toml")
        new.write_text(without_probe_checks(base + text))
        new.replace(d.config)
        d.proc.send_signal(signal.SIGHUP)

    # A key bound at start: refused, naming it; the running configuration (and daemon) stay.
    reload_with("history_size = 10\n")
    d.wait_for(lambda: "history_size changed" in d.output(), "the refusal")
    assert "reload refused" in d.output() and d.proc.poll() is None
    # A threshold: applied by the checks (the backend's settings too), now.
    after = len(d.events())
    reload_with("[thresholds]\nports_range_warning = 30000\n")
    event = d.wait_event("appeared", "ports.range", after=after)
    assert event["severity"] == "warning"
    assert d.stop()[0] == 0


def test_a_reload_with_no_config_file_anywhere_reloads_the_defaults(ns, tmp_path):
    """No --config, no $NETWARDEN_CONFIG, no default file: the daemon runs on the defaults, and a
    reload must too (it said "config file /etc/netwarden/netwarden.toml not found")."""
    from daemon_lab import DaemonRun

    from netwarden.config import config_file_path

    if config_file_path(None).exists():
        pytest.skip(f"{config_file_path(None)} exists on this machine: the test needs it absent")
    d = DaemonRun(ns, tmp_path)
    del d.env["NETWARDEN_CONFIG"]
    d.start()
    try:
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for(lambda: "configuration reloaded" in d.output() or "reload refused" in d.output(), "the reload")
        assert "configuration reloaded" in d.output() and "not found" not in d.output(), d.output()
    finally:
        assert d.stop()[0] == 0


def test_after_a_restart_status_counts_the_drift_events_its_history_holds(ns, daemon):
    """It said "0 drift events" while history.jsonl held the earlier ones."""
    first = daemon()
    ns.sysctl(RANGE, "60700 61000")
    first.wait_event("appeared", "ports.range")
    held = len(first.events())
    assert first.stop()[0] == 0 and held >= 1
    second = daemon()

    def status() -> dict:
        return json.loads(second.netwarden("status", "--json").stdout).get("status", {})

    second.wait_for(lambda: status().get("status") not in (None, "starting"), "the first check")
    total = status()["events_total"]
    assert total >= held, (total, held)
    assert f"{total} drift events" in second.netwarden("status").stdout.splitlines()[0]


def test_a_second_daemon_with_the_same_state_dir_refuses(ns, daemon):
    d = daemon()
    r = ns.netwarden("daemon", env=d.env, timeout=20)
    assert r.returncode == 75
    # The pid that last wrote daemon.pid: said as such, since a pid in a file may not be the holder.
    assert f"another netwarden daemon is running with state dir {d.state} (pid {d.proc.pid} last wrote daemon.pid)" \
        in r.stderr


def test_sd_notify_ready_status_watchdog_reload_stopping_in_order(ns, daemon, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    d = daemon(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    messages = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        messages.append(sock.recv(4096).decode())
    d.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    d.stop()
    sock.settimeout(0.5)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except TimeoutError:
        pass
    sock.close()
    first = messages[0].splitlines()
    assert first[0] == "READY=1" and first[1].startswith("STATUS=ok: 6 ok")
    assert messages.count("WATCHDOG=1") >= 4  # every 0.1 s over ~1 s
    reload_at = next(i for i, m in enumerate(messages) if m.startswith("RELOADING=1"))
    assert "MONOTONIC_USEC=" in messages[reload_at]
    assert any(m.startswith("READY=1") for m in messages[reload_at:])
    assert messages[-1] == "STOPPING=1"


def test_crashed_apply_is_undone_at_start(ns, daemon, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    ns.sysctl(RANGE, "32768 61000")  # the change that was made before the crash
    (state / "journal.json").write_text(json.dumps({"format": 1, "entries": [
        {"kind": "sysctl", "target": RANGE, "original": "60700\t61000", "check": "ports.range",
         "state": "pending", "time": "x"}]}))
    d = daemon()
    assert ns.sysctl(RANGE) == "60700\t61000"
    assert json.loads((state / "journal.json").read_text())["entries"] == []
    d.wait_event("appeared", "ports.range")


def test_webhook_and_exec_hook_receive_the_event(ns, daemon, tmp_path):
    posted = tmp_path / "posted.jsonl"  # the receiver runs on the lab namespace's loopback
    ns.start(sys.executable, str(TOOLS), "webhook", "8099", str(posted), ready="ready")
    ran = tmp_path / "hook.jsonl"
    hook = json.dumps([sys.executable, "-c", f"import sys; open({str(ran)!r}, 'a').write(sys.stdin.read() + '\\n')"])
    d = daemon(ENFORCE, env={"NETWARDEN_WEBHOOK_URL": "http://127.0.0.1:8099/hook", "NETWARDEN_EXEC_HOOK": hook})
    ns.sysctl(RANGE, "60700 61000")
    d.wait_event("enforced", RANGE)
    for path in (posted, ran):
        d.wait_for(lambda: path.exists() and path.read_text().count("\n") >= 3, f"events in {path.name}")
        kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
        assert kinds[:3] == ["appeared", "enforced", "cleared"]


def test_an_unreadable_sysctl_d_entry_is_reported_and_the_daemon_keeps_watching(ns, daemon, tmp_path):
    d = daemon()
    mark = len(d.events())
    (tmp_path / "sysctl.d" / "50-bad.conf").mkdir()  # named like a file, cannot be read as one
    (tmp_path / "sysctl.d" / "51-ok.conf").write_text("net.ipv4.tcp_tw_reuse = 1\n")
    d.wait_event("file-changed", str(tmp_path / "sysctl.d"), after=mark)
    ns.sysctl(RANGE, "60700 61000")
    d.wait_event("appeared", "ports.range", after=mark)
    status = json.loads(d.netwarden("status", "--json").stdout)
    evidence = next(f for f in status["findings"] if f["id"] == "ports.range")["evidence"]
    assert any("50-bad.conf" in line and "Is a directory" in line for line in evidence), evidence
    assert d.proc.poll() is None


def test_a_key_under_observe_is_never_held_back(ns, daemon):
    d = daemon()  # observe: the daemon only reports
    ns.sysctl(RANGE, "60700 61000")
    d.wait_event("appeared", "ports.range")
    assert d.netwarden("--apply").returncode == 0  # an admin's fix: the journal now says what netwarden wrote
    mark = len(d.events())
    ns.sysctl(RANGE, "50000 51000")  # someone else changes it
    d.wait_event("appeared", "ports.range", after=mark)
    status = json.loads(d.netwarden("status", "--json").stdout)["status"]
    assert status["contested"] == {} and status["backed_off"] == []
    assert not [e for e in d.events()[mark:] if e["kind"] == "contested"]


def test_a_route_into_a_dead_tunnel_is_seen_through_netlink(ns, daemon):
    d = daemon()
    mark = len(d.events())
    ns.run("ip", "tuntap", "add", "dev", "nwtun1", "mode", "tun")
    ns.run("ip", "link", "set", "nwtun1", "up")
    ns.run("ip", "route", "add", "198.18.9.0/24", "dev", "nwtun1")  # no process behind it: no carrier
    event = d.wait_event("appeared", "tunnels.stale", after=mark)
    assert event["trigger"].startswith("netlink") and event["severity"] == "warning", event
    ns.run("ip", "link", "del", "nwtun1")
    d.wait_event("cleared", "tunnels.stale", after=mark)


# A fault injected into one of the daemon's threads (the daemon run through `python -c`, with the
# thread's code patched first): how it dies, and what the test does to make it happen.
THREAD_FAULTS = {
    "control socket": "from netwarden.daemon.control import ControlServer as C\n"
                      "def fault(self): raise RuntimeError('injected fault')\n"
                      "C._sweep_idle = fault\n",  # its first idle sweep, a second after it starts
    "kernel watcher": "from netwarden.daemon.host.linux import NetlinkWatcher as W\n"
                      "W._run = lambda self: self.ready.set()\n",  # returns, no exception: netlink was there
    "file watcher": "from netwarden.daemon.watch import FileWatcher as W\n"
                    "def fault(self, path): raise RuntimeError('injected fault')\n"
                    "W.on_path = fault\n",  # at the first change in a watched directory
}


@pytest.mark.parametrize("thread", list(THREAD_FAULTS))
def test_a_daemon_whose_thread_dies_stops_feeding_the_watchdog_and_exits_70(ns, tmp_path, thread):
    from daemon_lab import DaemonRun

    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(0.5)
    run = DaemonRun(ns, tmp_path, env={"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "200000"})
    run.log = open(tmp_path / "daemon.log", "a")
    code = THREAD_FAULTS[thread] + "import sys\nfrom netwarden.cli import main\nsys.exit(main(['daemon']))\n"
    run.proc = ns.start(sys.executable, "-c", code, env=run.env, output=run.log)
    messages = []
    try:
        deadline = time.monotonic() + 15
        while run.proc.poll() is None and time.monotonic() < deadline:
            try:
                messages.append(notify.recv(4096).decode())
            except TimeoutError:
                pass
            if thread == "file watcher":
                (tmp_path / "gai.conf").write_text(f"# {time.monotonic()}\n")
        exit_code = run.proc.wait(timeout=1)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        run.log.close()
    try:
        while True:
            messages.append(notify.recv(4096).decode())
    except TimeoutError:
        notify.close()
    output = run.output()
    assert exit_code == 70, output
    assert f"{thread} stopped working (its thread ended): exiting (70) so that the service manager restarts" in output
    if thread != "kernel watcher":
        assert f"the {thread} thread died (a bug; please report it): Traceback" in output and "injected fault" in output
    assert messages[0].startswith("READY=1") and messages[-1] == "STOPPING=1", messages
    if thread == "control socket":  # it dies a second after READY=1: fed until then
        assert messages.count("WATCHDOG=1") >= 3, messages
    assert "Traceback" not in output.split(f"{thread} stopped working")[1]  # an orderly exit after it


def test_a_host_without_netlink_is_not_a_dead_kernel_watcher(ns, tmp_path):
    from daemon_lab import DaemonRun

    run = DaemonRun(ns, tmp_path)
    run.log = open(tmp_path / "daemon.log", "a")
    code = ("from netwarden.daemon.host.linux import NetlinkWatcher as W\n"
            "def fault(self, first): raise OSError(93, 'Protocol not supported')\n"
            "W._listen = fault\n"
            "import sys\nfrom netwarden.cli import main\nsys.exit(main(['daemon']))\n")
    run.proc = ns.start(sys.executable, "-c", code, env=run.env, output=run.log)
    try:
        run.wait_for(lambda: (run.state / "findings.json").exists(), "the first check")
        time.sleep(1.5)
        assert run.proc.poll() is None, run.output()
        assert "kernel watch unavailable: [Errno 93] Protocol not supported" in run.output()
        code, _ = run.stop()
        assert code == 0
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        run.log.close()


def test_a_full_state_dir_is_logged_once_per_file_and_every_run_goes_on(ns, tmp_path):
    """The state dir on a 64 KiB tmpfs, in a private mount namespace, filled after the first check:
    writing findings.json and history.jsonl fails with ENOSPC at every run. That is said once per
    file at ERR, not as a bug, and the runs still publish (status counts every event logged) and
    write the metrics textfile, which lives elsewhere."""
    from daemon_lab import DaemonRun

    textfile = tmp_path / "metrics.prom"
    d = DaemonRun(ns, tmp_path, f'metrics_textfile = "{textfile}"\n')
    d.state.mkdir(mode=0o700)
    filled, pid_file = tmp_path / "filled", tmp_path / "daemon.pid"
    script = (f'mount -t tmpfs -o size=64k,mode=0700 tmpfs "{d.state}"\n'
              f'"{sys.executable}" -m netwarden daemon & echo $! > "{pid_file}"\n'
              f'while [ ! -e "{d.state}/findings.json" ]; do sleep 0.05; done\n'
              f'dd if=/dev/zero of="{d.state}/filler" bs=4096 2>/dev/null; touch "{filled}"\n'
              "wait\n")
    log = open(tmp_path / "daemon.log", "a")
    proc = ns.start("unshare", "--mount", "--propagation", "private", "sh", "-c", script, env=d.env, output=log)
    deadline = time.monotonic() + 20
    while not filled.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert filled.exists(), d.output()
    try:
        for value in ("60700 61000", "32768 60999", "61000 61100", "32768 60999", "60700 61000", "32768 60999"):
            ns.sysctl(RANGE, value)  # six drift events, each one a check run that saves findings
            time.sleep(0.8)
        status = json.loads(ns.netwarden("status", "--json", env=d.env).stdout)
    finally:
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, d.output()
        log.close()
    output = d.output()
    logged = output.count("netwarden_event=")
    assert "a bug" not in output, output
    assert output.count(f"cannot write {d.state}/findings.json: No space left on device") == 1, output
    assert output.count(f"cannot write {d.state}/history.jsonl: No space left on device") == 1, output
    assert status["status"]["events_total"] == logged >= 6, (status["status"], output)
    assert "netwarden_drift_events_total" in textfile.read_text()


KEEPALIVE = "net.ipv4.tcp_keepalive_time"


@pytest.mark.parametrize("policy", ["enforce", "always"])
def test_rollback_on_stop_puts_back_only_what_netwarden_still_owns(ns, daemon, policy):
    """Someone else set the range after netwarden did (`contested` under enforce, `backed-off`
    under always): SIGTERM leaves their value; the keepalive netwarden still owns is put back."""
    original_keepalive = ns.sysctl(KEEPALIVE)
    d = daemon(f'rollback_on_stop = true\nenforce_max_per_hour = 2\n[policy]\n"ports.range" = "{policy}"\n'
               '"keepalive.idle" = "enforce"\n')
    d.wait_event("enforced", KEEPALIVE)  # at start
    assert ns.sysctl(KEEPALIVE) != original_keepalive
    ns.sysctl(RANGE, "60700 61000")
    d.wait_event("enforced", RANGE)
    theirs = "contested" if policy == "enforce" else "backed-off"
    for _ in range(4):  # the admin's own value, set again until netwarden stands back
        ns.sysctl(RANGE, "50000 52000")
        time.sleep(0.8)
        if [e for e in d.events() if e["kind"] == theirs]:
            break
    d.wait_event(theirs, RANGE)
    ns.sysctl(RANGE, "50000 52000")
    time.sleep(0.5)
    code, _ = d.stop()
    assert code == 0, d.output()
    assert ns.sysctl(RANGE).split() == ["50000", "52000"]  # the admin's value stays
    assert ns.sysctl(KEEPALIVE) == original_keepalive  # netwarden's own change is undone
    assert f"left as someone else set them ({RANGE})" in d.output() and "1 left" in d.output(), d.output()
    entries = json.loads((d.state / "journal.json").read_text())["entries"]
    assert [e["target"] for e in entries] == [RANGE]  # its original is kept for a later --revert
