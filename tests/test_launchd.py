"""launchd/com.netwarden.daemon.plist: a valid property list whose every path is one netwarden
uses on macOS (a typo there is a daemon that `netwarden status` never finds)."""

import plistlib
from pathlib import Path

from netwarden.cli import build_parser
from netwarden.config import load_settings, platform_paths

PLIST = Path(__file__).resolve().parents[1] / "launchd" / "com.netwarden.daemon.plist"


def job() -> dict:
    with PLIST.open("rb") as f:
        return plistlib.load(f)


def strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def test_the_job_starts_at_load_and_is_kept_alive():
    plist = job()
    assert plist["Label"] == PLIST.name.removesuffix(".plist")
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] in (True, {"SuccessfulExit": False})
    assert plist["UserName"] == "root"  # it writes sysctls


def test_the_program_is_the_daemon_command():
    program, *args = job()["ProgramArguments"]
    assert program.startswith("/") and Path(program).name == "netwarden"
    assert build_parser().parse_args(args).command == "daemon"


def test_socket_and_state_are_the_macos_defaults_and_valid_settings(no_netwarden_env):
    env = job()["EnvironmentVariables"]
    darwin = platform_paths("darwin")
    assert env["NETWARDEN_SOCKET"] == str(darwin["socket_path"])
    assert env["NETWARDEN_SOCKET"].startswith("/var/run/")
    assert env["NETWARDEN_STATE_DIR"] == str(darwin["state_dir"])
    no_netwarden_env.setenv("NETWARDEN_CONFIG", "")
    for key, value in env.items():
        no_netwarden_env.setenv(key, value)
    settings = load_settings()  # the daemon's view of the job's environment: accepted, and as named
    assert (settings.socket_path, settings.state_dir) == (darwin["socket_path"], darwin["state_dir"])


def test_every_path_it_names_is_one_netwarden_uses_on_macos():
    plist = job()
    darwin = platform_paths("darwin")
    log = Path(plist["StandardErrorPath"])
    assert plist["StandardOutPath"] == str(log) and log.parent == Path("/var/log")
    known = {plist["ProgramArguments"][0], str(log), *map(str, darwin.values())}
    named = {s for s in strings(plist) if s.startswith("/")}
    assert named <= known, named - known
    assert {str(p) for p in darwin.values()} <= named
