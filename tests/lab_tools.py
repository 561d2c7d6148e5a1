"""Programs the lab runs inside network namespaces (`python lab_tools.py serve|connect ...`).

serve PORT            accept connections, read to EOF, close: the client closes first, so the
                      client side holds TIME_WAIT, as with an HTTPS client that hangs up.
connect HOST PORT N   N short connections in a burst; prints JSON counts by outcome.
webhook PORT FILE     an HTTP server on 127.0.0.1 that appends each POSTed body to FILE.
activate PATH ARGV..  what systemd socket activation does: listen on PATH, put the socket on fd 3,
                      set LISTEN_FDS/LISTEN_PID for this very process, then exec ARGV.
"""

import asyncio
import errno
import json
import socket
import sys


async def serve(port: int) -> None:
    async def handle(reader, writer):
        try:
            while await reader.read(4096):
                pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host="0.0.0.0", port=port, backlog=4096, reuse_address=True)
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


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2])))
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
    elif sys.argv[1] == "connect":
        print(json.dumps(connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
