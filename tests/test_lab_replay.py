"""A support bundle recorded in a namespace lab with targets (so it holds probe answers), replayed
on this host: the same report; and replayed once per entry with that entry removed or its answer
replaced by one of another form, or of the same form holding what a live answer never does (text
where an address goes, numbers of 5,000 digits or in another script): always a report (exit 0-3)
or a refused bundle (65), never a crash."""

from __future__ import annotations

import json
import shutil
import sys
import time

import pytest
from factories import clean_env, spoiled_entries
from factories import run_main as netwarden
from lab import TOOLS, Netns, lab_unavailable, link

pytestmark = pytest.mark.lab
TARGETS = ["svc.lab:8443", "dual.lab:8443", "[2001:db8:18::2]:8443"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """(bundle directory, the recording run's report): a client with IPv4 and IPv6 towards a server
    that serves TCP on both and DNS, a dead tun device holding a route, TIME_WAIT sockets for the
    census, a sysctl.d file; targets by DNS name, by /etc/hosts name (both families) and by address."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("recorded")
    client, server = Netns(), Netns()
    try:
        link(client, "198.18.0.1/24", server, "198.18.0.2/24", v6=("2001:db8:18::1/64", "2001:db8:18::2/64"))
        server.serve(8443)
        server.serve(8443, "::")
        server.start(sys.executable, str(TOOLS), "dns", "198.18.0.2", "svc.lab", "198.18.0.2", ready="ready")
        client.etc("hosts", "127.0.0.1 localhost\n198.18.0.2 dual.lab\n2001:db8:18::2 dual.lab\n")
        client.etc("resolv.conf", "nameserver 198.18.0.2\noptions timeout:1\n")
        client.run("ip", "tuntap", "add", "dev", "nwtun0", "mode", "tun")
        client.run("ip", "link", "set", "nwtun0", "up")
        client.run("ip", "route", "add", "198.18.9.0/24", "dev", "nwtun0")
        assert client.connect("198.18.0.2", 8443, 50)["ok"] == 50  # TIME_WAIT for the census
        for _ in range(50):  # the recording should not race IPv6 neighbour discovery
            if client.tool("dial", "2001:db8:18::2", "8443", "0.2")["outcome"] == "ok":
                break
        (tmp / "sysctl.d").mkdir()
        (tmp / "sysctl.d" / "50-lab.conf").write_text("net.ipv4.ip_local_port_range = 32768 60999\n")
        (tmp / "netwarden.toml").write_text(f"targets = {json.dumps(TARGETS)}\nprobe_timeout = 1\n")
        env = clean_env(NETWARDEN_CONFIG=str(tmp / "netwarden.toml"), NETWARDEN_STATE_DIR=str(tmp / "state"),
                        NETWARDEN_SYSCTL_DIR=str(tmp / "sysctl.d"),
                        NETWARDEN_SYSCTL_SEARCH_DIRS=json.dumps([str(tmp / "sysctl.d")]),
                        NETWARDEN_SYSCTL_CONF=str(tmp / "sysctl.conf"))
        live = client.netwarden("--json", "--record", str(tmp / "bundle"), env=env)
        assert live.returncode in (0, 1, 2, 3) and "Traceback" not in live.stderr, live.stdout + live.stderr
        yield tmp / "bundle", json.loads(live.stdout)
    finally:
        client.close()
        server.close()


def test_a_replay_gives_the_recording_s_report_target_probes_included(recorded, no_netwarden_env):
    bundle, live = recorded
    facts = live["facts"]
    assert [t["target"] for t in facts["targets"]] == TARGETS and len(facts["paths"]) == 3 and facts["dns"]
    assert all(not t["error"] and t["connects"] for t in facts["targets"]), facts["targets"]
    # This machine's settings play no part: the bundle's targets and timeout are asked for.
    no_netwarden_env.setenv("NETWARDEN_TARGETS", '["elsewhere.example:443"]')
    no_netwarden_env.setenv("NETWARDEN_PROBE_TIMEOUT", "9")
    code, out, err = netwarden("--json", "--replay", str(bundle))
    assert code == live["exit_code"] and err == "", err
    replay = json.loads(out)
    for part in ("findings", "facts", "changes", "status"):
        assert replay[part] == live[part], part


def test_an_older_bundle_without_settings_still_replays_on_the_defaults(recorded, tmp_path):
    bundle, _ = recorded
    old = tmp_path / "old"
    shutil.copytree(bundle, old)
    meta = json.loads((old / "meta.json").read_text())
    del meta["settings"]
    (old / "meta.json").write_text(json.dumps(meta))
    code, out, err = netwarden("--json", "--replay", str(old))
    assert code in (0, 1, 2, 3) and err.count("does not carry the settings") == 1, err
    assert json.loads(out)["facts"]["targets"] is None  # the defaults have no targets


def test_every_answer_removed_or_of_another_form_is_unknown_never_a_crash(recorded, tmp_path, no_netwarden_env):
    bundle, _ = recorded
    meta = (bundle / "meta.json").read_text()
    entries = json.loads((bundle / "entries.json").read_text())
    ops = {e["op"] for e in entries}
    assert {"read", "exists", "listdir", "run", "call"} <= ops, ops
    assert {json.loads(e["key"])[0] for e in entries if e["op"] == "call"} >= {
        "probe.connect", "probe.route_mtu", "probe.transfer", "probe.dns", "sock_diag.census", "readlink", "stat.mode"}
    work = tmp_path / "bundle"
    work.mkdir()
    (work / "meta.json").write_text(meta)
    failures, runs, start = [], 0, time.monotonic()
    for i, entry in enumerate(entries):
        for variant in spoiled_entries(entry):
            (work / "entries.json").write_text(json.dumps(entries[:i] + ([variant] if variant else []) + entries[i + 1:]))
            code, out, err = netwarden("--json", "--replay", str(work))
            runs += 1
            if code not in (0, 1, 2, 3, 65) or "Traceback" in err or (code < 4 and not json.loads(out)["findings"]):
                failures.append((entry["op"], entry["key"], variant, code, err[-400:]))
    print(f"{runs} replays of {len(entries)} entries in {time.monotonic() - start:.1f} s")
    assert not failures, failures[:5]
