"""`netwarden probe` without a network: its command line's input classes (exit 64, one line), the
pure parsers (fuzzed), and the verdict rules on measurements made up here (the lab tests in
test_lab_probe.py make them happen for real)."""

import subprocess
import sys
from pathlib import Path

import pytest
from factories import LINUX, clean_env
from hypothesis import given, settings
from hypothesis import strategies as st

from netwarden.config import Settings
from netwarden.diagnose import inputs, verdicts
from netwarden.diagnose.inputs import Plan
from netwarden.diagnose.phases import Observations
from netwarden.diagnose.x509 import cert_names
from netwarden.model import Facts, PathProbe, PmtuProbing, PortRange, TimeWait, Unknown
from netwarden.target import Target

ROOT = Path(__file__).resolve().parents[1]


def netwarden(*argv: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netwarden", *argv], capture_output=True, text=True,
                          env=clean_env(**{"NETWARDEN_CONFIG": "", **env}), cwd=ROOT, timeout=60)


# Each fails before anything is sent anywhere.
BAD_COMMAND_LINES = {
    "missing target": ["probe"],
    "empty target": ["probe", ""],
    "blank target": ["probe", "   "],
    "no port": ["probe", "svc.lab"],
    "port not a number": ["probe", "svc.lab:https"],
    "port zero": ["probe", "svc.lab:0"],
    "port huge": ["probe", "svc.lab:4430000000000"],
    "host huge": ["probe", "a" * 5000 + ":443"],
    "label too long": ["probe", "a" * 64 + ".lab:443"],
    "empty label": ["probe", "svc..lab:443"],
    "space in host": ["probe", "svc lab:443"],
    "control character": ["probe", "svc\x07lab:443"],
    "ipv6 without brackets": ["probe", "2001:db8::2:443"],
    "ipv6 bracket truncated": ["probe", "[2001:db8::2:443"],
    "ipv6 nested brackets": ["probe", "[[2001:db8::2]]:443"],
    "not an ipv6 address": ["probe", "[2001:db8::2::3]:443"],
    "not an ipv4 address": ["probe", "198.18.0.999:443"],
    "localized port digits": ["probe", "svc.lab:٤٤٣"],
    "fullwidth port digits": ["probe", "svc.lab:４４３"],
    "not an international name": ["probe", "ü" * 70 + ".lab:443"],
    "timeout missing": ["probe", "svc.lab:443", "--timeout"],
    "timeout empty": ["probe", "svc.lab:443", "--timeout", ""],
    "timeout wrong type": ["probe", "svc.lab:443", "--timeout", "soon"],
    "timeout nan": ["probe", "svc.lab:443", "--timeout", "nan"],
    "timeout inf": ["probe", "svc.lab:443", "--timeout", "inf"],
    "timeout negative": ["probe", "svc.lab:443", "--timeout", "-1"],
    "timeout zero": ["probe", "svc.lab:443", "--timeout", "0"],
    "timeout huge": ["probe", "svc.lab:443", "--timeout", "1e308"],
    "timeout out of range": ["probe", "svc.lab:443", "--timeout", "99999"],
    "timeout localized": ["probe", "svc.lab:443", "--timeout", "٣"],
    "idle missing": ["probe", "svc.lab:443", "--idle"],
    "idle empty": ["probe", "svc.lab:443", "--idle", ""],
    "idle empty item": ["probe", "svc.lab:443", "--idle", "2,,8"],
    "idle wrong type": ["probe", "svc.lab:443", "--idle", "a,b"],
    "idle nan": ["probe", "svc.lab:443", "--idle", "nan"],
    "idle inf": ["probe", "svc.lab:443", "--idle", "30,inf"],
    "idle huge": ["probe", "svc.lab:443", "--idle", "86400"],
    "idle too many": ["probe", "svc.lab:443", "--idle", ",".join(str(n) for n in range(1, 40))],
    "idle fullwidth": ["probe", "svc.lab:443", "--idle", "３０"],
    "replay with a target": ["probe", "svc.lab:443", "--replay", "/nonexistent"],
    "record and replay": ["probe", "svc.lab:443", "--record", "/tmp/x", "--replay", "/tmp/y"],
    "unknown option": ["probe", "svc.lab:443", "--fast"],
}


@pytest.mark.parametrize("argv", BAD_COMMAND_LINES.values(), ids=BAD_COMMAND_LINES.keys())
def test_a_bad_command_line_is_one_line_and_exit_64(argv):
    r = netwarden(*argv)
    assert r.returncode == 64 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("netwarden: ") and r.stderr.count("\n") == 1, r.stderr


