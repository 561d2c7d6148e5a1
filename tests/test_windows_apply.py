"""--apply / --revert on a simulated Windows host (tests/windows_host.SimulatedWindows: netsh keeps
its dynamic ranges and prefix policies, and fails like a prompt that is not elevated when told):
the exact netsh argv run, the journal entries, the revert's argv; a failing netsh rolls back what
this run changed and exits 74."""

import json

import pytest
from windows_host import SYSTEM32, SimulatedWindows, english_host

from netwarden import cli
from netwarden.journal import Journal
from netwarden.platform import source as source_module

NETSH = f"{SYSTEM32}\\netsh.exe"
DEFAULT_POLICIES = {"::1/128": (50, 0), "::/0": (40, 1), "::ffff:0:0/96": (35, 4), "2002::/16": (30, 2),
                    "2001::/32": (5, 5), "fc00::/7": (3, 13), "fec0::/10": (1, 11), "3ffe::/16": (1, 12),
                    "::/96": (1, 3)}
SHORT = {"ipv4 tcp": (50000, 2000), "ipv4 udp": (50000, 2000), "ipv6 tcp": (49152, 16384), "ipv6 udp": (49152, 16384)}


class Host(SimulatedWindows):
    """The simulated host, with one target whose IPv6 path times out: getaddrinfo's order follows
    the ::ffff:0:0/96 row against ::/0, as Windows' does."""

    def call(self, name, fn, *args):
        if name == "probe.resolve":
            v4_first = self.policies.get("::ffff:0:0/96", (0, 0))[0] > self.policies.get("::/0", (0, 0))[0]
            found = [[6, "2001:db8::10"], [4, "192.0.2.10"]]
            return found[::-1] if v4_first else found
        if name == "probe.connect":
            address = args[0]
            return {"family": 6 if ":" in address else 4, "address": address, "ms": 3000.0 if ":" in address else 20.0,
                    "outcome": "timeout" if ":" in address else "ok", "error": ""}
        return super().call(name, fn, *args)


@pytest.fixture
def windows(tmp_path, no_netwarden_env, monkeypatch):
    """Run the CLI against a simulated Windows host; netwarden's own paths in tmp_path."""
    (tmp_path / "none.toml").write_text("")
    for key, value in {"NETWARDEN_STATE_DIR": tmp_path / "state", "NETWARDEN_CONFIG": tmp_path / "none.toml",
                       "NETWARDEN_SOCKET": tmp_path / "nw.sock", "NETWARDEN_SYSCTL_DIR": tmp_path,
                       "NETWARDEN_LOCK_TIMEOUT": "0.3"}.items():
        no_netwarden_env.setenv(key, str(value))

    def host(ranges=SHORT, policies=DEFAULT_POLICIES, fail=None) -> Host:
        simulated = Host(ranges, policies, english_host(), fail)
        monkeypatch.setattr(source_module, "Source", lambda: simulated)
        return simulated

    return host, Journal, tmp_path / "state"


def nw(capsys, *args):
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def sets(host) -> list[list[str]]:
    return [argv for argv in host.ran if argv[0] == NETSH and argv[3] in ("set", "add", "delete")]


