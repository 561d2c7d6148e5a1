"""The macOS backend end to end on Linux: support bundles assembled from the real captures in
../shared/fixtures/macos (tests/macos.py says which, and what is constructed) replayed through
`netwarden check --replay`, and the same Macs through the engine for the findings' details."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from factories import clean_env
from macos import BOOT, DAY, bundle, clean_mac, stale_vpn_mac, with_sysctl

from netwarden import cli, engine
from netwarden.checks import check_ids
from netwarden.config import Settings
from netwarden.platform.detect import backend_for
from netwarden.platform.source import ReplaySource

ROOT = Path(__file__).resolve().parents[1]
MAC_CHECKS = check_ids("darwin")


def replay(tmp_path, host, settings=None, only=None):
    """(facts, findings by id) of a Mac replayed through the engine as `netwarden check` does it."""
    backend = backend_for(ReplaySource(bundle(tmp_path / "bundle", host)), settings or Settings())
    specs = engine.select_checks(settings or Settings(), only, None, backend.platform.system)
    facts = engine.collect(backend, specs)
    return facts, {f.id: f for f in engine.analyze(facts, settings or Settings(), specs, backend)}


def check(capsys, directory, *args):
    code = cli.main(["check", "--replay", str(directory), *args])
    return code, capsys.readouterr().out


def test_stale_vpn_default_route_is_critical_with_the_exact_route_delete(tmp_path, no_netwarden_env):
    facts, found = replay(tmp_path, stale_vpn_mac())
    tunnels = found["tunnels.stale"]
    assert tunnels.severity.value == "critical"
    assert tunnels.title == "the default route goes through the dead tunnel utun6: default dev utun6 metric 0"
    assert tunnels.advice[0] == "route -n delete -inet default -interface utun6"
    assert not tunnels.changes  # tunnels_remove_stale_routes is off: advice only
    # why utun6 is dead: its VPN services are Disconnected while WireGuard's extension still holds it
    assert 'VPN "vpn.example.com" Disconnected' in tunnels.observed
    assert "com.wireg (pid 612)" in facts.host["vpn"]["utun6"]
    # Apple's utun0-utun4 are never reported, not even as tunnels that are fine
    assert "utun0" not in tunnels.observed and "utun4" not in tunnels.observed
    assert found["mtu.path"].severity.value == "ok"  # blackhole detection is on (the default)


def test_a_vpn_utun_held_by_a_connected_service_is_not_stale(tmp_path, no_netwarden_env):
    host = stale_vpn_mac()
    host[("/usr/sbin/scutil", "--nc", "list")] = host[("/usr/sbin/scutil", "--nc", "list")].replace(
        "(Disconnected)", "(Connected)   ", 1)
    _, found = replay(tmp_path, host, only=["tunnels.stale"])
    assert found["tunnels.stale"].severity.value == "ok"


def test_an_orphaned_vpn_utun_is_dead_only_when_lsof_ran_as_root(tmp_path, no_netwarden_env):
    host = stale_vpn_mac()
    host[("/usr/sbin/lsof", "-nP")] = "COMMAND     PID USER   FD      TYPE             DEVICE SIZE/OFF NODE NAME\n"
    _, found = replay(tmp_path / "root", host, only=["tunnels.stale"])
    assert found["tunnels.stale"].severity.value == "critical"
    assert "no process holds it" in found["tunnels.stale"].observed
    _, found = replay(tmp_path / "user", {**host, "euid": 501}, only=["tunnels.stale"])
    assert found["tunnels.stale"].severity.value == "ok"  # lsof saw only this user's files: cannot tell


def test_clean_mac_with_apples_utuns_has_no_tunnel_finding(tmp_path, no_netwarden_env):
    facts, found = replay(tmp_path, clean_mac())
    assert {link.name: link.kind for link in facts.links if link.name.startswith("utun")} == {
        f"utun{n}": "other" for n in range(5)}
    assert not [link for link in facts.links if link.tunnel]  # gif0/stf0 are unconfigured: not tunnels either
    assert found["tunnels.stale"].severity.value == "ok"
    assert found["tunnels.stale"].observed == "no tunnel interfaces"
    for finding in found.values():
        assert "utun" not in json.dumps(finding._asdict(), default=str), finding.id
    # the scoped IPv6 defaults via fe80::%utun0..3 are not routes ordinary sockets take
    assert [r.dev for r in facts.routes if r.dst == "default"] == ["en0", "en0"]


def test_fifty_days_up_with_time_wait_not_draining_is_critical(tmp_path, no_netwarden_env):
    # macOS 10.14 (the capture's): netstat leaves TIME_WAIT out, tw_pcbcount counts them. The two
    # counts are constructed (the capture's machine had 0).
    host = with_sysctl(clean_mac(uptime_days=50), net__inet__tcp__tw_pcbcount="16211")
    host[("/usr/sbin/sysctl", "-n", "net.inet.tcp.tw_pcbcount")] = "16388\n"
    host["calls"] = [{"op": "call", "key": json.dumps(["clock.sleep", 31.0]), "result": None}]
    facts, found = replay(tmp_path, host, only=["ports.clock-freeze"])
    clock = found["ports.clock-freeze"]
    assert clock.severity.value == "critical"
    assert clock.title.startswith("The TCP clock wrapped 1.4 days ago and froze")
    assert clock.advice[0] == "Reboot this Mac: nothing else restarts the TCP clock."
    assert facts.tcp_clock.time_wait_samples == ((0.0, 16211), (31.0, 16388))
    assert (facts.tcp_clock.wraps_at - BOOT) / DAY == pytest.approx(48.58, abs=0.01)


def test_fifty_days_with_netstat_rows_the_same_sockets_linger(tmp_path, no_netwarden_env):
    # A current macOS (no tw_pcbcount; netstat lists TIME_WAIT). Constructed rows in netstat -an's
    # documented layout: the same TIME_WAIT sockets in both samples, 31 s (> 2 x MSL) apart.
    def rows(first_port):
        return "".join(f"tcp4       0      0  192.168.1.72.{first_port + n}     160.79.104.10.443      TIME_WAIT\n"
                       for n in range(300))

    head = "Active Internet connections (including servers)\nProto Recv-Q Send-Q  Local Address  Foreign Address  (state)\n"
    host = with_sysctl(clean_mac(uptime_days=50), drop=("net.inet.tcp.tw_pcbcount",), kern__osrelease="23.4.0")
    host[("/usr/sbin/netstat", "-an", "-p", "tcp")] = [head + rows(50000), head + rows(50000)]  # the two samples
    host["calls"] = [{"op": "call", "key": json.dumps(["clock.sleep", 31.0]), "result": None}]
    facts, found = replay(tmp_path / "frozen", host, only=["ports.clock-freeze"])  # netstat run for it alone
    assert facts.tcp_clock.lingering == 300 and found["ports.clock-freeze"].severity.value == "critical"
    _, found = replay(tmp_path / "census", host, only=["ports.pressure"])
    assert found["ports.pressure"].title == "160.79.104.10:443 holds 300 of 16384 usable ephemeral ports (2%)"
    # the same Mac whose sockets drained: past the wrap, but the clock runs
    host[("/usr/sbin/netstat", "-an", "-p", "tcp")] = [head + rows(50000), head + rows(51000)]  # as many, all new
    facts, found = replay(tmp_path / "draining", host, only=["ports.clock-freeze"])
    assert facts.tcp_clock.lingering == 0
    assert found["ports.clock-freeze"].severity.value == "ok" and "still drain" in found["ports.clock-freeze"].title


def test_a_mac_before_the_wrap_takes_no_second_sample(tmp_path, no_netwarden_env):
    # No netstat and no clock.sleep in the bundle: a healthy Mac pays nothing for the check.
    host = clean_mac(uptime_days=20)
    del host[("/usr/sbin/netstat", "-an", "-p", "tcp")]
    facts, found = replay(tmp_path / "early", host, only=["ports.clock-freeze"])
    assert facts.tcp_clock.time_wait_samples == () and found["ports.clock-freeze"].severity.value == "ok"
    assert found["ports.clock-freeze"].title == "The TCP clock wraps in 28.6 days"
    _, found = replay(tmp_path / "near", clean_mac(uptime_days=47), only=["ports.clock-freeze"])
    assert found["ports.clock-freeze"].severity.value == "warning"
    assert found["ports.clock-freeze"].advice == ("Plan a reboot before 2020-08-10 04:34 UTC.",)


def test_past_the_wrap_without_time_wait_to_watch_is_a_warning(tmp_path, no_netwarden_env):
    facts, found = replay(tmp_path, clean_mac(uptime_days=50), only=["ports.clock-freeze"])  # tw_pcbcount 0
    assert facts.tcp_clock.note == "no TIME_WAIT socket to watch drain"
    assert found["ports.clock-freeze"].severity.value == "warning"


def test_missing_portrange_first_line_is_unknown_and_nothing_crashes(tmp_path, capsys, no_netwarden_env):
    host = with_sysctl(clean_mac(), drop=("net.inet.ip.portrange.first",))
    facts, found = replay(tmp_path, host)
    assert found["ports.range"].severity.value == "unknown"
    assert found["ports.range"].observed == "net.inet.ip.portrange.first: not in sysctl's answer"
    assert found["ports.pressure"].severity.value == "unknown"
    assert found["keepalive.idle"].severity.value == "ok"  # the rest of the answer still counts
    code, out = check(capsys, tmp_path / "bundle", "--json")
    assert code == 3 and json.loads(out)["status"] == "unknown"


def test_missing_msl_leaves_the_rate_unknown_not_linuxs_60_seconds(tmp_path, no_netwarden_env):
    _, whole = replay(tmp_path / "whole", clean_mac())
    assert "(30 s TIME_WAIT)" in whole["ports.range"].title  # 2 x net.inet.tcp.msl (15000 ms)
    _, found = replay(tmp_path, with_sysctl(clean_mac(), drop=("net.inet.tcp.msl",)))
    title = found["ports.range"].title
    assert found["ports.range"].severity == whole["ports.range"].severity  # the range itself is still judged
    assert "connections/s" not in title and "60 s" not in title
    assert "TIME_WAIT duration: net.inet.tcp.msl: not in sysctl's answer" in title
    assert not any("60 s" in line for line in found["ports.pressure"].evidence)


def test_macos_26_without_ip6addrctl_still_runs_the_ipv6_check(tmp_path, no_netwarden_env):
    host = clean_mac()
    host[("/usr/sbin/ip6addrctl",)] = FileNotFoundError
    facts, found = replay(tmp_path, host, only=["ipv6.preference"])
    assert "macOS 26 removed it" in facts.address_policy.reason
    assert found["ipv6.preference"].severity.value == "ok"
    assert found["ipv6.preference"].observed.startswith("address selection unknown: ip6addrctl is not on this Mac")


def test_the_kernels_policy_table_and_the_mac_facts(tmp_path, no_netwarden_env):
    facts, found = replay(tmp_path, clean_mac())
    assert facts.address_policy.table[2] == ("::ffff:0.0.0.0/96", 35)
    assert found["ipv6.preference"].observed == "ip6addrctl: the kernel's policy table (9 prefixes): IPv6 destinations sort first"
    assert facts.ipv6.global_addresses == ("2600:1700:bab0:d40:bb:9ad:34c5:2e9a", "2600:1700:bab0:d40:4573:9380:5ecb:ef52",
                                           "2600:1700:bab0:d40::24") and facts.ipv6.default_route
    assert facts.resolvers.nameservers == ("192.168.100.101", "192.168.100.102") and facts.resolvers.manager == "macos"
    assert facts.pmtu.enabled and facts.keepalive.idle == 7200 and facts.keepalive.retries is None
    assert facts.time_wait.seconds == 30 and facts.port_range.default == (49152, 65535)
    assert found["ports.pressure"].evidence[-1].startswith("the netstat of macOS 10.10-10.14 leaves TIME_WAIT")
    assert facts.port_range.at_boot.where == "the macOS default"
    assert any("IP_PORTRANGE_HIGH" in e for e in facts.port_range.evidence)
    assert facts.host["services"]["primary_service"] == "Ethernet"  # en0 in the service order
    assert facts.platform.evidence == ("kern.osrelease: 18.7.0", "macOS 10.14.6")


def test_broken_ipv6_path_advice_names_the_service_and_is_never_applied(tmp_path, no_netwarden_env):
    # Probe results as a recording would hold them (constructed: getent is not on a Mac, so
    # getaddrinfo runs in-process), IPv6 first and timing out.
    settings = Settings(targets=("api.example.com:443",))
    host = clean_mac()
    host[("getent", "ahosts", "api.example.com")] = FileNotFoundError
    host["calls"] = [
        {"op": "call", "key": json.dumps(["probe.resolve", "api.example.com", 0]),
         "result": [[6, "2001:db8::10"], [4, "192.0.2.10"]]},
        {"op": "call", "key": json.dumps(["probe.connect", "2001:db8::10", 443, 3.0]),
         "result": {"family": 6, "address": "2001:db8::10", "outcome": "timeout", "ms": 3000.0, "error": "no answer"}},
        {"op": "call", "key": json.dumps(["probe.connect", "192.0.2.10", 443, 3.0]),
         "result": {"family": 4, "address": "192.0.2.10", "outcome": "ok", "ms": 20.0, "error": ""}},
    ]
    _, found = replay(tmp_path, host, settings, only=["ipv6.preference"])
    ipv6 = found["ipv6.preference"]
    assert ipv6.severity.value == "critical" and not ipv6.changes
    assert ipv6.advice[-1].startswith('networksetup -setv6off "Ethernet" stops IPv6 on that network service.')


def macos_26():
    return {**clean_mac(), ("/usr/sbin/ip6addrctl",): FileNotFoundError}


MACS = {"clean": clean_mac, "stale VPN": stale_vpn_mac, "fifty days": lambda: clean_mac(uptime_days=50),
        "no portrange.first": lambda: with_sysctl(clean_mac(), drop=("net.inet.ip.portrange.first",)),
        "macOS 26": macos_26}


@pytest.mark.parametrize("name", MACS)
def test_every_check_runs_on_a_fixture_mac_and_check_exits_0_to_3(tmp_path, capsys, no_netwarden_env, name):
    host = MACS[name]
    directory = bundle(tmp_path / "bundle", host())
    code, out = check(capsys, directory)
    assert 0 <= code <= 3, out
    for check_id in MAC_CHECKS:
        assert f" {check_id} " in out
    assert "ports.tw-reuse" not in out and "conntrack" not in out
    code_json, out = check(capsys, directory, "--json")
    doc = json.loads(out)
    assert code_json == code == doc["exit_code"]
    assert [f["id"] for f in doc["findings"]] == MAC_CHECKS
    assert doc["platform"]["system"] == "darwin" and doc["refused"] == []


def test_the_real_command_line_replays_a_mac(tmp_path):
    directory = bundle(tmp_path / "bundle", stale_vpn_mac())
    out = subprocess.run([sys.executable, "-m", "netwarden", "check", "--replay", str(directory), "--dry-run"],
                         capture_output=True, text=True, env=clean_env(NETWARDEN_CONFIG=""), cwd=ROOT, timeout=60)
    assert out.returncode == 2, out.stderr
    assert out.stdout.startswith("netwarden") and "on macos (kernel 18.7.0)" in out.stdout
    assert "route -n delete -inet default -interface utun6" in out.stdout and not out.stderr


def test_a_linux_check_imports_no_macos_module(tmp_path):
    code = ("import sys; from netwarden.cli import main; rc = main(['check']); "
            "print([m for m in sys.modules if 'darwin' in m], rc, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=clean_env(NETWARDEN_CONFIG=""), cwd=ROOT, timeout=60)
    assert out.stderr.strip().splitlines()[-1].rsplit(" ", 1)[0] == "[]", out.stderr
    assert "ports.clock-freeze" not in out.stdout  # a macOS-only check
