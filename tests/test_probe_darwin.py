"""The probes' macOS differences, on stand-in sockets (this suite runs on Linux): delivery judged by
SO_NWRITE instead of TIOCOUTQ, the small MSS set after the handshake (XNU refuses one above
tcp_mssdflt before it), no IP_MTU."""

import socket

from netwarden.platform import probe


class Recorder:
    """A socket that records the calls the probe makes on it."""

    def __init__(self, *args):
        self.calls = [("socket", *args)]

    def __getattr__(self, name):
        def call(*args):
            self.calls.append((name, *args))
            return 0
        return call


def test_on_macos_the_mss_is_set_after_connect(monkeypatch):
    made = []
    monkeypatch.setattr(probe.socket, "socket", lambda *a: made.append(Recorder(*a)) or made[-1])
    monkeypatch.setattr(probe, "DARWIN", True)
    probe._connect("192.0.2.1", 443, 1.0, 1200)
    names = [c[0] for c in made[0].calls]
    assert names.index("connect") < names.index("setsockopt")
    assert ("setsockopt", socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1200) in made[0].calls
    monkeypatch.setattr(probe, "DARWIN", False)
    probe._connect("192.0.2.1", 443, 1.0, 1200)
    names = [c[0] for c in made[1].calls]
    assert names.index("setsockopt") < names.index("connect")  # Linux: announced in the SYN


def test_on_macos_unacknowledged_bytes_come_from_so_nwrite_and_there_is_no_route_mtu(monkeypatch):
    monkeypatch.setattr(probe, "DARWIN", True)
    sock = Recorder()
    assert probe._unacknowledged(sock) == 0
    assert sock.calls[-1] == ("getsockopt", socket.SOL_SOCKET, 0x1024)
    assert probe.route_mtu("192.0.2.1") == 0


def test_on_linux_the_transfer_still_reads_tiocoutq(monkeypatch):
    monkeypatch.setattr(probe, "DARWIN", False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = probe._connect("127.0.0.1", server.getsockname()[1], 1.0)
        with client:
            assert probe._unacknowledged(client) == 0
