"""`netwarden check` (with --apply, --dry-run, --revert, --record, --replay) and `netwarden probe`:
from the parsed command line to the printed report and the exit code. Imported only for them."""

from __future__ import annotations

import sys

from netwarden import __version__
from netwarden.cli import (APPLY_TIMEOUT, EXIT_DATAERR, EXIT_IOERR, EXIT_OK, EXIT_TEMPFAIL, EXIT_UNKNOWN, EXIT_USAGE,
                           JSON_SCHEMA, Fail, require_root, settings_or_fail)
from netwarden.cli_daemon import ask_daemon


def run_check(args) -> int:
    from netwarden import engine
    from netwarden.platform.detect import UnsupportedPlatform, backend_for
    from netwarden.platform.source import RecordingSource, Source

    if args.record is not None and (args.apply or args.revert):
        raise Fail(EXIT_USAGE, "--record is read-only: it cannot be combined with --apply or --revert")
    _check_record_directory(args)
    if args.replay is not None:
        source, settings = _replay_source(args)
        if source.recorded_probe:
            raise Fail(EXIT_DATAERR, f"{args.replay}: a recorded probe, not a check: replay it with "
                                     f"`netwarden probe --replay {args.replay}`")
    else:
        settings = settings_or_fail(args)
        source = RecordingSource() if args.record is not None else Source()
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
    _save_bundle(source, args, settings)
    return _report(facts, findings, changes, refused, args)


def _check_record_directory(args) -> None:
    """--record DIR is checked before any work (a probe with --idle takes minutes): it must not
    exist or be an empty directory, in a directory that exists."""
    from pathlib import Path

    from netwarden.platform.bundle import unusable_destination

    if args.record is not None:
        why = unusable_destination(Path(args.record))
        if why:
            raise Fail(EXIT_USAGE, f"--record {args.record}: {why}")


def _save_bundle(source, args, settings) -> None:
    """With --record, the support bundle; a failure to write it (a full disk) is 74."""
    from pathlib import Path

    if args.record is not None:
        try:
            source.save(Path(args.record), sys.argv, settings)
        except OSError as e:
            raise Fail(EXIT_IOERR, f"cannot write the support bundle: {e}") from None


def _replay_source(args):
    """The bundle's source and the settings it was recorded with: this machine's config file and
    NETWARDEN_* variables play no part in a replay."""
    from pathlib import Path

    from netwarden.config import Settings
    from netwarden.platform.bundle import BundleError
    from netwarden.platform.source import ReplaySource

    if getattr(args, "apply", False) or getattr(args, "revert", False):
        raise Fail(EXIT_USAGE, "--replay analyses a bundle: it cannot --apply or --revert")
    if args.config is not None:
        raise Fail(EXIT_USAGE, "--replay uses the settings recorded in the bundle, not --config "
                               "(to judge it otherwise, edit `settings` in its meta.json)")
    try:
        source = ReplaySource(Path(args.replay))
    except BundleError as e:
        raise Fail(EXIT_DATAERR, str(e)) from None
    if source.settings is None:
        print(f"netwarden: note: {args.replay} does not carry the settings it was recorded with "
              "(an older netwarden wrote it): replaying with the defaults", file=sys.stderr)
    else:
        from netwarden.platform.bundle import unknown_settings

        unknown = unknown_settings(source.meta["settings"])
        if unknown:  # another version's (this version's own unknown keys are refused when read)
            print(f"netwarden: note: {args.replay}: recorded by netwarden {str(source.meta.get('netwarden'))[:20]}; "
                  f"settings this version does not know are left out: {', '.join(unknown)[:120]}", file=sys.stderr)
    return source, source.settings or Settings()


