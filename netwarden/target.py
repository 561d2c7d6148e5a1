"""Targets: the host:port pairs the user names (`targets`, `netwarden probe HOST:PORT`,
`metrics_address`), parsed by DNS rules and address syntax; and `shown`, how a user's value
appears in a one-line error, and `one_line`, how a message from elsewhere does."""

from __future__ import annotations

from typing import Any, NamedTuple


class Target(NamedTuple):
    """A host:port the user cares about (`targets` in the config)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Target:
        """`api.example.com:443`, `198.18.0.2:443` or `[2001:db8::2]:443`; ValueError naming the
        target otherwise. Names follow DNS rules and addresses are parsed, so whatever passes can
        be resolved and connected to (the probes take it as it is)."""
        host, sep, port = text.rpartition(":")
        if "://" in text:
            problem = "write HOST:PORT without a scheme (api.example.com:443, not https://api.example.com)"
        elif not sep:
            problem = "not host:port (e.g. api.anthropic.com:443)"
        elif not (port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536):
            problem = "the port must be a number from 1 to 65535"
        elif host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
            problem = _ipv6_problem(host)
        elif ":" in host:
            problem = "write an IPv6 address in brackets: [address]:port"
        else:
            host = host.removesuffix(".")  # one trailing dot: a fully qualified name
            problem = _ipv4_problem(host) if host.rpartition(".")[2].isdigit() else _name_problem(host)
        if problem:
            raise ValueError(f"target {shown(text)}: {problem}")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def shown(value: Any, limit: int = 60) -> str:
    """A user's value in a message: repr (control characters escaped, so the message stays one
    line), cut short (a huge value must not drown the message). A byte that was not UTF-8 (a file
    read with surrogateescape) is shown as the byte it was, \\xe9, not as repr's \\udce9."""
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4,300 digits
        return f"an {type(value).__name__} too long to show"
    if "udc" in text:
        import re

        # an odd run of backslashes escapes the surrogate; an even one is the file's own backslashes
        text = re.sub(r"(\\+)udc([89a-f][0-9a-f])",
                      lambda m: m[1][:-1] + "\\x" + m[2] if len(m[1]) % 2 else m[0], text)
    return text if len(text) <= limit else text[:limit - 5] + "...'"


def one_line(text: str, limit: int) -> str:
    """A message netwarden did not word (an error a socket answered, a parser's reason) as one
    line of at most `limit` characters: what is not printable (a newline, an ANSI escape, a
    bidi override) is shown escaped as `shown` shows it (\\n, \\x1b, \\u202e), and a longer
    message is cut with "…", never inside an escape."""
    if text.isprintable() and len(text) <= limit:
        return text
    pieces = [c if c.isprintable() else shown(c)[1:-1] for c in text]
    if sum(map(len, pieces)) <= limit:
        return "".join(pieces)
    kept, size = [], 0
    for piece in pieces:
        if size + len(piece) > limit - 1:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept) + "…"


def _ipv6_problem(address: str) -> str:
    """Zone ids (`fe80::1%eth0`) are refused: a zone only means something for link-local
    addresses, which are not the routed API endpoints the network checks are about, and the
    probes pass addresses on without a scope id, so the zone would be silently lost."""
    import socket

    if "%" in address:
        return "a zone id (%interface) is not supported: give a routable address"
    try:
        socket.inet_pton(socket.AF_INET6, address)
    except (OSError, ValueError):  # ValueError: an embedded NUL
        return f"{shown(address)} is not an IPv6 address" + (
            "" if _ipv4_problem(address) else " (write an IPv4 address without brackets)")
    return ""


def _ipv4_problem(address: str) -> str:
    """A host whose last label is a number is an IPv4 literal (no top-level domain is numeric),
    in dotted-quad form only: inet_pton, not inet_aton's 1.2.3 or 0x7f.1."""
    import socket

    try:
        socket.inet_pton(socket.AF_INET, address)
    except (OSError, ValueError):
        return f"{shown(address)} is not an IPv4 address (write a.b.c.d)"
    return ""


_LABEL_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _name_problem(name: str) -> str:
    """DNS rules (RFC 1035, RFC 1123): at most 253 characters, labels of 1 to 63 letters, digits
    and hyphens, not starting or ending with a hyphen; underscores allowed, as resolvers do.
    ASCII only: an internationalised name goes in its xn-- form, which every resolver agrees on."""
    if not name.isascii():
        return "write an internationalised name in its ASCII form (xn--...)"
    if not name or len(name) > 253:
        return "a host name has 1 to 253 characters"
    for label in name.split("."):
        if not 0 < len(label) <= 63:
            return "each dot-separated part of a name has 1 to 63 characters"
        if not _LABEL_CHARACTERS.issuperset(label) or label[0] == "-" or label[-1] == "-":
            return f"{shown(label)}: a name has letters, digits, hyphens and underscores, no hyphen at either end"
    return ""
