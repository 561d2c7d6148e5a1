"""The network checks as pure functions over Facts: severities, changes and honest unknowns."""

from factories import LINUX, on_linux

from netwarden.checks import conntrack, dns, ipv6, keepalive, mtu, tunnels
from netwarden.checks.keepalive import retries_timeout
from netwarden.config import Settings
from netwarden.model import (Census, ConnectProbe, Destination, DnsProbe, Facts, Ipv6State, Link, PathProbe, Route,
                             Severity, TargetProbe, Unknown)
from netwarden.platform.linux_types import GaiConf, ResolvConf
from netwarden.platform.parse.gai_conf import parse_gai_conf
from netwarden.platform.parse.resolv_conf import parse_resolv_conf

S = Settings()
check_conntrack, check_dns, check_ipv6, check_keepalive, check_mtu, check_tunnels = (
    on_linux(c) for c in (conntrack.check_conntrack, dns.check_dns, ipv6.check_ipv6, keepalive.check_keepalive,
                          mtu.check_mtu, tunnels.check_tunnels))


def one(findings):
    assert len(findings) == 1
    return findings[0]


def probe(first=6, v6="timeout", v4="ok"):
    addresses = ((6, "2001:db8::2"), (4, "198.18.0.2")) if first == 6 else ((4, "198.18.0.2"), (6, "2001:db8::2"))
    return TargetProbe("dual.lab:443", addresses, (ConnectProbe(6, "2001:db8::2", v6, 1000.0),
                                                   ConnectProbe(4, "198.18.0.2", v4, 1.0)))


def ipv6_facts(*probes, gai=GaiConf("/etc/gai.conf", True, text="reload no\n")):
    return Facts(LINUX, sysctls={"net.ipv6.conf.all.disable_ipv6": "0"}, ipv6=Ipv6State(False, ("2001:db8::1",), default_route=True),
                 gai=gai, targets=probes if probes else None)


def test_ipv6_only_preferred_and_timing_out_is_critical():
    f = one(check_ipv6(ipv6_facts(probe()), S))
    assert f.severity is Severity.CRITICAL and f.changes[0].target == "/etc/gai.conf"
    assert dict(parse_gai_conf(f.changes[0].new, "g").precedence)["::ffff:0:0/96"] == 100
    assert f.changes[0].new.startswith("reload no\n")
    assert one(check_ipv6(ipv6_facts(probe(v6="fast-fail")), S)).severity is Severity.OK  # falls back at once
    assert one(check_ipv6(ipv6_facts(probe(first=4)), S)).severity is Severity.OK  # IPv4 tried first
    assert one(check_ipv6(ipv6_facts(probe(v4="timeout")), S)).severity is Severity.OK  # not IPv6's fault


def test_without_targets_the_probe_checks_judge_what_they_see_and_suggest_targets():
    """No targets is missing configuration, not an unknown state (a fresh install must not exit 3
    forever): the local picture is judged, the finding says nothing was probed, and it suggests the
    :443 destinations this host already talks to."""
    census = Census(10, 7, 0, (Destination("198.18.7.7", 443, 5, 0), Destination("198.18.7.8", 22, 1, 0),
                               Destination("2001:db8::7", 443, 1, 0)))
    ipv6 = one(check_ipv6(_with(ipv6_facts(), census=census), S))
    assert ipv6.severity is Severity.OK and "no IPv6 path probed" in ipv6.title
    assert ipv6.title.startswith("Address order read")
    assert "IPv6 destinations sort first" in ipv6.observed  # the static picture is still shown
    unread = one(check_ipv6(_with(ipv6_facts(gai=Unknown("/etc/gai.conf: not a regular file")), census=census), S))
    assert unread.title.startswith("Address order unknown") and "not a regular file" in unread.observed
    assert '"198.18.7.7:443", "[2001:db8::7]:443"' in ipv6.advice[0] and "198.18.7.8:22" not in ipv6.advice[0]
    dns = one(check_dns(_with(resolv_facts("nameserver 10.0.0.1\n", None), census=census), S))
    assert dns.severity is Severity.OK and "not probed" in dns.title and "198.18.7.7:443" in dns.advice[0]
    mtu = one(check_mtu(mtu_facts(full=None), S))  # no census collected: a generic example
    assert mtu.severity is Severity.OK and "not measured" in mtu.title and "api.example.com:443" in mtu.advice[0]
    # Unknown stays for "could not read what was needed"
    assert one(check_dns(Facts(LINUX, resolv=Unknown("/etc/resolv.conf: EACCES")), S)).severity is Severity.UNKNOWN


def _with(facts, **fields):
    from netwarden import record

    return record.replace(facts, **fields)


def test_an_unknown_probe_result_never_carries_an_ok_title():
    unresolved = TargetProbe("nowhere.lab:443", error="cannot resolve nowhere.lab")
    f = one(check_ipv6(ipv6_facts(unresolved), S))
    assert f.severity is Severity.UNKNOWN and f.title == "IPv6 path unknown for nowhere.lab:443"


