"""Run an apply that dies (os._exit: no cleanup, no finally) right after its Nth step.

usage: crash_apply.py TMP PROC N        (steps: journal record / change, for each change in order)
       crash_apply.py TMP PROC rename   (dies inside the drop-in's write: temp file written, not renamed)
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

tmp, proc = Path(sys.argv[1]), Path(sys.argv[2])
crash_at = 0 if sys.argv[3] == "rename" else int(sys.argv[3])
settings = settings_for(tmp, proc)
backend = LinuxBackend(Source(), settings, LINUX)
specs = engine.select_checks(settings, only=["ports.range"])
changes, _ = engine.plan(engine.analyze(engine.collect(backend, specs), settings, specs, backend), backend)
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


if sys.argv[3] == "rename":
    from netwarden import fsutil

    fsutil.os = type("os", (), {name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    real_rename = os.rename

    def rename(src, dst, **kwargs):
        if dst == settings.dropin_path.name:
            os._exit(9)
        return real_rename(src, dst, **kwargs)

    fsutil.os.rename = rename
journal = Journal(settings.state_dir)
journal.record = crashing(journal.record)
backend.apply = crashing(backend.apply)
engine.apply(backend, journal, changes)
print("completed", steps)
