"""The whole Windows check, end to end on Linux: `netwarden check --replay` over support bundles
assembled from the real captures (tests/windows_host.py says which answer is which capture, and
which few are constructed), for an English and a zh-CN Windows host and for WSL2 guests in NAT and
mirrored mode that read their Windows host through interop."""

import json

import pytest
from factories import run_main
from windows_host import (NOW, chinese_host, english_host, fx, reservation_table, write_bundle, wsl_entries)


def replay(directory, *args):
    code, out, err = run_main("--replay", str(directory), *args)
    assert 0 <= code <= 3, (code, err[-2000:])
    assert "Traceback" not in err, err
    return code, out, err


def report(directory, *args):
    code, out, _ = replay(directory, "--json", *args)
    doc = json.loads(out)
    assert doc["exit_code"] == code
    return doc, {f["id"]: f for f in doc["findings"]}


@pytest.fixture
def english(tmp_path):
    return write_bundle(tmp_path / "en", english_host())


@pytest.fixture
def chinese(tmp_path):
    return write_bundle(tmp_path / "zh", chinese_host())


def test_english_host_range_eaten_by_hyper_v_is_reported_with_its_excluded_share(english):
    code, text, _ = replay(english)
    assert code == 1 and text.startswith("netwarden 0.1.0 on windows (kernel 10.0.26200.8875)")
    doc, found = report(english)
    ports = found["ports.range"]
    assert ports["severity"] == "warning" and ports["value"] == "1024-15000"
    assert ports["observed"] == "1024-15000: 13977 ports, 9977 usable by connect() (4000 excluded, 29%)"
    assert "about 83 new connections/s for all destinations together" in ports["title"]  # 120 s TIME_WAIT
    evidence = "\n".join(ports["evidence"])
    assert "excluded inside the range: 4294-4393 (system reservation)" in evidence
    assert "40 inside the range taking 4000 of its 13977 ports (29%)" in evidence
    assert "ipv4 udp: 49152-65535 (16384 ports), set apart from ipv4 tcp" in evidence
    advice = "\n".join(ports["advice"])
    assert "`net stop winnat`" in advice and "`net start winnat`" in advice
    # 1024 is below what netsh sets: advice with the exact commands, no change
    assert "`netsh interface ipv4 set dynamicport tcp start=1025 num=64511`" in advice
    assert "`netsh interface ipv4 set dynamicport tcp start=49152 num=16384`" in advice
    assert ports["changes"] == [] and doc["changes"] == []
    facts = doc["facts"]
    assert facts["port_range"]["shared_pool"] is True and len(facts["port_range"]["excluded"]) == 40
    assert not any(block["administered"] for block in facts["port_range"]["excluded"])
    assert facts["time_wait"] == {"seconds": 120, "count": 3, "setting": "TcpTimedWaitDelay absent from the registry: "
                                                                           "Windows' default 120 s"}
    assert facts["pmtu"] == {"enabled": False, "setting": "EnablePMTUBHDetect absent from the registry: 0, "
                                                          "Windows' default (off)"}
    assert (facts["keepalive"]["idle"], facts["keepalive"]["interval"], facts["keepalive"]["retries"]) == (7200, 1, 5)
    assert doc["platform"]["system"] == "win32" and "conntrack" not in found and "ports.tw-reuse" not in found


def test_a_recent_port_exhaustion_event_makes_pressure_a_warning_and_old_ones_are_dated(english):
    _, found = report(english)
    pressure = found["ports.pressure"]
    assert pressure["severity"] == "warning" and pressure["title"].endswith("they ran out recently")
    evidence = "\n".join(pressure["evidence"])
    assert "Tcpip event 4231 (no TCP ephemeral port was free): 1 of the last 2 listed, " \
           "the newest at 2024-12-23 22:05 UTC (2 h ago)" in evidence
    assert "Tcpip event 4227" in evidence and "days ago" in evidence
    assert evidence.count("Tcpip event 4231") == 1
    assert "46 of 9977 usable ports in use" in evidence  # one pool for every destination


def test_the_same_host_without_events_is_ok_under_pressure(tmp_path):
    answers = {**english_host(), "events": ""}
    _, found = report(write_bundle(tmp_path / "b", answers))
    assert found["ports.pressure"]["severity"] == "ok"
    assert "no Tcpip port-exhaustion event (4227, 4231, 4266) in the System log" in found["ports.pressure"]["evidence"]


