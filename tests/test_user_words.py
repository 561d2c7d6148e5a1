"""What a new user meets when an input is refused or a result is worded: found by trying netwarden
on a fresh clone as a new user would (each test names the surface). Every refusal is one line, a
distinct exit code, and says what to write instead; every result says only what is true."""

from __future__ import annotations

import json

import pytest
from factories import assert_one_line_error, run_cli, run_main
from macos import bundle as mac_bundle
from macos import clean_mac

from netwarden.target import shown


# ---- the command line ---------------------------------------------------------------------------


def test_repeated_only_and_skip_add_up(no_netwarden_env):
    _, out, _ = run_main("check", "--json", "--skip", "ports.range", "--skip", "dns.resolvers", "keepalive.idle")
    ran = {f["id"] for f in json.loads(out)["findings"]}
    assert not ran & {"ports.range", "dns.resolvers", "keepalive.idle"} and "ports.pressure" in ran
    _, out, _ = run_main("check", "--json", "--only", "ports.range", "--only", "keepalive.idle")
    assert {f["id"] for f in json.loads(out)["findings"]} == {"ports.range", "keepalive.idle"}


@pytest.mark.parametrize("argv, command", [
    (["check", "--onl", "ports.range"], "check"),  # an abbreviation is not the option
    (["check", "--only", "nope"], "check"),
    (["check", "--only", "ports.range", "--skip", "ports.range"], "check"),
    (["check", "--skip", ""], "check"),
    (["probe", "127.0.0.1"], "probe"),
    (["probe", "http://svc.lab:8443"], "probe"),
    (["probe", "127.0.0.1:9", "--idle", "abc"], "probe"),
    (["probe", "127.0.0.1:9", "--timeout", "0"], "probe"),
    (["status", "--socke", "/x"], "status"),
])
def test_every_usage_error_points_at_its_commands_help(argv, command):
    message = assert_one_line_error(run_cli(*argv), 64)
    assert message.rstrip().endswith(f"(see `netwarden {command} --help`)"), message


def test_a_target_with_a_scheme_is_told_to_drop_it():
    message = assert_one_line_error(run_cli("probe", "https://api.example.com:443"), 64)
    assert "without a scheme" in message and "brackets" not in message


def test_an_empty_check_id_is_shown_as_empty():
    assert "no such check: ''" in assert_one_line_error(run_cli("check", "--skip", ""), 64)


# ---- --record DIR: checked before any work --------------------------------------------------------


@pytest.mark.parametrize("where, words", [("/proc/netwarden-test", "cannot be created"),
                                          ("dangling", "symbolic link to nothing")])