def resolv_facts(text="nameserver 10.0.0.9\nnameserver 10.0.0.1\n", probes=(), manager_path=None):
    resolv = parse_resolv_conf(text, "/etc/resolv.conf", manager_path)
    return Facts(LINUX, resolv=resolv, dns=probes)


def dns_probe(server, outcome="ok", ms=5.0):
    return DnsProbe(server, "api.example.com", outcome, ms)


def test_dns_first_dead_is_critical_any_dead_warning_all_dead_critical_slow_warning():
    first_dead = one(check_dns(resolv_facts(probes=(dns_probe("10.0.0.9", "timeout"), dns_probe("10.0.0.1"))), S))
    assert first_dead.severity is Severity.CRITICAL and "waits 5 s" in first_dead.title
    (change,) = first_dead.changes
    assert change.new.startswith("nameserver 10.0.0.1\n# nameserver 10.0.0.9")
    second_dead = one(check_dns(resolv_facts(probes=(dns_probe("10.0.0.9"), dns_probe("10.0.0.1", "timeout"))), S))
    assert second_dead.severity is Severity.WARNING
    all_dead = one(check_dns(resolv_facts(probes=(dns_probe("10.0.0.9", "timeout"), dns_probe("10.0.0.1", "error"))), S))
    assert all_dead.severity is Severity.CRITICAL and "no nameserver answers" in all_dead.title and not all_dead.changes
    slow = one(check_dns(resolv_facts(probes=(dns_probe("10.0.0.9", ms=900), dns_probe("10.0.0.1"))), S))
    assert slow.severity is Severity.WARNING and "900 ms" in slow.title


def test_a_first_nameserver_that_refuses_is_dead_but_costs_no_wait():
    """glibc skips a server whose port is closed (ICMP port unreachable) at once: measured 0.00 s
    against 5.00 s for a silent one, so it is a warning with a reorder, never 'waits 5 s'."""
    refused = one(check_dns(resolv_facts(probes=(dns_probe("10.0.0.9", "error"), dns_probe("10.0.0.1"))), S))
    assert refused.severity is Severity.WARNING and "waits" not in refused.title, refused.title
    assert "10.0.0.9 refused at once: no wait" in refused.title and refused.changes


def test_dns_managed_files_get_advice_not_rewrites():
    wsl = "# This file was automatically generated by WSL.\nnameserver 10.0.0.9\nnameserver 10.0.0.1\n"
    f = one(check_dns(resolv_facts(wsl, (dns_probe("10.0.0.9", "timeout"), dns_probe("10.0.0.1"))), S))
    assert f.severity is Severity.CRITICAL and not f.changes and "generateResolvConf" in f.advice[0]
    stub = "nameserver 127.0.0.53\n"
    settings = Settings(dns_fallback=("9.9.9.9",))
    f = one(check_dns(resolv_facts(stub, (dns_probe("127.0.0.53", "timeout"),),
                                   "../run/systemd/resolve/stub-resolv.conf"), settings))
    assert f.changes[0].target == "/etc/systemd/resolved.conf.d/60-netwarden.conf"
    assert "DNS=9.9.9.9" in f.changes[0].new


def test_dns_unprobed_inline_comment_and_dangling():
    f = one(check_dns(resolv_facts("nameserver 10.0.0.1\nsearch corp # office\n", None), S))
    assert f.severity is Severity.WARNING and any("inline comment" in e for e in f.evidence)
    assert one(check_dns(resolv_facts("nameserver 10.0.0.1\n", None), S)).severity is Severity.OK  # not probed
    dangling = Facts(LINUX, resolv=ResolvConf("/etc/resolv.conf", "/run/x", dangling=True))
    assert one(check_dns(dangling, S)).severity is Severity.CRITICAL


TUN = Link("tun0", "tun", 1420, True, False, "down")
ETH = Link("eth0", "ether", 1500, True, True, "up", 10, 10)


def mtu_facts(full="stalled", small="delivered", probing="0", links=(ETH, TUN), dev="eth0"):
    paths = (PathProbe("api:443", "203.0.113.5", dev, 1500, 1500, full, small),) if full else None
    return Facts(LINUX, sysctls={"net.ipv4.tcp_mtu_probing": probing, "net.ipv4.tcp_base_mss": "1024"}, links=links,
                 routes=(Route(4, "default", dev),), paths=paths)


