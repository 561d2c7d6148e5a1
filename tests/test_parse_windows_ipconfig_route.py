"""ipconfig /all, Get-DnsClientServerAddress and route print against the real captures in
../shared/fixtures/windows (English, zh-CN, es-ES, French, CRLF, truncated), plus the cases the
captures lack (adapter types in other languages, cut PowerShell cells, odd route rows)."""

import pytest
from conftest import fixture_text

from netwarden.platform.parse.windows.dns import DnsClientServerAddress, parse_dns_client_server_address
from netwarden.platform.parse.windows.ipconfig import parse_ipconfig
from netwarden.platform.parse.windows.route import IPv4Route, IPv6Route, RouteInterface, mask_length, parse_route_print

W = "windows/"
PLACEHOLDERS = ("fec0:0:0:ffff::1%1", "fec0:0:0:ffff::2%1", "fec0:0:0:ffff::3%1")


def adapters(name):
    return {a.name: a for a in parse_ipconfig(fixture_text(W + name)).adapters}


def test_ipconfig_zh_cn_by_structure_not_labels():
    parsed = parse_ipconfig(fixture_text(W + "ipconfig-all__1.txt"))
    assert (parsed.host_name, parsed.primary_dns_suffix, parsed.dns_search_list) == ("***", None, ())
    (ethernet,) = parsed.adapters  # truncated by the collector after the first block
    assert (ethernet.header, ethernet.name) == ("以太网适配器 以太网", "以太网")
    assert ethernet.description == "Realtek Gaming 2.5GbE Family Controller"
    assert ethernet.physical_address is None  # masked as *** by the user
    assert ethernet.dhcp_enabled is True  # 是
    assert not ethernet.media_disconnected
    assert ethernet.ipv4 == ("192.168.1.50",)  # (首选) dropped
    assert ethernet.ipv6 == ("fe80::15b9:117f:d71d:920c%16",)  # the two *** addresses are not addresses
    assert ethernet.gateways == ("fe80::de2c:6eff:fe8a:daa2%16", "192.168.1.1")  # continuation line
    assert ethernet.dns_servers == ("192.168.1.1", "240e:1f:1::1", "240e:1f:1::33")  # v4 and v6 continuations
    assert len(parsed.problems) == 2 and all("***" in p for p in parsed.problems)


def test_ipconfig_hyper_v_placeholders_mean_no_resolver():
    parsed = parse_ipconfig(fixture_text(W + "ipconfig-all__2.txt"))
    assert (parsed.host_name, parsed.dns_search_list) == ("DESKTOP-DALKDS6", ("lan",))
    nat = adapters("ipconfig-all__2.txt")["vEthernet (DockerNAT)"]
    assert nat.dns_servers == PLACEHOLDERS and nat.real_dns_servers == () and nat.only_placeholder_dns
    assert (nat.ipv4, nat.gateways, nat.dhcp_enabled, nat.physical_address) == (
        ("10.0.75.1",), (), False, "00-15-5D-01-52-02")


def test_ipconfig_windows_10_tailscale_and_search_list():
    parsed = parse_ipconfig(fixture_text(W + "ipconfig-all__3.txt"))
    assert parsed.dns_search_list == ("tailff123.ts.net", "internal.companyname.com")
    by_name = adapters("ipconfig-all__3.txt")
    assert list(by_name) == ["Tailscale", "Ethernet 2", "Bluetooth Network Connection"]
    tailscale = by_name["Tailscale"]
    assert tailscale.header == "Unknown adapter Tailscale" and tailscale.physical_address is None
    assert tailscale.ipv6 == ("fd7a:115c:a1e0:ab12:4843:cd96:6293:47b2", "fe80::99d0:ec2d:b2e7:536b%8")
    assert tailscale.dns_servers == PLACEHOLDERS and tailscale.only_placeholder_dns
    assert tailscale.dns_suffix == "tailff123.ts.net"
    ethernet = by_name["Ethernet 2"]
    assert (ethernet.gateways, ethernet.dns_servers, ethernet.dhcp_enabled) == (("10.50.13.1",), ("10.50.13.1",), True)
    assert not ethernet.only_placeholder_dns and not ethernet.media_disconnected
    assert by_name["Bluetooth Network Connection"].media_disconnected


