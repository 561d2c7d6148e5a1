"""What the control socket offers (control.py frames it, protocol.py names the errors).

Read-only methods are answered on the socket's thread from the snapshot the loop publishes
(status.py). The others are queued to the loop, the one place that changes state, and answered
from there: `check`, and for root `apply`, `revert`, `release`, `reload`.
"""

from __future__ import annotations

from netwarden import engine
from netwarden.daemon.protocol import BUSY, INTERNAL_ERROR, INVALID_PARAMS
from netwarden.daemon.waiting import WAITING_FACTS
from netwarden.daemon.watch import Trigger
from netwarden.journal import JournalError, LockBusy
from netwarden.platform.linux import ChangeFailed
from netwarden.platform.parse.sysctl_conf import valid_sysctl_key


def _string_list(params: dict, name: str) -> list[str] | None:
    value = params.get(name)
    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ValueError(f"{name} must be a list of check ids")
    return value


class Operations:
    def __init__(self, daemon) -> None:
        self.daemon = daemon

    # ---- on the socket's thread ----------------------------------------------------------------

    def read(self, method: str, params: dict):
        return self.daemon.status.read(method, params, self.daemon.history)

    def submit(self, method: str, params: dict, reply) -> None:
        self.daemon.queue.put(Trigger("rpc", method, {"params": params, "reply": reply}))

    # ---- on the loop ---------------------------------------------------------------------------

    def run(self, method: str, params: dict, reply) -> None:
        """Answer one request: a result, or an error; never an exception into the loop."""
        try:
            result = self._operation(method, params, reply)
            if result is not None:
                reply(result=result)
        except (ValueError, engine.UsageError) as e:
            reply(error=(INVALID_PARAMS, str(e)))
        except (ChangeFailed, JournalError, OSError) as e:  # said as the CLI says it without a daemon
            reply(error=(INTERNAL_ERROR, engine.failure_text(e)))
        except LockBusy as e:
            reply(error=(BUSY, str(e)))
        except Exception as e:  # noqa: BLE001 - a request must never take the daemon down
            self.daemon.log_error(f"request {method} failed: {e!r:.300}")
            reply(error=(INTERNAL_ERROR, f"internal error in {method}: {e}"))

    def _operation(self, method: str, params: dict, reply):
        """The result, or None when `reply` is called later (a check whose facts wait)."""
        d = self.daemon
        if method == "check":
            ids = _string_list(params, "ids") or [s.id for s in d.specs]
            specs = [s for s in d.specs if s.id in ids]
            if len(specs) != len(set(ids)):
                raise ValueError(f"ids must name running checks: {', '.join(s.id for s in d.specs)}")

            def answer(error: str | None = None) -> None:  # once every check asked for is judged
                if error:
                    reply(error=(INTERNAL_ERROR, f"internal error in check: {error[-300:]}"))
                else:
                    reply(result={"findings": [d.status.finding_docs[s.id] for s in specs
                                               if s.id in d.status.finding_docs]})

            d.check(specs, "request: check", then=answer)
            return None
        if method == "apply":
            # The checks whose facts wait are advice-only (ports.clock-freeze: a reboot): an apply
            # runs without them, so the loop never sleeps 2 x MSL inside it.
            specs = [s for s in engine.select_checks(d.settings, _string_list(params, "only"),
                                                     _string_list(params, "skip"), d.backend.platform.system)
                     if not set(s.facts) & WAITING_FACTS]
            doc, ok = engine.apply_and_verify(d.backend, d.settings, specs)
            if d.metrics is not None:
                for check_id in doc["apply"]["checks"]:
                    d.metrics.applies.labels(check_id, "ok" if ok else "failed").inc()
            d.after_own_write(specs, "request: apply")
            return {"report": doc, "ok": ok}
        if method == "revert":
            restored, failures = engine.revert_all(d.backend, d.settings)
            d.after_own_write(d.specs, "request: revert")
            return {"reverted": restored, "failed": failures}
        if method == "release":
            key = params.get("key")
            if not valid_sysctl_key(key):
                raise ValueError("release takes a key such as net.ipv4.ip_local_port_range")
            known = {k for spec in d.specs for k in d.settings_of(spec)} | set(d.enforcer.contested) \
                | d.enforcer.backed_off
            if key not in known:
                raise ValueError(f"{key} is not a key netwarden's checks use: {', '.join(sorted(known))}")
            if not d.enforcer.holds_back(key):  # nothing to hand back: no event (any root user could fill history)
                return {"released": key, "was_held": False}
            d.release(key)
            d.check([s for s in d.specs if key in d.settings_of(s)], f"release {key}")  # enforce again now
            return {"released": key, "was_held": True}
        if method == "reload":
            error = d.reload()
            return {"reloaded": error is None, "error": error}
        raise ValueError(f"no such method: {method}")
