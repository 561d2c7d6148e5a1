"""Command line: exit codes, argument parsing, and the dispatch to the commands (cli_check.py:
check and probe; cli_daemon.py: daemon, status, events, release). The work is in engine.py.

Imports are lazy: `netwarden --version` must not pay for the engine, and nothing on the `check`
path imports pydantic unless there is configuration to validate.
"""

from __future__ import annotations

import os
import sys

from netwarden import __version__

# Exit codes. 0-3 follow the monitoring-plugin convention; the rest follow sysexits.h.
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3
EXIT_USAGE = 64  # bad command line
EXIT_DATAERR = 65  # a support bundle that cannot be replayed
EXIT_SOFTWARE = 70  # a bug in netwarden (traceback on stderr)
EXIT_IOERR = 74  # a change or revert failed (what this run changed was put back)
EXIT_TEMPFAIL = 75  # another netwarden holds the apply lock; the daemon is busy or has too many clients
EXIT_NOPERM = 77  # needs root
EXIT_CONFIG = 78  # bad configuration
COMMANDS = ("check", "daemon", "release", "status", "events", "probe")  # the subcommands (build_parser)
JSON_SCHEMA = 1
# Seconds to wait for the daemon. Read-only answers come from its socket thread at once (10 s
# covers a socket-activated start's first check); release waits for its loop; apply/revert work.
STATUS_TIMEOUT, RELEASE_TIMEOUT, APPLY_TIMEOUT = 10.0, 30.0, 120.0

EPILOG = """\
exit codes: 0 ok, 1 warning, 2 critical, 3 unknown (the worst finding; after --apply, the worst
finding left), 64 usage error, 65 unreadable support bundle, 70 internal error (daemon: one of its
threads died, so it exits to be restarted), 74 a change or revert failed (this run's changes were
put back), or --record could not write its bundle (a full disk), 75 another apply holds the lock
(daemon: another daemon runs, or metrics_address is taken; status/events/release: the daemon has
too many clients), 77 needs root (status/events: membership of the socket's group), 78 bad
configuration. status, events and release exit 3 when no netwarden daemon answers (nothing
listens, something else does, or no answer in time: 10 s; release, which waits for the daemon's
loop, 30 s).

environment: NETWARDEN_CONFIG (config file), NETWARDEN_STATE_DIR, NETWARDEN_SYSCTL_DIR,
NETWARDEN_SOCKET or NETWARDEN_SOCKET_PATH (the daemon's control socket), and NETWARDEN_<KEY> for
any config key (nested: NETWARDEN_THRESHOLDS__PORTS_RANGE_CRITICAL; lists and tables as JSON,
e.g. NETWARDEN_POLICY='{"keepalive.idle": "enforce"}'; booleans true, false, 1 or 0). Other
NETWARDEN_* names are refused (78)."""