def test_a_bad_config_is_exit_78_and_an_unreadable_bundle_65(tmp_path):
    bad = tmp_path / "netwarden.toml"
    bad.write_text("probe_timeout = 'soon'\n")
    r = netwarden("probe", "198.18.0.2:443", NETWARDEN_CONFIG=str(bad))
    assert r.returncode == 78 and r.stderr.count("\n") == 1 and "probe_timeout" in r.stderr, r.stderr
    (tmp_path / "bundle").mkdir()
    r = netwarden("probe", "--replay", str(tmp_path / "bundle"))
    assert r.returncode == 65 and r.stderr.count("\n") == 1, r.stderr


def test_a_check_bundle_is_not_a_probe(tmp_path):
    recorded = netwarden("check", "--only", "ports.range", "--record", str(tmp_path / "bundle"))
    assert recorded.returncode in (0, 1, 2, 3), recorded.stderr
    r = netwarden("probe", "--replay", str(tmp_path / "bundle"))
    assert r.returncode == 65 and "a recorded check, not a probe" in r.stderr and r.stderr.count("\n") == 1, r.stderr


@pytest.mark.parametrize("configured, used, note", [
    ("1000", 120.0, True), ("3600", 120.0, True), ("0.001", 0.1, True),  # valid for the checks, beyond the probe's
    ("2.0000001", 2.0, False),  # finer than a bundle records: rounded, silently
    ("7", 7.0, False),
])
def test_a_probe_timeout_the_checks_allow_is_brought_into_the_probe_s_range(tmp_path, configured, used, note):
    """Not a bundle error (exit 65, "None: not a recorded probe") of a live probe: its default
    timeout, said once on stderr when moved; and the recording replays the same."""
    import json

    bundle = tmp_path / "bundle"
    r = netwarden("probe", "127.0.0.1:9", "--json", "--record", str(bundle), NETWARDEN_PROBE_TIMEOUT=configured)
    assert r.returncode in (0, 1, 2, 3) and "Traceback" not in r.stderr, r.stderr
    assert json.loads(r.stdout)["options"]["timeout"] == used
    if note:
        assert r.stderr.count("\n") == 1 and f"probe_timeout {configured} s is outside" in r.stderr, r.stderr
        assert f"probing with {used:g} s" in r.stderr
    else:
        assert r.stderr == ""
    replay = netwarden("probe", "--json", "--replay", str(bundle))
    assert replay.returncode == r.returncode and json.loads(replay.stdout)["options"]["timeout"] == used, replay.stderr
    given = netwarden("probe", "127.0.0.1:9", "--json", "--timeout", "1", NETWARDEN_PROBE_TIMEOUT=configured)
    assert given.stderr == "" and json.loads(given.stdout)["options"]["timeout"] == 1.0


def test_targets_as_users_type_them():
    assert inputs.parse_target(" svc.lab:443 ") == Target("svc.lab", 443)
    assert inputs.parse_target("bücher.lab:443") == Target("xn--bcher-kva.lab", 443)  # IDNA, as curl does
    assert inputs.parse_target("[2001:db8::2]:8443") == Target("2001:db8::2", 8443)
    assert inputs.parse_target("198.18.0.2:1") == Target("198.18.0.2", 1)
    assert inputs.parse_idle("350,30,120,30") == (30.0, 120.0, 350.0)
    assert inputs.parse_timeout("2.5") == 2.5


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_the_parsers_answer_anything_with_a_value_or_one_clear_error(text):
    for parse in (inputs.parse_target, inputs.parse_idle, inputs.parse_timeout):
        try:
            parse(text)
        except ValueError as e:
            assert str(e) and "\n" not in str(e)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_certificate_names_never_raise(data):
    assert set(cert_names(data)) == {"issuer", "subject"}


def test_certificate_names_of_a_real_certificate_and_of_every_truncation(tmp_path):
    import ssl

    import probe_lab

    if probe_lab.openssl_missing():
        pytest.skip(probe_lab.openssl_missing())
    certs = probe_lab.make_certs(tmp_path)
    der = ssl.PEM_cert_to_DER_cert(certs["cert"].read_text())
    assert cert_names(der) == {"issuer": "CN=netwarden lab CA", "subject": "CN=svc.lab"}
    for end in range(len(der)):
        assert set(cert_names(der[:end])) == {"issuer", "subject"}


# ---- verdicts -----------------------------------------------------------------------------------

