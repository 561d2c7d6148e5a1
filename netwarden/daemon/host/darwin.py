"""The daemon on macOS: FSEvents, the routing socket, LOCAL_PEERCRED, and launchd (which needs no
readiness or watchdog messages: KeepAlive restarts a daemon that exits non-zero).

- RouteSocketWatcher reads socket(AF_ROUTE, SOCK_RAW, 0) in a thread: every routing message the
  kernel sends (one per recv), parsed by platform/parse/darwin/route_socket.py into the same
  Triggers netlink gives on Linux: `link NAME` for RTM_IFINFO (flags, MTU), `default route` /
  `route DST` for RTM_ADD / RTM_DELETE / RTM_CHANGE. Left out: lookups (RTM_GET: `route -n get`,
  run by the checks themselves, is broadcast to every routing socket), failed requests (errno
  set), ARP/ND entries (RTF_LLINFO) and the per-destination host routes XNU clones for every peer
  a connection goes to (RTF_WASCLONED): they churn with traffic, not with configuration.
- RouteMonitorWatcher: where this Python has no socket.AF_ROUTE, `/sbin/route -n monitor` (the
  same messages, printed; route_monitor.py reads the first line of each).
- The control socket's peer: getsockopt(SOL_LOCAL, LOCAL_PEERCRED) fills a struct xucred (uid and
  up to 16 groups), parsed by platform/parse/darwin/peercred.py; unreadable credentials are none.
"""

from __future__ import annotations

import errno
import socket
import threading
import time

from netwarden.daemon.host import NoNotifier, Peer
from netwarden.daemon.watch import Trigger

RTM_ADD, RTM_DELETE, RTM_CHANGE, RTM_IFINFO = 0x1, 0x2, 0x3, 0xE
RTF_HOST, RTF_LLINFO, RTF_WASCLONED = 0x4, 0x400, 0x20000  # bsd/net/route.h
CHURN = RTF_LLINFO | RTF_WASCLONED
RECEIVE_BUFFER = 1 << 18  # a burst (a VPN connecting) is a few hundred messages of < 300 bytes
ROUTE = "/sbin/route"


class DarwinHost:
    system = "darwin"
    kernel_source = "routing socket"  # the trigger named in kernel-changed events
    control_socket = True

    def file_observer(self, settings):
        try:  # watchdog's C extension (in its macOS wheels); a build without it polls
            from watchdog.observers.fsevents import FSEventsObserver
        except ImportError:
            from watchdog.observers.polling import PollingObserver

            return PollingObserver(timeout=settings.poll_interval)
        return FSEventsObserver()

    def kernel_watcher(self, put, log, settings, source):
        if hasattr(socket, "AF_ROUTE"):
            return RouteSocketWatcher(put, log)
        return RouteMonitorWatcher(put, log)

    def peer(self, sock: socket.socket) -> Peer | None:
        from netwarden.platform.parse.darwin.peercred import LOCAL_PEERCRED, SOL_LOCAL, XUCRED_SIZE, parse_xucred

        cred = parse_xucred(sock.getsockopt(SOL_LOCAL, LOCAL_PEERCRED, XUCRED_SIZE))
        return None if cred is None else Peer(cred.uid, cred.groups)

    def notifier(self, log):
        return NoNotifier()


def open_route_socket() -> socket.socket:
    sock = socket.socket(socket.AF_ROUTE, socket.SOCK_RAW, 0)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    except OSError:
        pass  # the default buffer: an overflow is then resynchronised by a re-check
    return sock


def prefix_length(mask: str) -> int | None:
    """255.255.255.0 -> 24, ffff:ffff:ffff:ffff:: -> 64; None for what is not a mask."""
    try:
        raw = socket.inet_pton(socket.AF_INET6 if ":" in mask else socket.AF_INET, mask)
    except (OSError, ValueError):
        return None
    return sum(bin(byte).count("1") for byte in raw)


class _Links:
    """What the watchers know of each interface, to announce changes only (XNU sends RTM_IFINFO
    for a flag that did not move, too)."""

    def __init__(self, put, name_of) -> None:
        self.put, self.name_of, self.known = put, name_of, {}

    def name(self, index: int | None, given: str | None = None) -> str:
        if given:
            return given
        try:
            return self.name_of(index)
        except (OSError, TypeError, ValueError, OverflowError):
            return f"if#{index}"

    def update(self, name: str, after: dict) -> None:
        before = self.known.get(name)
        if before != after:
            self.known[name] = after
            self.put(Trigger("kernel", f"link {name}", {"before": before, "after": after}))


