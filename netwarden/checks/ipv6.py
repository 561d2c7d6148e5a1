"""IPv6 preferred over a broken IPv6 path (DOMAIN.md): getaddrinfo puts IPv6 first, the client
waits for its connect to time out before it tries IPv4, and long-lived clients see ETIMEDOUT.

Platform-neutral: the address-selection policy (gai.conf on Linux, the prefix policy table on
Windows, ip6addrctl on macOS) and the per-target probes; the fix is the intent "prefer-ipv4"."""

from __future__ import annotations

from netwarden.checks import CheckSpec, no_targets_advice
from netwarden.config import Settings
from netwarden.model import AddressPolicy, Facts, Finding, Intent, Severity, Unknown, worst
from netwarden.platform.parse.rfc6724 import prefers_ipv4

RUNTIME_ADVICE = (
    "Runtimes with their own resolver ignore the system's address order: Node `--dns-result-order=ipv4first` "
    "(or NODE_OPTIONS=--dns-result-order=ipv4first), Bun BUN_FEATURE_FLAG_DISABLE_IPV6=1.",
)


def _state(facts: Facts) -> tuple[list[str], str]:
    """Evidence about this host's IPv6, and the one-line summary of the address-selection policy."""
    ipv6, policy = facts.ipv6, facts.address_policy
    lines = []
    if isinstance(ipv6, Unknown) or ipv6 is None:
        lines.append(f"IPv6 addresses unknown: {ipv6.reason if ipv6 else 'not collected'}")
    elif ipv6.disabled:
        lines.append("IPv6 is disabled")
    else:
        lines.append(f"global IPv6 addresses: {', '.join(ipv6.global_addresses) or 'none'}"
                     + (f"; ULA only: {', '.join(ipv6.ula_addresses)}" if ipv6.ula_addresses and not ipv6.global_addresses else "")
                     + (f"; {ipv6.deprecated} deprecated" if ipv6.deprecated else "")
                     + f"; IPv6 default route: {'yes' if ipv6.default_route else 'no'}")
    if not isinstance(policy, AddressPolicy):
        order = f"address selection unknown: {policy.reason if policy else 'not collected'}"
    else:
        order = f"{policy.source}: {'IPv4' if prefers_ipv4(policy.table) else 'IPv6'} destinations sort first"
    return lines + (list(policy.problems) if isinstance(policy, AddressPolicy) else []), order


def _judge(probe) -> tuple[Severity, str]:
    if probe.error:
        return Severity.UNKNOWN, f"{probe.target}: {probe.error}"
    v4, v6 = probe.connect(4), probe.connect(6)
    order = " then ".join(f"IPv{f}" for f in dict.fromkeys(f for f, _ in probe.addresses))
    parts = [f"{c.address} {c.outcome} in {c.ms:.0f} ms" + (f" ({c.error})" if c.error else "") for c in probe.connects]
    text = f"{probe.target}: getaddrinfo gives {order or 'nothing'}; " + "; ".join(parts)
    if v6 is None or v4 is None:
        return Severity.OK, text + " (one family only)"
    if probe.addresses[0][0] == 6 and v6.outcome == "timeout" and v4.outcome == "ok":
        return Severity.CRITICAL, text
    return Severity.OK, text


def check_ipv6(facts: Facts, settings: Settings) -> list[Finding]:
    evidence, order = _state(facts)
    probes = facts.targets
    if probes is None:
        # Nothing to judge the path by; what is seen locally is fine to report as it is (an order
        # that cannot be read is said so, but is no finding: macOS 26 has no ip6addrctl at all).
        read = "read" if isinstance(facts.address_policy, AddressPolicy) else "unknown"
        return [Finding("ipv6.preference", Severity.OK, f"Address order {read}; no IPv6 path probed (no targets)",
                        observed=order, evidence=tuple(evidence), advice=(no_targets_advice(facts),), value=order)]
    if isinstance(probes, Unknown):
        return [Finding("ipv6.preference", Severity.UNKNOWN, "IPv6 path unknown", observed=probes.reason,
                        evidence=tuple(evidence))]
    judged = [_judge(p) for p in probes]
    severity = worst(s for s, _ in judged)
    evidence = [text for _, text in judged] + evidence
    if severity is Severity.UNKNOWN:
        unknown = [p.target for p, (s, _) in zip(probes, judged) if s is Severity.UNKNOWN]
        return [Finding("ipv6.preference", severity, f"IPv6 path unknown for {', '.join(unknown)}", observed=order,
                        evidence=tuple(evidence), value=order)]
    if severity is not Severity.CRITICAL:
        return [Finding("ipv6.preference", severity, "No target waits on a broken IPv6 path", observed=order,
                        evidence=tuple(evidence), value=order)]
    broken = [p.target for p, (s, _) in zip(probes, judged) if s is Severity.CRITICAL]
    title = (f"IPv6 is tried first and times out for {', '.join(broken)}: "
             "every new connection waits for the timeout before IPv4")
    # Asked for even when the policy table is unknown (macOS 26 has no ip6addrctl): the backend
    # knows what it can do without it (advice naming the network service).
    return [Finding("ipv6.preference", severity, title, observed=order,
                    expected="IPv4 first while the IPv6 path times out", evidence=tuple(evidence),
                    intents=(Intent("prefer-ipv4"),), advice=RUNTIME_ADVICE + ("Or fix the IPv6 path (router, VPN, firewall).",),
                    value=order)]


CHECKS = (CheckSpec("ipv6.preference", check_ipv6, facts=("ipv6", "address_policy", "targets")),)
