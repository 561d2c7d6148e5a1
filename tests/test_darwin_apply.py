"""--apply / --revert on a simulated Mac (tests/macos.py FakeMac: the commands a Mac would answer,
its sysctls changed by `sysctl -w`, its routes by `route -n`), through the real command line:
the exact argv run, the journal, netwarden's LaunchDaemon plist written and removed, all or nothing."""

import json
import os
import plistlib
import stat

import pytest
from macos import clean_mac, fake_mac, stale_vpn_mac, with_sysctl

from netwarden import cli
from netwarden.journal import Journal
from netwarden.model import Route, Unknown
from netwarden.platform.darwin_plan import boot_assignments, plist_text, route_argv

FIRST, LAST = "net.inet.ip.portrange.first", "net.inet.ip.portrange.last"
BLACKHOLE = "net.inet.tcp.pmtud_blackhole_detection"


def narrow_mac():
    """The clean Mac with a 1,001-port range, as an installer might leave it."""
    return with_sysctl(clean_mac(), net__inet__ip__portrange__first="60000", net__inet__ip__portrange__last="61000")


@pytest.fixture
def mac(tmp_path, no_netwarden_env, monkeypatch):
    """make(host, ...) -> the FakeMac class `netwarden` will run on; netwarden's paths in tmp_path."""
    plist = tmp_path / "LaunchDaemons" / "com.netwarden.sysctl.plist"
    plist.parent.mkdir()
    monkeypatch.setattr("netwarden.platform.darwin.SYSCTL_PLIST", str(plist))
    (tmp_path / "none.toml").write_text("")
    for key, value in {"STATE_DIR": tmp_path / "state", "SOCKET": tmp_path / "nw.sock", "LOCK_TIMEOUT": "0.3",
                       "CONFIG": tmp_path / "none.toml", "SYSCTL_DIR": tmp_path}.items():
        monkeypatch.setenv(f"NETWARDEN_{key}", str(value))

    def make(host, **behaviour):
        cls = fake_mac(host, tmp_path, **behaviour)
        monkeypatch.setattr("netwarden.platform.source.Source", cls)
        return cls
    make.plist = plist
    make.journal = lambda: Journal(tmp_path / "state").entries
    return make


