"""The daemon on Linux: inotify, netlink, SO_PEERCRED, sd_notify.

- NetlinkWatcher (pyroute2): links (MTU, operstate) and main-table routes. pyroute2 0.9 wants the
  socket created and bound in the thread that reads it, so the thread does both.
- The control socket's peer: SO_PEERCRED (struct ucred: pid, uid, gid) and SO_PEERGROUPS (its
  supplementary groups), read at accept.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

from netwarden.daemon.host import Peer
from netwarden.daemon.watch import Trigger

SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)


class LinuxHost:
    system = "linux"
    kernel_source = "netlink"  # the trigger named in kernel-changed events
    control_socket = True

    def file_observer(self, settings):
        from watchdog.observers.inotify import InotifyObserver

        return InotifyObserver()

    def kernel_watcher(self, put, log, settings, source):
        return NetlinkWatcher(put, log)

    def peer(self, sock: socket.socket) -> Peer:
        _, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        groups = {gid}
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 4 * 256)
            groups.update(struct.unpack(f"{len(raw) // 4}I", raw[:len(raw) // 4 * 4]))
        except OSError:
            pass  # a kernel before 4.13: the primary group only
        return Peer(uid, tuple(sorted(groups)))

    def notifier(self, log):
        from netwarden.daemon.notify import SdNotify

        return SdNotify(log)


class NetlinkWatcher:
    """Kernel state that matters to connections: each link's MTU and operstate, the main-table routes."""

    def __init__(self, put, log) -> None:
        self.put = put
        self.log = log
        self.links: dict[str, dict] = {}
        self.routes: set[str] = set()
        self.ready = threading.Event()
        self.available = True  # False once it gave up: no netlink on this host (the daemon runs on without it)
        self.thread = threading.Thread(target=self._run, name="netwarden-netlink", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        """Listen; on any socket error (ENOBUFS when a burst overflows the receive buffer) open a
        new socket, dump links and routes again, and announce whatever changed in between."""
        first, pause = True, 0.1
        while True:
            try:
                self._listen(first)
                pause = 0.1
            except Exception as e:  # noqa: BLE001 - no netlink at all: the daemon runs on without it
                if first:
                    self.log(f"kernel watch unavailable: {e}")
                    self.available = False  # before the thread ends: the supervisor reads them in that order
                    self.ready.set()
                    return
                self.log(f"kernel watch: {e}; resynchronising")
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
            first = False

    def _listen(self, first: bool) -> None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.rtnl import RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE, RTMGRP_LINK

        with IPRoute() as ipr:  # created and bound here, in the reading thread
            ipr.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE)
            links = {m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
            for message in ipr.get_links():
                self._link(message, announce=not first)
            for name in set(self.links) - links:  # vanished while we were not listening
                before = self.links.pop(name)
                self.put(Trigger("kernel", f"link {name}", {"before": before, "after": None}))
            for message in ipr.get_routes(table=254):
                self._route(message, announce=not first)
            self.ready.set()
            while True:
                for message in ipr.get():
                    event = message.get("event", "")
                    if event in ("RTM_NEWLINK", "RTM_DELLINK"):
                        self._link(message, announce=True)
                    elif event in ("RTM_NEWROUTE", "RTM_DELROUTE"):
                        self._route(message, announce=True)

    def _link(self, message, announce: bool) -> None:
        name = message.get_attr("IFLA_IFNAME")
        if not name:
            return
        before = self.links.get(name)
        after = None if message.get("event") == "RTM_DELLINK" else {
            "mtu": message.get_attr("IFLA_MTU"), "state": message.get_attr("IFLA_OPERSTATE")}
        if before == after:
            return
        if after is None:
            self.links.pop(name, None)
        else:
            self.links[name] = after
        if announce:
            self.put(Trigger("kernel", f"link {name}", {"before": before, "after": after}))

    def _route(self, message, announce: bool) -> None:
        if message.get("table", 254) not in (254, None):
            return  # main-table routes only: local and policy tables are not what connections miss
        dst_len = message.get("dst_len")
        name = "default" if dst_len == 0 else f"{message.get_attr('RTA_DST')}/{dst_len}"
        route = f"{name} via {message.get_attr('RTA_GATEWAY') or '-'} oif {message.get_attr('RTA_OIF')}"
        present = message.get("event") != "RTM_DELROUTE"
        if (route in self.routes) == present:
            return
        (self.routes.add if present else self.routes.discard)(route)
        if announce:
            self.put(Trigger("kernel", "default route" if dst_len == 0 else f"route {name}",
                             {"before": None if present else {"route": route},
                              "after": {"route": route} if present else None}))
