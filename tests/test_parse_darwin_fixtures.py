"""macOS parsers against every real capture in ../shared/fixtures/macos (provenance in its INDEX.md):
each file goes through its parser, and each file's values are asserted (here and in
test_parse_darwin_services.py). Excerpts and dropped lines give None / absent, never an exception."""

from pathlib import Path

import pytest
from conftest import FIXTURES, fixture_text

from netwarden.platform.parse.darwin import ifconfig, lsof, netstat, networksetup, routes, scutil, sysctl, uptime

MACOS = FIXTURES / "macos"

# file-name prefix (before "__") -> the parser the backend runs on that command's output
PARSERS = {
    "ifconfig": ifconfig.parse_ifconfig, "ifconfig-v": ifconfig.parse_ifconfig, "ifconfig-vr": ifconfig.parse_ifconfig,
    "ifconfig-utun": ifconfig.parse_ifconfig, "ifconfig-l": ifconfig.parse_ifconfig_list,
    "lsof-p": lsof.parse_lsof_utun_owners,
    "netstat-anv-p-tcp": netstat.parse_netstat_tcp, "netstat-i": netstat.parse_netstat_interfaces,
    "netstat-rn": routes.parse_netstat_routes,
    "networksetup-error": networksetup.networksetup_error, "networksetup-getMTU": networksetup.parse_get_mtu,
    "networksetup-getdnsservers": networksetup.parse_dns_servers, "networksetup-getinfo": networksetup.parse_getinfo,
    "networksetup-listallhardwareports": networksetup.parse_hardware_ports,
    "networksetup-listallnetworkservices": networksetup.parse_network_services,
    "networksetup-listnetworkserviceorder": networksetup.parse_service_order,
    "networksetup-listvalidMTUrange": networksetup.parse_valid_mtu_range,
    "route-get": routes.parse_route_get, "route-n-get-default": routes.parse_route_get,
    "scutil-dns": scutil.parse_scutil_dns, "scutil-nc-list": scutil.parse_scutil_nc_list,
    "scutil-nwi": scutil.parse_scutil_nwi,
    "sysctl-a": sysctl.parse_sysctl, "sysctl-net": sysctl.parse_sysctl, "sysctl-portrange": sysctl.parse_sysctl,
    "sysctl-kern-boottime": sysctl.parse_sysctl,
    "uptime": uptime.parse_uptime,
}
EMPTY_BY_DESIGN = {"scutil-nc-list__3.txt"}  # the header line alone: no service registered


def macos_files() -> list[Path]:
    if not MACOS.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    return sorted(MACOS.glob("*.txt"))


def parser_for(path: Path):
    return PARSERS.get(path.name.split("__")[0])


def test_every_macos_fixture_has_a_parser_and_gives_a_value():
    files = macos_files()
    assert len(files) >= 52
    without = [p.name for p in files if parser_for(p) is None]
    assert without == [], f"fixtures with no parser: {without}"
    for path in files:
        result = parser_for(path)(path.read_text(encoding="utf-8"))
        if path.name in EMPTY_BY_DESIGN:
            assert not result, path.name
        else:
            assert result, f"{path.name}: {parser_for(path).__name__} read nothing"


def test_every_macos_fixture_has_its_values_asserted():
    """A new fixture needs a test naming it, not just the walk above."""
    sources = "".join(p.read_text() for p in Path(__file__).parent.glob("test_parse_darwin_*.py")
                      if p.name != Path(__file__).name)
    sources += Path(__file__).read_text().split("# values per fixture", 1)[1]
    missing = [p.name for p in macos_files() if p.name not in sources]
    assert missing == []


def text(name: str) -> str:
    return fixture_text(f"macos/{name}")


# values per fixture

