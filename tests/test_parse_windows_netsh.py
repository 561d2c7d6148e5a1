"""netsh parsers against every real netsh capture in ../shared/fixtures/windows (English, zh-CN,
es-ES, ko-KR, unverified ja/ru/de, collapsed whitespace, truncated pastes, transcripts): the values
a user would see, read from numbers and positions, never from English words."""

import pytest
from conftest import fixture_text

from netwarden.platform.parse.windows._text import split_transcript
from netwarden.platform.parse.windows.dns import parse_netsh_dns
from netwarden.platform.parse.windows.netsh_interfaces import (Interface, PrefixPolicy, parse_interfaces,
                                                                parse_prefix_policies, parse_subinterfaces)
from netwarden.platform.parse.windows.netsh_ports import (DynamicPorts, parse_dynamic_ports,
                                                           parse_excluded_port_ranges)
from netwarden.platform.parse.windows.netsh_result import (ERROR, NEEDS_ELEVATION, OK, UNKNOWN,
                                                            classify_netsh_result)

W = "windows/"

DYNAMIC_PORTS = {
    "netsh-ipv4-show-dynamicport-tcp__1.txt": (49152, 16384, "tcp"),
    "netsh-ipv4-show-dynamicport-tcp__2.txt": (1024, 64511, "tcp"),  # leading blank line, VS installer's range
    "netsh-ipv4-show-dynamicport-tcp__3.txt": (1024, 13977, "tcp"),  # newer build's wider label padding
    "netsh-ipv4-show-dynamicport-tcp__4.txt": (1024, 13977, "tcp"),  # zh-CN labels 启动端口 / 端口数
    "netsh-ipv4-show-dynamicport-tcp__6.txt": (49152, 16384, "tcp"),  # two leading blank lines
    "netsh-ipv4-show-dynamicport-udp__1.txt": (49152, 16384, "udp"),
    "netsh-ipv4-show-dynamicport-udp__2.txt": (49152, 16384, "udp"),
    "netsh-ipv6-show-dynamicport-tcp__1.txt": (1024, 13977, "tcp"),  # ipv6: same shape, title without ipv6
    "netsh-ipv6-show-dynamicport-udp__1.txt": (49152, 16384, "udp"),
}

# Copied from each fixture's rows: `start-end`, `*` for administered.
EXCLUDED = {
    "tcp-unverified__1": "5357-5357 50000-50059* 55676-55775",  # ja-JP (claimed)
    "tcp-unverified__2": "5357-5357 50000-50059* 55418-55517",  # ru-RU (claimed), CRLF
    "tcp-unverified__3": "8080-8080",  # de-DE (claimed), 9-dash underline, no footer
    "tcp__1": "5985-5985 47001-47001 49673-49772 50000-50059* 50060-50159 50164-50263 50366-50465 50466-50565 "
              "50566-50665 53286-53385 53386-53485",
    "tcp__10": "80-80 5986-5986 47001-47001 51417-51516 51517-51616",  # padded to a fixed width
    "tcp__11": "5357-5357 9800-9800 9801-9801 49671-49770 49871-49970 50000-50059* 61117-61216 61220-61319 "
               "61902-62001",
    "tcp__12": "1462-1462 1487-1487 5357-5357 28385-28385 28390-28390 49776-49875 49876-49975 50000-50059* "
               "50060-50159 50160-50259 50260-50359 50360-50459 50460-50559 50560-50659 50945-51044 51045-51144 "
               "51145-51244 51245-51344 51345-51444 51445-51544 51545-51644 51645-51744 52302-52401 52402-52501 "
               "54288-54288",
    "tcp__2": "4294-4393 4394-4493 4494-4593 4594-4693 4694-4793 4794-4893 4894-4993 5141-5240 5241-5340 "
              "5341-5440 5441-5540 5541-5640 5641-5740 5741-5840 6041-6140 6141-6240 6241-6340 6341-6440 "
              "6441-6540 6541-6640 6641-6740 7044-7143 7144-7243 7244-7343 7344-7443 7444-7543 7544-7643 "
              "7644-7743 7949-8048 8049-8148 8149-8248 8249-8348 8984-9083 9084-9183 9184-9283 9284-9383 "
              "9384-9483 9484-9583 9584-9683 9684-9783 50000-50059* 54235-54235 54236-54236",
    "tcp__3": "1025-1124 1125-1224 1225-1324 1325-1424 1425-1524 1525-1624 5357-5357 5700-5700 8884-8884 "
              "24266-24365 24466-24565 24566-24665 24666-24765 24902-25001 25002-25101 25102-25201 25313-25412 "
              "25513-25612 25613-25712 25713-25812 25913-26012 26013-26112 26113-26212 50000-50059",  # es, partial
    "tcp__4": "",  # zh-CN, Hyper-V off: an empty table, not "unknown"
    "tcp__5": "1061-1160 1161-1260 1261-1360 1361-1460 1461-1560 1561-1660 1661-1760 1761-1860 2919-3018 "
              "5357-5357 14522-14621 50000-50059*",
    "tcp__6": "1607-1706 1707-1806 1807-1906 1907-2006 2007-2106 2180-2279 2280-2379 2380-2479 2480-2579 "
              "2606-2705 3897-3996 5357-5357 5712-5811 5985-5985 27339-27339 47001-47001 50000-50059* "
              "54235-54235",  # zh-CN
    "tcp__7": "49705-49804 49805-49904 49905-50004 50005-50104 50164-50263 50264-50363 50563-50662",
    "tcp__8": "1583-1682 1683-1782 2480-2579 4492-4591 5357-5357 5614-5713 5834-5933 5940-6039 6045-6144 "
              "6276-6375 6491-6590 6897-6996 7003-7102 28385-28385 50000-50059*",
    "tcp__9": "5357-5357 8233-8233 13543-13642 13643-13742 13743-13842 13843-13942 13943-14042 14043-14142 "
              "14143-14242 50000-50059*",  # ko-KR: header words with spaces
    "udp__1": "56030-56129 56130-56229",
    "udp__2": "50000-50059* 57566-57665 57666-57765 59236-59335 59336-59435",  # `*` ends a padded row
}


