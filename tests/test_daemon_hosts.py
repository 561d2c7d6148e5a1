"""The daemon's per-OS pieces (netwarden/daemon/host/), each run here on Linux: the macOS and Windows
ones with their OS calls faked (a socket that returns RTM messages built with struct.pack from XNU's
layouts, an xucred buffer, a `route -n monitor` whose output is constructed from route.c's format,
a kernel table read from a replayed Windows bundle), the Linux ones for real."""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
import time
import types

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_parse_darwin_bytes import (RTA_DST, RTA_GATEWAY, RTA_IFP, RTA_NETMASK, addresses, if_msg, rt_msg, sdl, sin,
                                     sin6, trimmed_mask, xucred)

from netwarden.daemon.host import NoNotifier, Peer, host_for
from netwarden.daemon.host.darwin import DarwinHost, RouteMonitorWatcher, RouteSocketWatcher, prefix_length
from netwarden.daemon.host.linux import LinuxHost
from netwarden.daemon.host.windows import PolledKernel, WindowsHost, kernel_state
from netwarden.daemon.watch import FileWatcher, Trigger
from netwarden.platform.parse.darwin.route_monitor import MonitorLine, parse_monitor_line

RTF_UP, RTF_GATEWAY, RTF_HOST, RTF_STATIC, RTF_LLINFO, RTF_WASCLONED = 0x1, 0x2, 0x4, 0x800, 0x400, 0x20000
IFF_UP, IFF_RUNNING = 0x1, 0x40


