"""`netwarden daemon` on a replayed Mac or Windows host, as a process of its own (so that its signal
handlers and SIGTERM are real): tests/test_daemon_platforms.py starts it.

usage: python tests/daemon_host.py mac|windows DIR

DIR/before and DIR/after are support bundles of one host; the Source answers from `before` until
DIR/changed exists, then from `after` (a setting that moves between two polls). `clock.sleep`
really sleeps (the Mac's second TIME_WAIT sample past the TCP clock's wrap). Settings come from
the environment and config file, as for `netwarden daemon`.

The per-OS pieces are the host's own wherever they run on Linux, with the OS calls faked where
they do not:
- macOS (DarwinHost): the routing-socket watcher reads DIR/rtm.bin, RTM messages built from XNU's
  layouts, once DIR/changed exists, instead of socket(AF_ROUTE); the control socket's peer
  credentials are a struct xucred made from the Linux peer's SO_PEERCRED; files are polled
  (FSEvents is macOS's own).
- Windows (WindowsHost, unchanged): the polling observer, links and routes re-read through the
  backend (from the bundle), no control socket: status.json.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netwarden.config import load_settings  # noqa: E402
from netwarden.daemon.host.darwin import DarwinHost, RouteSocketWatcher  # noqa: E402
from netwarden.daemon.host.windows import WindowsHost  # noqa: E402
from netwarden.daemon.service import Daemon  # noqa: E402
from netwarden.platform.parse.darwin.peercred import LOCAL_PEERCRED, SOL_LOCAL, XUCRED_SIZE  # noqa: E402
from netwarden.platform.source import ReplaySource, Source  # noqa: E402


class SwitchingSource(Source):
    def __init__(self, directory: Path) -> None:
        self.before, self.after = ReplaySource(directory / "before"), ReplaySource(directory / "after")
        self.flag = directory / "changed"
        self.system = self.before.system

    def _now(self) -> ReplaySource:
        return self.after if self.flag.exists() else self.before

    def read(self, path):
        return self._now().read(path)

    def exists(self, path):
        return self._now().exists(path)

    def listdir(self, path):
        return self._now().listdir(path)

    def run(self, argv, timeout=10.0, codepage=None):
        return self._now().run(argv, timeout, codepage)

    def call(self, name, fn, *args):
        if name == "clock.sleep":
            time.sleep(*args)
            return None
        return self._now().call(name, fn, *args)


class RecordedRouteSocket:
    """socket(AF_ROUTE) as the watcher uses it: recv() gives DIR/rtm.bin once DIR/changed exists,
    then (or without DIR/rtm.bin) waits for ever, as a quiet routing socket does."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sent = False

    def recv(self, size: int) -> bytes:
        while self.sent or not (self.directory / "changed").exists():
            if self.sent or not (self.directory / "rtm.bin").exists():
                threading.Event().wait()
            time.sleep(0.05)
        self.sent = True
        return (self.directory / "rtm.bin").read_bytes()[:size]

    def __enter__(self):
        return self

    def __exit__(self, *_):
        pass


class XucredPeer:
    """A connected socket whose LOCAL_PEERCRED answer is the Linux peer's uid and gid as XNU lays
    out a struct xucred (version 0, uid, one group)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def getsockopt(self, level: int, name: int, size: int) -> bytes:
        assert (level, name, size) == (SOL_LOCAL, LOCAL_PEERCRED, XUCRED_SIZE), (level, name, size)
        _, uid, gid = struct.unpack("3i", self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        return struct.pack("=IIh2x16I", 0, uid, 1, gid, *[0] * 15)


class ReplayedMac(DarwinHost):
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def file_observer(self, settings):
        from watchdog.observers.polling import PollingObserver

        return PollingObserver(timeout=0.2)

    def kernel_watcher(self, put, log, settings, source):
        return RouteSocketWatcher(put, log, open_socket=lambda: RecordedRouteSocket(self.directory),
                                  name_of=lambda index: f"utun{index - 12}")

    def peer(self, sock):
        return super().peer(XucredPeer(sock))


def main() -> int:
    kind, directory = sys.argv[1], Path(sys.argv[2])
    host = ReplayedMac(directory) if kind == "mac" else WindowsHost()
    settings = load_settings()
    return Daemon(settings, str(directory / "netwarden.toml"), source=SwitchingSource(directory), host=host).run()


if __name__ == "__main__":
    sys.exit(main())