class Fail(Exception):
    """An error for the user: one line on stderr and a distinct exit code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def path_argument(text: str) -> str:
    """The value of a PATH or DIR option. An empty one is refused: read as "not given" it would
    turn `--replay ''` into a live run (with --apply, a change of this host)."""
    if not text:
        import argparse

        raise argparse.ArgumentTypeError("an empty path (give a file or directory name)")
    return text


def _usage_parser(argparse):
    """argparse's parser, as netwarden's commands take their options."""

    class UsageParser(argparse.ArgumentParser):
        def __init__(self, *args, **kwargs):  # --onl is not --only: an option is spelt out
            super().__init__(*args, **{**kwargs, "allow_abbrev": False})

        def error(self, message):  # usage errors exit 64, not argparse's 2 (which means critical here);
            raise Fail(EXIT_USAGE, message)  # main() points them at the command's --help

    return UsageParser


def build_parser():
    import argparse

    parser = _usage_parser(argparse)(
        prog="netwarden",
        description="Find, explain and fix host network settings that make long-lived HTTPS clients "
                    "fail with ECONNRESET, ETIMEDOUT or EADDRNOTAVAIL. With no command, runs `check`.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"netwarden {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser(
        "check", help="check this machine (read-only unless --apply / --revert)",
        description="Check this machine and report each finding with evidence and the fix it would make. "
                    "Read-only unless --apply or --revert.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_check_arguments(check)
    daemon = commands.add_parser(
        "daemon", help="run in the foreground under a service manager: watch, report drift, enforce",
        description="Watch config files, sysctls and the kernel's links and routes; report drift to the journal "
                    "(and webhook / hook command); apply fixes for checks whose policy is enforce. Runs in the "
                    "foreground; SIGHUP reloads the configuration, SIGTERM stops.")
    daemon.add_argument("--config", metavar="PATH", type=path_argument,
                        help="config file (also watched, and re-read on SIGHUP)")
    release = commands.add_parser(
        "release", help="let the running daemon enforce KEY again after it stood back (root)",
        description="The daemon stops enforcing a key when someone else changes it, or when it rewrote it too "
                    "often; this hands the key back to it (root). A key no check uses is a usage error (64); "
                    "3 when no netwarden daemon answers within 30 s (it answers from its loop, after the work "
                    "in hand).")
    release.add_argument("keys", nargs="+", metavar="KEY", help="a sysctl name, e.g. net.ipv4.ip_local_port_range")
    release.add_argument("--config", metavar="PATH", type=path_argument, help="config file (for socket_path)")
    release.add_argument("--socket", metavar="PATH", type=path_argument, help="the daemon's control socket")
    status = commands.add_parser(
        "status", help="what the running daemon sees (exit code: its worst finding; 3 when no daemon runs)",
        description="Ask the running daemon over its control socket (on Windows, which has none: read status.json in "
                    "the state directory). Root and members of the socket group may ask. "
                    "Exit code: the worst finding (0 ok, 1 warning, 2 critical), 3 when no netwarden daemon answers "
                    "within 10 s. With --json, a failure is also a JSON object on stdout: "
                    '{"error": {"exit_code": N, "message": "..."}}.')
    events = commands.add_parser(
        "events", help="print the daemon's drift events as they happen (Ctrl-C stops)",
        description="Subscribe to the running daemon's drift events over its control socket and print each as it "
                    "happens (appeared, changed, cleared, file-changed, kernel-changed, enforced, contested, "
                    "backed-off, released), until Ctrl-C (exit 0) or the daemon stops (exit 3). Root and members "
                    "of the socket group may ask; 3 when no netwarden daemon answers within 10 s. Not on Windows "
                    "(no control socket: the events are in history.jsonl in the state directory).")
    for p in (status, events):
        p.add_argument("--json", action="store_true",
                       help="JSON instead of text (events, and status --follow: one object per line)")
        p.add_argument("--config", metavar="PATH", type=path_argument, help="config file (for socket_path)")
        p.add_argument("--socket", metavar="PATH", type=path_argument, help="the daemon's control socket "
                                                        "(default $NETWARDEN_SOCKET or $NETWARDEN_SOCKET_PATH, "
                                                        "else socket_path, else /run/netwarden/netwarden.sock; "
                                                        "macOS /var/run/netwarden/netwarden.sock)")
    status.add_argument("--follow", action="store_true",
                        help="print the status, then drift events as they happen, like `events` (Ctrl-C stops)")
    add_probe_parser(commands)
    parser.commands = commands.choices  # each subcommand's parser, by name
    return parser


def add_probe_parser(commands) -> None:
    import argparse

    probe = commands.add_parser(
        "probe", help="test every layer between this host and HOST:PORT, phase by phase (unprivileged)",
        description="Resolve, connect, TLS (a classic and a large ClientHello), path MTU, idle survival (--idle) and "
                    "ephemeral ports towards one endpoint; a verdict per phase and the findings. Sends nothing but to "
                    "the target and this host's resolvers. Exit code: the worst verdict (0 ok, 1 warning, "
                    "2 critical, 3 unknown), 64 usage error, 65 unreadable bundle, 74 the --record bundle could not "
                    "be written (a full disk), 78 bad configuration.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    probe.add_argument("target", nargs="?", metavar="HOST:PORT",
                       help="api.example.com:443, 198.18.0.2:443 or [2001:db8::2]:443")
    probe.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    probe.add_argument("--all", action="store_true", help="connect to every address, not the first of each family")
    probe.add_argument("--idle", metavar="S,S,...", help="idle times in seconds to test pooled connections "
                                                         "against, e.g. 30,120,350 (opt-in: it takes that long)")
    probe.add_argument("--timeout", metavar="S", help="seconds a connect, handshake or transfer may take, 0.1 to "
                                                      "120 (default: probe_timeout, 3, brought into that range)")
    add_config_and_bundle(probe, "config file (thresholds, probe_timeout, resolv_conf)",
                          "also save every answer as a support bundle in DIR (new or empty, in a directory that "
                          "exists: checked before the probe)",
                          "show a recorded probe again (target and options from it)")


def parser_for(argv: list[str]):
    """The whole parser, or for a plain `check` without --help only the check command's: building
    every subcommand's parser costs ~8 ms, a tenth of `netwarden check` (start-up budget, issue #2)."""
    if argv[0] != "check" or any(a in ("-h", "--help") or a.startswith("--h") for a in argv):
        return build_parser()
    import argparse

    # A fixed width: this parser never prints help, and asking the terminal's imports shutil (~2 ms).
    parser = _usage_parser(argparse)(prog="netwarden", add_help=False,
                         formatter_class=lambda prog: argparse.HelpFormatter(prog, width=100))
    parser.add_argument("command", choices=["check"])
    add_check_arguments(parser)
    return parser


