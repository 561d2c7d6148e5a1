"""How long a healthy `netwarden probe` takes, against curl and a bare TCP connect + TLS handshake
to the same lab TLS server in the same run (root: network namespaces, tests/probe_lab.py).

Target (issue #14): a healthy probe finishes within max(1 s, 3 x the RTT-bound phases) plus the
idle times asked for; on a veth link the RTT-bound phases take well under a millisecond, so 1 s.

Rounds are interleaved (probe, curl, bare) so the machine's load moves all three alike; medians.

usage: python bench/probe.py [--rounds N]
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

ROUNDS = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 15
BARE = """
import socket, ssl, sys, time
ctx = ssl.create_default_context()
start = time.monotonic()
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as raw, \\
        ctx.wrap_socket(raw, server_hostname=sys.argv[3]):
    pass
print((time.monotonic() - start) * 1000)
"""


def timed(ns, argv, env) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    r = ns.run(*argv, env=env, check=False)
    return (time.monotonic() - start) * 1000, r


def main() -> None:
    import probe_lab as pl
    from lab import Netns, lab_unavailable

    reason = lab_unavailable() or pl.openssl_missing()
    if reason:
        sys.exit(f"bench/probe.py: {reason}")
    made = []

    def netns():
        made.append(Netns())
        return made[-1]

    try:
        certs = pl.make_certs(Path(tempfile.mkdtemp(prefix="nwbench-")))
        path = pl.direct(netns, certs)
        env = pl.trusting({k: v for k, v in os.environ.items() if not k.startswith("NETWARDEN_")}, certs)
        env["NETWARDEN_CONFIG"] = ""  # the defaults: no config file, no pydantic
        target = f"{pl.NAME}:{pl.PORT}"
        curl = shutil.which("curl")
        rows: dict[str, list[float]] = {"probe (process)": [], "probe (in-process elapsed_ms)": [],
                                        "bare TCP connect + TLS handshake (in-process)": []}
        if curl:
            rows["curl --http1.1 -so /dev/null (process)"] = []
        phases: dict[str, list[float]] = {}
        for _ in range(ROUNDS):
            wall, r = timed(path.client, [sys.executable, "-m", "netwarden", "probe", "--json", target], env)
            doc = json.loads(r.stdout)
            assert doc["status"] == "ok", doc
            rows["probe (process)"].append(wall)
            rows["probe (in-process elapsed_ms)"].append(doc["elapsed_ms"])
            for p in doc["phases"]:
                if p["ms"] is not None:
                    phases.setdefault(p["name"], []).append(p["ms"])
            if curl:
                wall, r = timed(path.client, [curl, "--http1.1", "-so", "/dev/null", "--cacert", str(certs["ca"]),
                                              f"https://{target}/"], env)
                assert r.returncode == 0, r.stderr
                rows["curl --http1.1 -so /dev/null (process)"].append(wall)
            _, r = timed(path.client, [sys.executable, "-c", BARE, path.address, str(pl.PORT), pl.NAME], env)
            rows["bare TCP connect + TLS handshake (in-process)"].append(float(r.stdout))
        print(f"{ROUNDS} interleaved rounds, medians (min-max):")
        for name, values in rows.items():
            print(f"  {name:48} {statistics.median(values):8.1f} ms  ({min(values):.1f}-{max(values):.1f})")
        print("per phase (the phases overlap: resolve's nameserver queries run on while later phases work):")
        for name, values in phases.items():
            print(f"  {name:48} {statistics.median(values):8.1f} ms")
        elapsed = statistics.median(rows["probe (in-process elapsed_ms)"])
        print(f"target: healthy probe <= 1,000 ms: {'met' if elapsed <= 1000 else 'MISSED'} ({elapsed:.0f} ms)")
    finally:
        for ns in made:
            ns.close()


if __name__ == "__main__":
    main()