@pytest.mark.parametrize("name", sorted(DYNAMIC_PORTS))
def test_dynamic_ports_per_fixture(name):
    start, count, protocol = DYNAMIC_PORTS[name]
    parsed = parse_dynamic_ports(fixture_text(W + name))
    assert parsed == DynamicPorts(start, count, protocol)
    assert parsed.end == start + count - 1


@pytest.mark.parametrize("text", [
    "", "Protocol tcp Dynamic Port Range\n---\n", "Start Port : 49152\n",  # missing
    "Start Port : 0\nNumber of Ports : 10\n",  # port 0 is no start
    "Start Port : 60000\nNumber of Ports : 16384\n",  # past 65535
    "Start Port : 49152\nNumber of Ports : 0\n",
    "Start Port : 99999999999\nNumber of Ports : 1\n",  # huge
    "Start Port : 4.9e4\nNumber of Ports : nan\n",  # not integers
])
def test_dynamic_ports_none_for_output_that_is_not_a_range(text):
    assert parse_dynamic_ports(text) is None


def test_dynamic_ports_from_a_transcript_and_an_unknown_language():
    transcript = ("C:\\>netsh int ipv4 show dynamicport tcp\n\n"
                  "Протокол tcp Диапазон\n-----\nНачало : 32768\nЧисло : 28232\n")
    assert parse_dynamic_ports(transcript) == DynamicPorts(32768, 28232, "tcp")


@pytest.mark.parametrize("slug", sorted(EXCLUDED))
def test_excluded_ranges_per_fixture(slug):
    parsed = parse_excluded_port_ranges(fixture_text(f"{W}netsh-ipv4-show-excludedportrange-{slug}.txt"))
    got = " ".join(f"{r.start}-{r.end}{'*' if r.administered else ''}" for r in parsed.ranges)
    assert got == EXCLUDED[slug]
    assert parsed.problems == ()


def test_excluded_ranges_unknown_is_not_empty_and_bad_rows_are_reported():
    assert parse_excluded_port_ranges("") is None
    assert parse_excluded_port_ranges("Access is denied.\n") is None
    odd = parse_excluded_port_ranges("----  ----\n 9000  8000\n 70000 70001\n 5000 5000 *\n...\n")
    assert [tuple(r) for r in odd.ranges] == [(5000, 5000, True)]
    assert len(odd.problems) == 3  # reversed, out of range, elided rows


