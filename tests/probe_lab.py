"""The lab of `netwarden probe` (issue #14): a TLS server with a certificate made here by the
system's `openssl`, a lab DNS server, and the two shapes of path the tests and bench/probe.py
build: client and server on one link, or client, router and server.

Addresses: 198.18.0.0/15 and 2001:db8::/32 only. The name svc.lab resolves, through the lab DNS
server on the server, to the server's addresses.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from lab import TOOLS, link

NAME, PORT = "svc.lab", 8443
SAN = "DNS:svc.lab,IP:198.18.0.2,IP:198.18.1.2,IP:2001:db8:18::2"


class LabPath(NamedTuple):
    client: object
    server: object
    router: object | None
    address: str  # the server's IPv4 address as the client reaches it


def openssl_missing() -> str | None:
    return None if shutil.which("openssl") else "openssl (Debian package openssl) is not installed"


def make_certs(directory: Path) -> dict:
    """A lab CA and a server certificate it signs (EC P-256: the server's first flight stays
    under 1,280 bytes, so only what a test breaks on purpose breaks)."""
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr, ext = directory / "server.pem", directory / "server.key", directory / "server.csr", directory / "ext"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ext.write_text(f"subjectAltName={SAN}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                   "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    for argv in (["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=netwarden lab CA",
                  "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                 ["req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={NAME}"],
                 ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days",
                  "2", "-extfile", ext]):
        subprocess.run(["openssl", *map(str, argv)], check=True, capture_output=True)
    return {"ca": ca, "cert": cert, "key": key}


def trusting(env: dict, certs: dict, node: bool = True) -> dict:
    """env with the lab CA as the system store (SSL_CERT_FILE) and, with `node`, as Node's extra CA."""
    env = {k: v for k, v in env.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS")}
    env["SSL_CERT_FILE"] = str(certs["ca"])
    if node:
        env["NODE_EXTRA_CA_CERTS"] = str(certs["ca"])
    return env


def _serve(server, certs: dict, dns_address: str, v4: str, v6: str | None, client, nameservers=None) -> None:
    server.start(sys.executable, str(TOOLS), "tls", str(PORT), str(certs["cert"]), str(certs["key"]), ready="ready")
    server.start(sys.executable, str(TOOLS), "dns", dns_address, NAME, v4, *([v6] if v6 else []), ready="ready")
    client.etc("resolv.conf", "".join(f"nameserver {n}\n" for n in (nameservers or [dns_address])))


def direct(netns, certs: dict, v6: bool = False, nameservers=None) -> LabPath:
    """client 198.18.0.1 -- server 198.18.0.2 (and 2001:db8:18::1 -- ::2 with v6)."""
    client, server = netns(), netns()
    link(client, "198.18.0.1/24", server, "198.18.0.2/24",
         v6=("2001:db8:18::1/64", "2001:db8:18::2/64") if v6 else None)
    _serve(server, certs, "198.18.0.2", "198.18.0.2", "2001:db8:18::2" if v6 else None, client, nameservers)
    if v6:
        settle(client, server)
    return LabPath(client, server, None, "198.18.0.2")


def routed(netns, certs: dict, narrow_mtu: int | None = None) -> LabPath:
    """client 198.18.0.1 -- router -- server 198.18.1.2; with narrow_mtu, the router's link to
    the server takes only that (the server's end stays at 1500: it does not know)."""
    client, router, server = netns(), netns(), netns()
    link(client, "198.18.0.1/24", router, "198.18.0.254/24")
    link(router, "198.18.1.254/24", server, "198.18.1.2/24", mtu=narrow_mtu, b_mtu=1500 if narrow_mtu else None)
    client.run("ip", "route", "add", "default", "via", "198.18.0.254")
    server.run("ip", "route", "add", "default", "via", "198.18.1.254")
    router.sysctl("net.ipv4.ip_forward", "1")
    _serve(server, certs, "198.18.1.2", "198.18.1.2", None, client)
    return LabPath(client, server, router, "198.18.1.2")


def settle(*namespaces, limit: float = 5.0) -> None:
    """Wait until each namespace's links have usable IPv6 link-local addresses: while duplicate
    address detection runs (a second or two after a link comes up) the first SYN to a neighbour
    is lost and resent a second later, which a probe would rightly report as a slow connect."""
    deadline = time.monotonic() + limit
    for ns in namespaces:
        while time.monotonic() < deadline:
            links = ns.run("ip", "-o", "link", "show", "up").stdout.count("link/ether")
            local = ns.run("ip", "-6", "-o", "addr", "show", "scope", "link").stdout.splitlines()
            if len([a for a in local if "tentative" not in a]) >= links:
                break
            time.sleep(0.05)


def probe(ns, env: dict, *args: str, timeout: float = 120) -> tuple[int, dict, str]:
    """`netwarden probe --json ARGS` inside ns: (exit code, document, stderr)."""
    r = ns.netwarden("probe", "--json", *args, env=env, timeout=timeout)
    assert r.returncode in (0, 1, 2, 3), r.stdout + r.stderr
    return r.returncode, json.loads(r.stdout), r.stderr


def phases(doc: dict) -> dict:
    return {p["name"]: p for p in doc["phases"]}


def verdicts(doc: dict) -> dict:
    return {p["name"]: p["verdict"] for p in doc["phases"]}


def finding(doc: dict, finding_id: str) -> dict:
    return next(f for f in doc["findings"] if f["id"] == finding_id)
