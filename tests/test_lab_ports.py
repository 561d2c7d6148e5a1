"""End to end, in network namespaces: the WSL2 host's 301-port range really exhausts, netwarden
reports it, --apply fixes it, --revert restores it byte for byte."""

import json

import pytest

pytestmark = pytest.mark.lab

RANGE = "net.ipv4.ip_local_port_range"
SERVER = ("198.18.0.2", 8080)


def findings_by_id(stdout: str) -> dict:
    return {f["id"]: f for f in json.loads(stdout)["findings"]}


def test_narrow_range_exhausts_then_apply_fixes_and_revert_restores(client_server, nw_env, tmp_path):
    client, server = client_server
    client.sysctl(RANGE, "60700 61000")
    server.serve(SERVER[1])

    # 1. The failure really happens: ~301 connections, then EADDRNOTAVAIL.
    before = client.connect(*SERVER, 600)
    assert before["eaddrnotavail"] > 0, before
    assert before["ok"] <= 301, before

    # 2. netwarden sees it.
    r = client.netwarden("--json", env=nw_env)
    assert r.returncode == 2, r.stderr
    found = findings_by_id(r.stdout)
    assert found["ports.range"]["severity"] == "critical"
    assert "301 usable ports" in found["ports.range"]["observed"]
    pressure = found["ports.pressure"]
    assert pressure["severity"] == "critical"
    assert "198.18.0.2:8080" in pressure["title"]
    assert any("exhausted now" in line and "198.18.0.2:8080" in line for line in pressure["evidence"])

    # 3. --apply widens the range, persists it in the drop-in, and the same load now succeeds.
    r = client.netwarden("--apply", "--json", env=nw_env)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["apply"]["result"] == "applied"
    assert report["apply"]["verified"]["ports.range"] == {"before": "critical", "after": "ok"}
    assert client.sysctl(RANGE).split() == ["32768", "61000"]
    dropin = tmp_path / "sysctl.d" / "60-netwarden.conf"
    assert f"{RANGE} = 32768 61000" in dropin.read_text()
    after = client.connect(*SERVER, 600)
    assert after == {"ok": 600, "eaddrnotavail": 0, "other": 0, "errors": []}

    # 4. --revert puts the narrow range back and removes the drop-in it created.
    r = client.netwarden("--revert", env=nw_env)
    assert r.returncode == 0, r.stderr
    assert client.sysctl(RANGE) == "60700\t61000"
    assert not dropin.exists()
