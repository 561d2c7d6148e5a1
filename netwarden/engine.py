"""The one flow: collect -> analyze -> plan -> apply (journaled) -> verify. The CLI and the daemon
drive it; nothing here prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from netwarden.checks import CHECK_IDS, CheckSpec, all_checks
from netwarden.config import Settings
from netwarden.model import Change, Facts, Finding
from netwarden.platform.linux import ChangeFailed
from netwarden.record import field, record
from netwarden.target import shown

if TYPE_CHECKING:
    from netwarden.journal import Journal


class UsageError(Exception):
    pass


def select_checks(settings: Settings, only: list[str] | None = None, skip: list[str] | None = None,
                  system: str | None = None) -> list[CheckSpec]:
    """The checks to run: --only / --skip (validated: known ids, none in both), minus those whose
    policy is `ignore` and (given the platform's system) those that do not exist there."""
    from netwarden.checks import check_ids

    specs = all_checks()
    both = sorted(set(only or ()) & set(skip or ()))
    if both:
        raise UsageError(f"--only and --skip both name {', '.join(both)}")
    for check_id in (only or []) + (skip or []):
        if check_id not in CHECK_IDS:
            known = check_ids(system) if system is not None else CHECK_IDS
            raise UsageError(f"no such check: {shown(check_id, 100)} (known{f' on {system}' if system else ''}: "
                             f"{', '.join(known)})")
        if system is not None and check_id in (only or []) and not specs[check_id].runs_on(system):
            raise UsageError(f"{check_id} does not exist on {system} (it runs on {', '.join(specs[check_id].platforms)})")
    wanted = [i for i in CHECK_IDS if (not only or i in only) and i not in (skip or [])]
    return [specs[i] for i in wanted if settings.policy_for(i) != "ignore"
            and (system is None or specs[i].runs_on(system))]


def collect(backend, specs: list[CheckSpec]) -> Facts:
    return backend.collect({name for spec in specs for name in spec.facts})


def analyze(facts: Facts, settings: Settings, specs: list[CheckSpec], backend=None) -> list[Finding]:
    """The findings; with a backend, their intents turned into its changes and advice."""
    findings = [_bounded(finding) for spec in specs for finding in spec.run(facts, settings)]
    return [backend.realize(f, facts) for f in findings] if backend is not None else findings


MAX_EVIDENCE = 50  # lines a finding shows: a resolv.conf of 30,000 bad lines must not print them all


def _bounded(finding: Finding) -> Finding:
    if len(finding.evidence) <= MAX_EVIDENCE:
        return finding
    kept = finding.evidence[:MAX_EVIDENCE - 1]
    return finding._replace(evidence=(*kept, f"… and {len(finding.evidence) - len(kept)} more lines like these"))


class Plan(NamedTuple):
    changes: list[Change]  # what --apply makes, in order
    refused: list[tuple[Change, str]]  # what a finding asks for that --apply would refuse, and why


def plan(findings: list[Finding], backend) -> Plan:
    """Every change the findings ask for, with the drop-in write that makes them persist."""
    return plan_changes([c for f in findings for c in f.changes], backend)


def plan_changes(changes: list[Change], backend) -> Plan:
    """The changes the backend can make, then one write of netwarden's drop-in that makes the
    persistent ones survive a reboot (written last: a failed runtime change leaves it alone).
    What it would refuse (a read-only sysctl, a symlinked file, a missing directory) is left out
    and said, so --dry-run shows what --apply does. A drop-in that cannot be written takes the
    persistent changes with it: a fix lost at the next boot is not made."""
    refused = [(c, why) for c in changes if (why := backend.refusal(c))]
    wanted = [c for c in changes if not any(c is r for r, _ in refused)]
    try:
        dropin = backend.dropin_change(wanted)
        why = backend.refusal(dropin) if dropin else None
    except ChangeFailed as e:  # its current content cannot be read
        dropin, why = None, str(e)
    if why:
        refused += [(c, f"its drop-in cannot be written: {why}") for c in wanted if c.kind == "sysctl" and c.persist]
        wanted, dropin = [c for c in wanted if not (c.kind == "sysctl" and c.persist)], None
    return Plan(wanted + ([dropin] if dropin else []), refused)


def apply_locked(backend, settings: Settings, changes: list[Change]) -> None:
    """apply() under the apply lock, with the journal in the state dir: what every writer uses."""
    from netwarden.journal import ApplyLock, Journal

    with ApplyLock(settings.apply_lock, settings.lock_timeout):
        apply(backend, Journal(settings.state_dir), changes)


@record
class ApplyFailed(Exception):
    failed: Change
    reason: str
    rolled_back: list[Change] = field(default_factory=list)
    rollback_errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.failed.target}: {self.reason}"


