"""The TLS phase's verdict: the large-ClientHello middlebox, a failing handshake, and trust.

Tell a middlebox from a path-MTU blackhole: both let the classic hello through and lose the
large one, whose first segment is full-size. If the MTU phase shows full-size segments stalling
while small ones pass, the blackhole explains it (and `mtu.path` carries the fix); if full-size
segments get through, something looks at the hello itself: `tls.large-clienthello`.
"""

from __future__ import annotations

from netwarden.model import Finding, Severity

GOT_THROUGH = ("ok", "alert")  # the server answered the hello
NEVER_DISABLE = ("Never turn verification off (NODE_TLS_REJECT_UNAUTHORIZED=0, curl -k, verify=False): "
                 "that hands every request to whoever sits in the middle.")
LARGE_HELLO_ADVICE = (
    "A middlebox on the path (firewall, DPI, ISP router, TLS proxy) mishandles ClientHellos that span two "
    "segments, as post-quantum key shares (X25519MLKEM768) make them: Node >= 24.5 / 22.20, Go >= 1.24, "
    "Chrome >= 124 and OpenSSL 3.5 send such hellos by default, curl with an older OpenSSL does not.",
    "Until it is fixed, clients can leave the post-quantum key share out: Go GODEBUG=tlsmlkem=0; Node "
    "ecdhCurve: 'X25519:P-256' (tls.connect / an https.Agent) or tls.DEFAULT_ECDH_CURVE = 'X25519:P-256'.",
    "Report it to whoever runs the network, with this output: the fix belongs in the middlebox.",
)


def describe(h: dict) -> str:
    head = f"{h['kind']} ClientHello ({h['bytes']:,} bytes): "
    if h["outcome"] not in GOT_THROUGH:
        return head + h["outcome"] + (f" ({h['error']})" if h["error"] else "") + f" after {h['ms']:,.1f} ms"
    if h["outcome"] == "alert":
        return head + f"refused by the server ({h['error']})"
    trust = "verified" if h["verified"] else f"NOT verified ({h['verify_error']})"
    return (head + f"{h['version'] or '?'}, ALPN {h['alpn'] or 'none'}, {trust} against the {h['trust']}, "
            f"issuer {h['issuer'] or '?'}, in {h['ms']:,.0f} ms")


def judge_tls(obs):
    """(verdict or None, summary, evidence, data, findings) for the TLS phase."""
    from netwarden.diagnose.verdicts import not_run

    if not obs.plan.tls:
        return "skipped", "not asked: the target did not speak TLS when first probed", (), {}, []
    if obs.address is None:
        return not_run("no address accepts a connection")
    classic, large = obs.hellos.get("classic"), obs.hellos.get("large")
    data = {"address": obs.address, "hellos": [h if isinstance(h, dict) else {"unknown": h.reason}
                                               for h in (classic, large)]}
    if not isinstance(classic, dict) or not isinstance(large, dict):
        why = next(h.reason for h in (classic, large) if not isinstance(h, dict))
        return "unknown", f"handshakes not measured: {why}", (), data, []
    lines = [describe(classic), describe(large)]
    small_ok, large_ok = classic["outcome"] in GOT_THROUGH, large["outcome"] in GOT_THROUGH
    target = obs.plan.target
    if not small_ok and classic["outcome"] == "not-tls":
        return "unknown", f"{target} does not speak TLS ({classic['error']})", lines, data, []
    found = []
    if classic["outcome"] == large["outcome"] == "alert":  # through the path, and refused by the server itself
        found.append(Finding("tls.handshake", Severity.CRITICAL,
                             f"{target} refuses both ClientHellos with a TLS alert ({classic['error'] or '?'}): "
                             "clients that say hello as these do cannot connect",
                             observed="; ".join(lines), expected="a completed handshake"))
    elif not small_ok and not large_ok:
        found.append(Finding("tls.handshake", Severity.CRITICAL,
                             f"TLS handshakes with {target} fail: " + (
                                 f"{classic['outcome']} with either ClientHello" if classic["outcome"] == large["outcome"]
                                 else f"the classic ClientHello {classic['outcome']}, the large one {large['outcome']}"),
                             observed="; ".join(lines), expected="a completed handshake"))
    elif not small_ok:
        found.append(Finding("tls.handshake", Severity.WARNING,
                             f"The classic ClientHello failed ({classic['outcome']}) while the large one passed: "
                             "an unstable path", observed="; ".join(lines)))
    elif not large_ok:
        verdict, finding = _large_lost(obs, classic, large, lines)
        if finding is None:
            return verdict, lines[1] + ": explained by the path-MTU blackhole (mtu phase)", lines, data, []
        found.append(finding)
    found += _trust(target, classic, large, lines)
    summary = (f"{classic['version'] or classic['outcome']}, ALPN {classic['alpn'] or 'none'}, "
               f"issuer {classic['issuer'] or '?'}; classic hello {classic['outcome']}, large hello {large['outcome']}")
    return None, summary, lines, data, found


