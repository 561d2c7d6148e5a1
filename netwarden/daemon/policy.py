"""Enforcing without fighting (bpftune's rule, and tuned's lesson).

netwarden knows what it last wrote (the journal's `written`). When a managed value changes and
netwarden did not write it, it says so once and leaves that key alone until `netwarden release
KEY` or a restart, unless the check's policy is "always". Even then at most
`enforce_max_per_hour` writes per key per hour; past that it backs off and says so once.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque

from netwarden.config import Settings
from netwarden.daemon.drift import DriftEvent

HOUR = 3600.0


class Enforcer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.contested: dict[str, tuple[str, str]] = {}  # key -> (what netwarden wrote, what it is now)
        self.backed_off: set[str] = set()
        self.applies: dict[str, deque] = defaultdict(deque)

    def wants(self, check_id: str) -> bool:
        return self.settings.policy_for(check_id) in ("enforce", "always")

    def external_change(self, key: str, check_id: str, written: str, now_value: str, trigger: str) -> DriftEvent | None:
        """Someone else changed a value netwarden wrote: one `contested` event, then hands off."""
        if self.settings.policy_for(check_id) == "always" or key in self.contested:
            return None
        self.contested[key] = (written, now_value)
        return DriftEvent("contested", key, {"value": written}, {"value": now_value}, trigger,
                          f"{key} changed by someone else: was {' '.join(written.split())!r}, "
                          f"now {' '.join(now_value.split())!r}; "  # as sysctl shows them: tabs are not news
                          f"netwarden stops enforcing it until `netwarden release {key}` or a restart",
                          "warning", time.time(), check_id)

    def may_apply(self, key: str, check_id: str, trigger: str, now: float | None = None) -> tuple[bool, DriftEvent | None]:
        if self.holds_back(key):
            return False, None
        now = time.monotonic() if now is None else now
        recent = self.applies[key]
        while recent and now - recent[0] > HOUR:
            recent.popleft()
        if len(recent) >= self.settings.enforce_max_per_hour:
            self.backed_off.add(key)
            return False, DriftEvent(
                "backed-off", key, None, None, trigger,
                f"{key}: rewritten {len(recent)} times within an hour; netwarden stops enforcing it until "
                f"`netwarden release {key}` or a restart", "warning", time.time(), check_id)
        return True, None

    def applied(self, key: str, now: float | None = None) -> None:
        self.applies[key].append(time.monotonic() if now is None else now)

    def holds_back(self, key: str) -> bool:
        """Whether netwarden stands back from `key` (contested, or backed off): what release hands back."""
        return key in self.contested or key in self.backed_off

    def release(self, key: str) -> bool:
        known = self.holds_back(key)
        self.contested.pop(key, None)
        self.backed_off.discard(key)
        self.applies.pop(key, None)
        return known
