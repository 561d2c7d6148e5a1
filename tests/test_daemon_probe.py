"""The daemon probes its targets every probe_interval the way `netwarden probe` does (issue #14), in
the namespace lab of tests/probe_lab.py: per-phase metrics, the probe's findings in `netwarden
status` and as drift events, a target that does not speak TLS left without ClientHellos."""

from __future__ import annotations

import json
import sys
import time

import pytest
import probe_lab as pl
from daemon_lab import DaemonRun
from test_lab_probe import RESET_LARGE_HELLO, _needs_tools, certs  # noqa: F401 - its fixtures: the same lab

pytestmark = pytest.mark.lab
TARGET = f"{pl.NAME}:{pl.PORT}"
PHASES_RUN = ("resolve", "connect", "tls", "mtu", "ports")  # idle survival: never in the daemon
# A service that is not TLS (an SSH-like banner at once): a ClientHello gets bytes no TLS stack
# reads (WRONG_VERSION_NUMBER), every time. (A plain-HTTP server would answer only once the hello
# happened to hold a newline byte.)
BANNER_SERVER = """
import socket, sys, threading
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(64)
print("ready", flush=True)

def serve(conn):
    with conn:
        try:
            conn.sendall(b"SSH-2.0-lab\\r\\n")
            while conn.recv(65536):
                pass
        except OSError:
            pass

while True:
    threading.Thread(target=serve, args=(listener.accept()[0],), daemon=True).start()
"""


def start(path, tmp_path, certs, target: str = TARGET, interval: float = 1.0) -> DaemonRun:
    env = pl.trusting({"NETWARDEN_TARGETS": json.dumps([target]), "NETWARDEN_PROBE_INTERVAL": str(interval),
                       "NETWARDEN_METRICS_ADDRESS": "127.0.0.1:9847"}, certs)
    return DaemonRun(path.client, tmp_path, env=env).start()


def scrape(run: DaemonRun) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    text = run.ns.run(sys.executable, "-c", "import urllib.request; print(urllib.request.urlopen("
                      "'http://127.0.0.1:9847/metrics', timeout=5).read().decode())").stdout
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def status(run: DaemonRun) -> dict:
    r = run.netwarden("status", "--json")
    assert r.returncode in (0, 1, 2, 3), r.stderr
    return json.loads(r.stdout)


def probed(run: DaemonRun, target: str = TARGET, after: float = 0.0) -> dict:
    """The status once the target has a probe newer than `after`."""
    found = {}

    def done():
        doc = status(run)
        probe = doc["status"].get("probes", {}).get(target)
        if probe and probe["at"] > after:
            found.update(doc)
            return True
        return False

    run.wait_for(done, f"a probe of {target}", timeout=20)
    return found


def phase(target: str, name: str) -> tuple:
    return (("phase", name), ("target", target))


def test_a_healthy_target_s_phases_are_exported_and_nothing_is_flagged(netns, certs, tmp_path):
    path = pl.direct(netns, certs)
    run = start(path, tmp_path, certs)
    doc = probed(run)
    probe = doc["status"]["probes"][TARGET]
    assert probe["status"] == "ok" and probe["error"] == ""
    assert [p["name"] for p in probe["phases"]] == list(PHASES_RUN) and {p["verdict"] for p in probe["phases"]} == {"ok"}
    assert not [f for f in doc["findings"] if "@" in f["id"]]  # the probe found nothing to report
    got = scrape(run)
    for name in PHASES_RUN:
        assert got[("netwarden_probe_phase_ok", phase(TARGET, name))] == 1, name
    assert ("netwarden_probe_phase_ok", phase(TARGET, "idle")) not in got  # skipped: never asked
    assert 0 < got[("netwarden_probe_phase_seconds", phase(TARGET, "connect"))] < 1
    assert 0 < got[("netwarden_probe_phase_seconds", phase(TARGET, "tls"))] < 3
    assert abs(got[("netwarden_probe_timestamp_seconds", (("target", TARGET),))] - time.time()) < 10
    text = run.netwarden("status")
    assert f"probe     {TARGET}: ok (resolve ok" in text.stdout, text.stdout
    # every probe_interval again (1 s here), on the waiting thread: the loop stays free
    again = probed(run, after=probe["at"])["status"]["probes"][TARGET]["at"]
    assert 0.5 < again - probe["at"] < 10
    assert run.stop()[0] == 0


