"""The issuer and subject of a DER certificate, with the standard library only.

Python's ssl gives a parsed certificate only when it verified it; the probe also wants to name the
issuer of one that failed verification (a TLS-inspecting proxy's), and the `cryptography` package
is not a dependency. A certificate is SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
serial, signature algorithm, issuer Name, validity, subject Name, ... }, ... }; a Name is a
SEQUENCE of SETs of SEQUENCE { OID, string }. Pure: bytes in, strings out, never raises.
"""

from __future__ import annotations

SEQUENCE, SET, OID, CONTEXT_0 = 0x30, 0x31, 0x06, 0xA0
ATTRIBUTES = {b"\x55\x04\x03": "CN", b"\x55\x04\x0a": "O", b"\x55\x04\x0b": "OU", b"\x55\x04\x06": "C"}
STRINGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


def _tlv(data: bytes, offset: int, end: int) -> tuple[int, int, int] | None:
    """(tag, start of content, end of content) of the element at offset, or None if malformed."""
    if offset + 2 > end:
        return None
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or start + count > end:
            return None
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    if start + length > end:
        return None
    return tag, start, start + length


def _children(data: bytes, start: int, end: int):
    while start < end:
        element = _tlv(data, start, end)
        if element is None:
            return
        yield element
        start = element[2]


def _name(data: bytes, start: int, end: int) -> str:
    """A Name as 'CN=..., O=...' (the attributes we know, in the certificate's order)."""
    parts = []
    for tag, s, e in _children(data, start, end):
        if tag != SET:
            continue
        for tag2, s2, e2 in _children(data, s, e):
            pair = list(_children(data, s2, e2)) if tag2 == SEQUENCE else []
            if len(pair) != 2 or pair[0][0] != OID:
                continue
            key = ATTRIBUTES.get(data[pair[0][1]:pair[0][2]])
            encoding = STRINGS.get(pair[1][0])
            if key and encoding:
                value = data[pair[1][1]:pair[1][2]].decode(encoding, errors="replace")
                parts.append(f"{key}={value}")
    return ", ".join(parts)


def cert_names(der: bytes) -> dict:
    """{"issuer": "CN=..., O=...", "subject": "..."}; empty strings for what cannot be read."""
    names = {"issuer": "", "subject": ""}
    if not isinstance(der, (bytes, bytearray)):
        return names
    data = bytes(der)
    cert = _tlv(data, 0, len(data))
    if cert is None or cert[0] != SEQUENCE:
        return names
    tbs = next(_children(data, cert[1], cert[2]), None)
    if tbs is None or tbs[0] != SEQUENCE:
        return names
    fields = list(_children(data, tbs[1], tbs[2]))
    if fields and fields[0][0] == CONTEXT_0:
        fields = fields[1:]  # the explicit version
    # serial, signature algorithm, issuer, validity, subject
    if len(fields) >= 3 and fields[2][0] == SEQUENCE:
        names["issuer"] = _name(data, fields[2][1], fields[2][2])
    if len(fields) >= 5 and fields[4][0] == SEQUENCE:
        names["subject"] = _name(data, fields[4][1], fields[4][2])
    return names