def test_a_record_directory_that_cannot_be_made_is_refused_before_the_check(tmp_path, where, words):
    if where == "dangling":
        (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
        where = str(tmp_path / "dangling")
    result = run_cli("check", "--record", where)
    assert words in assert_one_line_error(result, 64) and result.stdout == ""  # no check ran


def test_record_is_read_only_and_says_so_in_help():
    assert "not with --apply or --revert" in " ".join(run_cli("check", "--help").stdout.split())
    assert_one_line_error(run_cli("check", "--apply", "--record", "/tmp/x"), 64, "read-only")


# ---- the environment ------------------------------------------------------------------------------


@pytest.mark.parametrize("name, value", [
    ("NETWARDEN_TUNNELS_REMOVE_STALE_ROUTES", "yes"), ("NETWARDEN_TUNNELS_REMOVE_STALE_ROUTES", "off"),
    ("NETWARDEN_TUNNELS_REMOVE_STALE_ROUTES", "TRUE"), ("NETWARDEN_ROLLBACK_ON_STOP", " 1"),
    ("NETWARDEN_PROBE_TIMEOUT", "1_0"), ("NETWARDEN_PROBE_TIMEOUT", " 3"), ("NETWARDEN_PROBE_TIMEOUT", "inf"),
    ("NETWARDEN_HISTORY_SIZE", "1e3"), ("NETWARDEN_HISTORY_SIZE", "٣"), ("NETWARDEN_THRESHOLDS__DNS_SLOW_MS", "nan"),
    ("NETWARDEN_THRESHOLDS__PORTS_RANGE_WARNING", "0x10"),
])
def test_environment_booleans_and_numbers_are_written_one_way(name, value):
    assert name in assert_one_line_error(run_cli("check", "--only", "ports.range", env={name: value}), 78)


@pytest.mark.parametrize("name, value", [("NETWARDEN_TUNNELS_REMOVE_STALE_ROUTES", "true"),
                                         ("NETWARDEN_TUNNELS_REMOVE_STALE_ROUTES", "0"),
                                         ("NETWARDEN_PROBE_TIMEOUT", "2.5"), ("NETWARDEN_PROBE_TIMEOUT", "1e1"),
                                         ("NETWARDEN_HISTORY_SIZE", "500")])
def test_the_one_way_is_taken(tmp_path, name, value):
    result = run_cli("check", "--only", "ports.range", env={name: value, "XDG_CACHE_HOME": str(tmp_path)})
    assert result.returncode in (0, 1, 2, 3), result.stderr


@pytest.mark.parametrize("env, words", [
    ({"NETWARDEN_TARGETS": '"127.0.0.1:1"'}, 'must be a list, e.g. ["a", "b"]'),
    ({"NETWARDEN_THRESHOLDS": "[1]"}, "must be a table"),
    ({"NETWARDEN_POLICY__KEEPALIVE_IDLE": "enforce"}, """NETWARDEN_POLICY='{"keepalive.idle": "enforce"}'"""),
    ({"NETWARDEN_MIDDLEBOX_IDLE_BUDGET": "9" * 120_000}, "far too long"),
])
def test_refusals_of_the_environment_speak_its_language(env, words):
    message = assert_one_line_error(run_cli("check", env=env), 78)
    assert words in message and "Input should" not in message and "set_int_max_str_digits" not in message


# ---- the config file ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, words", [
    ("bogus = 1\n", "bogus: no such setting"), ("[thresholds]\nbogus = 1\n", "thresholds.bogus: no such setting"),
    ('dns_fallback = "1.1.1.1"\n', "must be a list"), ("middlebox_idle_budget = " + "9" * 5000 + "\n",
                                                       "a number of more than 4300 digits"),
    ("targets = [" + ", ".join(['"127.0.0.1:1"'] * 6000) + "]\n", "6000 targets; at most 64"),
    ("targets = [" + ", ".join(['"127.0.0.1:1"'] * 65) + "]\n", "65 targets; at most 64"),
    ('[policy]\nconntrack = "yes"\n', "policy.conntrack: must be 'observe', 'enforce', 'always' or 'ignore'"),
    ("[policy]\nconntrack = 5\n", "policy.conntrack: must be"),
    ("history_size = 5.5\n", "history_size: a whole number"), ("history_size = 1e2\n", "history_size: a whole number"),
    ("probe_timeout = 1979-05-27T07:32:00Z\n", "probe_timeout: a date or time"),
    ("state_dir = 1979-05-27\n", "state_dir: a date or time"),
    ("watch_files = [1979-05-27]\n", "watch_files.0: a date or time"),
    ("[thresholds]\nports_range_critical = 07:32:00\n", "thresholds.ports_range_critical: a date or time"),
])
def test_refusals_of_the_file_speak_its_language(tmp_path, text, words):
    config = tmp_path / "netwarden.toml"
    config.write_text(text)
    message = assert_one_line_error(run_cli("check", "--config", str(config)), 78)
    assert words in message and "Input " not in message and "Extra inputs" not in message and "datetime" not in message


# ---- bundles --------------------------------------------------------------------------------------


def _mac(tmp_path, edit=None):
    directory = mac_bundle(tmp_path / "mac", clean_mac())
    if edit:
        meta = json.loads((directory / "meta.json").read_text())
        edit(meta)
        (directory / "meta.json").write_text(json.dumps(meta))
    return directory


def test_a_bundle_setting_this_version_does_not_record_is_refused(tmp_path, no_netwarden_env):
    directory = _mac(tmp_path, lambda meta: meta["settings"].update(thresolds={"dns_slow_ms": 5}))
    code, _, err = run_main("check", "--replay", str(directory))
    assert code == 65 and "thresolds: not a setting a bundle carries" in err


def test_another_versions_extra_setting_is_passed_over(tmp_path, no_netwarden_env):
    directory = _mac(tmp_path, lambda meta: meta.update(netwarden="9.0.0") or meta["settings"].update(newer=1))
    code, _, err = run_main("check", "--replay", str(directory))
    assert code in (0, 1, 2, 3) and "recorded by netwarden 9.0.0" in err and "left out: newer" in err, err


def test_a_string_format_is_named_as_one(tmp_path, no_netwarden_env):
    directory = _mac(tmp_path, lambda meta: meta.update(format="1"))
    code, _, err = run_main("check", "--replay", str(directory))
    assert code == 65 and '"1" (a string)' in err and "the number 1" in err