def test_sysctl_a_full_dump():
    values = sysctl.parse_sysctl(text("sysctl-a__1.txt"))
    assert len(values) == 1286  # 1287 lines, one of them blank
    assert values["kern.nisdomainname"] == ""  # `key: ` with a trailing space
    assert values["kern.bootsignature"] == "13bf6a6a9d014193bb512d34ea9c4a65f819d832"
    assert len(values["machdep.cpu.features"]) > 200  # a very long line
    assert values["vm.swapusage"].startswith("total = 3072.00M")  # ` = ` inside a `: ` value
    assert sysctl.port_range(values) == sysctl.PortRange(49152, 65535)
    assert sysctl.port_range(values, "hi") == sysctl.PortRange(49152, 65535)
    low = sysctl.port_range(values, "low")
    assert (low.first, low.last, low.low, low.high, low.size) == (1023, 600, 600, 1023, 424)
    tcp = sysctl.tcp_settings(values)
    assert tcp == sysctl.TcpSettings(msl_ms=15000, now_init=97369479, keepidle_ms=7200000, keepintvl_ms=75000,
                                     keepcnt=8, always_keepalive=0, pmtud_blackhole_detection=1,
                                     pmtud_blackhole_mss=1200, pcbcount=301, tw_pcbcount=0)
    assert tcp.time_wait_seconds == 30.0
    boot = sysctl.parse_boottime(values["kern.boottime"])
    assert boot == pytest.approx(1592836479.918881)
    # the wrap comes (2^32 - 97369479) ms = 48.58 days after boot
    assert (sysctl.tcp_clock_wrap_epoch(boot, tcp.now_init) - boot) / 86400 == pytest.approx(48.58, abs=0.01)


def test_sysctl_net_old_tree_lacks_newer_keys():
    values = sysctl.parse_sysctl(text("sysctl-net__1.txt"))
    assert all(key.startswith("net.") for key in values) and len(values) == 302
    tcp = sysctl.tcp_settings(values)
    assert (tcp.msl_ms, tcp.keepidle_ms, tcp.keepintvl_ms, tcp.always_keepalive, tcp.pcbcount) == (
        15000, 7200000, 75000, 0, 86)
    assert tcp.pmtud_blackhole_detection == 1
    assert (tcp.keepcnt, tcp.now_init, tcp.tw_pcbcount) == (None, None, None)  # absent, not an error
    assert sysctl.tcp_clock_wrap_epoch(1.0e9, tcp.now_init) is None
    assert "kern.boottime" not in values and sysctl.port_range(values) == (49152, 65535)


def test_sysctl_portrange_fixtures_any_order():
    six = sysctl.parse_sysctl(text("sysctl-portrange__1.txt"))
    assert sysctl.port_range(six) == (49152, 65535) and sysctl.port_range(six, "low") == (1023, 600)
    two = sysctl.parse_sysctl(text("sysctl-portrange__2.txt"))
    assert two == {"net.inet.ip.portrange.first": "49152", "net.inet.ip.portrange.last": "65535"}
    assert sysctl.port_range(two, "hi") is None  # not asked for, so absent
    reverse = sysctl.parse_sysctl(text("sysctl-portrange__3.txt"))
    assert list(reverse)[0] == "net.inet.ip.portrange.hilast" and reverse == six


def test_portrange_with_a_line_missing_is_unknown():
    lines = text("sysctl-portrange__1.txt").splitlines()
    without_first = "\n".join(line for line in lines if ".portrange.first:" not in line)
    assert sysctl.port_range(sysctl.parse_sysctl(without_first)) is None
    assert sysctl.port_range(sysctl.parse_sysctl(without_first), "hi") == (49152, 65535)


