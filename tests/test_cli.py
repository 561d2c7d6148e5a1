"""The command line's parsing: a bare `check` skips argparse (start-up) yet means what argparse says."""

import subprocess
import sys
from pathlib import Path

import pytest
from factories import assert_one_line_error, clean_env

from netwarden.cli import build_parser, parse, parser_for

ROOT = Path(__file__).resolve().parents[1]


def test_a_bare_check_means_what_argparse_makes_of_it():
    expected = vars(build_parser().parse_args(["check"]))
    assert vars(parse(["check"])) == expected
    assert vars(parser_for(["check"]).parse_args(["check"])) == expected
    assert vars(parse(["check", "--json"])) == {**expected, "json": True}


def test_a_bare_check_runs_without_importing_argparse(tmp_path):
    code = ("import sys; from netwarden.cli import main; rc = main(['check']); "
            "print('argparse' in sys.modules, rc, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=clean_env(NETWARDEN_CONFIG=""), cwd=ROOT)
    imported, rc = out.stderr.split()[-2:]
    assert imported == "False", out.stderr
    assert int(rc) in (0, 1, 2, 3) and "ports.range" in out.stdout


def test_a_check_that_probes_targets_imports_no_dns_library_nor_thread_pool(tmp_path):
    """Probing targets is work `check` does on every run: it must not bring in dnspython or
    concurrent.futures (and with it logging): ~90 ms of imports before they went."""
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    config = tmp_path / "netwarden.toml"
    config.write_text(f'targets = ["127.0.0.1:9", "localhost:9"]\nprobe_timeout = 0.2\n'
                      f'resolv_conf = "{tmp_path}/resolv.conf"\n')
    code = ("import sys; from netwarden.cli import main; rc = main(['check', '--only', 'dns.resolvers', 'ipv6.preference']); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'dns', 'concurrent', 'logging'}), file=sys.stderr)")
    env = clean_env(NETWARDEN_CONFIG=str(config), XDG_CACHE_HOME=str(tmp_path / "cache"))
    for _ in range(2):  # the first run validates the config with pydantic (which imports logging)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert out.stderr.splitlines()[-1] == "[]", out.stderr
    assert "dns.resolvers" in out.stdout


def usage_error(capsys, argv: list[str]) -> str:
    from netwarden.cli import main

    assert main(argv) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("netwarden: "), err
    return err


@pytest.mark.parametrize("command", sorted(build_parser().commands))
def test_a_usage_error_points_at_the_subcommands_help(capsys, command):
    for argv in ([command, "--no-such-option"], [command, "--config"], [command, "extra", "--json", "--nope"]):
        assert f"(see `netwarden {command} --help`)" in usage_error(capsys, argv), argv


@pytest.mark.parametrize("argv, words", [
    (["--no-such-option"], "see `netwarden check --help`"),  # `netwarden [options]` is `netwarden check`
    (["check", "--only"], "see `netwarden check --help`"),
    (["no-such-command"], "see `netwarden --help`"),
])
def test_usage_errors_outside_a_subcommand(capsys, argv, words):
    assert words in usage_error(capsys, argv)


@pytest.mark.parametrize("only, skip", [(["ports.range"], ["ports.range"]),
                                        (["ports.range", "conntrack"], ["mtu.path", "conntrack"])])
def test_only_and_skip_naming_the_same_check_is_a_usage_error(capsys, no_netwarden_env, only, skip):
    no_netwarden_env.setenv("NETWARDEN_CONFIG", "")
    err = usage_error(capsys, ["check", "--only", *only, "--skip", *skip])
    assert "--only and --skip both name" in err and (set(only) & set(skip)).pop() in err


def path_options() -> list[tuple[str, str]]:
    """(command, option) for every option of every command that takes a PATH or a DIR."""
    return [(name, action.option_strings[-1]) for name, command in sorted(build_parser().commands.items())
            for action in command._actions if action.metavar in ("PATH", "DIR")]


def test_every_path_option_is_found():
    found = set(path_options())
    assert {("check", "--replay"), ("check", "--record"), ("check", "--config"), ("probe", "--replay"),
            ("probe", "--record"), ("status", "--socket"), ("release", "--socket"), ("daemon", "--config"),
            ("events", "--config")} <= found, found


@pytest.mark.parametrize("command, option", path_options())
def test_an_empty_path_is_a_usage_error_not_an_option_left_out(capsys, command, option):
    """'' read as "not given" made `--replay '' --apply` a live apply, `--config ''` the default file."""
    err = usage_error(capsys, [command, option, ""])
    assert f"argument {option}" in err and "an empty path" in err, err


@pytest.mark.parametrize("argv", [
    ["check", "--replay", "", "--apply", "--only", "ports.range"],
    ["--replay", "", "--apply", "--only", "ports.range"],  # `netwarden [options]` is check
    ["check", "--record", "", "--revert"],
    ["probe", "127.0.0.1:9", "--replay", ""],
    ["probe", "127.0.0.1:9", "--record", ""],
])
def test_an_empty_bundle_directory_touches_nothing(tmp_path, argv):
    """Had '' been taken for "not given", these would have widened the port range, reverted, or
    probed: here in a fake /proc and an empty state dir, which must stay as they were."""
    from factories import fake_proc, run_cli

    proc = fake_proc(tmp_path)
    before = (proc / "sys/net/ipv4/ip_local_port_range").read_text()
    r = run_cli(*argv, env={"NETWARDEN_CONFIG": "", "NETWARDEN_PROC_DIR": str(proc),
                            "NETWARDEN_STATE_DIR": str(tmp_path / "state"),
                            "NETWARDEN_SYSCTL_DIR": str(tmp_path), "NETWARDEN_SYSCTL_SEARCH_DIRS": "[]",
                            "NETWARDEN_SOCKET": str(tmp_path / "sock"), "NETWARDEN_GAI_CONF": str(tmp_path / "gai"),
                            "NETWARDEN_RESOLV_CONF": str(tmp_path / "resolv")})
    assert_one_line_error(r, 64, "an empty path")
    assert r.stdout == "" and (proc / "sys/net/ipv4/ip_local_port_range").read_text() == before
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("system, absent", [("linux", "ports.clock-freeze"), ("darwin", "conntrack"),
                                            ("win32", "ports.tw-reuse")])
def test_no_such_check_lists_the_checks_of_this_platform_only(system, absent):
    from netwarden.checks import check_ids
    from netwarden.config import Settings
    from netwarden.engine import UsageError, select_checks

    with pytest.raises(UsageError) as e:
        select_checks(Settings(), ["ports.nope"], None, system)
    assert f"known on {system}: {', '.join(check_ids(system))})" in str(e.value) and absent not in str(e.value)
    with pytest.raises(UsageError, match="--only and --skip both name ports.range"):  # the socket's apply too
        select_checks(Settings(), ["ports.range"], ["ports.range"], system)


@pytest.mark.parametrize("extra", [["extra"], ["--json"], ["check"], ["--version"], [""], ["--help"]])
def test_version_takes_no_other_argument(capsys, extra):
    """`netwarden --version extra` printed the version and exited 0."""
    err = usage_error(capsys, ["--version", *extra])
    assert "--version takes no other arguments" in err and capsys.readouterr().out == ""


def test_the_readme_synopsis_and_help_name_every_option_of_every_command():
    """The README's synopsis left out `--config` for status, events and release; events had no
    description in its --help."""
    readme = (ROOT / "README.md").read_text()
    synopsis = readme[readme.index("## The command line"):readme.index("### Exit codes")].split("```")[1]
    lines = {line.split()[1].strip("[]"): line for line in synopsis.splitlines() if line.startswith("netwarden ")}
    for name, command in build_parser().commands.items():
        line = lines[name] + (" " + synopsis.split("\n")[2] if name == "check" else "")  # check's goes on
        for action in command._actions:
            option = max(action.option_strings, key=len, default=None)
            if option and option != "--help":
                assert option in line, (name, option, line)
        assert command.description and len(command.description) > 40, name


@pytest.mark.parametrize("key", ["net.ipv4.tcp_nope", "kernel.hostname", "net.inet.tcp.keepidle"])
def test_release_of_a_key_no_check_uses_is_64_whether_a_daemon_runs_or_not(tmp_path, key):
    """Without a daemon it exited 3 ("no daemon"): the key is checked here, against this
    platform's checks (net.inet.tcp.keepidle is macOS's)."""
    from factories import run_cli

    r = run_cli("release", key, env={"NETWARDEN_CONFIG": "", "NETWARDEN_SOCKET": str(tmp_path / "none.sock")})
    assert_one_line_error(r, 64, f"{key} is not a key netwarden's checks use", "net.ipv4.ip_local_port_range")
    used = run_cli("release", "net.ipv4.tcp_tw_reuse", env={"NETWARDEN_CONFIG": "",
                                                            "NETWARDEN_SOCKET": str(tmp_path / "none.sock")})
    assert_one_line_error(used, 3, "no netwarden daemon")