def apply(backend, journal: Journal, changes: list[Change]) -> None:
    """All the changes or none: each original is journaled (fsync) before its change; on any
    failure, or an interrupt, what this run changed is put back and ApplyFailed raised."""
    from netwarden.journal import JournalError

    done: list[tuple[Change, object, bool]] = []  # (change, value before this run, journal entry is new)
    current = None
    try:
        for current in changes:
            before = backend.snapshot(current)
            new_entry = journal.find(current.kind, current.target) is None
            journal.record(current.kind, current.target, before, current.check)
            done.append((current, before, new_entry))
            backend.apply(current)
            journal.mark_applied(current.kind, current.target, current.new if current.kind == "sysctl" else None)
    except (ChangeFailed, JournalError, KeyboardInterrupt) as e:
        rolled_back, errors = [], []
        for change, before, new_entry in reversed(done):
            try:
                backend.restore(change.kind, change.target, before)
                if new_entry:
                    journal.forget(change.kind, change.target)
                rolled_back.append(change)
            except (ChangeFailed, JournalError) as err:
                errors.append(str(err))
        reason = "interrupted" if isinstance(e, KeyboardInterrupt) else str(e)
        raise ApplyFailed(current, reason, rolled_back, errors) from None


def failure_text(e: BaseException) -> str:
    """An apply's, revert's or reconcile's failure in one line, as the CLI prints it and the daemon
    logs and answers it: an OSError as `path: reason`, never Python's `[Errno 21] ...: 'name'`."""
    if isinstance(e, OSError):
        why = e.strerror or str(e)
        return f"{e.filename}: {why}" if e.filename else why
    return str(e)


def reconcile(backend, settings: Settings) -> list[str]:
    """Finish what a killed apply left, before anything else writes: `pending` journal entries
    (the change may or may not have happened; the original is exact either way) are put back, and
    netwarden's own temp files are removed. What the CLI's --apply/--revert and the daemon's start
    do first. Returns what was done; raises LockBusy, JournalError, ChangeFailed, OSError."""
    from pathlib import Path

    from netwarden.fsutil import remove_stale_temps
    from netwarden.journal import ApplyLock, Journal

    done = []
    with ApplyLock(settings.apply_lock, settings.lock_timeout):
        journal = Journal(settings.state_dir)
        directories = {settings.sysctl_dir} | {Path(e["target"]).parent for e in journal.entries if e["kind"] == "file"}
        for entry in [e for e in journal.entries if e["state"] == "pending"]:
            backend.restore(entry["kind"], entry["target"], entry["original"])
            journal.forget(entry["kind"], entry["target"])
            done.append(f"undid a crashed apply of {entry['target']}")
        for directory in sorted(directories):
            done += [f"removed the temp file {path} a killed write left" for path in remove_stale_temps(directory)]
    return done