def test_sysctl_documented_forms_constructed():
    # constructed: old Mac OS X printed `key = value`, `sysctl -e` `key=value`; a missing key makes
    # sysctl print an error line, which has no dotted key
    values = sysctl.parse_sysctl("kern.ostype = Darwin\r\nkern.osrelease = 8.11.1\n"
                                 "sysctl: unknown oid 'net.inet.tcp.now_init'\nnet.inet.tcp.msl=15000\n")
    assert values == {"kern.ostype": "Darwin", "kern.osrelease": "8.11.1", "net.inet.tcp.msl": "15000"}
    assert sysctl.sysctl_int({"k.x": " 42 "}, "k.x") == 42 and sysctl.sysctl_int({"k.x": "-1"}, "k.x") == -1
    for odd in ("", "nan", "inf", "1e3", "0x10", "²", "9" * 30):
        assert sysctl.sysctl_int({"k.x": odd}, "k.x") is None
    assert sysctl.port_range({"net.inet.ip.portrange.first": "70000", "net.inet.ip.portrange.last": "65535"}) is None
    assert sysctl.tcp_settings({"net.inet.tcp.msl": "0", "net.inet.tcp.always_keepalive": "2"})[:1] == (None,)
    assert sysctl.tcp_settings({"net.inet.tcp.always_keepalive": "2"}).always_keepalive is None
    assert sysctl.parse_boottime("{ sec = 0, usec = 0 } Thu Jan  1 00:00:00 1970") is None
    assert sysctl.parse_boottime("{ sec = 1700000000 }") == 1700000000.0
    assert sysctl.parse_boottime("Mon Jun 22 07:34:39 2020") is None  # the date alone is local time: not used


def test_kern_boottime_fixture_ignores_the_local_time_suffix():
    values = sysctl.parse_sysctl(text("sysctl-kern-boottime__1.txt"))
    # `Wed Apr 30 01:44:03 2025` is the reporter's local time; the epoch is 2025-04-29 22:44:03 UTC
    assert sysctl.parse_boottime(values["kern.boottime"]) == pytest.approx(1745966643.839385)


def test_uptime_fixtures():
    assert uptime.parse_uptime(text("uptime__1.txt")) == 13 * 86400 + 15 * 3600 + 18 * 60
    assert uptime.parse_uptime(text("uptime__2.txt")) == 20 * 86400 + 19 * 3600 + 45 * 60
    assert uptime.parse_uptime(text("uptime__3.txt")) == 180  # `up 3 mins,`


def test_uptime_documented_forms_constructed():
    # constructed from BSD w.c's printf()s: days, then H:MM / N hr(s) / N min(s) / N sec(s)
    assert uptime.parse_uptime("9:01  up 1 day, 3 hrs, 2 users, load averages: 1.0 1.0 1.0") == 86400 + 3 * 3600
    assert uptime.parse_uptime("9:01  up 2 days, 12 secs, 1 user, load averages: 1 1 1") == 2 * 86400 + 12
    assert uptime.parse_uptime("9:01  up 14:02, 1 user") == 14 * 3600 + 2 * 60
    assert uptime.parse_uptime("9:01  up 45 secs, 1 user") == 45
    for odd in ("", "9:01  up", "9:01 up inf days, 1 user", "load averages: 1 2 3", "up ², 1 user"):
        assert uptime.parse_uptime(odd) is None


def test_ifconfig_old_layout_with_spaces():
    found = {i.name: i for i in ifconfig.parse_ifconfig(text("ifconfig__1.txt"))}
    assert list(found) == ["lo0", "gif0", "stf0", "en1", "p2p0", "en0", "fw0", "utun0"]
    assert found["stf0"].flags == frozenset() and found["stf0"].flags_hex == 0 and found["stf0"].mtu == 1280
    en1 = found["en1"]
    assert en1.flags_hex == 0x8863 and {"UP", "RUNNING", "SMART"} <= en1.flags and en1.status == "active"
    assert en1.ether == "b8:8d:12:3a:32:de" and en1.index is None
    assert en1.inet == (ifconfig.Inet("10.20.10.144", 24, "255.255.255.0", None, "10.20.10.255"),)
    assert [(a.address, a.flags) for a in en1.inet6 if not a.link_local][1] == (
        "2001:44b8:4186:1100:7dba:7a60:97a:e14a", ("autoconf", "temporary"))
    assert found["fw0"].ether is None and found["fw0"].status == "inactive"  # lladdr, not ether
    assert found["lo0"].status is None  # no status line printed
    utun0 = found["utun0"]
    assert (utun0.mtu, utun0.inet, utun0.is_utun) == (1380, (), True)
    assert [(a.address, a.prefixlen, a.zone, a.scopeid, a.link_local) for a in utun0.inet6] == [
        ("fe80::ba8d:12ff:fe3a:32de", 64, "utun0", 8, True),
        ("fd00:6587:52d7:c87:ba8d:12ff:fe3a:32de", 64, None, None, False)]