def test_probe_and_check_bundles_are_told_apart(tmp_path, no_netwarden_env):
    check_bundle = _mac(tmp_path)
    code, _, err = run_main("probe", "--replay", str(check_bundle))
    assert code == 65 and f"netwarden check --replay {check_bundle}" in err
    probe_bundle = tmp_path / "probe"
    code, _, err = run_main("probe", "127.0.0.1:9", "--timeout", "0.3", "--record", str(probe_bundle))
    assert code in (0, 1, 2, 3), err
    code, _, err = run_main("check", "--replay", str(probe_bundle))
    assert code == 65 and f"netwarden probe --replay {probe_bundle}" in err


# ---- results ----------------------------------------------------------------------------------------


def test_keepalive_advice_on_a_mac_promises_no_change_netwarden_never_makes(tmp_path, no_netwarden_env):
    for policy in ("observe", "enforce"):
        directory = _mac(tmp_path / policy, lambda meta: meta["settings"]["policy"].update({"keepalive.idle": policy}))
        code, out, _ = run_main("check", "--replay", str(directory), "--json", "--only", "keepalive.idle")
        (found,) = json.loads(out)["findings"]
        assert found["changes"] == [] and any("sudo sysctl -w net.inet.tcp.keepidle=" in a for a in found["advice"])
        assert not any("enforce" in a for a in found["advice"]), found["advice"]


def test_a_keepalive_equal_to_the_budget_is_not_called_later():
    from factories import on_linux
    from test_checks_network import keepalive_facts

    from netwarden.checks.keepalive import check_keepalive
    from netwarden.config import Settings

    (finding,) = on_linux(check_keepalive)(keepalive_facts("300", "8"), Settings())
    assert any("after 300 s, no sooner than the 300 s" in a for a in finding.advice), finding.advice


@pytest.mark.parametrize("text, expected", [("caf\udce9", r"'caf\xe9'"), ("a\\udce9", r"'a\\udce9'"),
                                            ("tab\there", r"'tab\there'"), ("x" * 200, None)])
def test_shown_writes_a_byte_that_was_not_utf8_as_that_byte(text, expected):
    assert shown(text) == expected if expected else len(shown(text)) <= 60


def test_a_resolver_line_with_a_latin1_byte_shows_the_byte(tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(b"nameserver 127.0.0.1\noptions timeout:1 # caf\xe9\n")
    config = tmp_path / "netwarden.toml"
    config.write_text(f'resolv_conf = "{resolv}"\n')
    result = run_cli("check", "--json", "--only", "dns.resolvers", "--config", str(config),
                     env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    text = json.dumps(json.loads(result.stdout)["findings"])
    assert r"caf\\xe9" in text and "udce9" not in text, text


# ---- stdout that cannot be written --------------------------------------------------------------


@pytest.mark.parametrize("args", [["check"], ["check", "--json"], ["--version"], ["--help"], ["check", "--help"],
                                  ["probe", "127.0.0.1:9", "--timeout", "0.3"]])
def test_an_output_that_cannot_be_written_is_one_line_and_74(tmp_path, args):
    import subprocess
    import sys

    from factories import ROOT, clean_env

    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "netwarden", *args], stdout=full, stderr=subprocess.PIPE, text=True,
                           env=clean_env(XDG_CACHE_HOME=str(tmp_path)), cwd=ROOT, timeout=60)
    assert r.returncode == 74 and r.stderr == "netwarden: cannot write the output: No space left on device\n", r.stderr


@pytest.mark.parametrize("args", [["check"], ["check", "--json"]])
def test_a_reader_that_stops_early_still_gets_the_verdict(tmp_path, args):
    """`netwarden check | head -1` under `set -o pipefail`: a critical host must not read as ok."""
    import subprocess
    import sys

    from factories import ROOT, clean_env

    env = clean_env(NETWARDEN_THRESHOLDS__PORTS_RANGE_CRITICAL="65000", NETWARDEN_THRESHOLDS__PORTS_RANGE_WARNING="65000",
                    XDG_CACHE_HOME=str(tmp_path))  # this host's range is under 65,000 ports: critical
    for _ in range(3):
        with subprocess.Popen([sys.executable, "-m", "netwarden", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, cwd=ROOT) as p:
            p.stdout.read(1)
            p.stdout.close()  # the reader is gone before the report is written out
            assert p.wait(timeout=60) == 2 and p.stderr.read() == b""