def test_the_zh_cn_host_reads_the_same_numbers_from_localized_output(english, chinese):
    en, _ = report(english)
    zh, found = report(chinese)
    for fact in ("low", "high"):
        assert zh["facts"]["port_range"][fact] == en["facts"]["port_range"][fact]
    assert zh["platform"]["kernel"] == "10.0.19045.3570"  # `Microsoft Windows [版本 10.0.19045.3570]`
    assert found["ports.range"]["observed"] == "1024-15000: 13977 ports, 12775 usable by connect() (1202 excluded, 9%)"
    assert zh["facts"]["time_wait"]["seconds"] == 30 and zh["facts"]["keepalive"]["idle"] == 300
    scoped = zh["facts"]["resolvers"]["scoped"]
    assert scoped == [{"scope": "以太网", "nameservers": ["192.168.1.1", "240e:1f:1::1", "240e:1f:1::33"], "domains": []}]
    assert found["dns.resolvers"]["severity"] == "ok"  # masked addresses elsewhere in ipconfig are no DNS problem
    policy = zh["facts"]["address_policy"]
    assert policy["table"] == [["2001::/16", 35], ["2002::/16", 30], ["2001::/32", 25]]
    assert "no ::ffff:0:0/96 row" in policy["problems"][0]
    links = {link["name"]: link for link in zh["facts"]["links"]}
    assert links["Netkeeper"]["mtu"] == 1480 and links["Loopback Pseudo-Interface 1"]["kind"] == "loopback"
    assert links["以太网"]["carrier"] is None  # media sense state 5: netsh does not say


def test_a_question_the_bundle_lacks_is_unknown_with_its_command_named(tmp_path):
    answers = {**english_host(), "reg": None, "excluded tcp": (1, "The requested operation requires elevation.\r\n")}
    doc, found = report(write_bundle(tmp_path / "b", answers))
    assert found["keepalive.idle"]["severity"] == "unknown"
    assert "reg query" in found["keepalive.idle"]["observed"] and "not in the support bundle" in found["keepalive.idle"]["observed"]
    evidence = "\n".join(found["ports.range"]["evidence"])
    assert "excluded port ranges unknown (`netsh interface ipv4 show excludedportrange protocol=tcp` exited 1: " \
           "The requested operation requires elevation.)" in evidence
    assert found["ports.range"]["observed"].startswith("1024-15000: 13977 ports, 13977 usable")


def test_text_output_of_a_windows_replay_has_every_check_that_exists_there(english):
    _, text, _ = replay(english)
    checks = [line.split()[1] for line in text.splitlines() if line[:11].strip() in ("OK", "WARNING", "CRITICAL",
                                                                                      "UNKNOWN")]
    assert checks == ["ports.range", "ports.pressure", "ipv6.preference", "dns.resolvers", "mtu.path", "tunnels.stale",
                      "keepalive.idle"]


def test_only_a_linux_check_on_a_windows_bundle_is_a_usage_error(english):
    code, _, err = run_main("--replay", str(english), "--only", "conntrack")
    assert code == 64 and "conntrack does not exist on win32" in err


# ---- WSL2: both layers ----------------------------------------------------------------------------

def wsl_bundle(tmp_path, mode, linux_range, windows, **kwargs):
    return write_bundle(tmp_path / mode, {}, extra=wsl_entries(mode, linux_range, windows, **kwargs), system="linux")


def test_seed_host_wsl2_mirrored_301_ports_is_critical_names_the_windows_reservation_and_never_widens(tmp_path):
    bundle = wsl_bundle(tmp_path, "mirrored", "60700\t61000\n", {
        "ipv4 tcp": fx("netsh-ipv4-show-dynamicport-tcp__3.txt"), "excluded tcp": reservation_table(60700, 61000)})
    doc, found = report(bundle, "--only", "ports.range", "ports.pressure", "ports.tw-reuse")
    ports = found["ports.range"]
    assert ports["severity"] == "critical" and doc["platform"]["description"] == "wsl2, mirrored"
    assert any("WSL wrote 60700-61000 from the Windows host's port reservation 60700-61000" in e for e in ports["evidence"])
    advice = " ".join(ports["advice"])
    assert "`wsl --update`" in advice and "NAT mode" in advice and "tcp_tw_reuse = 1" in advice
    assert "Do not widen the range in WSL2 mirrored mode" in advice
    assert ports["changes"] == [] and not any(c["target"] == "net.ipv4.ip_local_port_range" for c in doc["changes"])
    code, text, _ = replay(bundle, "--dry-run", "--only", "ports.range")
    assert code == 2 and "would make" not in text