def test_a_middlebox_resetting_large_hellos_is_a_finding_in_status_events_and_metrics(netns, certs, tmp_path):
    path = pl.routed(netns, certs)
    path.router.nft(RESET_LARGE_HELLO)
    run = start(path, tmp_path, certs)
    key = f"tls.large-clienthello@{TARGET}"
    appeared = run.wait_event("appeared", key, timeout=20)
    assert appeared["severity"] == "critical" and appeared["trigger"] == f"probe {TARGET}"
    assert appeared["check"] == key
    doc = status(run)
    finding = next(f for f in doc["findings"] if f["id"] == key)
    assert finding["severity"] == "critical" and "is reset" in finding["title"]
    assert any("GODEBUG=tlsmlkem=0" in a for a in finding["advice"])
    assert doc["status"]["exit_code"] == 2 and doc["status"]["status"] == "critical"
    got = scrape(run)
    assert got[("netwarden_probe_phase_ok", phase(TARGET, "tls"))] == 0
    assert got[("netwarden_probe_phase_ok", phase(TARGET, "mtu"))] == 1  # not a path-MTU problem
    assert got[("netwarden_finding", (("check", key), ("severity", "critical")))] == 1
    text = run.netwarden("status")
    assert text.returncode == 2 and key in text.stdout and f"probe     {TARGET}: critical" in text.stdout

    path.router.run("nft", "flush", "ruleset")  # the middlebox is fixed
    cleared = run.wait_event("cleared", key, timeout=20)
    assert cleared["severity"] == "ok" and cleared["trigger"] == f"probe {TARGET}"
    assert scrape(run)[("netwarden_probe_phase_ok", phase(TARGET, "tls"))] == 1
    assert run.stop()[0] == 0


def test_a_target_that_does_not_speak_tls_is_sent_no_hellos_after_the_first_probe(netns, certs, tmp_path):
    path = pl.direct(netns, certs)
    path.server.start(sys.executable, "-c", BANNER_SERVER, "198.18.0.2", "9000", ready="ready")
    target = "198.18.0.2:9000"
    run = start(path, tmp_path, certs, target=target)
    first = probed(run, target)["status"]["probes"][target]
    tls = [p for p in first["phases"] if p["name"] == "tls"]
    assert tls and tls[0]["verdict"] == "unknown" and "does not speak TLS" in tls[0]["summary"], first
    later = probed(run, target, after=first["at"])["status"]["probes"][target]
    assert [p["name"] for p in later["phases"]] == ["resolve", "connect", "mtu", "ports"], later  # tls skipped
    assert ("netwarden_probe_phase_ok", phase(target, "tls")) not in scrape(run)
    assert run.stop()[0] == 0


def test_a_target_that_never_answers_holds_neither_status_nor_sigterm(netns, certs, tmp_path):
    """The checks that probe targets (ipv6.preference, dns.resolvers, mtu.path, tunnels.stale) wait
    on the waiting thread, not on the loop: with the target's SYNs dropped and probe_timeout 20 s,
    the daemon answers `status` at once after its start and stops within 2 s of SIGTERM while they
    wait (it took 30 s when they ran on the loop)."""
    path = pl.direct(netns, certs)
    path.server.nft("table inet lab {\n chain input {\n  type filter hook input priority 0;\n"
                    f"  tcp dport {pl.PORT} drop\n }}\n}}\n".replace("}}", "}"))
    run = DaemonRun(path.client, tmp_path, env={"NETWARDEN_TARGETS": json.dumps([TARGET]),
                                                 "NETWARDEN_PROBE_TIMEOUT": "20", "NETWARDEN_PROBE_INTERVAL": "2"})
    run.config.write_text("poll_interval = 0.3\ncensus_interval = 60\n")  # every check, the probing ones too
    run.start()
    for _ in range(3):
        began = time.monotonic()
        answer = run.netwarden("status", "--json")
        assert answer.returncode in (0, 1, 2, 3) and time.monotonic() - began < 3, answer.stderr
        assert json.loads(answer.stdout)["findings"], answer.stdout  # the loop's own checks are in
        time.sleep(1)
    code, took = run.stop(timeout=2.0)
    assert code == 0 and took < 2