def test_ipconfig_windows_11_many_adapters():
    by_name = adapters("ipconfig-all__4.txt")
    assert len(by_name) == 10
    disconnected = {name for name, a in by_name.items() if a.media_disconnected}
    assert disconnected == {"Ethernet", "Ethernet 2", "OpenVPN Data Channel Offload for NordVPN", "Local Area Connection",
                            "Local Area Connection* 1", "Local Area Connection* 2", "Bluetooth Network Connection"}
    wifi = by_name["Wi-Fi"]
    assert wifi.ipv4 == ("192.168.1.169",) and wifi.gateways == ("192.168.1.1",) and wifi.dns_servers == ("192.168.1.1",)
    assert wifi.ipv6 == ("fd63:cc9c:65eb:3f95:57c2:aa:10d8:db08", "fd63:cc9c:65eb:3f95:8928:348e:d692:b7ef",
                         "fe80::4fae:1380:5a1b:8b6b%11")
    vmnet1 = by_name["VMware Network Adapter VMnet1"]  # empty gateway: the DHCP server is not taken for it
    assert (vmnet1.gateways, vmnet1.dns_servers, vmnet1.description) == (
        (), (), "VMware Virtual Ethernet Adapter for VMnet1")
    assert by_name["OpenVPN Data Channel Offload for NordVPN"].physical_address is None


def test_ipconfig_other_languages_keep_the_header_as_name_and_read_the_same_structure():
    text = ("Windows-IP-Konfiguration\r\n\r\n   Hostname  . . . . . . . . . . . . : pc\r\n"
            "   Primäres DNS-Suffix . . . . . . . :\r\n\r\n"
            "Ethernet-Adapter Ethernet:\r\n\r\n   Verbindungsspezifisches DNS-Suffix: fritz.box\r\n"
            "   Beschreibung. . . . . . . . . . . : Intel(R) Ethernet\r\n"
            "   Physische Adresse . . . . . . . . : 24-4B-FE-AB-43-C3\r\n   DHCP aktiviert. . . . . . . . . . : Ja\r\n"
            "   IPv4-Adresse  . . . . . . . . . . : 192.168.178.20(Bevorzugt)\r\n"
            "   Subnetzmaske  . . . . . . . . . . : 255.255.255.0\r\n"
            "   Standardgateway . . . . . . . . . : 192.168.178.1\r\n"
            "   DHCP-Server . . . . . . . . . . . : 192.168.178.1\r\n"
            "   DNS-Server  . . . . . . . . . . . : 192.168.178.1\r\n\r\n"
            "Carte Ethernet Ethernet 3 :\r\n\r\n   Suffixe DNS propre à la connexion. . . :\r\n")
    parsed = parse_ipconfig(text)
    german, french = parsed.adapters
    assert (german.name, german.dhcp_enabled, german.ipv4, german.gateways, german.dns_servers, german.dns_suffix) == (
        "Ethernet", True, ("192.168.178.20",), ("192.168.178.1",), ("192.168.178.1",), "fritz.box")
    assert (french.header, french.name) == ("Carte Ethernet Ethernet 3", "Carte Ethernet Ethernet 3")


def test_ipconfig_a_block_without_its_gateway_line_never_takes_the_mask_or_dhcp_server_for_it():
    block = ("Ethernet adapter Static:\n\n   Connection-specific DNS Suffix  . :\n   Description . . . : NIC\n"
             "   Physical Address. . . : 00-15-5D-01-52-02\n   DHCP Enabled. . . : No\n"
             "   IPv4 Address. . . . : 10.1.1.20(Preferred)\n   Subnet Mask . . . : 255.255.255.0\n{gateway}"
             "   DNS Servers . . . : 10.1.1.1\n")
    assert parse_ipconfig(block.format(gateway="")).adapters[0].gateways == ()
    assert parse_ipconfig(block.format(gateway="   Default Gateway . . : 10.1.1.254\n")).adapters[0].gateways == (
        "10.1.1.254",)
    assert parse_ipconfig(block.format(gateway="   Default Gateway . . : 0.0.0.0\n")).adapters[0].gateways == (
        "0.0.0.0",)  # VPN adapters print it


