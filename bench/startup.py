"""Start-up cost: `netwarden --version` and `netwarden check` against `python -c pass`.

Measured in a fresh, non-editable install (what users get: an editable install adds an import
finder to every interpreter start, the anchor's included). Runs are interleaved; medians printed.
Targets (issue #2): --version <= 1.5x, check <= 6x the anchor.

pip's generated launcher (`bin/netwarden`) runs `import re` before netwarden's first line; that
floor is shown on its own row. `python -m netwarden` and a packaged launcher do not pay it.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 40


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nw-bench-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([venv / "bin/pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
                       check=True, stderr=subprocess.DEVNULL)
        config = Path(tmp) / "netwarden.toml"
        config.write_text("[thresholds]\nports_range_warning = 16384\n")
        # PYTHONDONTWRITEBYTECODE (set on some CI machines) would recompile netwarden from source on
        # every run; an installed package has its bytecode, so measure that.
        env = {k: v for k, v in os.environ.items() if not k.startswith("NETWARDEN_") and k != "PYTHONDONTWRITEBYTECODE"}
        if Path("/etc/netwarden/netwarden.toml").exists():
            print("note: /etc/netwarden/netwarden.toml exists, so `check` below validates it")
        py, launcher = venv / "bin/python", venv / "bin/netwarden"
        cases = {
            "python -c pass (anchor)": ([py, "-c", "pass"], env),
            "python -m netwarden --version": ([py, "-m", "netwarden", "--version"], env),
            "python -m netwarden check": ([py, "-m", "netwarden", "check"], env),
            "python -c 'import re' (pip floor)": ([py, "-c", "import re"], env),
            "pip launcher --version": ([launcher, "--version"], env),
            "pip launcher check": ([launcher, "check"], env),
            "check with a config file": ([py, "-m", "netwarden", "check"], {**env, "NETWARDEN_CONFIG": str(config)}),
            # the .deb's /etc/netwarden/netwarden.toml: comments only, so no pydantic
            "check with the packaged config": ([py, "-m", "netwarden", "check"],
                                               {**env, "NETWARDEN_CONFIG": str(ROOT / "packaging/netwarden.toml")}),
            # the whole status path (imports, socket lookup) up to "no daemon": exit 3
            "netwarden status, no daemon": ([py, "-m", "netwarden", "status"],
                                            {**env, "NETWARDEN_SOCKET": str(Path(tmp) / "none.sock")}),
        }
        times = {name: [] for name in cases}
        for argv, run_env in cases.values():  # warm-up: writes bytecode, fills the page cache
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=run_env)
        for _ in range(RUNS):
            for name, (argv, run_env) in cases.items():
                start = time.perf_counter()
                subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=run_env)
                times[name].append(time.perf_counter() - start)
    anchor = statistics.median(times["python -c pass (anchor)"])
    targets = {"python -m netwarden --version": 1.5, "python -m netwarden check": 6.0,
               "pip launcher --version": 1.5, "pip launcher check": 6.0}
    print(f"{'command':36} {'median':>9} {'ratio':>7}  target")
    for name, samples in times.items():
        median = statistics.median(samples)
        target = targets.get(name)
        verdict = "" if target is None else f"<= {target}x {'met' if median / anchor <= target else 'MISSED'}"
        print(f"{name:36} {median * 1000:7.1f} ms {median / anchor:6.2f}x  {verdict}")


if __name__ == "__main__":
    main()