SUBINTERFACE_MTUS = {
    "netsh-ipv4-show-subinterfaces__1.txt": {"Wi-Fi 2": 1500, "Local Area Connection* 13": 1500,
                                             "VirtualBox Host-Only Network": 1500, "Ethernet 5": 1500},
    "netsh-ipv4-show-subinterfaces__2.txt": {"Wi-Fi 2": 1500, "Local Area Connection* 13": 1500,
                                             "VirtualBox Host-Only Network": 1500, "Ethernet 5": 1350},
    "netsh-ipv4-show-subinterfaces__3.txt": {"Loopback Pseudo-Interface 1": 4294967295, "Ethernet0": 1500,
                                             **{f"Ethernet{n}": 9000 for n in range(1, 7)}},
    "netsh-ipv4-show-subinterfaces__4.txt": {"Ethernet": 9198},
    "netsh-ipv4-show-subinterfaces__5.txt": {"Netkeeper": 1480, "Loopback Pseudo-Interface 1": 4294967295,
                                             "WLAN": 1500, "以太网": 1500, "本地连接* 1": 1500, "本地连接* 2": 1500,
                                             "vEthernet (WSL)": 1500},
    "netsh-ipv4-show-subinterfaces__6.txt": {"Loopback Pseudo-Interface 1": 4294967295,
                                             "Pripojenie bezdrôtovej siete": 1500,
                                             "Pripojenie bezdrôtovej siete 2": 1500,
                                             "Sieťové pripojenie Bluetooth": 1500, "Lokálne pripojenie": 1500},
}


@pytest.mark.parametrize("name", sorted(SUBINTERFACE_MTUS))
def test_subinterface_mtu_per_interface(name):
    parsed = parse_subinterfaces(fixture_text(W + name))
    assert {i.name: i.mtu for i in parsed.interfaces} == SUBINTERFACE_MTUS[name]


def test_subinterface_overflowing_columns_and_masked_counters():
    wide = {i.name: i for i in parse_subinterfaces(fixture_text(W + "netsh-ipv4-show-subinterfaces__1.txt")).interfaces}
    assert (wide["Wi-Fi 2"].bytes_in, wide["Wi-Fi 2"].bytes_out) == (5931210420, 289815316)  # 10 digits shift the row
    assert [wide[n].media_sense_state for n in ("Wi-Fi 2", "Local Area Connection* 13", "Ethernet 5")] == [1, 5, 2]
    lab = {i.name: i for i in parse_subinterfaces(fixture_text(W + "netsh-ipv4-show-subinterfaces__3.txt")).interfaces}
    assert lab["Ethernet0"].bytes_in == 191869171301
    masked = parse_subinterfaces(fixture_text(W + "netsh-ipv4-show-subinterfaces__4.txt"))
    assert (masked.interfaces[0].bytes_in, masked.interfaces[0].bytes_out) == (None, None)
    assert "nnn" in masked.problems[0]
    assert parse_subinterfaces("   MTU  MediaSenseState   Bytes In  Bytes Out  Interface\n------ ---\n") is None


def test_interfaces_rows_unsorted_with_duplicate_names():
    rows = parse_interfaces(fixture_text(W + "netsh-ipv4-show-interfaces__1.txt"))
    assert rows == (Interface(16, 25, 1500, "disconnected", "Local Area Connection"),
                    Interface(28, 35, 1500, "connected", "Wi-Fi"),
                    Interface(1, 75, 4294967295, "connected", "Loopback Pseudo-Interface 1"),
                    Interface(18, 25, 1500, "disconnected", "Local Area Connection* 2"),
                    Interface(41, 15, 1500, "disconnected", "vEthernet (Default Switch)"),
                    Interface(52, 15, 1500, "disconnected", "vEthernet (Default Switch) 2"))
    assert parse_interfaces("Idx Met MTU State Name\n--- --- ---\n") is None