def run_probe(args) -> int:
    import json

    from netwarden import record
    from netwarden.diagnose import inputs, phases, render, verdicts
    from netwarden.platform.detect import UnsupportedPlatform, backend_for
    from netwarden.platform.source import RecordingSource, Source

    if args.replay is not None:
        if any(value is not None for value in (args.target, args.idle, args.timeout)) or args.all:
            raise Fail(EXIT_USAGE, "--replay shows the recorded probe: HOST:PORT and options come from the bundle")
        source, settings = _replay_source(args)
        if not source.recorded_probe:
            raise Fail(EXIT_DATAERR, f"{args.replay}: a recorded check, not a probe: replay it with "
                                     f"`netwarden check --replay {args.replay}`")
        try:
            plan = inputs.through(source, None)
        except (OSError, ValueError) as e:
            raise Fail(EXIT_DATAERR, f"{args.replay}: not a recorded probe ({e})") from None
    else:
        settings = settings_or_fail(args)
        timeout = inputs.default_timeout(settings.probe_timeout)
        try:
            plan = inputs.make_plan(args.target, args.timeout, args.idle, args.all, timeout)
        except ValueError as e:
            raise Fail(EXIT_USAGE, str(e)) from None
        _check_record_directory(args)
        if args.timeout is None and not inputs.TIMEOUT_RANGE[0] <= settings.probe_timeout <= inputs.TIMEOUT_RANGE[1]:
            print(f"netwarden: note: probe_timeout {settings.probe_timeout:g} s is outside the probe's "
                  f"{inputs.TIMEOUT_RANGE[0]:g} to {inputs.TIMEOUT_RANGE[1]:g} s: probing with {timeout:g} s "
                  "(--timeout sets it)", file=sys.stderr)
        source = RecordingSource() if args.record is not None else Source()
        inputs.through(source, plan)  # a recording keeps it
    try:  # a backend without targets: it collects host facts and probes nothing on its own
        backend = backend_for(source, record.replace(settings, targets=()))
    except UnsupportedPlatform as e:
        raise Fail(EXIT_UNKNOWN, str(e)) from None
    observations = phases.run(source, backend, plan)
    doc = render.document(observations, *verdicts.judge(observations, settings, backend))
    _save_bundle(source, args, settings)
    print(json.dumps(doc, indent=2) if args.json else render.text(doc))
    return doc["exit_code"]


def _engine_failure(e: Exception) -> Fail:
    """An apply/revert failure as an exit code: the lock held elsewhere 75, the rest 74 (a lock
    that cannot be taken says so itself: journal.ApplyLock)."""
    from netwarden.engine import failure_text
    from netwarden.journal import LockBusy

    return Fail(EXIT_TEMPFAIL if isinstance(e, LockBusy) else EXIT_IOERR, failure_text(e))


def _reconcile(backend, settings) -> None:
    """What a killed apply left is finished first (as the daemon does at start), and said."""
    from netwarden import engine
    from netwarden.journal import JournalError, LockBusy
    from netwarden.platform.linux import ChangeFailed

    try:
        for message in engine.reconcile(backend, settings):
            print(f"netwarden: {message}", file=sys.stderr)
    except (LockBusy, JournalError, ChangeFailed, OSError) as e:
        raise _engine_failure(e) from None


