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
EXIT_TEMPFAIL = 75  # another netwarden holds the apply lock
EXIT_NOPERM = 77  # needs root
EXIT_CONFIG = 78  # bad configuration
JSON_SCHEMA = 1

EPILOG = """\
exit codes: 0 ok, 1 warning, 2 critical, 3 unknown (the worst finding; after --apply, the worst
finding left), 64 usage error, 65 unreadable support bundle, 70 internal error, 74 a change or
revert failed (this run's changes were put back), 75 another apply holds the lock, 77 needs root,
78 bad configuration.

environment: NETWARDEN_CONFIG (config file), NETWARDEN_STATE_DIR, NETWARDEN_SYSCTL_DIR, and
NETWARDEN_<KEY> for any config key (nested: NETWARDEN_THRESHOLDS__PORTS_RANGE_CRITICAL)."""


class Fail(Exception):
    """An error for the user: one line on stderr and a distinct exit code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def build_parser():
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):  # usage errors exit 64, not argparse's 2 (which means critical here)
            raise Fail(EXIT_USAGE, f"{message} (see `netwarden --help`)")

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
        "release", help="let the running daemon enforce KEY again after it backed off",
        description="The daemon stops enforcing a key when someone else changes it, or when it rewrote it too "
                    "often; this hands the key back to it (root).")
    release.add_argument("keys", nargs="+", metavar="KEY", help="a sysctl name, e.g. net.ipv4.ip_local_port_range")
    release.add_argument("--config", metavar="PATH", help="config file (for the state dir)")
    return parser


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
    bundle.add_argument("--replay", metavar="DIR", help="analyse a support bundle instead of this machine")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:  # answered before argparse (+re) is imported: start-up budget, issue #2
        print(f"netwarden {__version__}")
        return EXIT_OK
    # `netwarden [options]` means `netwarden check [options]`.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["check", *argv]
    try:
        args = build_parser().parse_args(argv)
        if args.command == "daemon":
            return run_daemon(args)
        if args.command == "release":
            return run_release(args)
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
    from netwarden.config import ConfigError, load_settings
    from netwarden.platform.detect import UnsupportedPlatform, backend_for
    from netwarden.platform.linux import ChangeFailed
    from netwarden.platform.source import BundleError, RecordingSource, ReplaySource, Source

    if args.record and (args.apply or args.revert):
        raise Fail(EXIT_USAGE, "--record is read-only: it cannot be combined with --apply or --revert")
    if args.replay and (args.apply or args.revert):
        raise Fail(EXIT_USAGE, "--replay analyses a bundle: it cannot --apply or --revert")
    try:
        settings = load_settings(args.config)
    except ConfigError as e:
        raise Fail(EXIT_CONFIG, f"bad configuration: {e}") from None
    try:
        source = ReplaySource(Path(args.replay)) if args.replay else RecordingSource() if args.record else Source()
    except BundleError as e:
        raise Fail(EXIT_DATAERR, str(e)) from None
    try:
        specs = engine.select_checks(settings, args.only, args.skip)
        backend = backend_for(source, settings)
    except engine.UsageError as e:
        raise Fail(EXIT_USAGE, str(e)) from None
    except UnsupportedPlatform as e:
        raise Fail(EXIT_UNKNOWN, str(e)) from None

    if args.revert:
        return _revert(backend, settings, args)
    facts = engine.collect(backend, specs)
    findings = engine.analyze(facts, settings, specs)
    try:
        changes = engine.plan(findings, backend)
    except ChangeFailed as e:
        if args.apply:
            raise Fail(EXIT_IOERR, f"cannot plan the changes: {e}") from None
        print(f"netwarden: note: --apply could not plan its changes: {e}", file=sys.stderr)
        changes = []
    if args.record:
        try:
            source.save(Path(args.record), sys.argv)
        except OSError as e:
            raise Fail(EXIT_IOERR, f"cannot write the support bundle: {e}") from None
    if not args.apply or not changes:
        _report(facts, findings, changes, args, outcome=None)
        if args.apply and not args.json:
            print("Nothing to change.")
        return _exit_code(findings)
    return _apply(backend, settings, specs, facts, findings, changes, args)


def _settings(args):
    from netwarden.config import ConfigError, load_settings

    try:
        return load_settings(args.config)
    except ConfigError as e:
        raise Fail(EXIT_CONFIG, f"bad configuration: {e}") from None


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
    import re
    import time

    from netwarden.daemon.service import RELEASE_DIR

    _require_root("release")
    settings = _settings(args)
    requests = settings.state_dir / RELEASE_DIR
    for key in args.keys:
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*", key) or ".." in key:
            raise Fail(EXIT_USAGE, f"not a key: {key!r}")
    if not requests.is_dir():
        raise Fail(EXIT_UNKNOWN, f"no daemon has run with state dir {settings.state_dir}")
    for key in args.keys:
        (requests / key).touch()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any((requests / k).exists() for k in args.keys):
        time.sleep(0.05)
    pending = [k for k in args.keys if (requests / k).exists()]
    for key in pending:
        (requests / key).unlink(missing_ok=True)
    if pending:
        raise Fail(EXIT_UNKNOWN, f"no running daemon took the request for {', '.join(pending)}")
    print("released " + ", ".join(args.keys))
    return EXIT_OK


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise Fail(EXIT_NOPERM, f"{what} needs root (try: sudo netwarden {what})")


def _locked_journal(settings):
    from netwarden.journal import ApplyLock, Journal, JournalError, LockBusy

    lock = ApplyLock(settings.apply_lock, settings.lock_timeout)
    try:
        lock.__enter__()
    except LockBusy as e:
        raise Fail(EXIT_TEMPFAIL, str(e)) from None
    except OSError as e:
        raise Fail(EXIT_IOERR, f"cannot take the apply lock {settings.apply_lock}: {e.strerror or e}") from None
    try:
        return lock, Journal(settings.state_dir)
    except JournalError as e:
        lock.__exit__(None, None, None)
        raise Fail(EXIT_IOERR, str(e)) from None


def _apply(backend, settings, specs, facts, findings, changes, args) -> int:
    import signal

    from netwarden import engine

    _require_root("--apply")
    lock, journal = _locked_journal(settings)
    # A service manager's stop (SIGTERM) mid-apply rolls back like Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        try:
            engine.apply(backend, journal, changes)
        except engine.ApplyFailed as e:
            outcome = {"result": "failed", "failed": e.failed.target, "reason": e.reason,
                       "rolled_back": [c.target for c in e.rolled_back], "rollback_errors": e.rollback_errors}
            _report(facts, findings, changes, args, outcome)
            if not args.json:
                print(f"netwarden: change failed: {e}", file=sys.stderr)
                for target in outcome["rolled_back"]:
                    print(f"netwarden: put back {target}", file=sys.stderr)
                for error in e.rollback_errors:
                    print(f"netwarden: could NOT put back: {error} (run `netwarden --revert`)", file=sys.stderr)
            return EXIT_IOERR
    finally:
        signal.signal(signal.SIGTERM, previous)
        lock.__exit__(None, None, None)
    # Verify: look again; a finding still there after its fix is reported as it stands.
    after_facts = engine.collect(backend, specs)
    after = engine.analyze(after_facts, settings, specs)
    before = {f.id: f.severity.value for f in findings}
    outcome = {"result": "applied", "applied": [c.describe() for c in changes],
               "verified": {f.id: {"before": before.get(f.id), "after": f.severity.value} for f in after}}
    _report(after_facts, after, [], args, outcome)
    return _exit_code(after)


def _revert(backend, settings, args) -> int:
    from netwarden import engine

    import json

    _require_root("--revert")
    lock, journal = _locked_journal(settings)
    try:
        restored, failures = engine.revert(backend, journal)
    finally:
        lock.__exit__(None, None, None)
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


def _exit_code(findings) -> int:
    from netwarden.model import worst

    return worst(f.severity for f in findings).exit_code


def _report(facts, findings, changes, args, outcome) -> None:
    from netwarden.engine import report_document

    print_report(report_document(facts, findings, changes, outcome), args)


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
    for f in doc["findings"]:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
        print(f"  {f['severity'].upper():9} {f['id']:15} {f['title']}")
        if f["severity"] == "ok":
            continue
        for label, items in (("observed", [f["observed"]]), ("expected", [f["expected"]]), ("evidence", f["evidence"]),
                             ("fix", [c["description"] for c in f["changes"]]), ("advice", f["advice"])):
            for item in items:
                if item:
                    print(f"  {'':9} {'':15} {label:9} {item}")
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    print(f"\n{summary or 'no checks ran'}.", end="")
    if doc["changes"] and not outcome:
        verb = "plans" if getattr(args, "dry_run", False) else "would make"
        print(f" `netwarden --apply` (as root) {verb} {len(doc['changes'])} change(s):")
        for c in doc["changes"]:
            print(f"  - {c['description']}")
    else:
        print()