# What argparse makes of a bare `netwarden check` (tested equal to it).
PLAIN_CHECK = {"command": "check", "json": False, "apply": False, "dry_run": False, "revert": False,
               "only": None, "skip": None, "config": None, "record": None, "replay": None}


def parse(argv: list[str]):
    """The parsed command line. A bare `check` (monitoring, `make run`: most runs) skips importing
    argparse, ~9 ms of the start-up budget (issue #2)."""
    if argv == ["check"]:
        import types

        return types.SimpleNamespace(**PLAIN_CHECK)
    parser = parser_for(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def add_check_arguments(p) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--apply", action="store_true",
                      help="make the planned changes (root), verify them, and report what is left")
    mode.add_argument("--dry-run", action="store_true", help="show the changes --apply would make, change nothing")
    mode.add_argument("--revert", action="store_true",
                      help="put back every original value and file netwarden changed (root)")
    # extend: `--skip A --skip B` skips both (store kept only B, and --apply would have changed A)
    p.add_argument("--only", nargs="+", action="extend", metavar="ID", help="run only these checks")
    p.add_argument("--skip", nargs="+", action="extend", metavar="ID", help="do not run these checks")
    add_config_and_bundle(p, "config file (default $NETWARDEN_CONFIG, else /etc/netwarden/netwarden.toml if present)",
                          "also save everything read as a support bundle in DIR (new or empty, in a directory "
                          "that exists: checked before the check runs; not with --apply or --revert)",
                          "analyse a support bundle instead of this machine, with the settings it was recorded "
                          "with (not --config, nor NETWARDEN_* variables)")


def add_config_and_bundle(p, config_help: str, record_help: str, replay_help: str) -> None:
    """--config PATH and the exclusive pair --record DIR | --replay DIR, as check and probe take them."""
    p.add_argument("--config", metavar="PATH", type=path_argument, help=config_help)
    bundle = p.add_mutually_exclusive_group()
    bundle.add_argument("--record", metavar="DIR", type=path_argument, help=record_help)
    bundle.add_argument("--replay", metavar="DIR", type=path_argument, help=replay_help)