PREFIX_POLICIES = {
    "netsh-ipv6-show-prefixpolicies__1.txt": [(50, 0, "::1/128"), (40, 1, "::/0"), (35, 4, "::ffff:0:0/96"),
                                              (30, 2, "2002::/16"), (5, 5, "2001::/32"), (3, 13, "fc00::/7"),
                                              (1, 11, "fec0::/10"), (1, 12, "3ffe::/16"), (1, 3, "::/96")],
    "netsh-ipv6-show-prefixpolicies__2.txt": [(50, 0, "::ffff:0:0/96"), (40, 1, "::1/128"), (30, 2, "::/0"),
                                              (20, 3, "2002::/16"), (5, 5, "2001::/32"), (3, 13, "fc00::/7"),
                                              (1, 11, "fec0::/10"), (1, 12, "3ffe::/16"), (1, 4, "::/96")],
    # zh-CN header, three rows left by a script: ::ffff:0:0/96 is absent, not defaulted
    "netsh-ipv6-show-prefixpolicies__3.txt": [(35, 6, "2001::/16"), (30, 2, "2002::/16"), (25, 5, "2001::/32")],
}


@pytest.mark.parametrize("name", sorted(PREFIX_POLICIES))
def test_prefix_policy_rows(name):
    parsed = parse_prefix_policies(fixture_text(W + name))
    assert parsed == tuple(PrefixPolicy(*row) for row in PREFIX_POLICIES[name])
    by_prefix = {p.prefix: p for p in parsed}
    assert by_prefix.get("::ffff:0:0/96") is None or by_prefix["::ffff:0:0/96"].prefix_length == 96


def test_prefix_policies_empty_table_and_junk():
    assert parse_prefix_policies("Querying active state...\n\nPrecedence  Label  Prefix\n----------  -----  ----\n") == ()
    assert parse_prefix_policies("Querying active state...\n") is None
    assert parse_prefix_policies("---\n 50 0 1.2.3.4/8\n 50 0 ::1/129\n 50 0 zz::/3\n 50 x ::/0\n") == ()


DNS = {  # fixture -> [(interface name, servers, source)]
    "netsh-ipv4-show-dnsservers__1.txt": [
        ("Ethernet", (), "dhcp"), ("OpenVPN Wintun", (), "static"), ("vEthernet (Default Switch)", (), "static"),
        ("Ethernet 2", (), "static"), ("OpenVPN TAP-Windows6", (), "dhcp"),
        ("OpenVPN Data Channel Offload", ("172.16.0.2",), "static"), ("Local Area Connection* 1", (), "dhcp"),
        ("Local Area Connection* 10", (), "dhcp"), ("Wi-Fi", ("172.16.0.2",), "dhcp"),
        ("Loopback Pseudo-Interface 1", (), "static")],
    "netsh-ipv4-show-dnsservers__2.txt": [("Ethernet", ("192.168.1.1",), "dhcp")],  # es-ES
    "netsh-ip-show-config__1.txt": [("Ethernet 2", ("192.168.0.4", "192.168.0.5"), "dhcp")],
}
PLACEHOLDERS_3 = ("fec0:0:0:ffff::1%1", "fec0:0:0:ffff::2%1", "fec0:0:0:ffff::3%1")
PLACEHOLDERS_2 = ("fec0:0:0:ffff::1%1", "fec0:0:0:ffff::3%1")
DNS["netsh-ipv6-show-dnsservers__1.txt"] = [
    ("Ethernet", PLACEHOLDERS_3, "dhcp"), ("OpenVPN Wintun", PLACEHOLDERS_2, "static"),
    ("vEthernet (Default Switch)", PLACEHOLDERS_3, "static"), (None, PLACEHOLDERS_3, "static"),  # header lost
    ("OpenVPN TAP-Windows6", PLACEHOLDERS_2, "dhcp"), ("OpenVPN Data Channel Offload", ("2001:678:3fc::1",), "static"),
    ("Local Area Connection* 1", PLACEHOLDERS_3, "dhcp"), ("Local Area Connection* 10", PLACEHOLDERS_3, "dhcp"),
    ("Wi-Fi", (), "dhcp"), ("Loopback Pseudo-Interface 1", PLACEHOLDERS_3, "static")]


@pytest.mark.parametrize("name", sorted(DNS))
def test_netsh_dns_servers_per_interface(name):
    parsed = parse_netsh_dns(fixture_text(W + name))
    assert [tuple(i) for i in parsed.interfaces] == DNS[name]


