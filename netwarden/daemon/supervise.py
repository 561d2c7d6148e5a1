"""The daemon's threads, watched by its loop.

The control socket, the file watcher, the kernel watcher, the metrics server and the notifiers
each run on a thread of their own. If one ends, the daemon looks alive but is deaf or mute in
part: `status` hangs, drift goes unseen. So the loop asks `dead()` before each WATCHDOG=1 and,
when a thread has ended, stops feeding the watchdog and exits non-zero, for the service manager
to restart it. `dead()` costs a few `is_alive()` calls per loop turn: nothing at idle.

threading.excepthook logs how a thread died (at ERR, with the traceback) and wakes the loop at
once. Both are needed: the hook runs before the thread counts as ended, and a thread can also end
without an exception (a return, SystemExit), which only `is_alive()` sees.
"""

from __future__ import annotations

import threading
import traceback
from typing import Callable


class Supervisor:
    def __init__(self, log: Callable[[str], None], wake: Callable[[], None]) -> None:
        self.log, self.wake = log, wake
        self.threads: dict[str, tuple[threading.Thread, Callable[[], bool]]] = {}
        self.crashed: set[str] = set()  # watched threads the hook saw die
        self._previous_hook = None

    def install(self) -> None:
        self._previous_hook, threading.excepthook = threading.excepthook, self._excepthook

    def uninstall(self) -> None:
        if self._previous_hook is not None:
            threading.excepthook, self._previous_hook = self._previous_hook, None

    def watch(self, name: str, thread: threading.Thread | None, ended_on_purpose: Callable[[], bool] = lambda: False) -> None:
        """`name` says what stops working when the thread ends; `ended_on_purpose` lets a thread end
        without that being a failure (the kernel watcher on a host without netlink)."""
        if thread is not None:
            self.threads[name] = (thread, ended_on_purpose)

    def dead(self) -> list[str]:
        # is_alive() before ended_on_purpose(): a thread sets its reason, then ends, so reading
        # the other way round could see the old reason and the ended thread.
        return [name for name, (thread, on_purpose) in self.threads.items()
                if name in self.crashed or (not thread.is_alive() and not on_purpose())]

    def _excepthook(self, args) -> None:
        name = next((n for n, (t, _) in self.threads.items() if t is args.thread), None)
        who = f"the {name} thread" if name else f"thread {args.thread.name if args.thread else '?'}"
        text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
        self.log(f"{who} died (a bug; please report it): " + text.strip().replace("\n", " | "))
        if name is not None:
            self.crashed.add(name)
            self.wake()