def _large_lost(obs, classic: dict, large: dict, lines: list) -> tuple[str, Finding | None]:
    """The large hello lost while the classic passed: a blackhole (no finding of its own) or a
    middlebox (`tls.large-clienthello`)."""
    path = obs.path
    blackhole = path is not None and path.full == "stalled" and path.small == "delivered"
    if blackhole and large["outcome"] == "stalled":
        return "critical", None
    how = {"reset": "reset", "stalled": f"dropped (no answer within {obs.plan.timeout:g} s)",
           "closed": "closed"}.get(large["outcome"], large["outcome"])
    evidence = list(lines)
    if path is not None and path.full == "delivered":
        evidence.append(f"full-size segments reach {path.address} (mtu phase): not a path-MTU problem")
    return "critical", Finding(
        "tls.large-clienthello", Severity.CRITICAL,
        f"A ClientHello larger than one segment ({large['bytes']:,} bytes) is {how} on the way to "
        f"{obs.plan.target}; the classic one ({classic['bytes']:,} bytes) passes",
        observed=f"classic: {classic['outcome']}; large: {large['outcome']}",
        expected="both sizes complete the handshake", evidence=tuple(evidence), advice=LARGE_HELLO_ADVICE,
        value=large["outcome"])


def _trust(target, classic: dict, large: dict, lines: list) -> list[Finding]:
    if classic["outcome"] == "ok" and classic["verified"] is False:
        return [Finding(
            "tls.untrusted", Severity.CRITICAL,
            f"{target}'s certificate does not verify against this host's trust store: {classic['verify_error']}",
            observed=f"issuer {classic['issuer'] or '?'}, subject {classic['subject'] or '?'}",
            expected=f"a chain to a CA in the {classic['trust']}", evidence=tuple(lines),
            advice=("If your network inspects TLS (a corporate proxy), get its root CA from IT and add it to the "
                    "system store (Debian/Ubuntu: /usr/local/share/ca-certificates/NAME.crt, then "
                    "update-ca-certificates) and, for Node, NODE_EXTRA_CA_CERTS=/path/to/that-ca.pem.",
                    NEVER_DISABLE))]
    node_view = large["trust"].startswith("public roots")
    if classic["verified"] and large["outcome"] == "ok" and large["verified"] is False and node_view:
        return [Finding(
            "tls.private-ca", Severity.WARNING,
            f"{target}'s certificate chains to a CA this host trusts but Node does not (issuer "
            f"{classic['issuer'] or '?'}): a TLS-inspecting proxy or a private CA",
            observed=f"verified against the {classic['trust']}; against {large['trust']}: {large['verify_error']}",
            expected="a chain to a public root, or its CA in NODE_EXTRA_CA_CERTS", evidence=tuple(lines),
            advice=("curl and OpenSSL read the system store; Node and Bun use their bundled public roots and fail "
                    "with UNABLE_TO_GET_ISSUER_CERT_LOCALLY or SELF_SIGNED_CERT_IN_CHAIN.",
                    "Give Node that CA: NODE_EXTRA_CA_CERTS=/path/to/ca.pem (the issuing CA, PEM); Python "
                    "requests/httpx use certifi: REQUESTS_CA_BUNDLE or SSL_CERT_FILE.", NEVER_DISABLE))]
    return []
