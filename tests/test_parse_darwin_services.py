"""macOS parsers of scutil, networksetup, netstat sockets/interfaces and lsof, and the utun
classifier, against each fixture in ../shared/fixtures/macos (walked in test_parse_darwin_fixtures)."""

from conftest import fixture_text

from netwarden.platform.parse.darwin import ifconfig, lsof, netstat, networksetup, routes, scutil
from netwarden.platform.parse.darwin.utun import APPLE_SYSTEM, NOT_UTUN, VPN_LIKE, classify_utun


def text(name: str) -> str:
    return fixture_text(f"macos/{name}")


def test_scutil_dns_old_format_tunnelblick():
    resolvers = scutil.parse_scutil_dns(text("scutil-dns__1.txt"))
    assert [(r.section, r.number) for r in resolvers] == [("default", n) for n in range(1, 8)] + [("scoped", 1)]
    first = resolvers[0]
    assert first.nameservers == () and first.reachable is False and first.reach is None  # VPN script broke it
    assert (resolvers[1].domain, resolvers[1].options, resolvers[1].timeout, resolvers[1].order) == (
        "local", ("mdns",), 5, 300000)
    vpn = resolvers[-1]
    assert vpn.nameservers == ("8.8.8.8", "8.8.4.4") and vpn.search == ("openvpn",)
    assert (vpn.if_index, vpn.interface, vpn.scoped, vpn.supplemental, vpn.reachable) == (13, "utun0", True, False, True)


def test_scutil_dns_supplemental_ppp_with_placeholders():
    resolvers = scutil.parse_scutil_dns(text("scutil-dns__2.txt"))
    ppp, en0, scoped = resolvers
    assert ppp.nameservers == ("<dns1>", "<dns2>") and ppp.addresses == ()  # placeholders, not addresses
    assert (ppp.interface, ppp.supplemental, ppp.order, ppp.reach, ppp.reachable) == ("ppp0", True, 100000, 2, True)
    assert (en0.nameservers, en0.if_index, en0.reach, en0.order, en0.supplemental) == (
        ("10.0.2.1",), 4, 0x20002, 200000, False)
    assert (scoped.section, scoped.interface, scoped.search, scoped.flags) == ("scoped", "en0", ("home-domain",), ())


def test_scutil_dns_excerpt_link_local_nameserver_first():
    resolver, = scutil.parse_scutil_dns(text("scutil-dns__3.txt"))
    assert resolver.section == "default"  # no section header in the excerpt
    assert resolver.nameservers == ("fe80::8e3b:adff:fead:7bf6%en0", "192.168.1.1")
    assert resolver.addresses == resolver.nameservers
    assert resolver.flags == ("Request A records", "Request AAAA records") and resolver.if_index == 7


def test_scutil_dns_tailscale_search_only_resolver():
    resolvers = scutil.parse_scutil_dns(text("scutil-dns__4.txt"))
    assert [(r.section, r.number) for r in resolvers] == [("default", 1), ("default", 2), ("default", 8), ("scoped", 1)]
    tailscale = resolvers[2]
    assert (tailscale.domain, tailscale.search, tailscale.nameservers, tailscale.interface, tailscale.reachable) == (
        "search.tailscale", ("test.local", "user1.ts.local"), (), None, False)
    assert resolvers[0].nameservers == ("192.168.100.101", "192.168.100.102") and resolvers[0].interface == "en0"
    assert resolvers[3].scoped and resolvers[3].if_index == 15


def test_scutil_dns_nameservers_by_index_and_cut_blocks():
    shuffled = "resolver #1\n  nameserver[1] : 10.0.0.2\n  nameserver[0] : 10.0.0.1\n  if_index : 4 (en0"
    resolver, = scutil.parse_scutil_dns(shuffled)
    assert resolver.nameservers == ("10.0.0.1", "10.0.0.2") and resolver.if_index is None  # the cut line: unread
    assert scutil.parse_scutil_dns("  nameserver[0] : 1.1.1.1\n") == []  # no resolver block to hold it
    assert scutil.parse_scutil_dns("DNS configuration\n\nresolver #") == []