def test_mtu_blackhole_critical_then_mitigated_warning_and_tunnel_without_probing():
    f = one(check_mtu(mtu_facts(), S))
    assert f.severity is Severity.CRITICAL and [(c.target, c.new) for c in f.changes] == [("net.ipv4.tcp_mtu_probing", "1")]
    assert one(check_mtu(mtu_facts(probing="1"), S)).severity is Severity.WARNING
    assert one(check_mtu(mtu_facts(full="delivered"), S)).severity is Severity.OK
    assert one(check_mtu(mtu_facts(small="stalled"), S)).severity is Severity.UNKNOWN  # took no data at all
    via_tunnel = one(check_mtu(mtu_facts(full=None, dev="tun0"), S))
    assert via_tunnel.severity is Severity.WARNING and "tun0" in via_tunnel.evidence[0]
    assert one(check_mtu(mtu_facts(full=None), S)).severity is Severity.OK  # no targets, no tunnel


def test_tunnels_default_or_target_route_into_dead_tunnel_is_critical():
    routes = (Route(4, "default", "eth0"), Route(4, "198.18.5.0/24", "tun0", metric=50))
    target = TargetProbe("api:443", ((4, "198.18.5.2"),))
    f = one(check_tunnels(Facts(LINUX, links=(ETH, TUN), routes=routes, targets=(target,)), S))
    assert f.severity is Severity.CRITICAL and "routed into the dead tunnel tun0" in f.title
    assert f.advice[0] == "ip route del 198.18.5.0/24 dev tun0" and not f.changes
    untargeted = one(check_tunnels(Facts(LINUX, links=(ETH, TUN), routes=routes), S))
    assert untargeted.severity is Severity.WARNING
    opted_in = one(check_tunnels(Facts(LINUX, links=(ETH, TUN), routes=routes), Settings(tunnels_remove_stale_routes=True)))
    assert [c.kind for c in opted_in.changes] == ["route-del"]
    default = (Route(4, "default", "tun0"),)
    assert one(check_tunnels(Facts(LINUX, links=(ETH, TUN), routes=default), S)).severity is Severity.CRITICAL
    live = Link("tun0", "tun", 1420, True, True, "unknown", 5, 9)
    assert one(check_tunnels(Facts(LINUX, links=(ETH, live), routes=routes), S)).severity is Severity.OK


def conntrack_facts(count, limit="262144", read_only=()):
    return Facts(LINUX, sysctls={"net.netfilter.nf_conntrack_count": count, "net.netfilter.nf_conntrack_max": limit,
                         "net.netfilter.nf_conntrack_tcp_be_liberal": "0"}, read_only_sysctls=read_only)


def test_conntrack_thresholds_change_and_namespace_read_only():
    assert one(check_conntrack(conntrack_facts("1000"), S)).severity is Severity.OK
    assert one(check_conntrack(conntrack_facts("210000"), S)).severity is Severity.WARNING  # 80 %
    f = one(check_conntrack(conntrack_facts("240000"), S))
    assert f.severity is Severity.CRITICAL and f.changes[0].new == "1048576"  # below 40 % after
    ns = one(check_conntrack(conntrack_facts("240000", read_only=("net.netfilter.nf_conntrack_max",)), S))
    assert not ns.changes and "read-only inside this network namespace" in ns.advice[0]
    absent = Facts(LINUX, sysctls={"net.netfilter.nf_conntrack_count": Unknown("x: this kernel has no such setting"),
                           "net.netfilter.nf_conntrack_max": Unknown("x: this kernel has no such setting")})
    f = one(check_conntrack(absent, S))
    assert f.severity is Severity.UNKNOWN and "not loaded" in f.observed


def keepalive_facts(time="7200", retries="15"):
    return Facts(LINUX, sysctls={"net.ipv4.tcp_keepalive_time": time, "net.ipv4.tcp_keepalive_intvl": "75",
                         "net.ipv4.tcp_keepalive_probes": "9", "net.ipv4.tcp_retries2": retries})


def test_keepalive_is_advice_unless_enforced():
    observed = one(check_keepalive(keepalive_facts(), S))
    assert observed.severity is Severity.OK and not observed.changes and len(observed.advice) == 4
    assert any(a.startswith("sysctl -w net.ipv4.tcp_keepalive_time=240; or set policy") for a in observed.advice)
    assert any("SO_KEEPALIVE" in e for e in observed.evidence)
    enforced = one(check_keepalive(keepalive_facts(), Settings(policy={"keepalive.idle": "enforce"})))
    assert enforced.severity is Severity.WARNING
    assert {(c.target, c.new) for c in enforced.changes} == {("net.ipv4.tcp_keepalive_time", "240"),
                                                            ("net.ipv4.tcp_retries2", "8")}
    assert round(retries_timeout(15), 1) == 924.6  # the kernel documentation's figure
    assert one(check_keepalive(keepalive_facts("200", "8"), S)).advice == ()


def test_a_resolver_file_glibc_never_finishes_reading_is_critical():
    """glibc 2.36 loops for ever on a sortlist line with an IPv6 prefix: every lookup of every
    program hangs, as bad as no DNS at all."""
    f = one(check_dns(resolv_facts("nameserver 10.0.0.1\nsortlist 2001:db8::/32\n", None), S))
    assert f.severity is Severity.CRITICAL and "never finishes reading this sortlist line" in f.title
