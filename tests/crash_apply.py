"""Run an apply that dies (os._exit: no cleanup, no finally) right after its Nth step.

usage: crash_apply.py TMP PROC N   (steps: journal record / change, for each change in order)
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from factories import LINUX, settings_for  # noqa: E402

from netwarden import engine  # noqa: E402
from netwarden.journal import Journal  # noqa: E402
from netwarden.platform.linux import LinuxBackend  # noqa: E402
from netwarden.platform.source import Source  # noqa: E402

tmp, proc, crash_at = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
settings = settings_for(tmp, proc)
backend = LinuxBackend(Source(), settings, LINUX)
specs = engine.select_checks(settings, only=["ports.range"])
changes = engine.plan(engine.analyze(engine.collect(backend, specs), settings, specs), backend)
steps = 0


def crashing(fn):
    def wrapper(*args, **kwargs):
        global steps
        result = fn(*args, **kwargs)
        steps += 1
        if steps == crash_at:
            os._exit(9)
        return result
    return wrapper


journal = Journal(settings.state_dir)
journal.record = crashing(journal.record)
backend.apply = crashing(backend.apply)
engine.apply(backend, journal, changes)
print("completed", steps)