def test_apply_widens_each_short_range_with_netsh_journals_the_originals_and_revert_sets_them_back(windows, capsys):
    make, Journal, state = windows
    host = make()
    code, out, err = nw(capsys, "--apply", "--only", "ports.range")
    assert code == 0, err
    assert sets(host) == [[NETSH, "interface", "ipv4", "set", "dynamicport", "tcp", "start=49152", "num=16384"],
                          [NETSH, "interface", "ipv4", "set", "dynamicport", "udp", "start=49152", "num=16384"]]
    assert host.ranges["ipv4 tcp"] == (49152, 16384) and host.ranges["ipv6 tcp"] == (49152, 16384)
    assert "netsh interface ipv4 set dynamicport tcp start=49152 num=16384 (was start=50000 num=2000" in out
    assert "verified: ports.range critical -> ok" in out
    entries = [{k: e[k] for k in ("kind", "target", "original", "check", "state", "written")}
               for e in Journal(state).entries]
    assert entries == [
        {"kind": "netsh-dynamicport", "target": "ipv4 tcp", "original": {"start": 50000, "num": 2000},
         "check": "ports.range", "state": "applied", "written": None},
        {"kind": "netsh-dynamicport", "target": "ipv4 udp", "original": {"start": 50000, "num": 2000},
         "check": "ports.range", "state": "applied", "written": None}]
    host.ran.clear()
    code, out, err = nw(capsys, "--revert")
    assert code == 0, err
    assert sets(host) == [[NETSH, "interface", "ipv4", "set", "dynamicport", "udp", "start=50000", "num=2000"],
                          [NETSH, "interface", "ipv4", "set", "dynamicport", "tcp", "start=50000", "num=2000"]]
    assert host.ranges == SHORT and Journal(state).entries == []
    assert "restored  ipv4 udp" in out and "restored  ipv4 tcp" in out


def test_dry_run_shows_the_netsh_commands_and_runs_none(windows, capsys):
    make, _, _ = windows
    host = make()
    code, out, _ = nw(capsys, "--dry-run", "--only", "ports.range")
    assert code == 2 and sets(host) == []
    assert "- netsh interface ipv4 set dynamicport udp start=49152 num=16384 (was start=50000 num=2000; " \
           "netsh keeps it across reboots)" in out


def test_a_netsh_that_needs_elevation_rolls_back_what_this_run_changed_and_exits_74(windows, capsys):
    make, Journal, state = windows
    host = make(fail="dynamicport udp")
    code, out, err = nw(capsys, "--apply", "--only", "ports.range")
    assert code == 74
    assert sets(host) == [[NETSH, "interface", "ipv4", "set", "dynamicport", "tcp", "start=49152", "num=16384"],
                          [NETSH, "interface", "ipv4", "set", "dynamicport", "udp", "start=49152", "num=16384"],
                          [NETSH, "interface", "ipv4", "set", "dynamicport", "tcp", "start=50000", "num=2000"]]
    assert host.ranges == SHORT and Journal(state).entries == []
    assert ("netwarden: change failed: ipv4 udp: `netsh interface ipv4 set dynamicport udp start=49152 num=16384` "
            "needs an elevated prompt (Run as administrator): The requested operation requires elevation "
            "(Run as administrator).\n") in err
    assert "netwarden: put back ipv4 tcp" in err


def test_prefer_ipv4_sets_the_prefix_policy_row_and_revert_puts_back_its_precedence(windows, capsys, no_netwarden_env):
    make, Journal, state = windows
    no_netwarden_env.setenv("NETWARDEN_TARGETS", json.dumps(["api.example.com:443"]))
    host = make()
    code, out, err = nw(capsys, "--apply", "--only", "ipv6.preference")
    assert code == 0, err
    assert sets(host) == [[NETSH, "interface", "ipv6", "set", "prefixpolicy", "::ffff:0:0/96", "100", "4"]]
    assert "verified: ipv6.preference critical -> ok" in out
    assert "DisabledComponents" not in json.dumps(host.ran)
    [entry] = Journal(state).entries
    assert (entry["kind"], entry["target"], entry["original"]) == (
        "netsh-prefixpolicy", "::ffff:0:0/96", {"present": True, "precedence": 35, "label": 4})
    host.ran.clear()
    assert nw(capsys, "--revert")[0] == 0
    assert sets(host) == [[NETSH, "interface", "ipv6", "set", "prefixpolicy", "::ffff:0:0/96", "35", "4"]]
    assert host.policies == DEFAULT_POLICIES


