"""The macOS backend never raises on what a Mac (or a damaged bundle) answers: every command's
output of a fixture-assembled Mac is mutated (lines dropped, cut short, junk and the outputs' own
words inserted, CRLF, empty, a failed exit, the command missing), and collect, the checks, the
plan and the refusals still run and give findings."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from macos import BOOT, DAY, fake_mac, stale_vpn_mac, with_sysctl

from netwarden import engine
from netwarden.config import Settings
from netwarden.model import Severity
from netwarden.platform.darwin import DarwinBackend, detect
from netwarden.platform.darwin_facts import KEYS as KEYS_READ
from netwarden.platform.source import CommandResult

WORDS = ["utun6", "default", "link#18", "UCSg", "TIME_WAIT", "Disconnected", "Connected", "nameserver[0] :",
         "net.inet.ip.portrange.first:", "net.inet.tcp.msl: ", "kern.boottime: { sec = ", "inet ", "-->",
         "flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> mtu", "[ctl com.apple.net.utun_control id 1 unit ",
         "resolver #", "Internet6:", "Destination", "%", "/", ":", ".", "-1", "99999999999999999999999", "9" * 5000, "nan",
         "\x00", "é", "\t", "(*)"]
ODD_VALUES = ["", "0", "-1", "1", "2", "65536", "80", "4294967295", "99999999999999999999999", "9" * 5000, "nan", "1e3",
              "0x10",
              "{ sec = 99999999999, usec = 1 }", "{ sec = 0, usec = 0 }", "²", "49152 65535"]
# every output the stale-VPN Mac answers, and the sysctl dump its sysctls come from
KEYS = [key for key in stale_vpn_mac() if isinstance(key, tuple) and key[0] != "/usr/sbin/sysctl"] + ["sysctl -a"]


def _mutate(text: str, how: str, data) -> object:
    lines = text.splitlines()
    if how == "drop" and lines:
        keep = data.draw(st.lists(st.booleans(), min_size=len(lines), max_size=len(lines)))
        return "\n".join(line for line, k in zip(lines, keep) if k)
    if how == "cut":
        return text[:data.draw(st.integers(0, len(text)))]
    if how == "junk" and lines:
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(lines)))
            lines.insert(at, data.draw(st.one_of(st.sampled_from(WORDS), st.text(max_size=40)))
                         + data.draw(st.sampled_from(["", " 7", " x", " -->", ": 65535", " (Connected)"])))
        return "\n".join(lines)
    if how == "words":  # a line's words shuffled about
        if lines:
            at = data.draw(st.integers(0, len(lines) - 1))
            lines[at] = " ".join(data.draw(st.permutations(lines[at].split())))
        return "\n".join(lines)
    return {"crlf": text.replace("\n", "\r\n"), "empty": "", "fail": CommandResult(1, text[:100], "boom\n"),
            "missing": FileNotFoundError, "replace": data.draw(st.text(max_size=300))}.get(how, text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_backend_never_raises_on_mutated_outputs(data):
    host = stale_vpn_mac()
    # past the TCP clock's wrap TIME_WAIT is sampled twice: a bundle gives the one answer again
    for key in data.draw(st.lists(st.sampled_from(KEYS), max_size=6, unique=True)):
        how = data.draw(st.sampled_from(["drop", "cut", "junk", "words", "crlf", "empty", "fail", "missing", "replace"]))
        value = _mutate(host[key], how, data)
        host[key] = value if key != "sysctl -a" or isinstance(value, str) else ""
    # and the values the backend reads, each kept, dropped or odd
    for key in KEYS_READ:
        how = data.draw(st.sampled_from(["keep", "keep", "drop", "odd"]))
        if how != "keep":
            odd = data.draw(st.sampled_from(ODD_VALUES)) if how == "odd" else None
            host = with_sysctl(host, drop=(key,)) if odd is None else with_sysctl(host, **{key.replace(".", "__"): odd})
    host["now"] = data.draw(st.one_of(st.sampled_from([host["now"], BOOT + 48.6 * DAY, BOOT + 50 * DAY]), st.floats(),
                                      st.integers(-2**70, 2**70), st.text(max_size=5)))
    host["euid"] = data.draw(st.sampled_from([0, 501, None]))
    source = fake_mac(host, Path("/nonexistent"))()
    settings_ = Settings(tunnels_remove_stale_routes=data.draw(st.booleans()))
    backend = DarwinBackend(source, settings_, detect(source), sysctl_plist="/nonexistent/com.netwarden.sysctl.plist")
    specs = engine.select_checks(settings_, system="darwin")
    facts = engine.collect(backend, specs)
    findings = engine.analyze(facts, settings_, specs, backend)
    assert {f.id for f in findings} == {s.id for s in specs}
    assert all(isinstance(f.severity, Severity) for f in findings)
    engine.plan(findings, backend)
    engine.report_document(facts, findings, [], None)