@pytest.mark.parametrize("text", ["", "\r\n\r\n", "Windows IP Configuration\n", "garbage without structure"])
def test_ipconfig_nothing_readable_is_none(text):
    assert parse_ipconfig(text) is None


def test_powershell_dns_client_server_address():
    rows = parse_dns_client_server_address(fixture_text(W + "powershell-get-dnsclientserveraddress__1.txt"))
    assert rows.rows == (
        DnsClientServerAddress("Firezone", 27, "IPv4",
                               ("100.100.111.4", "100.100.111.1", "100.100.111.3", "100.100.111.2")),
        DnsClientServerAddress("Firezone", 27, "IPv6", ()),
        DnsClientServerAddress("Ethernet", 4, "IPv4", ("10.255.252.2",)),
        DnsClientServerAddress("Ethernet", 4, "IPv6", ()),
        DnsClientServerAddress("Loopback Pseudo-Interface 1", 1, "IPv4", ()),
        DnsClientServerAddress("Loopback Pseudo-Interface 1", 1, "IPv6",
                               ("fec0:0:0:ffff::1", "fec0:0:0:ffff::2", "fec0:0:0:ffff::3")))
    assert rows.rows[-1].real_servers == () and rows.problems == ()
    local = parse_dns_client_server_address(fixture_text(W + "powershell-get-dnsclientserveraddress__2.txt"))
    assert [(r.interface_alias, r.family, r.servers) for r in local.rows] == [
        ("Ethernet0", "IPv4", ("127.0.0.1",)), ("Ethernet0", "IPv6", ("::1",))]


def test_powershell_cells_cut_at_console_width_are_reported_and_not_trusted():
    text = ("vEthernet (Default Sw...           41 IPv4    {172.20.0.1}\n"
            "Wi-Fi                              12 IPv4    {192.168.1.1, 192.168.1.2, 192.168...\n"
            "Wi-Fi                              12 IPv6    {2001:db8::1, 2001:db8::2, 2001:d…}\n")
    parsed = parse_dns_client_server_address(text)
    assert [r.servers for r in parsed.rows] == [("172.20.0.1",), ("192.168.1.1", "192.168.1.2"),
                                                ("2001:db8::1", "2001:db8::2")]
    assert len(parsed.problems) == 3
    assert parse_dns_client_server_address("InterfaceAlias  Interface Address ServerAddresses\n") is None


def test_route_print_windows_10_crlf():
    table = parse_route_print(fixture_text(W + "route-print__1.txt"))
    assert [i.index for i in table.interfaces] == [8, 52, 64, 22, 11, 14, 21, 1, 57]
    assert table.interfaces[0] == RouteInterface(8, "00-FF-58-60-5F-61", "TAP-Windows Adapter V9")
    assert table.interfaces[7] == RouteInterface(1, None, "Software Loopback Interface 1")
    assert len(table.ipv4) == 47
    assert table.ipv4[0] == IPv4Route("0.0.0.0", "0.0.0.0", 0, "192.168.31.1", "192.168.31.221", 30)
    assert table.ipv4[5] == IPv4Route("172.17.96.0", "255.255.240.0", 20, None, "172.17.96.1", 5256)
    assert table.ipv4_persistent == (IPv4Route("157.0.0.0", "255.0.0.0", 8, "157.55.80.1", None, 3),)
    assert len(table.ipv6) == 26 and table.ipv6_persistent == ()
    assert table.ipv6[0] == IPv6Route(1, 331, "::1/128", 128, None)
    # the destination too wide for its column puts `On-link` on the next line
    assert table.ipv6[9] == IPv6Route(9, 286, "fe80::244e:2f1e:2096:62b2/128", 128, None)
    assert table.problems == ()