def test_scutil_nc_list_fixtures():
    tailscale, = scutil.parse_scutil_nc_list(text("scutil-nc-list__1.txt"))
    assert tailscale == scutil.VpnService(True, "Connected", "[uuid here]", "VPN", "io.tailscale.ipn.macsys",
                                          "Tailscale", "VPN:io.tailscale.ipn.macsys")
    assert tailscale.connected
    wireguard = scutil.parse_scutil_nc_list(text("scutil-nc-list__2.txt"))
    assert [(s.state, s.service_id, s.name, s.kind, s.connected) for s in wireguard] == [
        ("Disconnected", "REDACTED", "vpn.example.com", "VPN:com.wireguard.macos", False),
        ("Disconnected", "REDACTED", "vpn.example.org", "VPN:com.wireguard.macos", False)]
    assert scutil.parse_scutil_nc_list(text("scutil-nc-list__3.txt")) == []  # header only


def test_scutil_nc_list_documented_ppp_and_disabled_lines():
    # constructed from scutil's documented line format (no capture of these kinds in the fixtures)
    sample = ('  (Disconnected)   6E1B1F04-1E0B-4C93-9A4E-2B59DF4C0A11 PPP --> L2TP "Work VPN"   [PPP/L2TP]\n'
              '* (Connecting)     A2C4D6E8-0000-4000-8000-000000000001 IPSec "Home"   [IPSec]\n')
    work, home = scutil.parse_scutil_nc_list(sample)
    assert (work.enabled, work.state, work.type, work.subtype, work.name, work.kind) == (
        False, "Disconnected", "PPP --> L2TP", None, "Work VPN", "PPP/L2TP")
    assert (home.state, home.service_id, home.type, home.name) == (
        "Connecting", "A2C4D6E8-0000-4000-8000-000000000001", "IPSec", "Home")


def test_scutil_nwi_dual_stack():
    info = scutil.parse_scutil_nwi(text("scutil-nwi__1.txt"))
    assert info.primary(4) == "en0" and info.primary(6) == "en0" and info.active == ("en0",)
    v4, v6 = info.interfaces
    assert (v4.family, v4.flags, v4.flag_names, v4.address, v4.reachable) == (
        4, 7, ("IPv4", "IPv6", "DNS"), "192.168.0.106", True)
    assert v6.address == "2602:ae:15a4:8001:424:837a:870:6095"
    assert info.reach == {4: 2, 6: 2}


def test_scutil_nwi_vpn_primary_and_no_ipv6():
    # constructed from the documented layout: a VPN interface listed first is the primary
    sample = ("IPv4 network interface information\n     utun4 : flags      : 0x5 (IPv4,DNS)\n"
              "           address    : 100.64.0.3\n           VPN server : 203.0.113.7\n"
              "           reach      : 0x00000003 (Transient Connection,Reachable)\n"
              "     en0 : flags      : 0x5 (IPv4,DNS)\n           address    : 192.168.1.2\n"
              "   REACH : flags 0x00000003 (Transient Connection,Reachable)\n\n"
              "IPv6 network interface information\n   No IPv6 states found\n"
              "   REACH : flags 0x00000000 (Not Reachable)\n\nNetwork interfaces: utun4 en0\n")
    info = scutil.parse_scutil_nwi(sample)
    assert info.primary(4) == "utun4" and info.primary(6) is None and info.reach == {4: 3, 6: 0}
    assert info.interfaces[0].details == (("VPN server", "203.0.113.7"),) and info.active == ("utun4", "en0")