def hello(kind: str, outcome: str = "ok", verified=True, nbytes=None) -> dict:
    return {"kind": kind, "bytes": nbytes or (517 if kind == "classic" else 1800), "outcome": outcome, "error": "",
            "ms": 3.0, "version": "TLSv1.3" if outcome == "ok" else "", "alpn": "h2" if outcome == "ok" else "",
            "verified": verified if outcome == "ok" else None, "verify_error": "" if verified else "self-signed",
            "issuer": "CN=Lab CA", "subject": "CN=svc.lab", "trust": "system store (default)"}


def trial(idle: float, outcome: str = "ok", at=None) -> dict:
    return {"idle": idle, "outcome": outcome, "at": at, "ms": 1.0, "error": ""}


def observed(**changes) -> Observations:
    """A healthy probe of 198.18.0.2:443, as the phases would report it, with `changes`."""
    facts = Facts(LINUX, links=(), routes=(), pmtu=PmtuProbing(False, "net.ipv4.tcp_mtu_probing = 0"),
                  port_range=PortRange(32768, 60999, 28232, (32768, 60999), "net.ipv4.ip_local_port_range = 32768 60999"),
                  time_wait=TimeWait(60.0, 0, "Linux: fixed 60 s"))
    obs = Observations(Plan(Target("198.18.0.2", 443), 2.0, (30.0, 120.0)), facts,
                       literal=True, lookup={"addresses": [[4, "198.18.0.2"]], "error": ""},
                       connects=[{"family": 4, "address": "198.18.0.2", "outcome": "ok", "ms": 0.3, "error": ""}],
                       address="198.18.0.2", hellos={"classic": hello("classic"), "large": hello("large")},
                       path=PathProbe("198.18.0.2:443", "198.18.0.2", "eth0", 1500, 1500, "delivered", "delivered"),
                       idle={"tls": True, "why": "", "baseline": trial(0), "trials": [trial(30), trial(120)]},
                       ports={"window": 10, "sockets": 0, "time_wait": 0, "destinations": []}, ms={})
    for key, value in changes.items():
        setattr(obs, key, value)
    return obs


def judged(obs):
    phases, findings = verdicts.judge(obs, Settings())
    return {p.name: p for p in phases}, {f.id: f for f in findings}


def test_made_up_healthy_measurements_are_ok_everywhere():
    phases, findings = judged(observed())
    assert {p.verdict for p in phases.values()} == {"ok"} and findings == {}


def test_a_lost_large_hello_with_full_size_segments_passing_is_the_middlebox():
    for outcome, how in (("reset", "is reset"), ("stalled", "is dropped"), ("closed", "is closed")):
        phases, findings = judged(observed(hellos={"classic": hello("classic"), "large": hello("large", outcome)}))
        found = findings["tls.large-clienthello"]
        assert phases["tls"].verdict == "critical" and how in found.title and "1,800 bytes" in found.title
        assert phases["mtu"].verdict == "ok"


def test_both_hellos_failing_names_each_ones_outcome():
    for classic, large, words in (("reset", "reset", "reset with either ClientHello"),
                                  ("no-connect", "reset", "the classic ClientHello no-connect, the large one reset")):
        _, findings = judged(observed(hellos={"classic": hello("classic", classic), "large": hello("large", large)}))
        assert words in findings["tls.handshake"].title


def test_a_server_refusing_both_hellos_with_an_alert_is_a_failed_handshake_not_ok():
    """An alert proves the path carried the hello (no middlebox), but no client like these connects."""
    refused = {kind: {**hello(kind, "alert"), "error": "SSLV3_ALERT_HANDSHAKE_FAILURE"} for kind in ("classic", "large")}
    phases, findings = judged(observed(hellos=refused))
    assert phases["tls"].verdict == "critical" and "tls.large-clienthello" not in findings
    assert "refuses both ClientHellos with a TLS alert (SSLV3_ALERT_HANDSHAKE_FAILURE)" in findings["tls.handshake"].title
    _, findings = judged(observed(hellos={"classic": hello("classic"), "large": refused["large"]}))
    assert findings == {}  # one size refused by the server itself: no middlebox, and clients connect


def test_a_large_hello_stalled_by_a_path_mtu_blackhole_blames_the_path_not_a_middlebox():
    blackhole = PathProbe("198.18.0.2:443", "198.18.0.2", "eth0", 1500, 1500, "stalled", "delivered")
    phases, findings = judged(observed(path=blackhole, hellos={"classic": hello("classic"),
                                                               "large": hello("large", "stalled")}))
    assert phases["tls"].verdict == "critical" and "path-MTU blackhole" in phases["tls"].summary
    assert set(findings) == {"mtu.path"}


