"""End to end, in network namespaces: each failure of issue #3 made to happen for real, reported,
fixed by --apply, and put back by --revert. Traffic stays inside the lab (198.18.0.0/15,
2001:db8::/32)."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
from lab import ROOT, TOOLS, link

from netwarden.checks import check_ids
from netwarden.model import Severity, worst

pytestmark = pytest.mark.lab


@pytest.fixture(autouse=True)
def _needs_nft(lab_reason):
    if not lab_reason and shutil.which("nft") is None:
        pytest.skip("nft (Debian package nftables) is not installed: `make test` installs it as root")


def configure(nw_env, tmp_path, text: str, nameserver: str | None = None) -> dict:
    """nw_env with this config file (the probe checks enabled). With `nameserver`, a resolv.conf
    naming it alone, so dns.resolvers asks a server inside the lab, never the host's."""
    if nameserver:
        (tmp_path / "resolv.conf").write_text(f"nameserver {nameserver}\n")
        text += f'resolv_conf = "{tmp_path / "resolv.conf"}"\n'
    (tmp_path / "netwarden.toml").write_text(text)
    return nw_env


def full_check(ns, env, targets: list[str]) -> dict:
    """A plain `netwarden --json`, every check, as a user runs it: exit 0-3 and no traceback, one
    finding per check with the exit code of the worst, and each target probed (resolution, connects,
    path) with an outcome or a reason."""
    r = ns.netwarden("--json", env=env)
    assert r.returncode in (0, 1, 2, 3) and "Traceback" not in r.stderr, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert [f["id"] for f in doc["findings"]] == check_ids("linux"), doc["findings"]
    assert r.returncode == doc["exit_code"] == worst(Severity(f["severity"]) for f in doc["findings"]).exit_code
    for kind in ("targets", "paths"):
        assert [p["target"] for p in doc["facts"][kind]] == targets, doc["facts"][kind]
    for probe in doc["facts"]["targets"]:
        assert probe["error"] or {c["outcome"] for c in probe["connects"]} <= {"ok", "fast-fail", "timeout"}, probe
    for path in doc["facts"]["paths"]:
        assert path["error"] or (path["full"] and path["small"]), path
    return doc


def report(ns, env, *args) -> dict:
    r = ns.netwarden("--json", *args, env=env)
    assert r.returncode in (0, 1, 2, 3), r.stdout + r.stderr
    return json.loads(r.stdout)


def finding(doc: dict, check_id: str) -> dict:
    return next(f for f in doc["findings"] if f["id"] == check_id)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# ---- ipv6.preference ----------------------------------------------------------------------------

