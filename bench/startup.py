"""Start-up cost: `netwarden --version` and `netwarden check` against `python -c pass`.

Measured in a fresh, non-editable install (what users get: an editable install adds an import
finder to every interpreter start, the anchor's included). Runs are interleaved; medians printed.
Targets (issues #2, #12): --version <= 1.5x, check <= 6x the anchor, with or without a config
file (after its first run, which validates it with pydantic-settings and remembers the result:
config_cache.py). A config naming targets adds their probes (here towards the loopback only).

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


def loopback_dns() -> bool:
    """A DNS responder on 127.0.0.1:53 answering every query at once (NOERROR, no records), in a
    thread of this process; False when the port cannot be had (not root, or taken)."""
    import socket
    import threading

    import dns.message

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 53))
    except OSError as e:
        print(f"note: no DNS responder on 127.0.0.1:53 ({e.strerror}): the row with targets is left out")
        return False

    def serve():
        while True:
            data, peer = sock.recvfrom(4096)
            try:
                sock.sendto(dns.message.make_response(dns.message.from_wire(data)).to_wire(), peer)
            except Exception:  # noqa: BLE001 - a query it cannot read: no answer
                pass

    threading.Thread(target=serve, daemon=True).start()
    return True


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nw-bench-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([venv / "bin/pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
                       check=True, stderr=subprocess.DEVNULL)
        config = Path(tmp) / "netwarden.toml"
        config.write_text("[thresholds]\nports_range_warning = 16384\n")
        # A real user's config names targets, so `check` probes them: here the loopback (a closed
        # port: refused at once) and a resolv.conf whose nameserver is the loopback too, answered
        # by a DNS responder of this benchmark's, so the probes leave this machine for nowhere.
        dns = loopback_dns()
        (Path(tmp) / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        with_targets = Path(tmp) / "targets.toml"
        with_targets.write_text(f'targets = ["127.0.0.1:9"]\nprobe_timeout = 1\nresolv_conf = "{tmp}/resolv.conf"\n'
                                "[thresholds]\nports_range_warning = 16384\n")
        cache = {"XDG_CACHE_HOME": str(Path(tmp) / "cache")}  # validated settings are remembered here
        (Path(tmp) / "a-file").write_text("")  # a cache directory that cannot be made: nothing remembered
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
            "check with a config file": ([py, "-m", "netwarden", "check"],
                                         {**env, **cache, "NETWARDEN_CONFIG": str(config)}),
            **({"check with a config naming targets": ([py, "-m", "netwarden", "check"],
                                                     {**env, **cache, "NETWARDEN_CONFIG": str(with_targets)})}
               if dns else {}),
            "check, config validated (no cache)": ([py, "-m", "netwarden", "check"],
                                                   {**env, "XDG_CACHE_HOME": str(Path(tmp) / "a-file" / "cache"),
                                                    "NETWARDEN_CONFIG": str(config)}),
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
               "pip launcher --version": 1.5, "pip launcher check": 6.0, "check with a config file": 6.0}
    print(f"{'command':36} {'median':>9} {'ratio':>7}  target")
    for name, samples in times.items():
        median = statistics.median(samples)
        target = targets.get(name)
        verdict = "" if target is None else f"<= {target}x {'met' if median / anchor <= target else 'MISSED'}"
        print(f"{name:36} {median * 1000:7.1f} ms {median / anchor:6.2f}x  {verdict}")


if __name__ == "__main__":
    main()