class Output:
    """stdout that never raises into the work. A closed pipe (`netwarden check | head -1`) or an
    output that cannot be written (a full disk) is remembered and the rest of the output dropped,
    so the command still ends with its own exit code: the verdict after a closed pipe (a script
    with `set -o pipefail` must still see a critical host), 74 after a write that failed."""

    def __init__(self, stream) -> None:
        self.stream, self.error = stream, None

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                return self.stream.write(text)
            except OSError as e:
                self._failed(e)
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self.stream.flush()
            except OSError as e:
                self._failed(e)

    def _failed(self, error: OSError) -> None:
        self.error = error
        try:  # what is still buffered goes nowhere, so the interpreter's last flush fails no more
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())
        except (OSError, ValueError, AttributeError):  # not a file (a test's StringIO)
            pass

    def __getattr__(self, name):
        return getattr(self.stream, name)


def main(argv: list[str] | None = None) -> int:
    original, sys.stdout = sys.stdout, Output(sys.stdout)
    try:
        try:
            code = _run(argv)
        except SystemExit as e:  # argparse's --help
            code = e.code if isinstance(e.code, int) else EXIT_OK if e.code is None else EXIT_USAGE
        sys.stdout.flush()
        error = sys.stdout.error
    finally:
        sys.stdout = original
    if error is not None and not isinstance(error, BrokenPipeError):
        print(f"netwarden: cannot write the output: {error.strerror or error}", file=sys.stderr)
        return EXIT_IOERR
    return code


def _run(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:  # answered before argparse (+re) is imported: start-up budget, issue #2
        print(f"netwarden {__version__}")
        return EXIT_OK
    if argv[:1] == ["--version"]:  # argparse would print the version and ignore the rest
        print(f"netwarden: --version takes no other arguments, not {' '.join(argv[1:])[:100]!r} "
              "(see `netwarden --help`)", file=sys.stderr)
        return EXIT_USAGE
    # `netwarden [options]` means `netwarden check [options]`.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["check", *argv]
    try:
        args = parse(argv)
        if args.command in ("daemon", "release", "status", "events"):
            from netwarden import cli_daemon

            return getattr(cli_daemon, f"run_{args.command}")(args)
        from netwarden import cli_check

        return cli_check.run_probe(args) if args.command == "probe" else cli_check.run_check(args)
    except Fail as e:
        message = str(e)
        if e.code == EXIT_USAGE:  # every usage error, argparse's or netwarden's, says where the usage is
            command = f"netwarden {argv[0]}" if argv[0] in COMMANDS else "netwarden"
            message += f" (see `{command} --help`)"
        from netwarden.target import one_line

        # One line, whatever a file name, a key, a value or a peer's words hold (an ANSI escape, a NUL).
        print(f"netwarden: {one_line(message, 4000)}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("netwarden: interrupted", file=sys.stderr)
        return 130
    except Exception:
        import traceback

        traceback.print_exc()
        print("netwarden: internal error (a bug: please report it with the traceback above)", file=sys.stderr)
        return EXIT_SOFTWARE


def settings_or_fail(args):
    from netwarden.config import ConfigError, load_settings

    try:
        return load_settings(args.config)
    except ConfigError as e:
        raise config_failure(e) from None


def config_failure(e: Exception) -> Fail:
    return Fail(EXIT_CONFIG, f"bad configuration: {e}")


def require_root(what: str) -> None:
    if sys.platform == "win32":  # no euid: an Administrator's token, elevated
        import ctypes

        if not ctypes.windll.shell32.IsUserAnAdmin():
            raise Fail(EXIT_NOPERM, f"{what} needs an elevated prompt (Run as administrator)")
        return
    if os.geteuid() != 0:
        raise Fail(EXIT_NOPERM, f"{what} needs root (try: sudo netwarden {what})")