def test_ipv6_preferred_and_blackholed_then_ipv4_first(netns, nw_env, tmp_path):
    if not os.path.exists("/etc/gai.conf"):
        pytest.skip("the host has no /etc/gai.conf for `ip netns exec` to bind a per-namespace one over")
    client, server = netns(), netns()
    link(client, "198.18.0.1/24", server, "198.18.0.2/24", v6=("2001:db8:18::1/64", "2001:db8:18::2/64"))
    server.nft("table ip6 lab {\n chain input {\n  type filter hook input priority 0;\n  tcp dport 8443 drop\n }\n}\n")
    server.serve(8443)
    client.etc("hosts", "127.0.0.1 localhost\n198.18.0.2 dual.lab\n2001:db8:18::2 dual.lab\n")
    gai = client.etc("gai.conf", "# the distribution's gai.conf\nreload no\n")
    original = gai.read_bytes()

    # 1. The failure: IPv6 comes first and its SYNs vanish.
    before = client.tool("dial", "dual.lab", "8443", "2")
    assert before["order"][0] == 6 and before["outcome"] == "timeout", before

    env = configure(nw_env, tmp_path, 'targets = ["dual.lab:8443"]\nprobe_timeout = 1.0\n', nameserver="198.18.0.2")
    doc = report(client, env, "--only", "ipv6.preference")
    found = finding(doc, "ipv6.preference")
    assert found["severity"] == "critical", found
    assert any("2001:db8:18::2 timeout" in e and "198.18.0.2 ok" in e for e in found["evidence"]), found
    assert any("--dns-result-order=ipv4first" in a for a in found["advice"])
    assert [c["target"] for c in doc["changes"]] == ["/etc/gai.conf"]
    # Every check, not only this one. The path probe measures the address a client ends up on
    # (IPv4 here, after the v6 timeout), so mtu.path is judged, not unknown; an IPv6 literal
    # target still takes the IPv6 route's MTU (IPV6_MTU, which once crashed every run).
    both = '"dual.lab:8443", "[2001:db8:18::2]:8443"'
    full = full_check(client, configure(nw_env, tmp_path, f"targets = [{both}]\nprobe_timeout = 1.0\n",
                                        nameserver="198.18.0.2"), ["dual.lab:8443", "[2001:db8:18::2]:8443"])
    configure(nw_env, tmp_path, 'targets = ["dual.lab:8443"]\nprobe_timeout = 1.0\n', nameserver="198.18.0.2")
    assert finding(full_check(client, env, ["dual.lab:8443"]), "mtu.path")["severity"] == "ok"
    assert finding(full, "ipv6.preference")["severity"] == "critical"
    dual, literal = full["facts"]["paths"]
    assert dual["address"] == "198.18.0.2" and dual["full"] == dual["small"] == "delivered", dual
    assert literal["address"] == "2001:db8:18::2" and literal["route_mtu"] == 1500 and literal["error"] == "", literal
    assert literal["full"] == literal["small"] == "failed: connect: timeout", literal

    # 2. --apply writes the block in place (the file is a bind mount: rename would fail EBUSY).
    r = client.netwarden("--apply", "--json", "--only", "ipv6.preference", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["apply"]["verified"]["ipv6.preference"] == {"before": "critical", "after": "ok"}
    text = gai.read_text()
    assert text.startswith("# the distribution's gai.conf\nreload no\n")
    assert "precedence ::ffff:0:0/96" in text and "100" in text.split("::ffff:0:0/96")[1].splitlines()[0]
    after = client.tool("dial", "dual.lab", "8443", "2")
    assert after["order"][0] == 4 and after["outcome"] == "ok" and after["ms"] < 100, after

    # 3. --revert: the file is byte for byte what it was, and IPv6 is first again.
    assert client.netwarden("--revert", env=env).returncode == 0
    assert gai.read_bytes() == original
    assert client.tool("dial", "dual.lab", "8443", "1")["order"][0] == 6


# ---- dns.resolvers ------------------------------------------------------------------------------

def test_dead_first_nameserver_costs_seconds_then_live_one_first(netns, nw_env, tmp_path):
    client, server = netns(), netns()
    link(client, "198.18.0.1/24", server, "198.18.0.2/24")
    server.run("ip", "addr", "add", "198.18.0.3/32", "dev", "lo")  # the dead nameserver's address
    client.run("ip", "route", "add", "198.18.0.3/32", "via", "198.18.0.2")
    server.nft("table ip lab {\n chain input {\n  type filter hook input priority 0;\n"
               "  ip daddr 198.18.0.3 udp dport 53 drop\n }\n}\n")
    server.start(sys.executable, str(TOOLS), "dns", "198.18.0.2", "svc.lab", "198.18.0.2", ready="ready")
    original = "# written by hand\nnameserver 198.18.0.3\nnameserver 198.18.0.2\noptions edns0\n"
    resolv = client.etc("resolv.conf", original)

    # 1. The failure: every lookup first waits out the dead server (glibc: 5 s).
    before = client.tool("resolve", "svc.lab")
    assert before["addresses"] == ["198.18.0.2"] and before["ms"] >= 5000, before

    env = configure(nw_env, tmp_path, 'targets = ["svc.lab:443"]\n')
    doc = report(client, env, "--only", "dns.resolvers")
    found = finding(doc, "dns.resolvers")
    assert found["severity"] == "critical" and "first nameserver 198.18.0.3 does not answer" in found["title"], found
    assert any(e.startswith("198.18.0.2 for svc.lab: ok") for e in found["evidence"]), found
    full = full_check(client, env, ["svc.lab:443"])
    assert finding(full, "dns.resolvers")["title"] == found["title"]
    assert full["facts"]["targets"][0]["addresses"] == [[4, "198.18.0.2"]]  # resolved past the dead server

    # 2. --apply puts the live server first (in place: the file is a bind mount).
    r = client.netwarden("--apply", "--only", "dns.resolvers", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert resolv.read_text() == ("# written by hand\nnameserver 198.18.0.2\n"
                                  "# nameserver 198.18.0.3  # netwarden: did not answer\noptions edns0\n")
    after = client.tool("resolve", "svc.lab")
    assert after["addresses"] == ["198.18.0.2"] and after["ms"] < 200, after

    # 3. --revert: byte for byte.
    assert client.netwarden("--revert", env=env).returncode == 0
    assert resolv.read_text() == original


def test_dangling_resolv_conf_symlink_is_critical(tmp_path, nw_env):
    (tmp_path / "resolv.conf").symlink_to(tmp_path / "run-resolved-stub.conf")
    env = dict(configure(nw_env, tmp_path, ""), NETWARDEN_RESOLV_CONF=str(tmp_path / "resolv.conf"))
    r = subprocess.run([sys.executable, "-m", "netwarden", "--json", "--only", "dns.resolvers"],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    found = finding(json.loads(r.stdout), "dns.resolvers")
    assert r.returncode == 2 and found["severity"] == "critical" and "dangling symlink" in found["title"], r.stdout


# ---- mtu.path -----------------------------------------------------------------------------------

def test_path_mtu_blackhole_stalls_then_mtu_probing_recovers(netns, nw_env, tmp_path):
    client, router, server = netns(), netns(), netns()
    link(client, "198.18.0.1/24", router, "198.18.0.254/24")
    link(router, "198.18.1.254/24", server, "198.18.1.2/24", mtu=1280, b_mtu=1500)  # narrow hop, server unaware
    client.run("ip", "route", "add", "default", "via", "198.18.0.254")
    server.run("ip", "route", "add", "default", "via", "198.18.1.254")
    router.sysctl("net.ipv4.ip_forward", "1")
    # The router's "fragmentation needed" never leaves it: a filtered-ICMP blackhole.
    router.nft("table ip lab {\n chain output {\n  type filter hook output priority 0;\n"
               "  icmp type destination-unreachable drop\n }\n}\n")
    server.serve(8080)
    assert client.sysctl("net.ipv4.tcp_mtu_probing") == "0"

    # 1. The failure: the handshake works, a 1 MB upload stalls.
    before = client.tool("send", "198.18.1.2", "8080", str(1 << 20), "4")
    assert before["ok"] is False, before

    env = configure(nw_env, tmp_path, 'targets = ["198.18.1.2:8080"]\nprobe_timeout = 2.0\n', nameserver="198.18.1.2")
    doc = report(client, env, "--only", "mtu.path")
    found = finding(doc, "mtu.path")
    assert found["severity"] == "critical" and "blackhole" in found["title"], found
    assert any("full-size segments stalled, small ones delivered" in e for e in found["evidence"]), found
    assert [(c["target"], c["new"]) for c in found["changes"]] == [("net.ipv4.tcp_mtu_probing", "1")]
    full = full_check(client, env, ["198.18.1.2:8080"])
    assert finding(full, "mtu.path")["severity"] == "critical"
    assert "net.ipv4.tcp_mtu_probing" in [c["target"] for c in full["changes"]]

    # 2. --apply turns MTU probing on: the same upload now completes (after a stall).
    r = client.netwarden("--apply", "--json", "--only", "mtu.path", env=env)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    verified = json.loads(r.stdout)["apply"]["verified"]["mtu.path"]
    assert verified == {"before": "critical", "after": "warning"}, verified  # mitigated, still a blackhole
    assert client.sysctl("net.ipv4.tcp_mtu_probing") == "1"
    after = client.tool("send", "198.18.1.2", "8080", str(1 << 20), "30")
    assert after["ok"] is True, after
    print(f"1 MB upload through the blackhole with tcp_mtu_probing=1: {after['ms']:.0f} ms")

    # 3. --revert
    assert client.netwarden("--revert", env=env).returncode == 0
    assert client.sysctl("net.ipv4.tcp_mtu_probing") == "0"


# ---- tunnels.stale ------------------------------------------------------------------------------

def test_route_into_a_dead_tunnel_swallows_a_target_until_removed(client_server, nw_env, tmp_path):
    client, server = client_server
    server.run("ip", "addr", "add", "198.18.5.2/32", "dev", "lo")
    server.serve(8080)
    client.run("ip", "route", "add", "198.18.5.0/24", "via", "198.18.0.2")
    # A VPN's tun device, left behind with no process attached: up, no carrier, still routing.
    client.run("ip", "tuntap", "add", "dev", "nwtun0", "mode", "tun")
    client.run("ip", "link", "set", "nwtun0", "up")
    client.run("ip", "route", "add", "198.18.5.2/32", "dev", "nwtun0")

    # 1. The failure: the target is unreachable.
    assert client.tool("dial", "198.18.5.2", "8080", "1")["outcome"] == "timeout"

    env = configure(nw_env, tmp_path, 'targets = ["198.18.5.2:8080"]\nprobe_timeout = 1.0\n', nameserver="198.18.0.2")
    found = finding(report(client, env, "--only", "tunnels.stale"), "tunnels.stale")
    assert found["severity"] == "critical" and "dead tunnel nwtun0" in found["title"], found
    assert "ip route del 198.18.5.2/32 dev nwtun0" in found["advice"] and not found["changes"]
    full = full_check(client, env, ["198.18.5.2:8080"])
    assert finding(full, "tunnels.stale")["title"] == found["title"]
    assert full["facts"]["paths"][0]["dev"] == "nwtun0"  # the path probe sees the tunnel it is routed into

    # 2. Removal is opt-in; with it, --apply deletes the route and the target answers.
    env = configure(nw_env, tmp_path, 'targets = ["198.18.5.2:8080"]\nprobe_timeout = 1.0\n'
                                      "tunnels_remove_stale_routes = true\n")
    r = client.netwarden("--apply", "--json", "--only", "tunnels.stale", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["apply"]["verified"]["tunnels.stale"] == {"before": "critical", "after": "ok"}
    assert client.tool("dial", "198.18.5.2", "8080", "1")["outcome"] == "ok"

    # 3. --revert adds the route back, exactly.
    assert client.netwarden("--revert", env=env).returncode == 0
    assert "198.18.5.2 dev nwtun0" in client.run("ip", "route", "show").stdout
    assert client.tool("dial", "198.18.5.2", "8080", "1")["outcome"] == "timeout"


# Routes with attributes `ip route add DST dev DEV metric M` alone would lose: protocol, preferred
# source, metrics (mtu, advmss, initcwnd, window, hoplimit), scope, IPv6 preference; none expires.
STALE_ROUTES = [
    ("-4", "198.19.1.0/24 dev nwtun0 proto static src 198.19.9.1 mtu 1400 metric 5"),
    ("-4", "198.19.2.0/24 dev nwtun0 proto boot scope link metric 7 advmss 1300 initcwnd 10 window 65535"),
    ("-4", "198.19.3.7 dev nwtun0 proto 99 metric 0"),
    ("-6", "2001:db8:1::/64 dev nwtun0 proto static src 2001:db8::9 mtu 1400 metric 5"),
    ("-6", "2001:db8:2::/64 dev nwtun0 metric 1024 pref high hoplimit 32"),
]


def dead_tunnel_with_routes(ns) -> None:
    ns.run("ip", "tuntap", "add", "dev", "nwtun0", "mode", "tun")  # no process attached: no carrier
    ns.run("ip", "link", "set", "nwtun0", "up")
    ns.run("ip", "addr", "add", "198.19.9.1/32", "dev", "lo")
    ns.run("ip", "addr", "add", "2001:db8::9/128", "dev", "lo", "nodad")
    for family, route in STALE_ROUTES:
        ns.run("ip", family, "route", "add", *route.split())


def route_tables(ns) -> tuple[list, list]:
    return tuple(json.loads(ns.run("ip", family, "-j", "-d", "route", "show").stdout) for family in ("-4", "-6"))


@pytest.mark.parametrize("between", ["nothing", "the tunnel made again", "a journal written before routes were saved"])
def test_revert_puts_deleted_routes_back_with_every_attribute(ns, nw_env, tmp_path, between):
    dead_tunnel_with_routes(ns)
    before = route_tables(ns)
    env = configure(nw_env, tmp_path, "tunnels_remove_stale_routes = true\n")
    r = ns.netwarden("--apply", "--json", "--only", "tunnels.stale", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "198.19.1.0/24" not in ns.run("ip", "route", "show").stdout
    assert "2001:db8:1::/64" not in ns.run("ip", "-6", "route", "show").stdout
    journal = tmp_path / "state" / "journal.json"
    entries = json.loads(journal.read_text())["entries"]
    assert len(entries) == len(STALE_ROUTES) and all(e["original"].get("saved") for e in entries), entries
    if between == "the tunnel made again":  # a new interface index: the routes go to the device by name
        ns.run("ip", "link", "del", "nwtun0")
        ns.run("ip", "tuntap", "add", "dev", "nwtun0", "mode", "tun")
        ns.run("ip", "link", "set", "nwtun0", "up")
        before = route_tables(ns)[0] + [r for r in before[0] if r.get("dev") == "nwtun0"], before[1]
    if between == "a journal written before routes were saved":
        for entry in entries:
            del entry["original"]["saved"]
        journal.write_text(json.dumps({"format": 1, "entries": entries}))
    r = ns.netwarden("--revert", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    after = route_tables(ns)
    if between == "a journal written before routes were saved":  # `ip route add`: back, the basics only
        assert {(r["dst"], r["dev"], r.get("metric", 0)) for r in after[0] + after[1] if r.get("dev") == "nwtun0"} >= {
            ("198.19.1.0/24", "nwtun0", 5), ("2001:db8:1::/64", "nwtun0", 5)}
        return
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731 - the tables' order is the kernel's
    assert sorted(map(key, after[0])) == sorted(map(key, before[0]))
    assert sorted(map(key, after[1])) == sorted(map(key, before[1]))


# ---- conntrack ----------------------------------------------------------------------------------

def test_conntrack_reads_the_real_table_and_knows_a_namespace_cannot_raise_it(ns, nw_env):
    if not os.path.exists("/proc/sys/net/netfilter/nf_conntrack_max"):
        pytest.skip("nf_conntrack is not loaded on this host")
    host = subprocess.run([sys.executable, "-m", "netwarden", "--json", "--only", "conntrack"],
                          capture_output=True, text=True, env=nw_env, cwd=ROOT)
    doc = json.loads(host.stdout)
    found = finding(doc, "conntrack")
    limit = open("/proc/sys/net/netfilter/nf_conntrack_max").read().strip()
    assert found["severity"] in ("ok", "warning", "critical") and f"of {limit} entries" in found["observed"], found
    assert "net.netfilter.nf_conntrack_max" not in doc["facts"]["read_only_sysctls"]  # the host can raise it
    inside = json.loads(ns.netwarden("--json", "--only", "conntrack", env=nw_env).stdout)
    assert "net.netfilter.nf_conntrack_max" in inside["facts"]["read_only_sysctls"]


# ---- IPv6 targets -------------------------------------------------------------------------------

def test_ipv6_only_targets_on_a_link_and_on_loopback_go_through_every_check_and_the_daemon(netns, nw_env, tmp_path):
    client, server = netns(), netns()
    link(client, "198.18.0.1/24", server, "198.18.0.2/24", mtu=1400, v6=("2001:db8:19::1/64", "2001:db8:19::2/64"))
    server.serve(8443, "::")
    client.serve(8444, "::")  # [::1] on the client's own loopback
    server.start(sys.executable, str(TOOLS), "dns", "::", "svc.lab", "198.18.0.2", ready="ready")
    targets = ["[2001:db8:19::2]:8443", "[::1]:8444"]
    config = f"targets = {json.dumps(targets)}\nprobe_timeout = 2.0\n"
    env = configure(nw_env, tmp_path, config, nameserver="2001:db8:19::2")

    doc = full_check(client, env, targets)
    assert [(t["addresses"], [c["outcome"] for c in t["connects"]]) for t in doc["facts"]["targets"]] == [
        ([[6, "2001:db8:19::2"]], ["ok"]), ([[6, "::1"]], ["ok"])]
    paths = {p["target"]: p for p in doc["facts"]["paths"]}
    assert paths[targets[0]]["route_mtu"] == paths[targets[0]]["link_mtu"] == 1400, paths
    assert paths[targets[1]]["route_mtu"] == 65536, paths  # loopback's MTU: the kernel's route, not a guess
    assert all(p["full"] == p["small"] == "delivered" for p in paths.values()), paths
    assert finding(doc, "mtu.path")["severity"] == "ok"
    assert finding(doc, "ipv6.preference")["severity"] == "ok"
    dns = finding(doc, "dns.resolvers")
    assert dns["severity"] == "ok" and any(e.startswith("2001:db8:19::2 for .: ok") for e in dns["evidence"]), dns

    # --dry-run and --apply take the same path (the issue: each died at route_mtu).
    for mode in ("--dry-run", "--apply"):
        r = client.netwarden(mode, env=env)
        assert r.returncode in (0, 1, 2, 3) and "Traceback" not in r.stderr, (mode, r.stdout + r.stderr)

    # So does the daemon's first check: it must come up and answer.
    from daemon_lab import DaemonRun

    (tmp_path / "daemon").mkdir()
    run = DaemonRun(client, tmp_path / "daemon")
    run.config.write_text(config + f'resolv_conf = "{tmp_path / "resolv.conf"}"\npoll_interval = 0.3\n')
    try:
        run.start()
        status = run.netwarden("status", "--json")
        assert status.returncode in (0, 1, 2, 3), status.stdout + status.stderr
        assert {f["id"] for f in json.loads(status.stdout)["findings"]} == set(check_ids("linux"))
        assert run.stop()[0] == 0, run.output()
    finally:
        if run.proc and run.proc.poll() is None:
            run.proc.kill()
        if run.proc:
            run.log.close()


PROBES = """
import json, socket, sys
from netwarden.platform import linux_net, probe
from netwarden.platform.source import Source
dev = sys.argv[1]
scoped = f"fe80::2%{dev}"
resolved = probe.resolve(scoped, 8443)
print(json.dumps({
    "mtu": [probe.route_mtu(a) for a in ("::1", "2001:db8:19::2", scoped, "198.18.0.2")],
    "resolved": resolved, "index": socket.if_nametoindex(dev),
    "getent": linux_net.resolve(Source(), scoped),
    "connect": [probe.connect(a, 8443, 2)["outcome"] for a in (scoped, resolved[0][1], "2001:db8:19::2")],
    "transfer": [probe.transfer(a, 8443, 2, mss) for a in (scoped, "2001:db8:19::2") for mss in (None, probe.SMALL_MSS)],
    "dns": [probe.dns_query(a, ".", 1)["outcome"] for a in (scoped, "2001:db8:19::2")],
}))
"""


def test_probes_take_ipv6_addresses_and_link_local_ones_with_their_scope(netns):
    client, server = netns(), netns()
    dev, peer = link(client, "198.18.0.1/24", server, "198.18.0.2/24", mtu=1400,
                     v6=("2001:db8:19::1/64", "2001:db8:19::2/64"))
    client.run("ip", "addr", "add", "fe80::1/64", "dev", dev, "nodad")
    server.run("ip", "addr", "add", "fe80::2/64", "dev", peer, "nodad")
    server.serve(8443, "::")
    server.start(sys.executable, str(TOOLS), "dns", "::", "svc.lab", "198.18.0.2", ready="ready")
    out = json.loads(client.run(sys.executable, "-c", PROBES, dev).stdout)
    assert out["mtu"] == [65536, 1400, 1400, 1400], out  # IPV6_MTU (24) and IP_MTU (14) alike
    assert out["resolved"] == [[6, f"fe80::2%{out['index']}"]], out  # getaddrinfo's scope kept
    assert out["getent"] == [[6, f"fe80::2%{out['index']}"]], out  # getent prints it as a number
    assert out["connect"] == ["ok", "ok", "ok"], out
    assert out["transfer"] == ["delivered"] * 4, out
    assert out["dns"] == ["ok", "ok"], out  # a link-local nameserver is asked through its interface
