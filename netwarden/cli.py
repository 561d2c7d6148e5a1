"""Command line: argument parsing and output only; the work is in engine.py.

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
JSON_SCHEMA = 1
# Seconds to wait for the daemon. Read-only answers come from its socket thread at once (10 s
# covers a socket-activated start's first check); release waits for its loop; apply/revert work.
STATUS_TIMEOUT, RELEASE_TIMEOUT, APPLY_TIMEOUT = 10.0, 30.0, 120.0

EPILOG = """\
exit codes: 0 ok, 1 warning, 2 critical, 3 unknown (the worst finding; after --apply, the worst
finding left), 64 usage error, 65 unreadable support bundle, 70 internal error (daemon: one of its
threads died, so it exits to be restarted), 74 a change or revert failed (this run's changes were
put back), 75 another apply holds the lock (daemon: another daemon runs, or metrics_address is taken; status/events/release: the
daemon has too many clients), 77 needs root (status/events: membership of the socket's group), 78
bad configuration. status, events and release exit 3 when no netwarden daemon answers (nothing
listens, something else does, or no answer in time: 10 s; release, which waits for the daemon's
loop, 30 s).

environment: NETWARDEN_CONFIG (config file), NETWARDEN_STATE_DIR, NETWARDEN_SYSCTL_DIR,
NETWARDEN_SOCKET (the daemon's control socket), and NETWARDEN_<KEY> for any config key (nested:
NETWARDEN_THRESHOLDS__PORTS_RANGE_CRITICAL; lists and tables as JSON). Other NETWARDEN_* names
are refused (78)."""


class Fail(Exception):
    """An error for the user: one line on stderr and a distinct exit code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def build_parser():
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):  # usage errors exit 64, not argparse's 2 (which means critical here)
            # A subcommand's parser has its own prog ("netwarden status"): point at its help.
            raise Fail(EXIT_USAGE, f"{message} (see `{self.prog} --help`)")

    parser = Parser(
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
    daemon.add_argument("--config", metavar="PATH", help="config file (also watched, and re-read on SIGHUP)")
    release = commands.add_parser(
        "release", help="let the running daemon enforce KEY again after it stood back (root)",
        description="The daemon stops enforcing a key when someone else changes it, or when it rewrote it too "
                    "often; this hands the key back to it (root). A key no check uses is a usage error (64).")
    release.add_argument("keys", nargs="+", metavar="KEY", help="a sysctl name, e.g. net.ipv4.ip_local_port_range")
    release.add_argument("--config", metavar="PATH", help="config file (for socket_path)")
    release.add_argument("--socket", metavar="PATH", help="the daemon's control socket")
    status = commands.add_parser(
        "status", help="what the running daemon sees (exit code: its worst finding; 3 when no daemon runs)",
        description="Ask the running daemon over its control socket. Root and members of the socket group may ask. "
                    "Exit code: the worst finding (0 ok, 1 warning, 2 critical), 3 when no netwarden daemon answers "
                    "within 10 s. With --json, a failure is also a JSON object on stdout: "
                    '{"error": {"exit_code": N, "message": "..."}}.')
    events = commands.add_parser("events", help="print the daemon's drift events as they happen (Ctrl-C stops)")
    for p in (status, events):
        p.add_argument("--json", action="store_true",
                       help="JSON instead of text (events, and status --follow: one object per line)")
        p.add_argument("--config", metavar="PATH", help="config file (for socket_path)")
        p.add_argument("--socket", metavar="PATH", help="the daemon's control socket "
                                                        "(default $NETWARDEN_SOCKET, else socket_path, else /run/netwarden/netwarden.sock; "
                                                        "macOS /var/run/netwarden/netwarden.sock)")
    status.add_argument("--follow", action="store_true",
                        help="print the status, then drift events as they happen, like `events` (Ctrl-C stops)")
    add_probe_parser(commands)
    parser.commands = commands.choices  # parse() points a usage error at the subcommand's help
    return parser


def add_probe_parser(commands) -> None:
    import argparse

    probe = commands.add_parser(
        "probe", help="test every layer between this host and HOST:PORT, phase by phase (unprivileged)",
        description="Resolve, connect, TLS (a classic and a large ClientHello), path MTU, idle survival (--idle) and "
                    "ephemeral ports towards one endpoint; a verdict per phase and the findings. Sends nothing but to "
                    "the target and this host's resolvers. Exit code: the worst verdict (0 ok, 1 warning, "
                    "2 critical, 3 unknown), 64 usage error, 65 unreadable bundle, 78 bad configuration.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    probe.add_argument("target", nargs="?", metavar="HOST:PORT",
                       help="api.example.com:443, 198.18.0.2:443 or [2001:db8::2]:443")
    probe.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    probe.add_argument("--all", action="store_true", help="connect to every address, not the first of each family")
    probe.add_argument("--idle", metavar="S,S,...", help="idle times in seconds to test pooled connections "
                                                         "against, e.g. 30,120,350 (opt-in: it takes that long)")
    probe.add_argument("--timeout", metavar="S", help="seconds a connect, handshake or transfer may take "
                                                      "(default: probe_timeout, 3)")
    probe.add_argument("--config", metavar="PATH", help="config file (thresholds, probe_timeout, resolv_conf)")
    bundle = probe.add_mutually_exclusive_group()
    bundle.add_argument("--record", metavar="DIR", help="also save every answer as a support bundle in DIR")
    bundle.add_argument("--replay", metavar="DIR", help="show a recorded probe again (target and options from it)")


def parser_for(argv: list[str]):
    """The whole parser, or for a plain `check` without --help only the check command's: building
    every subcommand's parser costs ~8 ms, a tenth of `netwarden check` (start-up budget, issue #2)."""
    if argv[0] != "check" or any(a in ("-h", "--help") or a.startswith("--h") for a in argv):
        return build_parser()
    import argparse

    class CheckParser(argparse.ArgumentParser):
        def error(self, message):
            raise Fail(EXIT_USAGE, f"{message} (see `netwarden check --help`)")

    # A fixed width: this parser never prints help, and asking the terminal's imports shutil (~2 ms).
    parser = CheckParser(prog="netwarden", add_help=False,
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
    if extra:  # argparse reports these from the top parser: `see netwarden --help`, not the command's
        command_parser = getattr(parser, "commands", {}).get(args.command, parser)
        command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def add_check_arguments(p) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--apply", action="store_true",
                      help="make the planned changes (root), verify them, and report what is left")
    mode.add_argument("--dry-run", action="store_true", help="show the changes --apply would make, change nothing")
    mode.add_argument("--revert", action="store_true",
                      help="put back every original value and file netwarden changed (root)")
    p.add_argument("--only", nargs="+", metavar="ID", help="run only these checks")
    p.add_argument("--skip", nargs="+", metavar="ID", help="do not run these checks")
    p.add_argument("--config", metavar="PATH",
                   help="config file (default $NETWARDEN_CONFIG, else /etc/netwarden/netwarden.toml if present)")
    bundle = p.add_mutually_exclusive_group()
    bundle.add_argument("--record", metavar="DIR", help="also save everything read as a support bundle in DIR")
    bundle.add_argument("--replay", metavar="DIR",
                        help="analyse a support bundle instead of this machine, with the settings it was recorded "
                             "with (not --config, nor NETWARDEN_* variables)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:  # answered before argparse (+re) is imported: start-up budget, issue #2
        print(f"netwarden {__version__}")
        return EXIT_OK
    # `netwarden [options]` means `netwarden check [options]`.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["check", *argv]
    try:
        args = parse(argv)
        if args.command == "daemon":
            return run_daemon(args)
        if args.command == "release":
            return run_release(args)
        if args.command == "status":
            return run_status(args)
        if args.command == "events":
            return run_events(args)
        if args.command == "probe":
            return run_probe(args)
        return run_check(args)
    except Fail as e:
        print(f"netwarden: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("netwarden: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception:
        import traceback

        traceback.print_exc()
        print("netwarden: internal error (a bug: please report it with the traceback above)", file=sys.stderr)
        return EXIT_SOFTWARE


def run_check(args) -> int:
    from pathlib import Path

    from netwarden import engine
    from netwarden.platform.detect import UnsupportedPlatform, backend_for
    from netwarden.platform.source import RecordingSource, Source

    if args.record and (args.apply or args.revert):
        raise Fail(EXIT_USAGE, "--record is read-only: it cannot be combined with --apply or --revert")
    both = sorted(set(args.only or ()) & set(args.skip or ()))
    if both:
        raise Fail(EXIT_USAGE, f"--only and --skip both name {', '.join(both)}")
    if args.replay:
        source, settings = _replay_source(args)
    else:
        settings = _settings(args)
        source = RecordingSource() if args.record else Source()
    try:
        backend = backend_for(source, settings)
        specs = engine.select_checks(settings, args.only, args.skip, backend.platform.system)
    except engine.UsageError as e:
        raise Fail(EXIT_USAGE, str(e)) from None
    except UnsupportedPlatform as e:
        raise Fail(EXIT_UNKNOWN, str(e)) from None

    if args.revert:
        return _revert(backend, settings, args)
    if args.apply:
        return _apply(backend, settings, specs, args)
    facts = engine.collect(backend, specs)
    findings = engine.analyze(facts, settings, specs, backend)
    changes, refused = engine.plan(findings, backend)
    if args.record:
        try:
            source.save(Path(args.record), sys.argv, settings)
        except OSError as e:
            raise Fail(EXIT_IOERR, f"cannot write the support bundle: {e}") from None
    return _report(facts, findings, changes, refused, args)


def _replay_source(args):
    """The bundle's source and the settings it was recorded with: this machine's config file and
    NETWARDEN_* variables play no part in a replay."""
    from pathlib import Path

    from netwarden.config import Settings
    from netwarden.platform.bundle import BundleError
    from netwarden.platform.source import ReplaySource

    if getattr(args, "apply", False) or getattr(args, "revert", False):
        raise Fail(EXIT_USAGE, "--replay analyses a bundle: it cannot --apply or --revert")
    if args.config:
        raise Fail(EXIT_USAGE, "--replay uses the settings recorded in the bundle, not --config "
                               "(to judge it otherwise, edit `settings` in its meta.json)")
    try:
        source = ReplaySource(Path(args.replay))
    except BundleError as e:
        raise Fail(EXIT_DATAERR, str(e)) from None
    if source.settings is None:
        print(f"netwarden: note: {args.replay} does not carry the settings it was recorded with "
              "(an older netwarden wrote it): replaying with the defaults", file=sys.stderr)
    return source, source.settings or Settings()


def run_probe(args) -> int:
    import dataclasses
    import json
    from pathlib import Path

    from netwarden.diagnose import inputs, phases, render, verdicts
    from netwarden.platform.detect import UnsupportedPlatform, backend_for
    from netwarden.platform.source import RecordingSource, Source

    if args.replay:
        if args.target or args.idle or args.timeout or args.all:
            raise Fail(EXIT_USAGE, "--replay shows the recorded probe: HOST:PORT and options come from the bundle")
        source, settings = _replay_source(args)
        plan = None
    else:
        settings = _settings(args)
        try:
            plan = inputs.make_plan(args.target, args.timeout, args.idle, args.all, settings.probe_timeout)
        except ValueError as e:
            raise Fail(EXIT_USAGE, str(e)) from None
        source = RecordingSource() if args.record else Source()
    try:
        plan = inputs.through(source, plan)
    except (OSError, ValueError) as e:
        raise Fail(EXIT_DATAERR, f"{args.replay}: not a recorded probe ({e})") from None
    try:  # a backend without targets: it collects host facts and probes nothing on its own
        backend = backend_for(source, dataclasses.replace(settings, targets=()))
    except UnsupportedPlatform as e:
        raise Fail(EXIT_UNKNOWN, str(e)) from None
    observations = phases.run(source, backend, plan)
    doc = render.document(observations, *verdicts.judge(observations, settings, backend))
    if args.record:
        try:
            source.save(Path(args.record), sys.argv, settings)
        except OSError as e:
            raise Fail(EXIT_IOERR, f"cannot write the support bundle: {e}") from None
    print(json.dumps(doc, indent=2) if args.json else render.text(doc))
    return doc["exit_code"]


def _settings(args):
    from netwarden.config import ConfigError, load_settings

    try:
        return load_settings(args.config)
    except ConfigError as e:
        raise _config_failure(e) from None


def _config_failure(e: Exception) -> Fail:
    # One line, whatever a file name or value holds.
    return Fail(EXIT_CONFIG, "bad configuration: " + str(e).replace("\r", "\\r").replace("\n", "\\n"))


def run_daemon(args) -> int:
    from netwarden.config import config_file_path
    from netwarden.daemon.service import Daemon, DaemonError
    from netwarden.platform.detect import UnsupportedPlatform

    settings = _settings(args)
    path = config_file_path(args.config)
    try:
        return Daemon(settings, str(path)).run()
    except DaemonError as e:
        raise Fail(EXIT_TEMPFAIL, str(e)) from None
    except UnsupportedPlatform as e:
        raise Fail(EXIT_UNKNOWN, str(e)) from None
    except PermissionError as e:
        where = e.filename or settings.state_dir
        raise Fail(EXIT_NOPERM, f"{where}: permission denied (the daemon runs as root)") from None


def run_release(args) -> int:
    from netwarden.platform.parse.sysctl_conf import valid_sysctl_key

    for key in args.keys:
        if not valid_sysctl_key(key):
            raise Fail(EXIT_USAGE, f"not a sysctl key: {key[:100]!r} (a name such as net.ipv4.ip_local_port_range)")
    _require_root("release")
    for key in args.keys:
        answer = _ask_daemon(args, "release", {"key": key}, RELEASE_TIMEOUT, shape={"was_held": bool})
        print(f"released {key}" + ("" if answer["was_held"] else " (it was not held back)"))
    return EXIT_OK


def _socket_path(args):
    from netwarden.config import ConfigError, control_socket_path

    try:
        return getattr(args, "socket", None) or control_socket_path(getattr(args, "config", None))
    except ConfigError as e:
        raise _config_failure(e) from None


def _daemon_failure(e) -> Fail:
    """The one place that turns the daemon's refusals into exit codes. No netwarden daemon answering
    (nothing listens, something else does, no answer in time; or an error only a server that is not
    netwarden, or not this version, gives) is 3; anything else it answered is 74."""
    from netwarden.daemon import protocol as rpc
    from netwarden.daemon.client import RpcError

    if isinstance(e, RpcError) and e.code in (rpc.PARSE_ERROR, rpc.INVALID_REQUEST, rpc.METHOD_NOT_FOUND):
        return Fail(EXIT_UNKNOWN, f"no netwarden daemon answers on {e.path}: it did not understand the request "
                                  f"(error {e.code}: {str(e)[:200]})")
    if isinstance(e, RpcError):
        return Fail({rpc.PERMISSION_DENIED: EXIT_NOPERM, rpc.TOO_MANY_CLIENTS: EXIT_TEMPFAIL, rpc.BUSY: EXIT_TEMPFAIL,
                     rpc.INVALID_PARAMS: EXIT_USAGE, rpc.REQUEST_TOO_LARGE: EXIT_USAGE}.get(e.code, EXIT_IOERR), str(e))
    return Fail(EXIT_UNKNOWN, str(e))  # NoDaemon


def _ask_daemon(args, method: str, params: dict | None, timeout: float, absent_ok: bool = False,
                shape: dict | None = None):
    """The daemon's answer, a dict with `shape`'s keys and types; with absent_ok, None when nothing
    listens on the socket (the caller does the work itself)."""
    if sys.platform == "win32":  # CPython has no AF_UNIX there, and the daemon does not run there yet
        if absent_ok:
            return None
        raise Fail(EXIT_UNKNOWN, "the netwarden daemon does not run on Windows yet: use `netwarden check`")
    from netwarden.daemon.client import NoAnswer, NoDaemon, RpcError, call

    path = _socket_path(args)
    try:
        answer = call(path, method, params or {}, timeout=timeout)
    except NoDaemon as e:
        if absent_ok and not isinstance(e, NoAnswer):
            return None
        raise _daemon_failure(e) from None
    except RpcError as e:
        raise _daemon_failure(e) from None
    if shape is not None and not (isinstance(answer, dict) and all(isinstance(answer.get(k), t) for k, t in shape.items())):
        raise Fail(EXIT_UNKNOWN, f"no netwarden daemon answers on {path}: its answer to {method} is not netwarden's")
    return answer


def run_status(args) -> int:
    """The daemon's status; with --follow, subscribed first (so nothing is missed in between), then
    the status, then the events. With --json a failure is also a JSON object on stdout."""
    from netwarden.daemon.client import NoDaemon, check_status

    try:
        events = _subscribe(args) if args.follow else None
        status = _ask_daemon(args, "status", None, STATUS_TIMEOUT)
        findings = _ask_daemon(args, "findings", None, STATUS_TIMEOUT)
        try:
            check_status(status, findings, _socket_path(args))
        except NoDaemon as e:
            raise _daemon_failure(e) from None
        code = _print_status(status, findings, args)
        return _print_events(events, args) if events is not None else code
    except Fail as e:
        _json_failure(args, e)
        raise


def _json_failure(args, e: Fail) -> None:
    """With --json, a failure is a JSON document on stdout too (the one line stays on stderr)."""
    if args.json:
        import json

        print(json.dumps({"error": {"exit_code": e.code, "message": str(e)}}), flush=True)


def _print_status(status: dict, findings: list, args) -> int:
    import json
    import time

    if args.json:  # one line when events follow: the whole output is then one JSON object per line
        print(json.dumps({"status": status, "findings": findings}, indent=None if args.follow else 2), flush=True)
        return status.get("exit_code", EXIT_UNKNOWN)
    if status.get("status") == "starting":
        print("netwarden daemon is starting: its first check is not done yet", flush=True)
        return EXIT_UNKNOWN
    up = int(time.time() - status["started_at"])
    print(f"netwarden daemon {status['netwarden']} (pid {status['pid']}) on {status['platform']}, "
          f"up {up // 3600}h {up % 3600 // 60:02d}m; {status['events_total']} drift events")
    print()
    for f in findings:
        policy = status["policy"].get(f["id"], "observe")
        print(f"  {f['severity'].upper():9} {f['id']:18} {f['title']}" + (f"  [{policy}]" if policy != "observe" else ""))
    for key in status["managed"]:
        print(f"\nmanaged by netwarden: {key}", end="")
    for key, held in status["contested"].items():
        print(f"\ncontested: {key} was set to {held['now']!r} by someone else (netwarden wrote {held['written']!r}); "
              f"`netwarden release {key}` hands it back", end="")
    for key in status["backed_off"]:
        print(f"\nbacked off: {key} was rewritten too often; `netwarden release {key}` hands it back", end="")
    print(flush=True)
    return status["exit_code"]


def run_events(args) -> int:
    try:
        return _print_events(_subscribe(args), args)
    except Fail as e:
        _json_failure(args, e)
        raise


def _subscribe(args):
    from netwarden.daemon.client import NoDaemon, RpcError, subscribe

    try:
        return subscribe(_socket_path(args), STATUS_TIMEOUT)
    except (NoDaemon, RpcError) as e:
        raise _daemon_failure(e) from None


def _print_events(events, args) -> int:
    """Until the daemon stops (3) or Ctrl-C (0)."""
    import json
    import time

    from netwarden.daemon.client import NoDaemon, RpcError

    try:
        for event in events:
            if args.json:
                print(json.dumps(event), flush=True)
            else:
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event["time"]))
                print(f"{when}  {event['kind']:14} {event['message']}", flush=True)
    except (NoDaemon, RpcError) as e:
        raise _daemon_failure(e) from None
    except KeyboardInterrupt:
        return EXIT_OK
    raise Fail(EXIT_UNKNOWN, "the daemon stopped")


def _require_root(what: str) -> None:
    if sys.platform == "win32":  # no euid: an Administrator's token, elevated
        import ctypes

        if not ctypes.windll.shell32.IsUserAnAdmin():
            raise Fail(EXIT_NOPERM, f"{what} needs an elevated prompt (Run as administrator)")
        return
    if os.geteuid() != 0:
        raise Fail(EXIT_NOPERM, f"{what} needs root (try: sudo netwarden {what})")


def _engine_failure(e: Exception, settings) -> Fail:
    """An apply/revert failure as an exit code: the lock held elsewhere 75, the rest 74."""
    from netwarden.journal import JournalError, LockBusy

    if isinstance(e, LockBusy):
        return Fail(EXIT_TEMPFAIL, str(e))
    if isinstance(e, JournalError) or not isinstance(e, OSError):
        return Fail(EXIT_IOERR, str(e))
    return Fail(EXIT_IOERR, f"cannot take the apply lock {settings.apply_lock}: {e.strerror or e}")


def _reconcile(backend, settings) -> None:
    """What a killed apply left is finished first (as the daemon does at start), and said."""
    from netwarden import engine
    from netwarden.journal import JournalError, LockBusy
    from netwarden.platform.linux import ChangeFailed

    try:
        for message in engine.reconcile(backend, settings):
            print(f"netwarden: {message}", file=sys.stderr)
    except (LockBusy, JournalError, ChangeFailed, OSError) as e:
        raise _engine_failure(e, settings) from None


def _apply(backend, settings, specs, args) -> int:
    import signal

    from netwarden import engine
    from netwarden.journal import JournalError, LockBusy
    from netwarden.platform.linux import ChangeFailed

    _require_root("--apply")
    # A running daemon does it, so its view and its journal stay one.
    answer = _ask_daemon(args, "apply", {"only": args.only, "skip": args.skip}, APPLY_TIMEOUT, absent_ok=True,
                         shape={"report": dict, "ok": bool})
    if answer is not None:
        doc, ok = answer["report"], answer["ok"]
    else:
        _reconcile(backend, settings)
        # A service manager's stop (SIGTERM) mid-apply rolls back like Ctrl-C does.
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            doc, ok = engine.apply_and_verify(backend, settings, specs)
        except (LockBusy, JournalError, ChangeFailed, OSError) as e:
            raise _engine_failure(e, settings) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
    print_report(doc, args)
    outcome = doc["apply"]
    if not ok and outcome["result"] != "failed":  # made what it could; refused the rest, as planned
        if not args.json:
            for c in doc["refused"]:
                print(f"netwarden: refused: {c['description']}: {c['reason']}", file=sys.stderr)
        return EXIT_IOERR
    if not ok:
        if not args.json:
            print(f"netwarden: change failed: {outcome['failed']}: {outcome['reason']}", file=sys.stderr)
            for target in outcome["rolled_back"]:
                print(f"netwarden: put back {target}", file=sys.stderr)
            for error in outcome["rollback_errors"]:
                print(f"netwarden: could NOT put back: {error} (run `netwarden --revert`)", file=sys.stderr)
        return EXIT_IOERR
    return doc["exit_code"]


def _revert(backend, settings, args) -> int:
    import json

    from netwarden import engine
    from netwarden.journal import JournalError, LockBusy

    _require_root("--revert")
    answer = _ask_daemon(args, "revert", None, APPLY_TIMEOUT, absent_ok=True, shape={"reverted": list, "failed": list})
    if answer is not None:
        restored, failures = answer["reverted"], answer["failed"]
    else:
        _reconcile(backend, settings)
        try:
            restored, failures = engine.revert_all(backend, settings)
        except (LockBusy, JournalError, OSError) as e:
            raise _engine_failure(e, settings) from None
    if args.json:
        print(json.dumps({"schema": JSON_SCHEMA, "netwarden": __version__, "reverted": [
            {"kind": e["kind"], "target": e["target"]} for e in restored], "failed": failures}, indent=2))
    else:
        for entry in restored:
            what = "removed" if entry["kind"] == "file" and not entry["original"]["exists"] else "restored"
            print(f"{what:9} {entry['target']}")
        if not restored and not failures:
            print("Nothing to revert: the journal is empty.")
        for failure in failures:
            print(f"netwarden: could not put back {failure} (it stays in the journal; run --revert again)",
                  file=sys.stderr)
    return EXIT_IOERR if failures else EXIT_OK


def _report(facts, findings, changes, refused, args) -> int:
    """Print the report; its exit code."""
    from netwarden.engine import report_document

    doc = report_document(facts, findings, changes, None, refused)
    print_report(doc, args)
    return doc["exit_code"]


def print_report(doc: dict, args) -> None:
    """Print a report document (local, or answered by the daemon) as JSON or as text."""
    import json

    if args.json:
        print(json.dumps(doc, indent=2))
        return
    p = doc["platform"]
    print(f"netwarden {doc['netwarden']} on {p['description']}" + (f" (kernel {p['kernel']})" if p["kernel"] else ""))
    outcome = doc["apply"]
    if outcome and outcome["result"] == "applied":
        print()
        for line in outcome["applied"]:
            print(f"  applied   {line}")
        print("  verified: " + ", ".join(f"{k} {v['before']} -> {v['after']}" for k, v in outcome["verified"].items()))
    print()
    counts: dict[str, int] = {}
    advised: set[str] = set()
    for f in doc["findings"]:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
        print(f"  {f['severity'].upper():9} {f['id']:18} {f['title']}")
        details = (("observed", [f["observed"]]), ("expected", [f["expected"]]), ("evidence", f["evidence"]),
                   ("fix", [c["description"] for c in f["changes"]]), ("advice", f["advice"]))
        for label, items in details if f["severity"] != "ok" else details[-1:]:  # ok: its advice only
            for item in items:
                if item and not (label == "advice" and item in advised):  # the same advice once (no targets)
                    print(f"  {'':9} {'':18} {label:9} {item}")
                    advised.add(item)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    print(f"\n{summary or 'no checks ran'}.", end="")
    if doc["changes"] and not outcome:
        verb = "plans" if getattr(args, "dry_run", False) else "would make"
        print(f" `netwarden --apply` (as root) {verb} {len(doc['changes'])} change(s):")
        for c in doc["changes"]:
            print(f"  - {c['description']}")
    else:
        print()
    for c in doc["refused"]:
        print(f"  --apply would not make: {c['description']}: {c['reason']}")
    if outcome and outcome["result"] == "nothing to change":
        print("Nothing to change.")