def test_trust_curl_and_node_see_differently():
    untrusted = observed(hellos={"classic": hello("classic", verified=False), "large": hello("large", verified=False)})
    assert judged(untrusted)[1]["tls.untrusted"].severity.value == "critical"
    node = hello("large", verified=False) | {"trust": "public roots (142 in /usr/share/ca-certificates/mozilla)"}
    _, findings = judged(observed(hellos={"classic": hello("classic"), "large": node}))
    assert findings["tls.private-ca"].severity.value == "warning"
    # Without a public root list the large hello used the system store: nothing to compare.
    _, findings = judged(observed(hellos={"classic": hello("classic"), "large": hello("large", verified=False)}))
    assert "tls.private-ca" not in findings


def test_idle_limits_named_from_the_trials():
    idle = {"tls": True, "why": "", "baseline": trial(0), "trials": [trial(30), trial(120, "reset")]}
    phases, findings = judged(observed(idle=idle))
    found = findings["tcp.idle-timeout"]
    assert phases["idle"].verdict == "warning" and "between 30 s and 120 s" in found.title and found.value == "30"
    # A close that arrives while idle gives the limit itself (Cloudflare's 400 s).
    idle = {**idle, "trials": [trial(300), trial(600, "fin", at=400.0)]}
    found = judged(observed(idle=idle, plan=Plan(Target("198.18.0.2", 443), 2.0, (300.0, 600.0))))[1]["tcp.idle-timeout"]
    assert "closed after 400 s" in found.title and found.value == "400"
    # Silently dropped: the client hangs until tcp_retries2 gives up.
    idle = {**idle, "trials": [trial(300), trial(600, "silence")]}
    assert judged(observed(idle=idle))[1]["tcp.idle-timeout"].severity.value == "critical"
    # A target that does not answer even at once tells nothing about idle connections.
    phases, findings = judged(observed(idle={**idle, "baseline": trial(0, "silence")}))
    assert phases["idle"].verdict == "unknown" and "tcp.idle-timeout" not in findings


def test_a_bundle_without_the_answers_is_unknown_not_a_crash():
    missing = Unknown("not in the support bundle (call probe.tls)")
    phases, findings = judged(observed(hellos={"classic": missing, "large": missing}, dns=[missing],
                                       ports=missing, connects=[missing], literal=False, resolv=None))
    assert phases["tls"].verdict == phases["ports"].verdict == "unknown"
    assert phases["connect"].verdict == "unknown"


def test_all_connects_to_every_address_else_to_the_first_of_each_family():
    from concurrent.futures import ThreadPoolExecutor

    from netwarden.diagnose.phases import _Runner
    from netwarden.platform.source import Source

    addresses = [[4, "127.0.0.1"], [4, "127.0.0.2"], [6, "::1"]]  # loopback, nothing listens on port 9
    for all_addresses, expected in ((False, ["127.0.0.1", "::1"]), (True, ["127.0.0.1", "127.0.0.2", "::1"])):
        with ThreadPoolExecutor(4) as pool:
            runner = _Runner(Source(), None, Plan(Target("localhost", 9), 1.0, (), all_addresses), pool)
            connects = runner._connect(addresses)
        assert [c["address"] for c in connects] == expected
        assert {c["outcome"] for c in connects} == {"fast-fail"}, connects


def test_the_json_document_has_its_documented_shape_and_renders_as_text():
    import json

    from netwarden.diagnose import render
    from netwarden.diagnose.phases import PHASES

    obs = observed(hellos={"classic": hello("classic"), "large": hello("large", "reset")})
    doc = json.loads(json.dumps(render.document(obs, *verdicts.judge(obs, Settings()))))
    assert set(doc) == {"schema", "netwarden", "target", "host", "port", "options", "platform", "status",
                        "exit_code", "elapsed_ms", "phases", "findings"}
    assert (doc["schema"], doc["target"], doc["status"], doc["exit_code"]) == (1, "198.18.0.2:443", "critical", 2)
    assert [p["name"] for p in doc["phases"]] == list(PHASES)
    assert all(set(p) == {"name", "verdict", "ms", "summary", "evidence", "data"} for p in doc["phases"])
    assert [f["id"] for f in doc["findings"]] == ["tls.large-clienthello"]
    text = render.text(doc)
    assert "CRITICAL  tls.large-clienthello" in text and "large ClientHello (1,800 bytes): reset" in text