def test_route_print_ipv4_only_with_wireguard():
    table = parse_route_print(fixture_text(W + "route-print__2.txt"))
    assert RouteInterface(12, "0A-00-27-00-00-0C", "WireGuard Tunnel") in table.interfaces
    assert len(table.ipv4) == 41 and table.ipv6 == ()
    assert [r for r in table.ipv4 if r.prefix_length == 0] == [
        IPv4Route("0.0.0.0", "0.0.0.0", 0, "10.0.0.1", "10.0.0.185", 25)]


def test_route_print_spanish_two_word_on_link():
    table = parse_route_print(fixture_text(W + "route-print__3.txt"))
    assert [i.index for i in table.interfaces] == [29, 11, 18, 4, 10, 14, 1]
    assert table.interfaces[0] == RouteInterface(29, None, "SGNAutobahn Tunnel")
    assert table.ipv4 == (IPv4Route("0.0.0.0", "0.0.0.0", 0, "192.168.100.1", "192.168.100.80", 35),
                          IPv4Route("0.0.0.0", "192.0.0.0", 2, None, "123.45.0.10", 250))  # `En vínculo`
    assert (table.ipv4_persistent, table.ipv6, table.ipv6_persistent) == ((), (), ())


def test_route_print_french_no_final_newline():
    table = parse_route_print(fixture_text(W + "route-print__4.txt"))
    assert table.interfaces == (RouteInterface(17, "00-28-F8-39-61-6B", "Microsoft Wi-Fi Direct Virtual Adapter"),
                                RouteInterface(1, None, "Software Loopback Interface 1"))
    assert table.ipv4 == (IPv4Route("0.0.0.0", "0.0.0.0", 0, "10.88.88.2", "10.88.88.149", 10),)


def test_route_print_rows_the_captures_lack():
    text = ("IPv4 Route Table\n====\nActive Routes:\n  10.0.0.0  255.0.255.0  On-link  10.0.0.1  5\n"
            "====\nPersistent Routes:\n  Network Address  Netmask  Gateway Address  Metric\n"
            "  0.0.0.0  0.0.0.0  192.168.1.1  Default\n"
            "IPv6 Route Table\n====\nActive Routes:\n 12  25 ::/0  fe80::1\n====\nPersistent Routes:\n"
            " 0 4294967295 ::/0 fe80::1\n 14  291 fe80::d8df:ceee:28ba:aad/128\n")
    table = parse_route_print(text)
    assert table.ipv4 == (IPv4Route("10.0.0.0", "255.0.255.0", None, None, "10.0.0.1", 5),)  # non-contiguous mask
    assert table.ipv4_persistent == (IPv4Route("0.0.0.0", "0.0.0.0", 0, "192.168.1.1", None, None),)  # `Default`
    assert table.ipv6 == (IPv6Route(12, 25, "::/0", 0, "fe80::1"),)
    assert table.ipv6_persistent == (IPv6Route(0, 4294967295, "::/0", 0, "fe80::1"),
                                     IPv6Route(14, 291, "fe80::d8df:ceee:28ba:aad/128", 128, None))
    assert "truncated" in table.problems[0]
    assert parse_route_print("") is None and parse_route_print("Interface List\n=====\n") is None


@pytest.mark.parametrize("mask,length", [("255.255.255.255", 32), ("255.255.240.0", 20), ("0.0.0.0", 0),
                                         ("255.0.255.0", None), ("256.0.0.0", None), ("", None), ("::", None)])
def test_mask_length(mask, length):
    assert mask_length(mask) == length


def test_powershell_index_in_other_digits_is_not_a_row():
    assert parse_dns_client_server_address("Wi-Fi   ² IPv4    {1.1.1.1}\nWi-Fi   ٣ IPv4    {1.1.1.1}\n") is None