def _apply(backend, settings, specs, args) -> int:
    import signal

    from netwarden import engine
    from netwarden.journal import JournalError, LockBusy
    from netwarden.platform.linux import ChangeFailed

    require_root("--apply")
    # A running daemon does it, so its view and its journal stay one.
    answer = ask_daemon(args, "apply", {"only": args.only, "skip": args.skip}, APPLY_TIMEOUT, absent_ok=True,
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
            raise _engine_failure(e) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
    print_report(doc, args)
    outcome = doc["apply"]
    if not ok and outcome["result"] != "failed":  # made what it could; refused the rest, as planned
        if not args.json:
            for c in doc["refused"]:
                print(f"netwarden: refused: {_line(c['description'])}: {_line(c['reason'])}", file=sys.stderr)
        return EXIT_IOERR
    if not ok:
        if not args.json:
            print(f"netwarden: change failed: {_line(outcome['failed'])}: {_line(outcome['reason'])}", file=sys.stderr)
            for target in outcome["rolled_back"]:
                print(f"netwarden: put back {_line(target)}", file=sys.stderr)
            for error in outcome["rollback_errors"]:
                print(f"netwarden: could NOT put back: {_line(error)} (run `netwarden --revert`)", file=sys.stderr)
        return EXIT_IOERR
    return doc["exit_code"]


def _revert(backend, settings, args) -> int:
    import json

    from netwarden import engine
    from netwarden.journal import JournalError, LockBusy

    require_root("--revert")
    answer = ask_daemon(args, "revert", None, APPLY_TIMEOUT, absent_ok=True, shape={"reverted": list, "failed": list})
    if answer is not None:
        restored, failures = answer["reverted"], answer["failed"]
    else:
        _reconcile(backend, settings)
        try:
            restored, failures = engine.revert_all(backend, settings)
        except (LockBusy, JournalError, OSError) as e:
            raise _engine_failure(e) from None
    if args.json:
        print(json.dumps({"schema": JSON_SCHEMA, "netwarden": __version__, "reverted": [
            {"kind": e["kind"], "target": e["target"]} for e in restored], "failed": failures}, indent=2))
    else:
        for entry in restored:
            what = "removed" if entry["kind"] == "file" and not entry["original"]["exists"] else "restored"
            print(f"{what:9} {_line(entry['target'])}")
        if not restored and not failures:
            print("Nothing to revert: the journal is empty.")
        for failure in failures:  # an unusable original says itself that it stays (and another run cannot help)
            said = "stays in the journal" in failure
            print(f"netwarden: could not put back {_line(failure)}" + ("" if said else " (it stays in the journal; run "
                                                                                 "--revert again)"), file=sys.stderr)
    return EXIT_IOERR if failures else EXIT_OK


def _report(facts, findings, changes, refused, args) -> int:
    """Print the report; its exit code."""
    from netwarden.engine import report_document

    doc = report_document(facts, findings, changes, None, refused)
    print_report(doc, args)
    return doc["exit_code"]


def _line(text) -> str:
    """A journal's target, a change's words: one escaped line (a hand-edited journal may hold an ESC)."""
    from netwarden.target import one_line

    return one_line(str(text), 10_000)


def print_report(doc: dict, args) -> None:
    """Print a report document (local, or answered by the daemon) as JSON or as text."""
    import json

    if args.json:
        print(json.dumps(doc, indent=2))
        return
    p = doc["platform"]
    print(f"netwarden {doc['netwarden']} on {_line(p['description'])}" + (f" (kernel {_line(p['kernel'])})" if p["kernel"] else ""))
    outcome = doc["apply"]
    if outcome and outcome["result"] == "applied":
        print()
        for line in outcome["applied"]:
            print(f"  applied   {_line(line)}")
        print("  verified: " + ", ".join(f"{k} {v['before']} -> {v['after']}" for k, v in outcome["verified"].items()))
    print()
    counts: dict[str, int] = {}
    advised: set[str] = set()
    for f in doc["findings"]:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
        print(f"  {f['severity'].upper():9} {f['id']:18} {_line(f['title'])}")
        details = (("observed", [f["observed"]]), ("expected", [f["expected"]]), ("evidence", f["evidence"]),
                   ("fix", [c["description"] for c in f["changes"]]), ("advice", f["advice"]))
        for label, items in details if f["severity"] != "ok" else details[-1:]:  # ok: its advice only
            for item in items:
                if item and not (label == "advice" and item in advised):  # the same advice once (no targets)
                    print(f"  {'':9} {'':18} {label:9} {_line(item)}")
                    advised.add(item)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    print(f"\n{summary or 'no checks ran'}.", end="")
    if doc["changes"] and not outcome:
        verb = "plans" if getattr(args, "dry_run", False) else "would make"
        print(f" `netwarden --apply` (as root) {verb} {len(doc['changes'])} change(s):")
        for c in doc["changes"]:
            print(f"  - {_line(c['description'])}")
    else:
        print()
    for c in doc["refused"]:  # after a real apply these were refused, not only foreseen
        print(f"  {'not made' if outcome else '--apply would not make'}: {_line(c['description'])}: {_line(c['reason'])}")
    if outcome and outcome["result"] == "nothing to change":
        print("Nothing to change.")
