"""The daemon on Windows, under Task Scheduler: polling for files and for links and routes, no
control socket, no service-manager messages.

- Files: watchdog's polling observer, every poll_interval (the daemon polls netsh and the
  registry on that timer anyway; Windows keeps none of the settings netwarden reads in files, so
  this watches only the config file and `watch_files`).
- Links and routes: PolledKernel re-reads them through the backend (`netsh interface ipv4 show
  subinterfaces`, `ipconfig /all`, `route print`) every census_interval on its own thread, and
  announces what changed as the same Triggers netlink gives on Linux. Windows has change
  notifications (NotifyRouteChange2, NotifyIpInterfaceChange) but only through the IP Helper API
  by ctypes callbacks; these are the commands the checks read anyway, three process starts every
  census_interval (30 s by default).
- Status: CPython has no AF_UNIX on Windows, so there is no control socket; the daemon writes
  <state_dir>/status.json (statusfile.py) and `netwarden status` reads it.
"""

from __future__ import annotations

import threading

from netwarden.daemon.host import NoNotifier
from netwarden.daemon.watch import Trigger


class WindowsHost:
    system = "win32"
    kernel_source = "kernel poll"  # the trigger named in kernel-changed events
    control_socket = False

    def file_observer(self, settings):
        from watchdog.observers.polling import PollingObserver

        return PollingObserver(timeout=settings.poll_interval)

    def kernel_watcher(self, put, log, settings, source):
        def read():
            from netwarden.platform.detect import backend_for

            backend = backend_for(source, settings)  # its own: the loop's is used by the loop only
            return lambda: kernel_state(backend.collect({"links", "routes"}))

        return PolledKernel(put, log, read, settings.census_interval)

    def peer(self, sock):
        return None  # no control socket

    def notifier(self, log):
        return NoNotifier()


def kernel_state(facts) -> dict[str, dict | None]:
    """{"links": {key: (trigger detail, state)}, "routes": {...}}; a table that could not be read is
    None (an unreadable `route print` is not every route gone)."""
    from netwarden.model import Unknown

    def readable(value) -> bool:
        return value is not None and not isinstance(value, Unknown)

    links = {f"link {link.name}": (f"link {link.name}", {"mtu": link.mtu, "up": link.up, "carrier": link.carrier})
             for link in facts.links} if readable(facts.links) else None
    routes = None
    if readable(facts.routes):
        routes = {}
        for r in facts.routes:
            route = f"{r.dst} via {r.gateway or '-'} dev {r.dev}"
            routes[f"route {route}"] = ("default route" if r.dst == "default" else f"route {r.dst}", {"route": route})
    return {"links": links, "routes": routes}


class PolledKernel:
    """Reads the kernel's state every `interval` seconds with `read` (made on this thread by
    `make_reader`) and puts a Trigger for each link or route that appeared, changed or went."""

    def __init__(self, put, log, make_reader, interval: float) -> None:
        self.put, self.log, self._make_reader, self.interval = put, log, make_reader, interval
        self.known: dict[str, dict | None] = {"links": None, "routes": None}
        self.ready = threading.Event()
        self.available = True
        self.stopping = threading.Event()  # for tests; the daemon's threads end with the process
        self.thread = threading.Thread(target=self._run, name="netwarden-kernel-poll", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        read = self._make_reader()
        while not self.stopping.is_set():
            self._compare(read())
            self.ready.set()
            self.stopping.wait(self.interval)

    def _compare(self, now: dict[str, dict | None]) -> None:
        for part, table in now.items():
            before = self.known.get(part)
            if table is None:
                continue  # not read this time: what was known stays
            self.known[part] = table
            if before is None:
                continue  # the first reading is the baseline, as netlink's first dump is
            for key in sorted(set(before) | set(table)):
                old, new = before.get(key), table.get(key)
                if old != new:
                    self.put(Trigger("kernel", (new or old)[0], {"before": old and old[1], "after": new and new[1]}))
