"""`netwarden probe HOST:PORT` end to end, in network namespaces (issue #14): each failure made to
happen for real between a client, sometimes a router, and a TLS server whose certificate the test
makes, then probed from the client. Traffic stays inside the lab (198.18.0.0/15, 2001:db8::/32);
every sysctl written is a namespace's own. A recorded probe replays on any machine, and replays
with any one of its answers removed or spoiled as a hand-edited bundle may: never a crash."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import probe_lab as pl
from factories import clean_env, spoiled_entries
from factories import run_main
from lab import ROOT, Netns, lab_unavailable
from probe_lab import PORT, finding, phases, probe, verdicts

from netwarden.diagnose.phases import PHASES
from netwarden.diagnose.tls import PUBLIC_ROOTS_DIRS

pytestmark = pytest.mark.lab
TARGET = f"{pl.NAME}:{PORT}"
# A middlebox that resets a connection whose first TLS record is a ClientHello (content type 22,
# handshake type 1) longer than 1,200 bytes; every other segment, however large, passes.
RESET_LARGE_HELLO = """table inet lab {
 chain forward {
  type filter hook forward priority 0;
  tcp dport 8443 @ih,0,8 0x16 @ih,40,8 0x01 @ih,24,16 > 1200 counter reject with tcp reset
 }
}
"""


@pytest.fixture(autouse=True)
def _needs_tools(lab_reason):
    if not lab_reason and shutil.which("nft") is None:
        pytest.skip("nft (Debian package nftables) is not installed: `make test` installs it as root")
    if not lab_reason and pl.openssl_missing():
        pytest.skip(pl.openssl_missing())


@pytest.fixture
def certs(tmp_path):
    (tmp_path / "certs").mkdir()
    return pl.make_certs(tmp_path / "certs")


@pytest.fixture
def env(nw_env, certs):
    return pl.trusting(nw_env, certs)


def check_finding(ns, nw_env, tmp_path, check_id: str, config: str) -> dict:
    """What `netwarden check --only ID` says about the same target from the same namespace."""
    (tmp_path / "netwarden.toml").write_text(f'targets = ["{TARGET}"]\n{config}')
    r = ns.netwarden("--json", "--only", check_id, env=nw_env)
    return finding(json.loads(r.stdout), check_id)


def test_a_healthy_path_is_ok_in_every_phase_and_flags_nothing(netns, certs, env):
    path = pl.direct(netns, certs, v6=True)
    rc, doc, _ = probe(path.client, env, TARGET, "--idle", "1")
    assert rc == 0 and doc["status"] == "ok" and doc["findings"] == [], doc["findings"]
    assert verdicts(doc) == dict.fromkeys(PHASES, "ok")
    phase = phases(doc)
    assert phase["resolve"]["data"]["system"]["addresses"] == [[6, "2001:db8:18::2"], [4, "198.18.0.2"]]
    answers = {(d["type"], tuple(d["addresses"])) for d in phase["resolve"]["data"]["nameservers"]}
    assert answers == {("A", ("198.18.0.2",)), ("AAAA", ("2001:db8:18::2",))}
    assert [c["outcome"] for c in phase["connect"]["data"]["connects"]] == ["ok", "ok"]
    classic, large = phase["tls"]["data"]["hellos"]
    assert classic["bytes"] <= 600 < 1700 <= large["bytes"] <= 1900  # the large one spans two segments
    for hello in (classic, large):
        assert hello["outcome"] == "ok" and hello["verified"] and hello["version"] == "TLSv1.3", hello
        assert hello["alpn"] == "h2" and hello["issuer"] == "CN=netwarden lab CA" and hello["subject"] == "CN=svc.lab"
    assert phase["mtu"]["data"]["full"] == phase["mtu"]["data"]["small"] == "delivered"
    assert phase["idle"]["data"]["survived"] == 1 and phase["idle"]["data"]["failed_at"] is None
    assert phase["ports"]["data"]["destinations"] == []  # counted before the probe's own connections

    # Speed: within max(1 s, 3 x the RTT-bound phases) plus the idle time asked for.
    assert doc["elapsed_ms"] < 1000 + 1000, doc["elapsed_ms"]
    rc, quick, _ = probe(path.client, env, TARGET)
    assert rc == 0 and quick["elapsed_ms"] < 1000 and verdicts(quick)["idle"] == "skipped", quick["elapsed_ms"]
    print(f"healthy probe: {quick['elapsed_ms']:.0f} ms; with --idle 1: {doc['elapsed_ms']:.0f} ms")

    text = path.client.netwarden("probe", TARGET, env=env)
    assert text.returncode == 0 and "Nothing flagged" in text.stdout, text.stdout + text.stderr
    assert all(f"\n  {name} " in text.stdout for name in PHASES), text.stdout


def test_a_ca_only_the_system_trusts_is_named_for_node_and_an_untrusted_one_is_critical(netns, certs, nw_env,
                                                                                        tmp_path):
    path = pl.direct(netns, certs)
    if os.path.isdir(PUBLIC_ROOTS_DIRS[0]):
        # curl's view (system store) trusts the lab CA, Node's (public roots) does not.
        rc, doc, _ = probe(path.client, pl.trusting(nw_env, certs, node=False), TARGET)
        found = finding(doc, "tls.private-ca")
        assert rc == 1 and found["severity"] == "warning" and "CN=netwarden lab CA" in found["title"], found
        assert any("NODE_EXTRA_CA_CERTS=" in a for a in found["advice"])
        assert any(a.startswith("Never turn verification off") for a in found["advice"])

    empty = tmp_path / "empty.pem"
    empty.write_text("")
    untrusting = {**pl.trusting(nw_env, certs, node=False), "SSL_CERT_FILE": str(empty)}
    rc, doc, _ = probe(path.client, untrusting, TARGET)
    found = finding(doc, "tls.untrusted")
    assert rc == 2 and found["severity"] == "critical", found
    assert "CN=netwarden lab CA" in found["observed"]  # named, from a handshake that did not verify
    assert any("NODE_EXTRA_CA_CERTS" in a for a in found["advice"])
    assert not any("tls.large-clienthello" == f["id"] for f in doc["findings"])


def test_ipv6_first_and_its_syns_dropped_shows_the_v6_timeout_v4_ok_and_the_fix(netns, certs, env):
    path = pl.direct(netns, certs, v6=True)
    path.server.nft("table ip6 lab {\n chain input {\n  type filter hook input priority 0;\n"
                    f"  tcp dport {PORT} drop\n }}\n}}\n")
    if os.path.exists("/etc/gai.conf"):
        path.client.etc("gai.conf", "reload no\n")  # glibc's default table: IPv6 first
    rc, doc, _ = probe(path.client, env, TARGET, "--timeout", "1")
    assert rc == 2, doc
    assert verdicts(doc) == {**dict.fromkeys(PHASES, "ok"), "connect": "critical", "idle": "skipped"}
    phase = phases(doc)
    connects = {c["address"]: c for c in phase["connect"]["data"]["connects"]}
    assert connects["2001:db8:18::2"]["outcome"] == "timeout" and 900 < connects["2001:db8:18::2"]["ms"] < 1500
    assert connects["198.18.0.2"]["outcome"] == "ok" and connects["198.18.0.2"]["ms"] < 100
    assert any("Happy Eyeballs" in e and "250 ms" in e for e in phase["connect"]["evidence"])
    found = finding(doc, "ipv6.preference")
    assert found["severity"] == "critical" and [c["target"] for c in found["changes"]] == ["/etc/gai.conf"]
    assert any("--dns-result-order=ipv4first" in a for a in found["advice"])
    # The later phases use the address that works, so the dead one costs its timeout once.
    assert phase["tls"]["data"]["address"] == "198.18.0.2"
    assert doc["elapsed_ms"] < 1000 + 1000, doc["elapsed_ms"]
    text = path.client.netwarden("probe", TARGET, "--timeout", "1", env=env).stdout
    assert "fix" in text and "/etc/gai.conf" in text and "netwarden check --apply" in text, text


def test_a_middlebox_resetting_large_client_hellos_is_named_and_told_apart_from_mtu(netns, certs, env, nw_env,
                                                                                     tmp_path):
    path = pl.routed(netns, certs)
    path.router.nft(RESET_LARGE_HELLO)
    bundle = tmp_path / "bundle"
    rc, doc, _ = probe(path.client, env, TARGET, "--record", str(bundle))
    assert rc == 2, doc
    assert verdicts(doc) == {**dict.fromkeys(PHASES, "ok"), "tls": "critical", "idle": "skipped"}
    classic, large = phases(doc)["tls"]["data"]["hellos"]
    assert classic["outcome"] == "ok" and classic["verified"] and large["outcome"] == "reset", (classic, large)
    assert "packets 1 " in path.router.run("nft", "list", "ruleset").stdout  # the router reset it, once
    # Full-size segments pass (the MTU phase's 16 KiB): not a path-MTU problem.
    assert phases(doc)["mtu"]["data"]["full"] == "delivered"
    found = finding(doc, "tls.large-clienthello")
    assert found["severity"] == "critical" and "is reset" in found["title"], found
    assert any("not a path-MTU problem" in e for e in found["evidence"])
    assert any("GODEBUG=tlsmlkem=0" in a for a in found["advice"])
    assert [f["id"] for f in doc["findings"]] == ["tls.large-clienthello"]

    # The support bundle replays on any machine (here: the host, no namespace) to the same report.
    r = subprocess.run([sys.executable, "-m", "netwarden", "probe", "--json", "--replay", str(bundle)],
                       capture_output=True, text=True, env=nw_env, cwd=ROOT, timeout=60)
    assert r.returncode == 2, r.stderr
    replayed = json.loads(r.stdout)
    assert replayed["phases"] == doc["phases"] and replayed["findings"] == doc["findings"]


def test_a_router_forgetting_idle_flows_after_5_s_shows_2_s_survived_8_s_reset(netns, certs, env):
    path = pl.routed(netns, certs)
    router = path.router
    # conntrack in the router only: invalid packets (a flow it forgot) answered with a reset.
    router.nft("table inet lab {\n chain forward {\n  type filter hook forward priority 0;\n"
               "  ct state invalid counter reject with tcp reset\n }\n}\n")
    key = "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"
    host_value = open(key).read()
    router.sysctl("net.netfilter.nf_conntrack_tcp_timeout_established", "5")
    router.sysctl("net.netfilter.nf_conntrack_tcp_loose", "0")  # a forgotten flow is not picked up again
    assert open(key).read() == host_value  # per namespace on this kernel: the host's stays

    rc, doc, _ = probe(path.client, env, TARGET, "--idle", "2,8")
    assert rc == 1, doc
    assert verdicts(doc) == {**dict.fromkeys(PHASES, "ok"), "idle": "warning"}
    idle = phases(doc)["idle"]["data"]
    assert [(t["idle"], t["outcome"]) for t in idle["trials"]] == [(2, "ok"), (8, "reset")], idle
    assert idle["survived"] == 2 and idle["failed_at"] == 8
    found = finding(doc, "tcp.idle-timeout")
    assert found["severity"] == "warning" and "between 2 s and 8 s" in found["title"] and found["value"] == "2"
    assert any("keepAliveTimeout" in a and "2 s" in a for a in found["advice"])
    assert 8000 < doc["elapsed_ms"] < 8000 + 1000, doc["elapsed_ms"]  # the idle trials run side by side


def test_a_dead_first_nameserver_gets_the_checks_verdict(netns, certs, env, tmp_path):
    path = pl.direct(netns, certs, nameservers=["198.18.0.3", "198.18.0.2"])
    path.server.run("ip", "addr", "add", "198.18.0.3/32", "dev", "lo")
    path.client.run("ip", "route", "add", "198.18.0.3/32", "via", "198.18.0.2")
    path.server.nft("table ip lab {\n chain input {\n  type filter hook input priority 0;\n"
                    "  ip daddr 198.18.0.3 udp dport 53 drop\n }\n}\n")
    rc, doc, _ = probe(path.client, env, TARGET)
    assert rc == 2, doc
    assert verdicts(doc) == {**dict.fromkeys(PHASES, "ok"), "resolve": "critical", "idle": "skipped"}
    resolve = phases(doc)["resolve"]
    assert resolve["data"]["system"]["ms"] >= 5000  # what every lookup of a client costs
    dead = {d["outcome"] for d in resolve["data"]["nameservers"] if d["server"] == "198.18.0.3"}
    assert dead == {"timeout"}
    found = finding(doc, "dns.resolvers")
    check = check_finding(path.client, env, tmp_path, "dns.resolvers", "")
    assert found["severity"] == check["severity"] == "critical" and found["title"] == check["title"]
    assert "first nameserver 198.18.0.3 does not answer" in found["title"]


def test_a_path_mtu_blackhole_gets_the_checks_verdict_and_explains_the_large_hello(netns, certs, env, tmp_path):
    path = pl.routed(netns, certs, narrow_mtu=1280)
    path.router.nft("table ip lab {\n chain output {\n  type filter hook output priority 0;\n"
                    "  icmp type destination-unreachable drop\n }\n}\n")
    rc, doc, _ = probe(path.client, env, TARGET, "--timeout", "2")
    assert rc == 2, doc
    assert verdicts(doc) == {**dict.fromkeys(PHASES, "ok"), "tls": "critical", "mtu": "critical", "idle": "skipped"}
    tls = phases(doc)["tls"]
    assert [h["outcome"] for h in tls["data"]["hellos"]] == ["ok", "stalled"]
    assert "explained by the path-MTU blackhole" in tls["summary"]
    assert [f["id"] for f in doc["findings"]] == ["mtu.path"]  # no middlebox blamed
    found = finding(doc, "mtu.path")
    check = check_finding(path.client, env, tmp_path, "mtu.path", "probe_timeout = 2.0\n")
    assert (found["severity"], found["title"]) == (check["severity"], check["title"])
    assert found["severity"] == "critical" and "blackhole" in found["title"]


@pytest.fixture(scope="module")
def recorded_probe(tmp_path_factory):
    """(bundle, the recording's document): a healthy dual-stack probe of every phase, idle included."""
    reason = lab_unavailable() or pl.openssl_missing() or (shutil.which("nft") is None and "nft is not installed")
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("recorded-probe")
    (tmp / "certs").mkdir()
    certs = pl.make_certs(tmp / "certs")
    made: list[Netns] = []

    def netns() -> Netns:
        made.append(Netns())
        return made[-1]

    try:
        path = pl.direct(netns, certs, v6=True)
        env = pl.trusting(clean_env(NETWARDEN_CONFIG=""), certs)
        _, doc, _ = probe(path.client, env, TARGET, "--all", "--idle", "1", "--record", str(tmp / "bundle"))
        yield tmp / "bundle", doc
    finally:
        for ns in made:
            ns.close()


def test_every_probe_answer_removed_or_spoiled_is_unknown_or_a_refused_bundle_never_a_crash(recorded_probe, tmp_path,
                                                                                              no_netwarden_env):
    """An address that is not one (`"address": "x"` in probe.connect: inet_pton's OSError was exit
    70), numbers of 5,000 digits, answers of another type or missing: each replay is a probe
    document (exit 0-3, six phases) or a bundle refused in one line (65)."""
    bundle, live = recorded_probe
    code, out, err = run_main("probe", "--json", "--replay", str(bundle))
    assert code == live["exit_code"] and err == "", err
    assert json.loads(out)["phases"] == live["phases"]
    entries = json.loads((bundle / "entries.json").read_text())
    calls = {json.loads(e["key"])[0] for e in entries if e["op"] == "call"}
    assert {"probe.plan", "probe.connect", "probe.tls", "probe.dns-lookup", "probe.idle", "probe.transfer"} <= calls, calls
    work = tmp_path / "bundle"
    work.mkdir()
    (work / "meta.json").write_text((bundle / "meta.json").read_text())
    failures, runs, start = [], 0, time.monotonic()
    for i, entry in enumerate(entries):
        for variant in spoiled_entries(entry):
            (work / "entries.json").write_text(json.dumps(entries[:i] + ([variant] if variant else []) + entries[i + 1:]))
            code, out, err = run_main("probe", "--json", "--replay", str(work))
            runs += 1
            refused = code == 65 and err.count("\n") == 1
            if not (refused or code in (0, 1, 2, 3)) or "Traceback" in err or (
                    code < 4 and len(json.loads(out)["phases"]) != 6):
                failures.append((entry["op"], entry["key"][:80], str(variant)[:160], code, err[-400:]))
    print(f"{runs} probe replays of {len(entries)} entries in {time.monotonic() - start:.1f} s")
    assert not failures, failures[:5]


EVIL = "evil\x1b[31mRED\x1b]0;pwned\x07\r\nFAKE LINE\u202e"


def _evil(value):
    """Every text in a recorded answer replaced by one that would paint the terminal, set its title
    and forge a line, as a hostile server's certificate or alert can."""
    if isinstance(value, str):
        return EVIL
    if isinstance(value, list):
        return [_evil(v) for v in value]
    if isinstance(value, dict):
        return {k: _evil(v) for k, v in value.items()}
    return value


def test_a_probe_s_text_shows_what_the_target_sent_escaped(recorded_probe, tmp_path):
    bundle, _ = recorded_probe
    entries = json.loads((bundle / "entries.json").read_text())
    work = tmp_path / "bundle"
    work.mkdir()
    (work / "meta.json").write_text((bundle / "meta.json").read_text())
    for i, entry in enumerate(entries):
        if entry["op"] != "call" or "result" not in entry or not json.loads(entry["key"])[0].startswith("probe."):
            continue
        (work / "entries.json").write_text(json.dumps(entries[:i] + [{**entry, "result": _evil(entry["result"])}]
                                                      + entries[i + 1:]))
        code, out, err = run_main("probe", "--replay", str(work))
        assert code in (0, 1, 2, 3, 65) and "Traceback" not in err, (entry["key"], err[-400:])
        for line in out.splitlines() + err.splitlines():
            assert line.isprintable() and not line.lstrip().startswith("FAKE LINE"), (entry["key"], line)