def test_netsh_dns_placeholders_truncation_and_lost_header_are_reported():
    v6 = parse_netsh_dns(fixture_text(W + "netsh-ipv6-show-dnsservers__1.txt"))
    assert {i.name: i.real_servers for i in v6.interfaces if i.real_servers} == {
        "OpenVPN Data Channel Offload": ("2001:678:3fc::1",)}  # every other one is a fec0 placeholder
    assert len(v6.problems) == 1 and "naming their interface" in v6.problems[0]
    spanish = parse_netsh_dns(fixture_text(W + "netsh-ipv4-show-dnsservers__2.txt"))
    assert "left out" in spanish.problems[0]  # the paste ends with `...`
    assert parse_netsh_dns("") is None and parse_netsh_dns("The parameter is incorrect.\n") is None


def test_netsh_dns_inside_a_transcript():
    commands = split_transcript(fixture_text(W + "netsh-set-dnsservers-warning__1.txt"))
    shown = parse_netsh_dns(commands[1].output)
    assert [tuple(i) for i in shown.interfaces] == [("Ethernet", ("10.1.1.1",), "static")]
    assert parse_netsh_dns(commands[0].output) is None  # the warning names no interface


# (fixture, command index) -> (exit code the INDEX reports or netsh gives, expected status)
RESULTS = {
    ("netsh-ipv4-set-dynamicport__1.txt", 0): (0, OK, "确定。"),  # zh-CN success
    ("netsh-ipv4-set-dynamicport__1.txt", 1): (0, OK, "确定。"),
    ("netsh-set-subinterface-ok__1.txt", 0): (0, OK, "Ok."),
    ("netsh-set-dnsservers-warning__1.txt", 0): (0, OK, "The configured DNS server is incorrect or does not exist."),
    ("netsh-set-error-elevation__1.txt", 0): (1, NEEDS_ELEVATION,
                                              "The requested operation requires elevation (Run as administrator)."),
    ("netsh-ipv6-set-prefixpolicy-error__1.txt", 0): (1, ERROR, "找不到元素。"),  # zh-CN "Element not found."
    ("netsh-ipv6-set-prefixpolicy-error__1.txt", 3): (1, ERROR, "找不到元素。"),
}


@pytest.mark.parametrize("key", sorted(RESULTS))
def test_netsh_result_by_exit_code(key):
    name, index = key
    exit_code, status, message = RESULTS[key]
    output = split_transcript(fixture_text(W + name))[index].output
    assert classify_netsh_result(output, exit_code) == (status, message)


def test_netsh_result_without_exit_code_falls_back_on_structure_only_where_it_is_sure():
    ok = split_transcript(fixture_text(W + "netsh-ipv4-set-dynamicport__1.txt"))[0].output
    assert classify_netsh_result(ok, None).status == OK
    elevation = split_transcript(fixture_text(W + "netsh-set-error-elevation__1.txt"))[0].output
    assert classify_netsh_result(elevation, None).status == NEEDS_ELEVATION
    not_found = split_transcript(fixture_text(W + "netsh-ipv6-set-prefixpolicy-error__1.txt"))[0].output
    assert classify_netsh_result(not_found, None).status == UNKNOWN  # never "ok" on a guess
    warning = split_transcript(fixture_text(W + "netsh-set-dnsservers-warning__1.txt"))[0].output
    assert classify_netsh_result(warning, None).status == UNKNOWN


@pytest.mark.parametrize("message", ["请求的操作需要提升(作为管理员运行)。", "Der angeforderte Vorgang erfordert erhöhte Rechte.",
                                     "L’opération demandée nécessite une élévation.",
                                     "La operación solicitada requiere elevación."])
def test_netsh_result_localized_elevation_messages(message):
    assert classify_netsh_result(message + "\r\n", 1).status == NEEDS_ELEVATION


def test_netsh_result_caller_knows_it_is_not_elevated():
    assert classify_netsh_result("Отказано в доступе.\n", 1, elevated=False).status == NEEDS_ELEVATION
    assert classify_netsh_result("Отказано в доступе.\n", 1, elevated=True).status == ERROR
    assert classify_netsh_result("Ok.\n", 0, elevated=False).status == OK  # the exit code decides
    assert classify_netsh_result(None, 5) == (ERROR, "")  # wrong type: no output to read