def nw(capsys, *args):
    code = cli.main(["check", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def writes(ran):
    return [argv for argv in ran if argv[:2] == ["/usr/sbin/sysctl", "-w"] or argv[0] == "/sbin/route"]


def test_widen_then_revert_exact_argv_journal_and_plist(mac, capsys):
    host = mac(narrow_mac())
    code, out, err = nw(capsys, "--only", "ports.range", "--apply")
    assert code == 0, out + err
    assert writes(host.ran) == [["/usr/sbin/sysctl", "-w", f"{FIRST}=49152"], ["/usr/sbin/sysctl", "-w", f"{LAST}=65535"]]
    assert ["/usr/sbin/sysctl", "-n", FIRST] in host.ran  # read back after the write
    assert (host.sysctls[FIRST], host.sysctls[LAST]) == ("49152", "65535")
    entries = mac.journal()
    assert [(e["kind"], e["target"], e["original"], e["written"], e["state"]) for e in entries] == [
        ("sysctl", FIRST, "60000", "49152", "applied"), ("sysctl", LAST, "61000", "65535", "applied"),
        ("file", str(mac.plist), {"exists": False, "content_b64": "", "mode": 0o644, "uid": 0, "gid": 0}, None, "applied")]
    job = plistlib.loads(mac.plist.read_bytes())
    assert job == {"Label": "com.netwarden.sysctl", "RunAtLoad": True,
                   "ProgramArguments": ["/usr/sbin/sysctl", "-w", f"{FIRST}=49152", f"{LAST}=65535"]}
    st = mac.plist.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o644, 0, 0)  # root:wheel 0644
    assert "verified: ports.range critical -> ok" in out

    host.ran.clear()
    code, out, err = nw(capsys, "--revert")
    assert code == 0, err
    assert writes(host.ran) == [["/usr/sbin/sysctl", "-w", f"{LAST}=61000"], ["/usr/sbin/sysctl", "-w", f"{FIRST}=60000"]]
    assert not mac.plist.exists() and f"removed   {mac.plist}" in out
    assert (host.sysctls[FIRST], host.sysctls[LAST]) == ("60000", "61000") and mac.journal() == []


def test_a_failing_sysctl_write_rolls_back_and_exits_74(mac, capsys):
    host = mac(narrow_mac(), fail=(["/usr/sbin/sysctl", "-w", f"{LAST}=65535"],))
    code, out, err = nw(capsys, "--only", "ports.range", "--apply")
    assert code == 74
    assert f"change failed: {LAST}: `sysctl -w {LAST}=65535` exited 1" in err
    assert writes(host.ran)[-1] == ["/usr/sbin/sysctl", "-w", f"{FIRST}=60000"]  # put back
    assert (host.sysctls[FIRST], host.sysctls[LAST]) == ("60000", "61000")
    assert not mac.plist.exists() and mac.journal() == []


def test_a_write_the_kernel_drops_silently_is_a_failed_change(mac, capsys):
    host = mac(narrow_mac(), ignore=(LAST,))
    code, out, err = nw(capsys, "--only", "ports.range", "--apply")
    assert code == 74 and f"{LAST}: wrote '65535' but it reads back '61000'" in err
    assert host.sysctls[FIRST] == "60000" and not mac.plist.exists() and mac.journal() == []


def test_the_plist_keeps_every_key_across_applies_and_revert_removes_it(mac, capsys):
    host = mac(with_sysctl(narrow_mac(), net__inet__tcp__pmtud_blackhole_detection="0"))
    # a Mac with its blackhole detection off and traffic leaving through a tunnel (mtu.path warning)
    host.host.update({k: v for k, v in stale_vpn_mac().items() if isinstance(k, tuple) and k[0] != "/usr/sbin/sysctl"})
    code, out, err = nw(capsys, "--only", "mtu.path", "--apply")
    assert code == 0, out + err
    assert writes(host.ran) == [["/usr/sbin/sysctl", "-w", f"{BLACKHOLE}=1"]]
    code, out, err = nw(capsys, "--only", "ports.range", "--apply")
    assert code == 0, out + err
    args = plistlib.loads(mac.plist.read_bytes())["ProgramArguments"]
    assert args == ["/usr/sbin/sysctl", "-w", f"{BLACKHOLE}=1", f"{FIRST}=49152", f"{LAST}=65535"]
    assert [e["target"] for e in mac.journal()].count(str(mac.plist)) == 1  # the first original is kept
    code, out, err = nw(capsys, "--revert")
    assert code == 0 and not mac.plist.exists()
    assert (host.sysctls[FIRST], host.sysctls[LAST], host.sysctls[BLACKHOLE]) == ("60000", "61000", "0")


def test_a_range_that_only_the_runtime_keeps_is_persisted(mac, capsys, monkeypatch):
    # netwarden's own plist sets a narrow range at boot while a wide one is in force
    mac.plist.write_text(plist_text({FIRST: "60000", LAST: "61000"}))
    mac(clean_mac())
    code, out, err = nw(capsys, "--only", "ports.range", "--dry-run")
    assert code == 1 and "but not persisted: after a reboot" in out
    code, out, err = nw(capsys, "--only", "ports.range", "--apply")
    assert code == 0, out + err
    assert plistlib.loads(mac.plist.read_bytes())["ProgramArguments"][2:] == [f"{FIRST}=49152", f"{LAST}=65535"]
    code, out, err = nw(capsys, "--revert")
    assert mac.plist.read_text() == plist_text({FIRST: "60000", LAST: "61000"})  # put back as it was


def test_a_symlinked_plist_is_refused_before_any_write(mac, capsys, tmp_path):
    (tmp_path / "elsewhere.plist").write_text("")
    mac.plist.symlink_to(tmp_path / "elsewhere.plist")
    host = mac(narrow_mac())
    code, out, err = nw(capsys, "--only", "ports.range", "--dry-run")
    assert "--apply would not make:" in out and "is a symlink" in out
    code, out, err = nw(capsys, "--only", "ports.range", "--apply")
    assert code == 74 and "refused:" in err and writes(host.ran) == []
    assert (tmp_path / "elsewhere.plist").read_text() == "" and mac.journal() == []


def test_a_plist_netwarden_did_not_write_is_refused(mac, capsys):
    mac.plist.write_text("<plist><dict><key>Label</key><string>someone.else</string></dict></plist>")
    host = mac(narrow_mac())
    code, out, err = nw(capsys, "--only", "ports.range", "--apply")
    assert code == 74 and "is not the job netwarden writes" in err and writes(host.ran) == []


def test_stale_routes_deleted_with_the_exact_argv_and_revert_adds_them_back(mac, capsys, monkeypatch):
    monkeypatch.setenv("NETWARDEN_TUNNELS_REMOVE_STALE_ROUTES", "true")
    host = mac(stale_vpn_mac())
    code, out, err = nw(capsys, "--only", "tunnels.stale", "--apply")
    assert code == 0, out + err
    assert writes(host.ran) == [["/sbin/route", "-n", "delete", "-inet", "default", "-interface", "utun6"]]
    (entry,) = mac.journal()
    assert (entry["kind"], entry["target"], entry["original"]) == (
        "route-del", "default dev utun6 metric 0",
        {"route": {"family": 4, "dst": "default", "dev": "utun6", "gateway": None, "metric": 0}, "present": True})
    assert "default            link#18            UCSg            utun6" not in host.host[("/usr/sbin/netstat", "-rn")]
    host.ran.clear()
    assert nw(capsys, "--revert")[0] == 0
    assert writes(host.ran) == [["/sbin/route", "-n", "add", "-inet", "default", "-interface", "utun6"]]
    assert mac.journal() == []


def test_not_root_is_not_a_refusal_but_the_cli_says_apply_needs_root(mac, capsys, monkeypatch):
    host = mac(narrow_mac())
    monkeypatch.setattr(os, "geteuid", lambda: 501)
    code, out, err = nw(capsys, "--only", "ports.range", "--dry-run")
    assert code == 2 and "--apply would not make" not in out and "plans 3 change(s)" in out
    code, out, err = nw(capsys, "--only", "ports.range", "--apply")
    assert code == 77 and "needs root" in err and writes(host.ran) == []


# ---- the pieces the plan is made of ------------------------------------------------------------

def test_plist_round_trip_and_foreign_or_damaged_plists():
    assignments = {FIRST: "49152", LAST: "65535", BLACKHOLE: "1"}
    assert boot_assignments(plist_text(assignments), "p") == assignments
    for text in ("", "not xml", "<plist><array><string>x</string></array></plist>", "<" * 5000,
                 plist_text({FIRST: "80"}), plist_text({"-w": "1"}), plist_text({FIRST: "4e4"}),
                 plist_text({FIRST: "49152"}).replace("-w", "-a")):
        assert isinstance(boot_assignments(text, "p"), Unknown), text[:60]


@pytest.mark.parametrize("route, argv", [
    (Route(4, "default", "utun6"), ["-inet", "default", "-interface", "utun6"]),
    (Route(4, "0.0.0.0/1", "utun0"), ["-inet", "-net", "0.0.0.0/1", "-interface", "utun0"]),
    (Route(4, "10.8.0.1/32", "utun3", "10.8.0.2"), ["-inet", "-host", "10.8.0.1", "10.8.0.2"]),
    (Route(6, "default", "utun5", "fe80::1%utun5"), ["-inet6", "default", "fe80::1%utun5"]),
    (Route(6, "fd6f:74a0:9a49::/64", "utun5"), ["-inet6", "-net", "fd6f:74a0:9a49::/64", "-interface", "utun5"]),
])
def test_route_argv_is_wg_quicks_form(route, argv):
    assert route_argv("delete", route) == ["/sbin/route", "-n", "delete", *argv]


@pytest.mark.parametrize("route", [
    Route(4, "default", "-utun6"), Route(4, "default", "utun6 x"), Route(4, "default", "u" * 16),
    Route(4, "default", ""), Route(4, "10.0.0.0/33", "utun6"), Route(4, "fd00::/64", "utun6"),
    Route(4, "10.0.0.0/8", "utun6", "-gw"), Route(5, "default", "utun6"), Route(4, "10.0.0.0", "utun6"),
])
def test_route_argv_refuses_what_is_not_a_route(route):
    with pytest.raises(ValueError):
        route_argv("delete", route)


def test_a_damaged_journal_entry_fails_its_revert_clearly(mac, capsys, tmp_path):
    host = mac(narrow_mac())
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "journal.json").write_text(json.dumps({"format": 1, "entries": [
        {"kind": "sysctl", "target": FIRST, "original": "80; reboot", "check": "ports.range", "state": "applied"},
        {"kind": "sysctl", "target": "-w", "original": "1", "check": "ports.range", "state": "applied"}]}))
    code, out, err = nw(capsys, "--revert")
    assert code == 74 and err.count("the journaled original is unusable") == 2 and writes(host.ran) == []
