"""The probe's output: one JSON document (stable schema, README "netwarden probe"), or the table of
phases and the findings, rendered from that same document."""

from __future__ import annotations

SCHEMA = 1


def document(obs, phases, findings) -> dict:
    from netwarden import __version__
    from netwarden.diagnose.verdicts import overall
    from netwarden.model import to_jsonable

    status = overall(phases)
    plan = obs.plan
    return {
        "schema": SCHEMA, "netwarden": __version__, "target": str(plan.target),
        "host": plan.target.host, "port": plan.target.port,
        "options": {"timeout": plan.timeout, "idle": list(plan.idle), "all": plan.all_addresses},
        "platform": obs.facts.platform.describe(),
        "status": status.value, "exit_code": status.exit_code, "elapsed_ms": obs.ms.get("total"),
        "phases": [to_jsonable(p._asdict()) for p in phases],
        "findings": [{**to_jsonable(f), "changes": [{**to_jsonable(c), "description": c.describe()}
                                                     for c in f.changes]} for f in findings],
    }


def _duration(ms) -> str:
    if ms is None:
        return "-"
    if ms < 1:
        return "<1 ms"
    return f"{ms:,.0f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


def text(doc: dict) -> str:
    """The table of phases (a phase that is not ok shows its evidence under it), then the
    findings with what they add: observed, expected, further evidence, the fix, advice."""
    total = doc["elapsed_ms"]
    lines = [f"netwarden probe {doc['target']}: {doc['status']}"
             + (f" in {_duration(total)}" if total is not None else "") + f" ({doc['platform']})", "",
             f"  {'phase':8} {'time':>8}  {'verdict':9} summary"]
    shown = set()
    for p in doc["phases"]:
        lines.append(f"  {p['name']:8} {_duration(p['ms']) if p['verdict'] != 'skipped' else '-':>8}  "
                     f"{p['verdict']:9} {p['summary']}")
        if p["verdict"] not in ("ok", "skipped"):
            lines += [f"  {'':8} {'':8}  {'':9} {e}" for e in p["evidence"] if e != p["summary"]]
            shown.update(p["evidence"])
    if not doc["findings"]:
        lines += ["", "Nothing flagged: every phase that ran is ok." if doc["status"] == "ok"
                  else "No finding: see the phases above."]
        return _printable(lines)
    lines += ["", "Findings:"]
    for f in doc["findings"]:
        lines.append(f"  {f['severity'].upper():9} {f['id']}: {f['title']}")
        fixes = [f"`netwarden check --apply` (root): {c['description']}" for c in f["changes"]]
        evidence = [e for e in f["evidence"] if e not in shown and e != f["title"]]
        for label, items in (("observed", [f["observed"]]), ("expected", [f["expected"]]),
                             ("evidence", evidence), ("fix", fixes), ("advice", f["advice"])):
            lines += [f"  {'':9} {label:9} {item}" for item in items if item]
    return _printable(lines)


def _printable(lines: list[str]) -> str:
    """What the target sent (a certificate's names, an alert, an error's words) may hold an ESC, a
    BEL or a newline: each line is printed escaped, a fake line or a terminal title never made."""
    from netwarden.target import one_line

    return "\n".join(one_line(line, 10_000) for line in lines)