def test_networksetup_service_order_fixtures():
    order = networksetup.parse_service_order(text("networksetup-listnetworkserviceorder__1.txt"))
    assert [(e.order, e.name, e.device) for e in order] == [
        (1, "USB-Serial Controller D", "usbserial"), (2, "Ethernet", "en0"), (3, "Wi-Fi", "en1"),
        (4, "iPhone USB", "en5"), (5, "Bluetooth PAN", "en4"), (6, "Thunderbolt Bridge", "bridge0")]
    two = networksetup.parse_service_order(text("networksetup-listnetworkserviceorder__2.txt"))
    lan2 = two[3]
    assert (lan2.name, lan2.hardware_port, lan2.device) == ("USB 10/100/1000 LAN 2", "USB 10/100/1000 LAN", "en11")
    assert two[-1] == networksetup.ServiceOrderEntry(6, "Wi-Fi", True, "Wi-Fi", "en0")


def test_networksetup_service_order_disabled_and_vpn_without_device():
    # constructed from the documented form: `(*)` for a disabled service, `Device: )` for a VPN
    sample = ("An asterisk (*) denotes that a network service is disabled.\n(1) Wi-Fi\n"
              "(Hardware Port: Wi-Fi, Device: en0)\n\n(*) Bluetooth PAN\n(Hardware Port: Bluetooth PAN, Device: en3)\n\n"
              "(2) VPN (PPTP)\n(Hardware Port: PPTP, Device: )\n")
    wifi, pan, vpn = networksetup.parse_service_order(sample)
    assert (pan.order, pan.enabled, pan.device) == (None, False, "en3")
    assert (vpn.order, vpn.name, vpn.hardware_port, vpn.device) == (2, "VPN (PPTP)", "PPTP", None)


def test_networksetup_list_services_with_and_without_header():
    one = networksetup.parse_network_services(text("networksetup-listallnetworkservices__1.txt"))
    assert [s.name for s in one] == ["Thunderbolt Ethernet", "Wi-Fi", "Thunderbolt Bridge", "VPN (PPTP)",
                                     "Witopia KC IPsec", "Bluetooth DUN", "Bluetooth PAN"]
    two = networksetup.parse_network_services(text("networksetup-listallnetworkservices__2.txt"))
    assert two[0].name == "USB-Serial Controller D" and two[-1] == networksetup.NetworkService("Tailscale Tunnel", True)
    assert networksetup.parse_network_services("*Bluetooth DUN\n") == [networksetup.NetworkService("Bluetooth DUN", False)]


def test_networksetup_hardware_ports_footer_is_not_a_port():
    assert networksetup.parse_hardware_ports(text("networksetup-listallhardwareports__1.txt")) == [
        networksetup.HardwarePort("Ethernet", "en0", "c4:2c:03:0c:5f:e9"),
        networksetup.HardwarePort("Wi-Fi", "en1", "f8:1e:df:e8:46:66")]


def test_networksetup_getinfo_with_and_without_lease():
    none = networksetup.parse_getinfo(text("networksetup-getinfo__1.txt"))
    assert (none.configuration, none.ip_address, none.router, none.ipv6, none.ipv6_address) == (
        "DHCP Configuration", None, None, "Automatic", None)
    assert none.hardware_address == "f8:1e:df:e8:46:66" and ("Client ID", "") in none.fields
    lease = networksetup.parse_getinfo(text("networksetup-getinfo__2.txt"))
    assert (lease.ip_address, lease.subnet_mask, lease.router) == ("10.10.10.113", "255.255.255.0", "10.10.10.1")


def test_networksetup_mtu_outputs():
    assert networksetup.parse_get_mtu(text("networksetup-getMTU__1.txt")) == networksetup.MtuSetting(1500, 1500)
    assert networksetup.parse_get_mtu("Active MTU: 1500 (Current Setting: 1400)") == (1500, 1400)  # pending change
    assert networksetup.parse_get_mtu("Could not find hardware port or device named Wi-Fo.") == (None, None)
    assert networksetup.parse_valid_mtu_range(text("networksetup-listvalidMTUrange__1.txt")) == (1280, 1500)
    assert networksetup.parse_valid_mtu_range("Valid MTU Range: 1500-1280") is None