def collect(put_into: list, count: int, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while len(put_into) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return put_into


class FakeRouteSocket:
    """recv() returns each buffer in turn (an OSError instance is raised), then waits for ever."""

    def __init__(self, buffers) -> None:
        self.buffers = list(buffers)

    def recv(self, size):
        if not self.buffers:
            threading.Event().wait()
        item = self.buffers.pop(0)
        if isinstance(item, OSError):
            raise item
        return item

    def __enter__(self):
        return self

    def __exit__(self, *_):
        pass


def watch_socket(buffers, count):
    triggers, logged = [], []
    watcher = RouteSocketWatcher(triggers.append, logged.append, open_socket=lambda: FakeRouteSocket(buffers),
                                 name_of=lambda index: {4: "en0", 20: "utun3"}[index])
    assert watcher.ready.wait(2) and watcher.available
    return collect(triggers, count), logged


def route(mtype, dst, gateway, dev_index, dev, flags=RTF_UP | RTF_STATIC, mask=b"", errno_=0):
    body = addresses(sin(dst), gateway, mask, sdl(dev_index, dev))
    return rt_msg(mtype, RTA_DST | RTA_GATEWAY | RTA_NETMASK | RTA_IFP, body, index=dev_index, flags=flags,
                  errno=errno_)


def test_routing_socket_messages_become_the_same_triggers_as_netlink():
    default_add = route(0x1, "0.0.0.0", sin("192.168.1.1"), 4, "en0", RTF_UP | RTF_GATEWAY | RTF_STATIC)
    vpn_subnet = route(0x1, "10.8.0.0", sdl(20, "utun3"), 20, "utun3", mask=trimmed_mask(b"\xff\xff", 4))
    churn = [route(0x1, "17.253.144.10", sin("192.168.1.1"), 4, "en0", RTF_UP | RTF_GATEWAY | RTF_HOST | RTF_WASCLONED),
             route(0x1, "192.168.1.7", sdl(4, "", b"\x00\x90\xa9\xed\xe4\x35"), 4, "en0",
                   RTF_UP | RTF_HOST | RTF_LLINFO),
             route(0x4, "0.0.0.0", sin("192.168.1.1"), 4, "en0"),  # RTM_GET: someone's `route -n get`
             route(0x1, "10.9.0.0", sin("10.8.0.1"), 20, "utun3", errno_=errno.EEXIST)]  # a failed add
    utun_up = if_msg(20, IFF_UP | IFF_RUNNING, 1380, b"", addrs=0)  # XNU's RTM_IFINFO carries no name
    utun_down = if_msg(20, 0, 1380, b"", addrs=0)
    default_gone = route(0x2, "0.0.0.0", sin("192.168.1.1"), 4, "en0", RTF_UP | RTF_GATEWAY | RTF_STATIC)
    buffers = [default_add, *churn, vpn_subnet, utun_up, utun_up, utun_down, default_gone + default_gone]
    triggers, logged = watch_socket(buffers, 5)
    assert [(t.kind, t.detail) for t in triggers] == [
        ("kernel", "default route"), ("kernel", "route 10.8.0.0/16"), ("kernel", "link utun3"),
        ("kernel", "link utun3"), ("kernel", "default route")]
    assert triggers[0].data == {"before": None, "after": {"route": "default via 192.168.1.1 dev en0"}}
    assert triggers[1].data["after"] == {"route": "10.8.0.0/16 via utun3 dev utun3"}
    assert triggers[2].data == {"before": None, "after": {"mtu": 1380, "up": True, "running": True}}
    assert triggers[3].data["after"] == {"mtu": 1380, "up": False, "running": False}  # the repeat said nothing
    assert triggers[4].data == {"before": {"route": "default via 192.168.1.1 dev en0"}, "after": None}
    assert logged == []


def test_an_ipv6_default_route_and_a_host_route_are_named_like_linux_s():
    v6 = addresses(sin6("::"), sin6("fe80::1", embedded_scope=4), trimmed_mask(b"", 8), sdl(4, "en0"))
    host = addresses(sin("203.0.113.5"), sin("192.168.1.1"), sdl(4, "en0"))
    buffers = [rt_msg(0x1, RTA_DST | RTA_GATEWAY | RTA_NETMASK | RTA_IFP, v6, index=4, flags=RTF_UP | RTF_GATEWAY),
               rt_msg(0x1, RTA_DST | RTA_GATEWAY | RTA_IFP, host, index=4, flags=RTF_UP | RTF_GATEWAY | RTF_HOST)]
    triggers, _ = watch_socket(buffers, 2)
    assert [t.detail for t in triggers] == ["default route", "route 203.0.113.5"]
    assert triggers[0].data["after"] == {"route": "default via fe80::1%4 dev en0"}


def test_a_routing_socket_overflow_asks_for_a_re_check_and_garbage_is_no_trigger():
    triggers, logged = watch_socket([OSError(errno.ENOBUFS, "No buffer space available"), b"\x05\x00garbage",
                                     if_msg(4, IFF_UP, 1500, b"", addrs=0)], 2)
    assert [t.detail for t in triggers] == ["routing socket", "link en0"]
    assert logged == ["routing socket: messages were lost (ENOBUFS); re-checking"]


@pytest.mark.parametrize("watcher, opener, expected", [
    (RouteSocketWatcher, "open_socket", "[Errno 97] Address family not supported by protocol"),
    (RouteMonitorWatcher, "popen", "/sbin/route -n monitor: Address family not supported by protocol")])
def test_a_mac_without_its_kernel_source_says_so_and_the_watcher_ends_on_purpose(watcher, opener, expected):
    logged = []

    def refuse():
        raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")

    made = watcher(lambda t: None, logged.append, **{opener: refuse})
    made.thread.join(2)
    assert not made.thread.is_alive() and not made.available and made.ready.is_set()
    assert logged == [f"kernel watch unavailable: {expected}"]


def test_prefix_lengths():
    assert [prefix_length(m) for m in ("0.0.0.0", "255.255.255.0", "255.255.240.0", "ffff:ffff:ffff:ffff::", "::",
                                       "not a mask", "")] == [0, 24, 20, 64, 0, None, None]


# `route -n monitor`, CONSTRUCTED from route.c's print_rtmsg (no capture exists): per message a
# "got message" line, the message's line (msgtypes[type], len, pid/seq/errno or if#, flags by
# name), then locks, sockaddrs and the addresses.
MONITOR = """
got message of size 140 on Mon Jun 22 14:35:01 2020
RTM_ADD: Add Route: len 140, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY,DONE,STATIC,PRCLONING>
locks:  inits:
sockaddrs: <DST,GATEWAY,NETMASK>
 default 10.8.0.1 default

got message of size 168 on Mon Jun 22 14:35:01 2020
RTM_ADD: Add Route: len 168, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY,HOST,DONE,WASCLONED,IFSCOPE,IFREF>
locks:  inits:
sockaddrs: <DST,GATEWAY,IFP,IFA>
 17.253.144.10 192.168.1.1 en0:0.90.a9.ed.e4.35 192.168.1.72

got message of size 140 on Mon Jun 22 14:35:02 2020
RTM_ADD: Add Route: len 140, pid: 4711, seq 1, errno 17, flags:<UP,GATEWAY,DONE,STATIC>
locks:  inits:
sockaddrs: <DST,GATEWAY,NETMASK>
 10.9.0.0 10.8.0.1 255.255.0.0

got message of size 112 on Mon Jun 22 14:35:03 2020
RTM_IFINFO: iface status change: len 112, if# 20, flags:<UP,POINTOPOINT,RUNNING,MULTICAST>

got message of size 112 on Mon Jun 22 14:35:04 2020
RTM_IFINFO: iface status change: len 112, if# 20, flags:<POINTOPOINT,MULTICAST>

got message of size 92 on Mon Jun 22 14:35:05 2020
RTM_DELETE: Delete Route: len 92, pid: 0, seq 0, errno 0, flags:<GATEWAY,DONE,STATIC>
"""


def test_route_monitor_lines_become_triggers_and_its_end_ends_the_thread(monkeypatch):
    import io

    ended = []
    monkeypatch.setattr(threading, "excepthook", lambda args: ended.append(args.exc_value))
    process = types.SimpleNamespace(stdout=io.StringIO(MONITOR), wait=lambda: 1)
    triggers, logged = [], []
    watcher = RouteMonitorWatcher(triggers.append, logged.append, popen=lambda: process,
                                  name_of=lambda index: f"utun{index - 17}")
    watcher.thread.join(5)
    assert [(t.detail, t.data["after"]) for t in triggers] == [
        ("route (RTM_ADD)", {"message": MONITOR.splitlines()[2]}),
        ("link utun3", {"flags": "UP,POINTOPOINT,RUNNING,MULTICAST"}),
        ("link utun3", {"flags": "POINTOPOINT,MULTICAST"}),
        ("route (RTM_DELETE)", {"message": MONITOR.splitlines()[-1]})]
    assert [str(e) for e in ended][0].startswith("/sbin/route -n monitor ended (exit 1)")  # the daemon exits 70


def test_route_monitor_line_parser():
    assert parse_monitor_line("RTM_ADD: Add Route: len 140, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY>") == \
        MonitorLine("RTM_ADD", ("UP", "GATEWAY"), 0, None)
    assert parse_monitor_line("RTM_IFINFO: iface status change: len 112, if# 20, flags:<>") == \
        MonitorLine("RTM_IFINFO", (), 0, 20)
    assert parse_monitor_line("RTM_ADD: Add Route: len 140, pid: 1, seq 2, errno 17, flags:<UP") == \
        MonitorLine("RTM_ADD", (), 17, None)  # a cut line: no flags read, the errno kept
    for other in ("", "got message of size 140 on Mon Jun 22", " default 10.8.0.1 default", "locks:  inits:",
                  "rtm_add: lower case", "RTM_" + "X" * 40 + ":", "\x00\x01", "RTM_ADD", None, b"RTM_ADD: x", 42):
        assert parse_monitor_line(other) is None, other


@given(st.text(max_size=300))
def test_route_monitor_line_parser_never_raises(text):
    result = parse_monitor_line(text)
    assert result is None or isinstance(result, MonitorLine)


class FakeCredentialSocket:
    def __init__(self, answer) -> None:
        self.answer, self.asked = answer, []

    def getsockopt(self, *args):
        self.asked.append(args)
        if isinstance(self.answer, OSError):
            raise self.answer
        return self.answer


def test_macos_peer_credentials_come_from_local_peercred_as_an_xucred():
    sock = FakeCredentialSocket(xucred(uid=501, groups=(20, 12, 61)))
    assert DarwinHost().peer(sock) == Peer(501, (20, 12, 61))
    assert sock.asked == [(0, 1, 76)]  # SOL_LOCAL, LOCAL_PEERCRED, sizeof(struct xucred)
    assert DarwinHost().peer(FakeCredentialSocket(xucred(uid=0, groups=(0,)))) == Peer(0, (0,))
    for unreadable in (xucred(version=1), xucred()[:40], b""):
        assert DarwinHost().peer(FakeCredentialSocket(unreadable)) is None


def test_a_peer_whose_credentials_cannot_be_read_is_refused(tmp_path):
    from factories import settings_for

    from netwarden.daemon.control import ControlServer

    settings = settings_for(tmp_path, socket_path=tmp_path / "nw.sock", socket_group=None)
    server = ControlServer(settings, types.SimpleNamespace(), print, lambda sock: None)
    server.open()
    server.start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(str(tmp_path / "nw.sock"))
            try:  # the refusal is sent on connect, and the socket closed: a late request may meet EPIPE
                client.sendall(b'{"jsonrpc":"2.0","method":"version","id":1}\n')
            except BrokenPipeError:
                pass
            answer = client.recv(4096)
    finally:
        server.stop()
    assert b"permission denied: the peer's credentials cannot be read" in answer and b"-32001" in answer


def test_linux_peer_credentials_name_the_uid_and_every_group():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        peer = LinuxHost().peer(a)
    assert peer.uid == os.getuid() and os.getgid() in peer.groups
    assert set(os.getgroups()) <= set(peer.groups)


def test_each_os_gets_its_own_host_and_the_mac_and_windows_need_no_service_manager(monkeypatch):
    assert [type(host_for(s)).__name__ for s in ("linux", "darwin", "win32")] == ["LinuxHost", "DarwinHost",
                                                                                  "WindowsHost"]
    assert (LinuxHost.control_socket, DarwinHost.control_socket, WindowsHost.control_socket) == (True, True, False)
    for notifier in (DarwinHost().notifier(None), WindowsHost().notifier(None)):
        assert isinstance(notifier, NoNotifier) and notifier.watchdog_interval() is None
        notifier.send("READY=1")
        notifier.reloading()
    # FSEvents is macOS's (its C extension does not build here): the host asks watchdog for it
    fsevents = types.ModuleType("watchdog.observers.fsevents")
    fsevents.FSEventsObserver = type("FSEventsObserver", (), {})
    monkeypatch.setitem(sys.modules, "watchdog.observers.fsevents", fsevents)
    assert type(DarwinHost().file_observer(None)).__name__ == "FSEventsObserver"
    monkeypatch.setitem(sys.modules, "watchdog.observers.fsevents", None)  # a watchdog built without it
    polled = DarwinHost().file_observer(types.SimpleNamespace(poll_interval=5.0))
    assert type(polled).__name__ == "PollingObserver" and polled.timeout == 5.0
    from watchdog.observers.inotify import InotifyObserver
    from watchdog.observers.polling import PollingObserver

    observer = WindowsHost().file_observer(types.SimpleNamespace(poll_interval=5.0))
    assert isinstance(observer, PollingObserver) and observer.timeout == 5.0
    assert isinstance(LinuxHost().file_observer(None), InotifyObserver)
    # no AF_ROUTE in this Python: `route -n monitor`
    monkeypatch.delattr(socket, "AF_ROUTE", raising=False)
    monkeypatch.setattr(RouteMonitorWatcher, "_run", lambda self: self.ready.set())
    assert isinstance(DarwinHost().kernel_watcher(None, None, None, None), RouteMonitorWatcher)


def test_sd_notify_reloading_carries_the_monotonic_time(tmp_path, monkeypatch):
    from netwarden.daemon.notify import Log, SdNotify

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    SdNotify(Log()).reloading()
    message = sock.recv(200).decode()
    sock.close()
    first, second = message.split("\n")
    assert first == "RELOADING=1" and second.startswith("MONOTONIC_USEC=")
    assert before <= int(second.split("=")[1]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class Idle:
    """A watchdog observer that is never started: FileWatcher's matching is tested by itself."""

    daemon = False

    def schedule(self, handler, path, recursive=False, event_filter=None):
        return path

    def start(self):
        pass


def test_files_are_matched_by_the_real_path_fsevents_reports(tmp_path):
    real = tmp_path / "private" / "etc"
    real.mkdir(parents=True)
    (tmp_path / "etc").symlink_to(real)  # macOS: /etc -> private/etc
    (real / "hosts").write_text("127.0.0.1 localhost\n")
    (tmp_path / "private" / "var").mkdir()
    (tmp_path / "private" / "var" / "resolv.conf").write_text("nameserver 192.0.2.53\n")
    (real / "resolv.conf").symlink_to(tmp_path / "private" / "var" / "resolv.conf")
    triggers = []
    watcher = FileWatcher([tmp_path / "etc" / "hosts", tmp_path / "etc" / "resolv.conf"], triggers.append, Idle())
    watcher.start()
    watcher.on_path(str(real / "hosts"))  # FSEvents names the file by its real path
    watcher.on_path(str(tmp_path / "private" / "var" / "resolv.conf"))  # behind the link
    watcher.on_path(str(real / "passwd"))
    assert triggers == [Trigger("file", str(tmp_path / "etc" / "hosts")),
                        Trigger("file", str(tmp_path / "etc" / "resolv.conf"))]


def test_inotify_is_not_asked_for_opens_and_reads_of_watched_directories(tmp_path):
    """The daemon watches /etc, which every program that starts reads (ld.so.cache): those reads
    must not even reach watchdog, let alone the loop. A write does."""
    from watchdog.observers.inotify import InotifyObserver

    from netwarden.daemon import watch

    (tmp_path / "ld.so.cache").write_text("x" * 100)
    (tmp_path / "gai.conf").write_text("# 0\n")
    dispatched, triggers = [], []
    original = watch._Handler.dispatch

    def counting(self, event):
        dispatched.append(event.event_type)
        original(self, event)

    watch._Handler.dispatch = counting
    watcher = FileWatcher([tmp_path / "gai.conf"], triggers.append, InotifyObserver())
    try:
        watcher.start()
        for _ in range(50):
            (tmp_path / "ld.so.cache").read_bytes()
            (tmp_path / "gai.conf").read_text()
        time.sleep(0.5)
        assert dispatched == [] and triggers == []
        (tmp_path / "gai.conf").write_text("# 1\n")
        collect(triggers, 1)
    finally:
        watcher.stop()
        watch._Handler.dispatch = original
    assert triggers[0] == Trigger("file", str(tmp_path / "gai.conf"))
    assert "opened" not in dispatched and "closed_no_write" not in dispatched


def test_windows_links_and_routes_polled_become_triggers_when_they_change():
    from netwarden.model import Link, Route, Unknown

    def state(routes, links):
        return kernel_state(types.SimpleNamespace(routes=routes, links=links))

    wifi = Link("Wi-Fi", "ether", 1500, True, True, "up")
    vpn = Link("Tailscale", "wintun", 1280, True, True, "up")
    readings = [
        state((Route(4, "default", "Wi-Fi", "192.168.1.1"),), (wifi, vpn)),
        state((Route(4, "default", "Wi-Fi", "192.168.1.1"), Route(4, "default", "Tailscale")),
              (wifi, vpn._replace(carrier=False))),
        state(Unknown("route print failed"), (wifi, vpn._replace(carrier=False))),  # unread is not gone
    ]
    triggers = []

    def reader():
        def read():
            if len(readings) == 1:
                poller.stopping.set()
            return readings.pop(0)
        return read

    poller = PolledKernel(triggers.append, print, reader, 0.01)
    poller.thread.join(5)
    assert not poller.thread.is_alive() and poller.ready.is_set()
    assert [(t.detail, t.data) for t in triggers] == [  # and nothing for the unreadable routes
        ("link Tailscale", {"before": {"mtu": 1280, "up": True, "carrier": True},
                            "after": {"mtu": 1280, "up": True, "carrier": False}}),
        ("default route", {"before": None, "after": {"route": "default via - dev Tailscale"}})]


def test_windows_kernel_state_from_a_replayed_host(tmp_path):
    from windows_host import english_host, write_bundle

    from netwarden.config import Settings
    from netwarden.platform.source import ReplaySource

    source = ReplaySource(write_bundle(tmp_path / "b", english_host()))
    triggers = []
    watcher = WindowsHost().kernel_watcher(triggers.append, print, Settings(census_interval=3600), source)
    assert watcher.ready.wait(10) and watcher.thread.name == "netwarden-kernel-poll"
    watcher.stopping.set()
    assert triggers == []  # the first reading is the baseline
    assert any(detail == "default route" for detail, _ in watcher.known["routes"].values())
    assert watcher.known["links"]


@pytest.mark.parametrize("system", ["darwin", "win32"])
def test_the_macos_and_windows_pieces_import_nothing_they_lack(system):
    """Each host module loads here (the OS calls run when the daemon starts, not at import)."""
    import importlib

    module = importlib.import_module(f"netwarden.daemon.host.{'darwin' if system == 'darwin' else 'windows'}")
    assert type(host_for(system)).__module__ == module.__name__