def test_ifconfig_mojave_five_idle_system_utuns():
    found = {i.name: i for i in ifconfig.parse_ifconfig(text("ifconfig__2.txt"))}
    assert len(found) == 20 and found["XHC20"].mtu == 0
    utuns = {name: (i.mtu, i.inet, [a.link_local for a in i.inet6]) for name, i in found.items() if i.is_utun}
    assert utuns == {"utun0": (2000, (), [True]), "utun1": (1380, (), [True]), "utun2": (1380, (), [True]),
                     "utun3": (1380, (), [True]), "utun4": (1380, (), [True])}
    en0 = found["en0"]
    assert en0.ether == "f0:18:98:03:d9:30"  # the trailing space dropped
    assert en0.inet[0].address == "192.168.1.72" and len(en0.inet6) == 4
    assert en0.inet6[0].flags == ("secured",) and en0.inet6[0].scopeid == 8
    assert found["bridge0"].status == "inactive" and found["bridge0"].media == "<unknown type>"


def test_ifconfig_mojave_second_machine_vmnet_and_deprecated():
    found = {i.name: i for i in ifconfig.parse_ifconfig(text("ifconfig__3.txt"))}
    assert len(found) == 21 and not found["ap1"].up and found["en5"].media == "autoselect (100baseTX <full-duplex>)"
    assert found["vmnet8"].inet[0][:3] == ("192.168.71.1", 24, "255.255.255.0")
    assert sum("deprecated" in a.flags for a in found["en0"].inet6) == 2
    assert [(n, i.mtu) for n, i in found.items() if i.is_utun] == [("utun0", 2000), ("utun1", 1380)]


def test_ifconfig_el_capitan():
    found = {i.name: i for i in ifconfig.parse_ifconfig(text("ifconfig__4.txt"))}
    assert list(found) == ["lo0", "gif0", "stf0", "en0", "en1", "p2p0", "bridge0"]
    assert found["en0"].inet[0].address == "192.168.1.81" and found["en1"].flags_hex == 0x963


def test_ifconfig_single_vpn_utuns():
    tailscale, = ifconfig.parse_ifconfig(text("ifconfig__5.txt"))
    assert (tailscale.name, tailscale.mtu) == ("utun4", 1280)
    assert tailscale.inet == (ifconfig.Inet("100.11.11.11", 32, "255.255.255.255", "100.11.11.11", None),)
    assert [(a.address, a.prefixlen) for a in tailscale.inet6] == [("fe80::ab:cd:ef:12", 64), ("fd7a:ab:cd::ef:12", 48)]
    shadowrocket, = ifconfig.parse_ifconfig(text("ifconfig__6.txt"))
    assert (shadowrocket.name, shadowrocket.mtu, shadowrocket.inet[0].peer) == ("utun5", 4000, "198.18.0.1")
    telepresence, = ifconfig.parse_ifconfig(text("ifconfig-utun__1.txt"))
    assert [(a.address, a.peer, a.prefixlen) for a in telepresence.inet] == [
        ("172.16.0.0", "172.16.0.1", 20), ("172.17.0.0", "172.17.0.1", 26),
        ("172.17.0.64", "172.17.0.1", 26), ("172.17.0.128", "172.17.0.1", 26)]
    assert telepresence.inet6 == () and telepresence.mtu == 1500