def test_networksetup_dns_servers_by_structure():
    # __1 is two invocations pasted with their prompts: the prompts are not servers
    both = networksetup.parse_dns_servers(text("networksetup-getdnsservers__1.txt"))
    assert both.servers == ("10.0.0.1", "10.0.0.1") and len(both.other_lines) == 2
    v6 = networksetup.parse_dns_servers(text("networksetup-getdnsservers__2.txt"))
    assert v6.servers == ("1.1.1.1", "1.0.0.1", "2606:4700:4700::1111", "2606:4700:4700::1001")
    for sentence in ("There aren't any DNS Servers set on Wi-Fi.", "Für Wi-Fi sind keine DNS-Server festgelegt."):
        unset = networksetup.parse_dns_servers(sentence + "\n")
        assert unset == networksetup.DnsServers((), (sentence,))


def test_networksetup_error_fixture_empty_service_name():
    error = networksetup.networksetup_error(text("networksetup-error__1.txt"))
    assert error == networksetup.NetworksetupError("The parameters were not valid.", "")
    assert networksetup.networksetup_error("Wi-Fi is not a recognized network service.\n").unknown_service == "Wi-Fi"
    assert networksetup.parse_network_services(text("networksetup-error__1.txt")) == []
    assert networksetup.networksetup_error(text("networksetup-getMTU__1.txt")) is None


def test_netstat_anv_old_layout():
    rows = netstat.parse_netstat_tcp(text("netstat-anv-p-tcp__1.txt"))
    assert rows[0] == netstat.Connection("tcp4", 0, 0, "10.16.43.243", 55669, "10.20.13.51", 8000, "ESTABLISHED", 422)
    assert rows[1].state == "CLOSE_WAIT" and rows[1].pid == 36843
    assert [(r.proto, r.local_address, r.local_port, r.remote_port, r.state) for r in rows[3:]] == [
        ("tcp46", "*", 443, None, "LISTEN"), ("tcp46", "*", 8888, None, "LISTEN")]
    assert netstat.count_by_destination(rows, 49152, 65535) == {
        ("10.20.13.51", 8000): 1, ("140.205.133.118", 80): 1, ("183.136.138.140", 80): 1}


def test_netstat_time_wait_rows_constructed():
    # CONSTRUCTED, not captured: no public macOS `netstat -an -p tcp` with TIME_WAIT rows exists
    # (10.10-10.14 omit them). Rows follow netstat's documented format: addr.port with a dot.
    sample = ("Active Internet connections (including servers)\n"
              "Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)    \n"
              "tcp4       0      0  192.168.1.5.61234      104.18.32.7.443        TIME_WAIT  \n"
              "tcp4       0      0  192.168.1.5.61235      104.18.32.7.443        TIME_WAIT  \n"
              "tcp4       0      0  192.168.1.5.61236      104.18.32.7.443        ESTABLISHED\n"
              "tcp6       0      0  2001:db8::5.61240      2606:4700::6810.443    TIME_WAIT  \n"
              "tcp4       0      0  192.168.1.5.1023       10.0.0.1.22            TIME_WAIT  \n"
              "tcp6       0      0  fe80::1%lo0.631        *.*                    LISTEN     \n"
              "udp4       0      0  *.5353                 *.*                               \n")
    rows = netstat.parse_netstat_tcp(sample)
    assert len(rows) == 6 and sum(r.state == "TIME_WAIT" for r in rows) == 4
    assert (rows[3].local_address, rows[3].remote_address, rows[3].remote_port) == ("2001:db8::5", "2606:4700::6810", 443)
    assert rows[5][3:6] == ("fe80::1%lo0", 631, "*")
    assert netstat.count_by_destination(rows, 49152, 65535) == {("104.18.32.7", 443): 3, ("2606:4700::6810", 443): 1}


