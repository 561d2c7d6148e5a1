"""Programs the lab runs inside network namespaces (`python lab_tools.py serve|connect ...`).

serve PORT [HOST]     accept connections, read to EOF, close: the client closes first, so the
                      client side holds TIME_WAIT, as with an HTTPS client that hangs up. HOST
                      0.0.0.0 by default; `::` for IPv6 (only).
connect HOST PORT N   N short connections in a burst; prints JSON counts by outcome.
dial HOST PORT T      getaddrinfo, then connect to its first address (timeout T): JSON order,
                      outcome and milliseconds, as a plain client would do it.
resolve NAME          time one getaddrinfo: JSON milliseconds and addresses.
send HOST PORT N T    send N bytes, half-close, wait until the server has read them all (EOF
                      back) within T seconds: JSON ok and milliseconds.
dns ADDR NAME IP [IP6]
                      a DNS server on ADDR:53/udp answering NAME with IP (and IP6 for AAAA;
                      NXDOMAIN for other names); ADDR `::` answers on every IPv6 address,
                      link-local ones included.
tls PORT CERT KEY     a TLS server on every address (IPv4 and IPv6), ALPN h2 and http/1.1,
                      answering each chunk a client sends with `HTTP/1.1 204 No Content`.
webhook PORT FILE     an HTTP server on 127.0.0.1 that appends each POSTed body to FILE.
activate PATH ARGV..  what systemd socket activation does: listen on PATH, put the socket on fd 3,
                      set LISTEN_FDS/LISTEN_PID for this very process, then exec ARGV.
glibc-resolv          /etc/resolv.conf as this glibc's res_ninit read it: JSON nscount, the IPv4
                      nameservers, the search list (glibc x86_64's struct __res_state).
"""

import asyncio
import errno
import json
import socket
import sys
import time


async def serve(port: int, host: str) -> None:
    async def handle(reader, writer):
        try:
            while await reader.read(4096):
                pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host=host, port=port, backlog=4096, reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def connect(host: str, port: int, count: int) -> dict:
    result = {"ok": 0, "eaddrnotavail": 0, "other": 0, "errors": []}
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect((host, port))
            result["ok"] += 1
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                result["eaddrnotavail"] += 1
            else:
                result["other"] += 1
                if len(result["errors"]) < 5:
                    result["errors"].append(str(e))
        finally:
            s.close()
    return result


def dial(host: str, port: int, timeout: float) -> dict:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, _, _, _, address = infos[0]
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    start = time.monotonic()
    try:
        s.connect(address)
        outcome = "ok"
    except TimeoutError:
        outcome = "timeout"
    except OSError as e:
        outcome = errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()
    return {"order": [6 if f == socket.AF_INET6 else 4 for f, *_ in infos], "first": address[0],
            "outcome": outcome, "ms": (time.monotonic() - start) * 1000}


def resolve(name: str) -> dict:
    start = time.monotonic()
    try:
        addresses = sorted({i[4][0] for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)})
        error = ""
    except OSError as e:
        addresses, error = [], str(e)
    return {"ms": (time.monotonic() - start) * 1000, "addresses": addresses, "error": error}


def send(host: str, port: int, size: int, timeout: float) -> dict:
    start = time.monotonic()
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.settimeout(max(timeout - (time.monotonic() - start), 0.1))
        s.sendall(b"x" * size)
        s.shutdown(socket.SHUT_WR)
        ok = s.recv(1) == b""  # the server closes once it has read everything
    except TimeoutError:
        ok = False
    finally:
        s.close()
    return {"ok": ok, "ms": (time.monotonic() - start) * 1000}


def dns_server(address: str, name: str, ip: str, ip6: str | None = None) -> None:
    import dns.message
    import dns.rcode
    import dns.rrset

    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 53))
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            query = dns.message.from_wire(data)
        except Exception:
            continue
        reply = dns.message.make_response(query)
        question = query.question[0]
        if question.name.to_text().rstrip(".") == name and question.rdtype == 1:  # A
            reply.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", ip))
        elif question.name.to_text().rstrip(".") == name and question.rdtype == 28 and ip6:  # AAAA
            reply.answer.append(dns.rrset.from_text(question.name, 60, "IN", "AAAA", ip6))
        elif question.name.to_text().rstrip(".") != name:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        sock.sendto(reply.to_wire(), peer)


async def tls_server(port: int, cert: str, key: str) -> None:
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2", "http/1.1"])

    async def handle(reader, writer):
        try:
            while await reader.read(65536):
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass  # probes send zeros, resets and half hellos: that is the point
        finally:
            writer.close()

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, context: None)  # no log: nothing drains this process's stderr
    server = await asyncio.start_server(handle, port=port, ssl=ctx, backlog=1024, reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def webhook(port: int, path: str) -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with open(path, "ab") as f:
                f.write(body + b"\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


def glibc_resolv() -> dict:
    import ctypes
    import ctypes.util

    class SockaddrIn(ctypes.Structure):
        _fields_ = [("family", ctypes.c_ushort), ("port", ctypes.c_ushort), ("addr", ctypes.c_ubyte * 4),
                    ("zero", ctypes.c_ubyte * 8)]

    class ResState(ctypes.Structure):  # resolv/bits/types/res_state.h, up to dnsrch; room for the rest
        _fields_ = [("retrans", ctypes.c_int), ("retry", ctypes.c_int), ("options", ctypes.c_ulong),
                    ("nscount", ctypes.c_int), ("nsaddr_list", SockaddrIn * 3), ("id", ctypes.c_ushort),
                    ("dnsrch", ctypes.c_char_p * 7), ("rest", ctypes.c_ubyte * 4096)]

    state = ResState()
    if ctypes.CDLL(ctypes.util.find_library("resolv")).__res_ninit(ctypes.byref(state)) != 0:
        raise SystemExit("res_ninit failed")
    ipv4 = [socket.inet_ntoa(bytes(a.addr)) for a in state.nsaddr_list[:state.nscount] if a.family == socket.AF_INET]
    search = [d.decode("utf-8", "surrogateescape") for d in state.dnsrch if d is not None]
    return {"nscount": state.nscount, "ipv4": ipv4, "search": search}


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "0.0.0.0"))
    elif sys.argv[1] == "activate":
        import os

        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sys.argv[2])
        listener.listen(16)
        if listener.fileno() != 3:
            os.dup2(listener.fileno(), 3)
        os.set_inheritable(3, True)  # dup2 onto itself would keep close-on-exec
        os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))  # exec keeps the pid
        os.execv(sys.argv[3], sys.argv[3:])
    elif sys.argv[1] == "webhook":
        webhook(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "dial":
        print(json.dumps(dial(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))))
    elif sys.argv[1] == "resolve":
        print(json.dumps(resolve(sys.argv[2])))
    elif sys.argv[1] == "send":
        print(json.dumps(send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))))
    elif sys.argv[1] == "dns":
        dns_server(*sys.argv[2:6])
    elif sys.argv[1] == "tls":
        asyncio.run(tls_server(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    elif sys.argv[1] == "connect":
        print(json.dumps(connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    elif sys.argv[1] == "glibc-resolv":
        print(json.dumps(glibc_resolv()))
