"""Parser and writer for /etc/gai.conf (glibc getaddrinfo's destination-address sorting)."""

from __future__ import annotations

from netwarden.platform.linux_types import GaiConf
from netwarden.platform.parse.lines import Line, bodies, join_lines, split_lines
from netwarden.platform.parse.rfc6724 import RFC3484_DEFAULT, V4_MAPPED
from netwarden.target import shown

BEGIN = "# BEGIN netwarden ipv6.preference"
END = "# END netwarden ipv6.preference"

# glibc's built-in table, used while the file has no precedence line: RFC 3484's, IPv6 first.
GLIBC_DEFAULT = RFC3484_DEFAULT
# RFC 6724's table with IPv4 raised above every global IPv6 prefix. Any precedence line replaces
# glibc's whole table, so the block writes all of it, not just the one line.
IPV4_FIRST = (("::1/128", 50), ("::/0", 40), (V4_MAPPED, 100), ("2002::/16", 30), ("2001::/32", 5),
              ("fc00::/7", 3), ("::/96", 1), ("fec0::/10", 1), ("3ffe::/16", 1))


def _prefix(text: str) -> str | None:
    import ipaddress

    try:
        net = ipaddress.IPv6Network(text, strict=False)
    except ValueError:
        return None
    return f"{net.network_address.compressed}/{net.prefixlen}"


def parse_gai_conf(text: str, path: str, exists: bool = True) -> GaiConf:
    """glibc's reading: `#` starts a comment anywhere; `precedence <ipv6 prefix> <int>` lines in
    order; malformed ones are ignored by glibc and reported here."""
    precedence, problems, block = [], [], False
    for number, raw in enumerate(bodies(text), start=1):
        if raw.strip() == BEGIN:
            block = True
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "precedence":
            continue
        prefix = _prefix(words[1]) if len(words) == 3 else None
        if prefix is None or not (words[2].isascii() and words[2].isdigit() and len(words[2]) <= 20):  # for int()
            problems.append(f"{path}:{number}: ignored by glibc: {shown(raw.strip(), 90)}")
            continue
        precedence.append((prefix, int(words[2])))
    return GaiConf(path, exists, tuple(precedence), block, tuple(problems), text)


def effective_table(gai: GaiConf) -> tuple[tuple[str, int], ...]:
    return gai.precedence or GLIBC_DEFAULT


def with_ipv4_first(text: str) -> str:
    """The file with netwarden's block (replacing an earlier one) and every other active
    precedence line commented out: glibc merges all of them into one table. Every other line is
    kept as it is, its line ending included."""
    kept, inside = [], False
    for line in split_lines(text):
        stripped = line.body.strip()
        if stripped == BEGIN:
            inside = True
        elif stripped == END and inside:
            inside = False
        elif not inside:
            words = line.body.split("#", 1)[0].split()
            replaced = words[:1] == ["precedence"]
            kept.append(line._replace(body=f"#{line.body}  # netwarden: replaced by the block below") if replaced else line)
    while kept and not kept[-1].body.strip(" \t"):  # blank lines before the block: one is enough
        kept.pop()
    block = [BEGIN, "# Prefer IPv4: a broken IPv6 path makes every connection wait for a timeout first.",
             "# `netwarden --revert` restores this file as it was."]
    block += [f"precedence {prefix:<15} {value}" for prefix, value in IPV4_FIRST] + [END]
    return join_lines(kept + [Line(body) for body in ([""] if kept else []) + block])