def test_ifconfig_verbose_blocks():
    ids, = ifconfig.parse_ifconfig(text("ifconfig-v__1.txt"))
    assert (ids.name, ids.mtu, ids.index, ids.inet) == ("utun4", 1000, 18, ())
    assert ids.agents == ('domain:ids501 type:transport flags:0x4c3 desc:"IDSTransportAgent ids501 : transport"',)
    assert ids.inet6[0].address == "fe80::ce81:b1c:bd2c:69e" and ids.inet6[0].scopeid == 0x12
    netmaker, = ifconfig.parse_ifconfig(text("ifconfig-vr__1.txt"))
    assert (netmaker.name, netmaker.mtu, netmaker.index) == ("utun3", 1280, 20)
    # the peer is (mis)configured as 255.255.255.0; the netmask is 0xff000000
    assert netmaker.inet == (ifconfig.Inet("10.101.0.1", 8, "255.0.0.0", "255.255.255.0", None),)


def test_ifconfig_list_fixtures():
    assert ifconfig.parse_ifconfig_list(text("ifconfig-l__1.txt"))[-6:] == ["llw0", "utun0", "utun1", "utun2",
                                                                            "en7", "en8", "en9"][-6:]
    assert len(ifconfig.parse_ifconfig_list(text("ifconfig-l__1.txt"))) == 23
    assert ifconfig.parse_ifconfig_list(text("ifconfig-l__2.txt")) == [
        "lo0", "gif0", "stf0", "en0", "en1", "p2p0", "fw0", "ppp0", "utun0"]


def test_ifconfig_excerpts_and_cut_blocks():
    cut = text("ifconfig__5.txt").splitlines()
    assert ifconfig.parse_ifconfig("\n".join(cut[1:])) == []  # no header line: nothing to attach lines to
    head_only, = ifconfig.parse_ifconfig(cut[0][:40])  # `utun4: flags=8051<UP,POINTOPOINT,RUNNING,`
    assert (head_only.name, head_only.flags_hex, head_only.mtu) == ("utun4", 0x8051, None)
    assert "UP" in head_only.flags
    inet_cut, = ifconfig.parse_ifconfig(cut[0] + "\n\tinet 100.11.11.11 --> ")
    assert inet_cut.inet == (ifconfig.Inet("100.11.11.11", None, None, None, None),)


def test_netstat_rn_mojave_with_mtu_column():
    table = routes.parse_netstat_routes(text("netstat-rn__1.txt"))
    assert len(table) == 89 and sum(r.family == 4 for r in table) == 30
    default4 = [r for r in table if r.family == 4 and r.is_default]
    assert default4 == [routes.Route(4, "default", "192.168.1.254", "UGSc", "en0", None, 1500)]
    defaults6 = [(r.gateway, r.netif, r.scoped, r.mtu) for r in table if r.family == 6 and r.is_default]
    assert defaults6 == [("fe80::feae:34ff:fea1:3a80%en0", "en0", False, 1500), ("fe80::%utun0", "utun0", True, 2000),
                         ("fe80::%utun1", "utun1", True, 1380), ("fe80::%utun2", "utun2", True, 1380),
                         ("fe80::%utun3", "utun3", True, 1380)]
    by_dst = {r.destination: r for r in table if r.family == 4}
    assert by_dst["169.254"].expire == "!" and by_dst["169.254"].cidr == "169.254.0.0/16"
    assert by_dst["192.168.1.64"].expire == "753" and by_dst["192.168.1.64"].cidr == "192.168.1.64/32"
    assert by_dst["127"].cidr == "127.0.0.0/8" and by_dst["224.0.0/4"].cidr == "224.0.0.0/4"
    assert by_dst["192.168.1.80"].gateway == "0:90:a9:ed:e4:35"
    assert [r for r in table if r.netif and r.netif.startswith("utun") and r.carries_general_traffic] == []