class _Watcher:
    """What both macOS watchers share: the links they know, readiness, their thread, giving up
    when their source cannot be opened (the daemon then runs on without kernel watch)."""

    thread_name = ""

    def __init__(self, put, log, name_of) -> None:
        self.put, self.log = put, log
        self.links = _Links(put, name_of)
        self.ready = threading.Event()
        self.available = True
        self.thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            source = self._open()
        except OSError as e:
            self.log(f"kernel watch unavailable: {self._unavailable(e)}")
            self.available = False  # before the thread ends: the supervisor reads them in that order
            self.ready.set()
            return
        self.ready.set()
        self._read(source)


class RouteSocketWatcher(_Watcher):
    """Route and interface changes from the routing socket, as Triggers (see the module's doc)."""

    thread_name = "netwarden-route-socket"

    def __init__(self, put, log, open_socket=open_route_socket, name_of=socket.if_indextoname) -> None:
        self._open = open_socket
        self.routes: set[str] = set()
        super().__init__(put, log, name_of)

    @staticmethod
    def _unavailable(e: OSError) -> str:
        return str(e)

    def _read(self, sock) -> None:
        from netwarden.platform.parse.darwin.route_socket import parse_route_messages

        with sock:
            while True:
                try:
                    data = sock.recv(65536)
                except InterruptedError:
                    continue
                except OSError as e:
                    if e.errno != errno.ENOBUFS:
                        raise  # the thread ends; the daemon exits for launchd to restart it
                    self.log("routing socket: messages were lost (ENOBUFS); re-checking")
                    self.put(Trigger("kernel", "routing socket", {"before": None,
                                                                  "after": {"lost": "messages (ENOBUFS)"}}))
                    continue
                if not data:
                    raise EOFError("the routing socket was closed")
                for message in parse_route_messages(data).messages:
                    self._message(message)

    def _message(self, m) -> None:
        from netwarden.platform.parse.darwin.route_socket import IFF_RUNNING, IFF_UP

        if m.type == RTM_IFINFO and m.index is not None:
            self.links.update(self.links.name(m.index, m.interface),
                              {"mtu": m.mtu, "up": bool(m.flags & IFF_UP), "running": bool(m.flags & IFF_RUNNING)})
        elif m.type in (RTM_ADD, RTM_DELETE, RTM_CHANGE) and not m.errno and not m.flags & CHURN and "dst" in m.addrs:
            self._route(m)

    def _route(self, m) -> None:
        dst, mask = m.addrs["dst"], m.addrs.get("netmask")
        length = None if m.flags & RTF_HOST or mask is None else prefix_length(mask)
        default = length == 0 and dst.split("%")[0] in ("0.0.0.0", "::")
        name = "default" if default else f"{dst}/{length}" if length is not None else dst
        device = m.interface or (self.links.name(m.index) if m.index else "-")
        route = f"{name} via {m.addrs.get('gateway') or '-'} dev {device}"
        present = m.type != RTM_DELETE
        if (route in self.routes) == present:
            return
        (self.routes.add if present else self.routes.discard)(route)
        self.put(Trigger("kernel", "default route" if default else f"route {name}",
                         {"before": None if present else {"route": route}, "after": {"route": route} if present else None}))


class RouteMonitorWatcher(_Watcher):
    """`route -n monitor` read line by line: a route message that is not churn becomes a Trigger
    (the addresses are on later lines; the re-check reads the routes themselves), RTM_IFINFO a
    link's flags. If the command ends, so does the thread: the daemon exits for launchd to
    restart it."""

    thread_name = "netwarden-route-monitor"

    def __init__(self, put, log, popen=None, name_of=socket.if_indextoname) -> None:
        import subprocess

        self._open = popen or (lambda: subprocess.Popen([ROUTE, "-n", "monitor"], stdout=subprocess.PIPE,
                                                        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                                        text=True, errors="replace"))
        super().__init__(put, log, name_of)

    @staticmethod
    def _unavailable(e: OSError) -> str:
        return f"{ROUTE} -n monitor: {e.strerror or e}"

    def _read(self, proc) -> None:
        from netwarden.platform.parse.darwin.route_monitor import parse_monitor_line

        started = time.monotonic()
        for line in proc.stdout:
            message = parse_monitor_line(line)
            if message is None or message.errno:
                continue
            if message.type == "RTM_IFINFO" and message.index is not None:
                self.links.update(self.links.name(message.index), {"flags": ",".join(message.flags)})
            elif message.type in ("RTM_ADD", "RTM_DELETE", "RTM_CHANGE") and not {"LLINFO", "WASCLONED"} & set(
                    message.flags):
                self.put(Trigger("kernel", f"route ({message.type})", {"before": None, "after": {
                    "message": line.strip()[:200]}}))
        code = proc.wait()
        raise EOFError(f"{ROUTE} -n monitor ended (exit {code}) after {time.monotonic() - started:.0f} s")
