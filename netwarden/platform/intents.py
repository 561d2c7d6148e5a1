"""What every backend does with a finding's intents: each one planned by the backend's planner for
that action (changes and/or advice), the advice said once."""

from __future__ import annotations

from typing import Callable

from netwarden.model import Facts, Finding

# (check id, intent, facts, settings) -> (changes, advice)
Planner = Callable[..., tuple[list, list]]


def realize(planners: dict[str, Planner], finding: Finding, facts: Facts, settings) -> Finding:
    """The finding with its intents turned into the platform's changes and advice."""
    changes, advice = list(finding.changes), list(finding.advice)
    for intent in finding.intents:
        made, said = planners[intent.action](finding.id, intent, facts, settings)
        changes += made
        advice += [a for a in said if a not in advice]
    return finding._replace(changes=tuple(changes), advice=tuple(advice))