def test_a_missing_prefix_policy_row_is_added_and_revert_deletes_it(windows, capsys, no_netwarden_env):
    make, Journal, state = windows
    no_netwarden_env.setenv("NETWARDEN_TARGETS", json.dumps(["api.example.com:443"]))
    partial = {k: v for k, v in DEFAULT_POLICIES.items() if k != "::ffff:0:0/96"}  # like the zh-CN capture
    host = make(policies=partial)
    assert nw(capsys, "--apply", "--only", "ipv6.preference")[0] == 0
    assert sets(host) == [[NETSH, "interface", "ipv6", "add", "prefixpolicy", "::ffff:0:0/96", "100", "4"]]
    assert Journal(state).entries[0]["original"] == {"present": False}
    host.ran.clear()
    assert nw(capsys, "--revert")[0] == 0
    assert sets(host) == [[NETSH, "interface", "ipv6", "delete", "prefixpolicy", "::ffff:0:0/96"]]
    assert host.policies == partial


@pytest.mark.parametrize("original", [None, "start=1 num=2", {"start": "50000", "num": 2000}, {"start": 80, "num": 2000},
                                      {"start": 50000, "num": 99999}, {"start": True, "num": 2000}, [50000, 2000], {}])
def test_a_damaged_journal_entry_fails_its_revert_clearly_and_stays(windows, capsys, original):
    make, Journal, state = windows
    host = make()
    journal = Journal(state)
    journal.record("netsh-dynamicport", "ipv4 tcp", original, "ports.range")
    journal.mark_applied("netsh-dynamicport", "ipv4 tcp")
    code, _, err = nw(capsys, "--revert")
    assert code == 74 and "the journaled original is unusable" in err and "Traceback" not in err
    assert sets(host) == [] and len(Journal(state).entries) == 1


def test_a_journaled_target_that_is_not_a_setting_never_reaches_netsh(windows, capsys):
    make, Journal, state = windows
    host = make()
    journal = Journal(state)
    for kind, target, original in (("netsh-dynamicport", "ipv4 tcp\" & calc", {"start": 50000, "num": 2000}),
                                   ("netsh-prefixpolicy", "::/0", {"present": False})):
        journal.record(kind, target, original, "ports.range")
        journal.mark_applied(kind, target)
    code, _, err = nw(capsys, "--revert")
    assert code == 74 and err.count("unusable") == 2
    assert sets(host) == []


def test_what_a_killed_apply_left_pending_is_put_back_before_anything_else(windows, capsys):
    make, Journal, state = windows
    host = make(ranges={**SHORT, "ipv4 tcp": (49152, 16384)})  # the change was made, then netwarden was killed
    Journal(state).record("netsh-dynamicport", "ipv4 tcp", {"start": 50000, "num": 2000}, "ports.range")
    code, _, err = nw(capsys, "--revert")
    assert code == 0 and "undid a crashed apply of ipv4 tcp" in err
    assert sets(host) == [[NETSH, "interface", "ipv4", "set", "dynamicport", "tcp", "start=50000", "num=2000"]]
    assert Journal(state).entries == []


def test_the_settings_the_daemon_polls_read_as_netsh_and_the_registry_say():
    from netwarden.config import Settings
    from netwarden.model import PlatformInfo, Unknown
    from netwarden.platform.windows import WindowsBackend

    host = Host(SHORT, DEFAULT_POLICIES, english_host())
    backend = WindowsBackend(host, Settings(), PlatformInfo("win32", "windows"))
    keys = backend.setting_keys({"port_range", "address_policy", "time_wait", "census"})
    assert keys == ("dynamicport ipv4 tcp", "dynamicport ipv4 udp", "dynamicport ipv6 tcp", "dynamicport ipv6 udp",
                    "prefixpolicy ::ffff:0:0/96", "registry TcpTimedWaitDelay")
    assert [backend.read_setting(k) for k in keys] == ["start=50000 num=2000", "start=50000 num=2000",
                                                       "start=49152 num=16384", "start=49152 num=16384", "35 4", "absent"]
    host.ranges["ipv4 tcp"] = (1025, 64511)  # someone else changed it: the next poll sees it
    assert backend.read_setting("dynamicport ipv4 tcp") == "start=1025 num=64511"
    assert isinstance(backend.read_setting("net.ipv4.tcp_tw_reuse"), Unknown)
    assert backend.watched_files() == {}