def apply_and_verify(backend, settings: Settings, specs: list[CheckSpec]) -> tuple[dict, bool]:
    """The whole of `--apply`, for the CLI and the daemon alike: collect, plan, apply under the lock
    with the journal, then look again. Returns (report document, whether it succeeded: every
    change made, none refused); raises LockBusy or JournalError."""
    facts = collect(backend, specs)
    findings = analyze(facts, settings, specs, backend)
    changes, refused = plan(findings, backend)
    if not changes:
        return report_document(facts, findings, [], {"result": "nothing to change", "checks": []}, refused), not refused
    checks = sorted({c.check for c in changes})
    try:
        apply_locked(backend, settings, changes)
    except ApplyFailed as e:
        outcome = {"result": "failed", "checks": checks, "failed": e.failed.target, "reason": e.reason,
                   "rolled_back": [c.target for c in e.rolled_back], "rollback_errors": e.rollback_errors}
        return report_document(facts, findings, changes, outcome, refused), False
    after_facts = collect(backend, specs)
    after = analyze(after_facts, settings, specs, backend)
    before = {f.id: f.severity.value for f in findings}
    outcome = {"result": "applied", "checks": checks, "applied": [c.describe() for c in changes],
               "verified": {f.id: {"before": before.get(f.id), "after": f.severity.value} for f in after}}
    return report_document(after_facts, after, [], outcome, refused), not refused


def revert_all(backend, settings: Settings, keep: frozenset[str] = frozenset()) -> tuple[list[dict], list[str]]:
    """The whole of `--revert`, under the apply lock; targets in `keep` are left as they are (and
    stay journaled)."""
    from netwarden.journal import ApplyLock, Journal

    with ApplyLock(settings.apply_lock, settings.lock_timeout):
        return revert(backend, Journal(settings.state_dir), keep)


REPORT_SCHEMA = 1


def report_document(facts: Facts, findings: list[Finding], changes: list[Change], outcome: dict | None,
                    refused: list[tuple[Change, str]] = ()) -> dict:
    """The report as one JSON-ready document: what `--json` prints, what the daemon answers, and
    what the text output is rendered from."""
    from netwarden import __version__
    from netwarden.model import to_jsonable, worst

    overall = worst(f.severity for f in findings)
    return {
        "schema": REPORT_SCHEMA, "netwarden": __version__, "status": overall.value, "exit_code": overall.exit_code,
        "platform": displayable({**to_jsonable(facts.platform), "description": facts.platform.describe()}),
        "facts": displayable(to_jsonable(facts)),
        "findings": [finding_document(f) for f in findings],
        "changes": [change_document(c) for c in changes],
        "refused": [{**change_document(c), "reason": displayable(why)} for c, why in refused],
        "apply": displayable(outcome),
    }


def displayable(value):
    """A document with every string valid Unicode: file text is read losslessly (bytes that are not
    UTF-8 are lone surrogates, and os.listdir gives file names so), which a terminal or a strict
    JSON reader refuses; for showing, such a byte is written as \\xNN. Only the report is
    changed: what is written back to files comes from the changes themselves."""
    kind = type(value)  # not isinstance: this walks every fact of every report, and must be cheap
    if kind is str:
        if value.isascii():
            return value
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate no byte made (a hand-edited bundle's "\\ud800")
            return value.encode("utf-8", "backslashreplace").decode()
    if kind is dict:
        return {displayable(k): displayable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [displayable(v) for v in value]
    return value


def change_document(change: Change) -> dict:
    from netwarden.model import to_jsonable

    return displayable({**to_jsonable(change), "description": change.describe()})


def finding_document(finding: Finding) -> dict:
    """A finding as JSON, each change with its description (what reports and the daemon show)."""
    from netwarden.model import to_jsonable

    return {**displayable(to_jsonable(finding)), "changes": [change_document(c) for c in finding.changes]}


def revert(backend, journal: Journal, keep: frozenset[str] = frozenset()) -> tuple[list[dict], list[str]]:
    """Put every journaled original back, newest first, but those of the targets in `keep`. An
    entry leaves the journal only once its original is in place, so a failed revert can simply be
    run again."""
    from netwarden.journal import JournalError

    restored, failures = [], []
    for entry in reversed([e for e in journal.entries if e["target"] not in keep]):
        try:
            backend.restore(entry["kind"], entry["target"], entry["original"])
            journal.forget(entry["kind"], entry["target"])
            restored.append(entry)
        except (ChangeFailed, JournalError) as e:
            failures.append(str(e))
    return restored, failures