def test_netstat_tcp_newer_verbose_layout_and_no_header():
    header = ("Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)      rhiwat  shiwat"
              "    process:pid state  options\n")
    row = ("tcp4       0      0  10.0.0.5.50000         17.57.144.84.5223      ESTABLISHED  131072  131768"
           "  apsd:412 00102 00000008\n")
    assert netstat.parse_netstat_tcp(header + row)[0].pid == 412
    bare = netstat.parse_netstat_tcp(row)  # no header: the plain layout
    assert bare[0][3:8] == ("10.0.0.5", 50000, "17.57.144.84", 5223, "ESTABLISHED") and bare[0].pid is None


def test_netstat_i_fixture_empty_address_and_down_interfaces():
    rows = netstat.parse_netstat_interfaces(text("netstat-i__1.txt"))
    assert len(rows) == 18
    link = rows[0]
    assert (link.name, link.mtu, link.network, link.address, link.ipkts, link.ibytes, link.obytes) == (
        "lo0", 16384, "<Link#1>", None, 174982, 25774844, 25774844)
    assert [(r.name, r.up) for r in rows if not r.up] == [("gif0", False), ("stf0", False), ("fw0", False)]
    utun0 = [r for r in rows if r.name == "utun0"]
    assert [(r.mtu, r.network, r.ipkts, r.opkts, r.ierrs) for r in utun0] == [
        (1380, "<Link#8>", 5, 13, 0), (1380, "fe80::ba8d:", 5, 13, None), (1380, "fd00:6587:5", 5, 13, None)]
    en1_v4 = [r for r in rows if r.network == "10.20.10/24"][0]
    assert (en1_v4.address, en1_v4.obytes) == ("10.20.10.144", 18228234970)


def test_lsof_utun_owner_fixture():
    assert lsof.parse_lsof_utun_owners(text("lsof-p__1.txt")) == [lsof.UtunOwner("teleprese", 71881, 4)]
    assert lsof.UtunOwner("teleprese", 71881, 4).interface == "utun3"
    assert lsof.parse_lsof_utun_owners("x 1 root 7u systm 0x1 0t0 [ctl com.apple.net.utun_control id 4 unit 0]") == []


def test_utun_classification_on_the_fixtures():
    system = [i for i in ifconfig.parse_ifconfig(text("ifconfig__2.txt")) if i.is_utun]
    with_routes = routes.parse_netstat_routes(text("netstat-rn__1.txt"))  # same Mojave machine's routes
    assert {classify_utun(i, with_routes).kind for i in system} == {APPLE_SYSTEM}
    ids, = ifconfig.parse_ifconfig(text("ifconfig-v__1.txt"))
    assert classify_utun(ids) == (APPLE_SYSTEM, ())
    tailscale, = ifconfig.parse_ifconfig(text("ifconfig__5.txt"))
    assert classify_utun(tailscale) == (VPN_LIKE, ("IPv4 address 100.11.11.11", "IPv6 address fd7a:ab:cd::ef:12/48"))
    en0 = next(i for i in ifconfig.parse_ifconfig(text("ifconfig__2.txt")) if i.name == "en0")
    assert classify_utun(en0).kind == NOT_UTUN


def test_utun_classification_by_routes():
    # an Apple-looking utun (link-local only) that a VPN default route goes through is VPN-like
    looks_idle = ifconfig.parse_ifconfig("utun3: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> mtu 1380\n"
                                         "\tinet6 fe80::1%utun3 prefixlen 64 scopeid 0x12\n")[0]
    table = routes.parse_netstat_routes(text("netstat-rn__5.txt"))
    assert classify_utun(looks_idle, table) == (VPN_LIKE, ("route default via link#18 (UCSg)",))
    assert classify_utun(looks_idle) == (APPLE_SYSTEM, ())
    teleport = ifconfig.parse_ifconfig("utun5: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> mtu 1500\n")[0]
    verdict = classify_utun(teleport, routes.parse_netstat_routes(text("netstat-rn__4.txt")))
    assert verdict.kind == VPN_LIKE and "fd6f:74a0:9a49::/64" in verdict.reasons[0]