def test_netstat_r_without_n_keeps_names():
    table = routes.parse_netstat_routes(text("netstat-rn__2.txt"))
    assert len(table) == 86 and table[0].gateway == "dsldevice.attlocal" and table[0].mtu is None
    assert table[0].cidr == "0.0.0.0/0" and table[2].destination == "localhost" and table[2].cidr is None


def test_netstat_rn_wg_quick_split_default_via_interface_name():
    split, default = routes.parse_netstat_routes(text("netstat-rn__3.txt"))
    assert (split.destination, split.gateway, split.cidr, split.carries_general_traffic) == (
        "0/1", "utun0", "0.0.0.0/1", True)
    assert (default.gateway, default.scoped, default.netif, default.expire) == ("link#25", True, "utun0", None)


def test_netstat_rn_inet6_teleport_vnet():
    table = routes.parse_netstat_routes(text("netstat-rn__4.txt"))
    assert len(table) == 11 and all(r.family == 6 for r in table)
    assert [r.netif for r in table if r.is_default] == ["utun0", "utun1", "utun2", "utun3"]
    assert all(r.scoped for r in table if r.is_default)
    vnet = [r for r in table if r.carries_general_traffic and r.netif.startswith("utun")]
    assert [(r.destination, r.cidr, r.netif) for r in vnet] == [("fd6f:74a0:9a49::/64", "fd6f:74a0:9a49::/64", "utun5")]
    assert table[-1].destination == "fe80::71:49e5:33fe:ffca%en0" and table[-1].cidr == "fe80::71:49e5:33fe:ffca/128"


def test_netstat_rn_ventura_vpn_default_beside_scoped_en0():
    table = routes.parse_netstat_routes(text("netstat-rn__5.txt"))
    assert [(r.gateway, r.netif, r.scoped) for r in table if r.is_default] == [
        ("link#18", "utun3", False), ("172.20.10.1", "en0", True)]
    assert table[2] == routes.Route(4, "8.8.8.8", "link#18", "UHW3Ig", "utun3", "11", None)
    assert table[-1].expire == "!" and table[-1].netif == "en0"


def test_route_get_fixtures():
    split = routes.parse_route_get(text("route-get__1.txt"))
    assert split == routes.RouteLookup("0.0.0.1", "default", "128.0.0.0", "192.168.12.1", "utun3",
                                       ("UP", "GATEWAY", "DONE", "STATIC", "PRCLONING", "GLOBAL"), 1500, None)
    old = routes.parse_route_get(text("route-n-get-default__1.txt"))
    assert (old.gateway, old.interface, old.mask, old.mtu, old.found) == ("10.20.10.1", "en1", "default", 1500, True)
    assert "GLOBAL" not in old.flags
    ventura = routes.parse_route_get(text("route-n-get-default__2.txt"))
    assert (ventura.gateway, ventura.interface, ventura.flags[-1]) == ("10.62.96.1", "en0", "GLOBAL")
    sierra = routes.parse_route_get(text("route-n-get-default__3.txt"))
    assert (sierra.gateway, sierra.interface) == ("10.0.2.2", "en0")


def test_route_get_error_and_missing_lines():
    missing = routes.parse_route_get("route: writing to routing socket: not in table\n")
    assert missing.error == "writing to routing socket: not in table" and not missing.found
    lines = text("route-n-get-default__2.txt").splitlines()
    no_interface = routes.parse_route_get("\n".join(line for line in lines if "interface:" not in line))
    assert no_interface.interface is None and no_interface.gateway == "10.62.96.1" and not no_interface.found
    no_metrics = routes.parse_route_get("\n".join(lines[:-1]))  # the values row cut off
    assert no_metrics.mtu is None and no_metrics.found
    locked = routes.parse_route_get("\n".join(lines[:-1] + ["       0         0         0         0         0"
                                                             "         0      1400L        0 "]))
    assert locked.mtu == 1400  # `L`: the metric is locked