def test_wsl2_nat_the_windows_layer_bounds_the_guest_and_is_fixed_by_advice_only(tmp_path):
    bundle = wsl_bundle(tmp_path, "nat", "32768\t60999\n", {
        "ipv4 tcp": fx("netsh-ipv4-show-dynamicport-tcp__3.txt"),
        "excluded tcp": fx("netsh-ipv4-show-excludedportrange-tcp__2.txt")})
    doc, found = report(bundle, "--only", "ports.range")
    ports = found["ports.range"]
    assert ports["severity"] == "warning"
    assert ports["title"].startswith("Ephemeral port range on the Windows host (WinNAT) has 9977 usable ports")
    assert "also: Ephemeral port range has 28232 usable ports" in " ".join(ports["evidence"])
    assert doc["facts"]["host_port_range"]["layer"] == "the Windows host (WinNAT)"
    advice = " ".join(ports["advice"])
    assert "netwarden inside WSL cannot elevate there" in advice and "`net stop winnat`" in advice
    assert "`netsh interface ipv4 set dynamicport tcp start=49152 num=16384`" in advice
    assert doc["changes"] == []


def test_wsl2_nat_with_both_layers_short_widens_linux_and_advises_windows(tmp_path):
    bundle = wsl_bundle(tmp_path, "nat", "60700\t61000\n", {
        "ipv4 tcp": fx("netsh-ipv4-show-dynamicport-tcp__1.txt").replace("16384", "2000"),  # 49152 + 2000
        "excluded tcp": fx("netsh-ipv4-show-excludedportrange-tcp__4.txt")})
    doc, found = report(bundle, "--only", "ports.range")
    ports = found["ports.range"]
    assert ports["severity"] == "critical"
    assert [c["target"] for c in ports["changes"]] == ["net.ipv4.ip_local_port_range"]  # the Linux layer
    assert ports["changes"][0]["new"] == "32768 61000"
    assert "`netsh interface ipv4 set dynamicport tcp start=49152 num=16384`" in " ".join(ports["advice"])


def test_wsl2_with_interop_off_reads_no_windows_side_and_says_so(tmp_path):
    bundle = wsl_bundle(tmp_path, "nat", "32768\t60999\n", {}, interop="disabled\ninterpreter /init\n")
    doc, found = report(bundle, "--only", "ports.range")
    assert doc["facts"]["host_port_range"] is None
    assert any("WSL interop is disabled" in e for e in found["ports.range"]["evidence"])
    assert found["ports.range"]["severity"] == "ok"


def test_the_clock_a_bundle_recorded_dates_its_events(english):
    doc, _ = report(english)
    assert doc["facts"]["census"]["ages"] is False and NOW > 0
    assert doc["facts"]["census"]["exhausted"].startswith("Tcpip event 4231")


def test_with_targets_windows_probes_in_process_plans_the_prefix_policy_and_says_mtu_is_not_measured(tmp_path):
    def call(key, result):
        return {"op": "call", "key": json.dumps(key), "result": result}

    probes = [call(["probe.resolve", "api.example.com", 0], [[6, "2001:db8::10"], [4, "192.0.2.10"]]),
              call(["probe.connect", "2001:db8::10", 443, 3.0], {"family": 6, "address": "2001:db8::10",
                                                                   "outcome": "timeout", "ms": 3000.0, "error": ""}),
              call(["probe.connect", "192.0.2.10", 443, 3.0], {"family": 4, "address": "192.0.2.10", "outcome": "ok",
                                                                 "ms": 21.0, "error": ""})]
    bundle = write_bundle(tmp_path / "b", english_host(), settings={"targets": ["api.example.com:443"]}, extra=probes)
    doc, found = report(bundle)
    ipv6 = found["ipv6.preference"]
    assert ipv6["severity"] == "critical"
    assert ipv6["observed"] == "`netsh interface ipv6 show prefixpolicies`: 9 rows: IPv6 destinations sort first"
    assert [c["description"] for c in ipv6["changes"]] == [
        "netsh interface ipv6 set prefixpolicy ::ffff:0:0/96 100 4 (was 35 4; netsh keeps it across reboots)"]
    mtu = found["mtu.path"]
    assert mtu["severity"] == "unknown" and "not measured on Windows" in mtu["evidence"][0]
    assert "getent" not in json.dumps(doc)  # resolved in-process: there is no getent on Windows
    assert found["dns.resolvers"]["severity"] == "unknown"  # the bundle holds no DNS answers
