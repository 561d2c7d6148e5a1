"""Per-destination census at >= 20,000 TIME_WAIT sockets: netwarden's sock_diag reader against
`ss -tan state time-wait` and psutil.net_connections, interleaved in the same run, in a network
namespace (needs root). Target (issue #2): census <= 1.0x ss.

usage: python bench/census.py            (builds the lab, fills it, measures, cleans up)
"""

import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

PORTS = (8081, 8082, 8083, 8084)
PER_PORT = 5500  # 22,000 TIME_WAIT sockets, all inside the default ephemeral range
ROUNDS = 15


def measure() -> dict:
    """Runs inside the client namespace."""
    import psutil

    from netwarden.platform.sockdiag import census

    def ours():
        return census(32768, 60999)["time_wait"]

    def ss():
        out = subprocess.run(["ss", "-tan", "state", "time-wait"], capture_output=True, text=True).stdout
        return out.count("\n") - 1

    def ps():
        return sum(1 for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_TIME_WAIT)

    tools = {"netwarden census": ours, "ss -tan state time-wait": ss, "psutil.net_connections": ps}
    times = {name: [] for name in tools}
    counts = {}
    for _ in range(ROUNDS):
        for name, fn in tools.items():
            start = time.perf_counter()
            counts[name] = fn()
            times[name].append(time.perf_counter() - start)
    tracemalloc.start()
    census(32768, 60999)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"times": {k: statistics.median(v) for k, v in times.items()}, "counts": counts, "census_peak": peak}


def main() -> None:
    from lab import Netns, lab_unavailable, link

    reason = lab_unavailable()
    if reason:
        sys.exit(f"bench/census.py: {reason}")
    client, server = Netns(), Netns()
    try:
        link(client, "198.18.0.1/24", server, "198.18.0.2/24")
        client.sysctl("net.ipv4.tcp_max_tw_buckets", "262144")
        for port in PORTS:
            server.serve(port)
        start = time.perf_counter()
        for port in PORTS:
            made = client.connect("198.18.0.2", port, PER_PORT)
            assert made["ok"] == PER_PORT, made
        print(f"made {len(PORTS) * PER_PORT} connections in {time.perf_counter() - start:.1f} s")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        result = json.loads(client.run(sys.executable, __file__, "--inner", env=env).stdout)
    finally:
        client.close()
        server.close()
    anchor = result["times"]["ss -tan state time-wait"]
    print(f"{'reader':26} {'median':>10} {'vs ss':>7} {'TIME_WAIT seen':>15}")
    for name, seconds in result["times"].items():
        print(f"{name:26} {seconds * 1000:7.1f} ms {seconds / anchor:6.2f}x {result['counts'][name]:15}")
    ratio = result["times"]["netwarden census"] / anchor
    print(f"census peak Python memory: {result['census_peak'] / 1024:.0f} KiB; "
          f"target <= 1.0x ss: {'met' if ratio <= 1.0 else 'MISSED'} ({ratio:.2f}x)")


if __name__ == "__main__":
    if sys.argv[1:] == ["--inner"]:
        print(json.dumps(measure()))
    else:
        main()
