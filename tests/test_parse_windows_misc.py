"""netstat, wevtutil events, reg query, chcp and console decoding: real captures where they exist
(../shared/fixtures/windows), constructed samples where the fixture INDEX says none exists (each
one says so)."""

import pytest
from conftest import fixture_text

from netwarden.platform.parse.windows.codepage import codec_for, decode_console, parse_chcp
from netwarden.platform.parse.windows.events import MAX_CHARS, parse_events_xml, parse_time
from netwarden.platform.parse.windows.netstat import Connection, parse_netstat, ports_in_use_per_destination
from netwarden.platform.parse.windows.registry import RegValue, parse_reg_query

W = "windows/"


def states(name):
    counts = {}
    for c in parse_netstat(fixture_text(W + name)).connections:
        counts[(c.proto, c.state)] = counts.get((c.proto, c.state), 0) + 1
    return counts


def test_netstat_windows_10_crlf_tcp_udp_and_ipv6():
    parsed = parse_netstat(fixture_text(W + "netstat-ano__1.txt"))
    assert states("netstat-ano__1.txt") == {("TCP", "LISTENING"): 39, ("TCP", "ESTABLISHED"): 32, ("UDP", None): 137}
    rows = parsed.connections
    assert rows[0] == Connection("TCP", "0.0.0.0", 135, "0.0.0.0", 0, "LISTENING", "LISTENING", 1712)
    assert Connection("TCP", "::1", 1025, "::", 0, "LISTENING", "LISTENING", 6088) in rows  # [::1]:1025
    assert Connection("UDP", "0.0.0.0", 53, "*", None, "", None, 4808) in rows  # *:* and no state
    assert parsed.problems == ()


def test_netstat_b_lines_are_skipped_and_time_wait_has_pid_0():
    parsed = parse_netstat(fixture_text(W + "netstat-ano__2.txt"))
    assert states("netstat-ano__2.txt") == {("TCP", "LISTENING"): 51, ("TCP", "ESTABLISHED"): 54, ("TCP", "CLOSE_WAIT"): 6,
                                            ("TCP", "TIME_WAIT"): 3, ("UDP", None): 204}
    assert {c.pid for c in parsed.connections if c.state == "TIME_WAIT"} == {0}


def test_netstat_zh_cn_header_and_header_less_ipv6_fragment():
    chinese = parse_netstat(fixture_text(W + "netstat-ano__3.txt")).connections
    assert len(chinese) == 15
    assert Connection("TCP", "10.211.55.6", 50510, "100.67.1.9", 80, "TIME_WAIT", "TIME_WAIT", 0) in chinese
    assert Connection("TCP", "10.211.55.6", 50506, "183.136.138.140", 80, "CLOSE_WAIT", "CLOSE_WAIT", 3020) in chinese
    fragment = parse_netstat(fixture_text(W + "netstat-ano__4.txt")).connections
    assert [(c.local_port, c.remote_address, c.remote_port, c.state, c.pid) for c in fragment] == [
        (port, "::1", 50051, "TIME_WAIT", None) for port in (50515, 50529, 50532, 50535, 50539, 50545)]


def test_netstat_localized_states_raw_kept_and_known_ones_normalized():
    # German rows as Checkmk's win_netstat documents them (no public capture of a whole output)
    text = ("  TCP    10.1.1.99:445          10.1.1.123:52820       HERGESTELLT     4\n"
            "  TCP    10.1.1.99:6556         10.1.1.50:43257        WARTEND         0\n"
            "  TCP    0.0.0.0:135            0.0.0.0:0              ABHÖREN         912\n"
            "  TCP    10.1.1.99:6556         10.1.1.50:43258        ÉTAT_INCONNU    0\n"
            "  TCP    [fe80::1%4]:139        [fe80::2%4]:50000      FIN_WAIT_2      4\n"
            "  TCP    999.1.1.1:80           1.1.1.1:80             ESTABLISHED     1\n"
            "  TCP    1.1.1.1:70000          1.1.1.1:80             ESTABLISHED     1\n")
    parsed = parse_netstat(text)
    assert [(c.state_text, c.state) for c in parsed.connections] == [
        ("HERGESTELLT", "ESTABLISHED"), ("WARTEND", "TIME_WAIT"), ("ABHÖREN", "LISTENING"), ("ÉTAT_INCONNU", None),
        ("FIN_WAIT_2", "FIN_WAIT_2")]
    assert parsed.connections[-1].local_address == "fe80::1%4"
    assert len(parsed.problems) == 2  # a bad address, a port past 65535
    assert parse_netstat("Active Connections\n\n  Proto  Local Address  Foreign Address  State  PID\n") is None


def test_ports_in_use_per_destination_counts_every_state_inside_the_range():
    connections = parse_netstat(fixture_text(W + "netstat-ano__2.txt")).connections
    whole = ports_in_use_per_destination(connections, 1, 65535)
    assert whole[("157.240.252.61", 5222)] >= 1  # a TIME_WAIT socket counts
    assert all(port not in (0, None) and address not in ("0.0.0.0", "::", "*") for address, port in whole)
    tw = parse_netstat(fixture_text(W + "netstat-ano__4.txt")).connections
    assert ports_in_use_per_destination(tw, 49152, 65535) == {("::1", 50051): 6}
    assert ports_in_use_per_destination(tw, 50520, 50536) == {("::1", 50051): 3}  # 50529, 50532, 50535
    assert ports_in_use_per_destination(tw, 1024, 5000) == {}


def test_events_fixture_event_viewer_text_cut_off():
    parsed = parse_events_xml(fixture_text(W + "tcpip-events__1.txt"))
    (event,) = parsed.events
    assert (event.event_id, event.record_id, event.provider, event.level) == (4227, 14996, "Tcpip", 3)
    assert event.time_created.isoformat() == "2019-01-16T02:01:10.611477+00:00"
    assert "cut off" in parsed.problems[0]


EVENT = """<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Tcpip"/>\
<EventID Qualifiers="32768">{id}</EventID><Version>0</Version><Level>{level}</Level><Task>0</Task><Opcode>0</Opcode>\
<Keywords>0x80000000000000</Keywords><TimeCreated SystemTime="{time}"/><EventRecordID>{record}</EventRecordID>\
<Correlation/><Execution ProcessID="4" ThreadID="88"/><Channel>System</Channel><Computer>HOST</Computer>\
<Security/></System><EventData><Data>{data}</Data></EventData></Event>"""


def test_events_wevtutil_several_events_without_a_root():
    # Constructed: wevtutil /f:xml prints one <Event> per line with no common root (Microsoft's
    # event schema; 4231 and 4266 have no public capture, see fixtures/INDEX.md).
    text = "\r\n".join([
        EVENT.format(id=4231, level=2, time="2026-05-01T10:00:00.1234567Z", record=31, data="TCP"),
        EVENT.format(id=4266, level=3, time="2026-05-01T09:59:00Z", record=30, data="UDP &amp; more"),
        EVENT.format(id=4227, level=3, time="not a time", record=29, data=""),
    ]) + "\r\n"
    parsed = parse_events_xml(text)
    assert [(e.event_id, e.record_id, e.level) for e in parsed.events] == [(4231, 31, 2), (4266, 30, 3), (4227, 29, 3)]
    assert parsed.events[0].time_created.isoformat() == "2026-05-01T10:00:00.123456+00:00"
    assert parsed.events[2].time_created is None and parsed.problems == ()


def test_events_one_broken_event_does_not_lose_the_others():
    broken = EVENT.format(id=4227, level=3, time="2026-05-01T09:00:00Z", record=1, data="<unclosed>")
    good = EVENT.format(id=4231, level=2, time="2026-05-01T10:00:00Z", record=2, data="")
    no_id = "<Event><System><EventID>x</EventID></System></Event>"
    parsed = parse_events_xml(broken + good + no_id)
    assert [e.event_id for e in parsed.events] == [4227, 4231]  # 4227's fields came before the break
    assert len(parsed.problems) == 2


@pytest.mark.parametrize("text", [
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><Event><System><EventID>&lol2;</EventID>'
    '</System></Event>',
    '<Event><!ENTITY x SYSTEM "file:///etc/passwd"><System><EventID>4227</EventID></System></Event>',
])
def test_events_dtd_and_entities_are_refused(text):
    parsed = parse_events_xml(text)
    assert parsed.events == () and "refused" in parsed.problems[0]


def test_events_huge_and_deeply_nested_input():
    one = EVENT.format(id=4227, level=3, time="2026-05-01T09:00:00Z", record=1, data="x")
    given = MAX_CHARS // len(one) + 10
    parsed = parse_events_xml(one * given)
    assert MAX_CHARS // len(one) <= len(parsed.events) < given and "only the first" in parsed.problems[0]
    nested = parse_events_xml("<Event><System><EventID>4231</EventID></System>" + "<a>" * 200_000)
    assert [e.event_id for e in nested.events] == [4231]
    assert parse_events_xml("") is None and parse_events_xml("no events here") is None and parse_events_xml(None) is None


@pytest.mark.parametrize("text,iso", [("2019-01-16T02:01:10.611477100Z", "2019-01-16T02:01:10.611477+00:00"),
                                      ("2019-01-16T02:01:10+02:00", "2019-01-16T02:01:10+02:00"),
                                      ("2019-13-16T02:01:10Z", None), ("", None), (None, None)])
def test_event_time(text, iso):
    parsed = parse_time(text)
    assert (parsed.isoformat() if parsed else None) == iso


# Constructed, not captured (fixtures/INDEX.md: no public capture of this key). Format as Microsoft
# documents `reg query` and as reg.exe prints it: the key, then `    NAME    TYPE    DATA` lines
# (four spaces before each part), DWORDs as 0x%x, REG_MULTI_SZ joined by a literal \0, subkeys as
# full paths after a blank line.
REG_QUERY = (
    "\r\n"
    "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\r\n"
    "    NV Hostname    REG_SZ    DESKTOP-1\r\n"
    "    DataBasePath    REG_EXPAND_SZ    %SystemRoot%\\System32\\drivers\\etc\r\n"
    "    Domain    REG_SZ    \r\n"
    "    TcpTimedWaitDelay    REG_DWORD    0x1e\r\n"
    "    KeepAliveTime    REG_DWORD    0x6ddd00\r\n"
    "    TcpMaxDataRetransmissions    REG_DWORD    0x5\r\n"
    "    MaxUserPort    REG_DWORD    0xfffe\r\n"
    "    SearchList    REG_MULTI_SZ    corp.example\\0lab.example\r\n"
    "    Dhcpv6DUID    REG_BINARY    000100012ACF19EB\r\n"
    "    Broken    REG_DWORD    0xZZ\r\n"
    "\r\n"
    "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\\Adapters\r\n"
    "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\\Interfaces\r\n"
    "\r\n")


def test_reg_query_tcpip_parameters_constructed_sample():
    parsed = parse_reg_query(REG_QUERY)
    assert parsed.key == "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"
    values = parsed.values
    assert values["TcpTimedWaitDelay"] == RegValue("REG_DWORD", 30, "0x1e")
    assert values["KeepAliveTime"].value == 7_200_000
    assert values["TcpMaxDataRetransmissions"].value == 5 and values["MaxUserPort"].value == 65534
    assert values["NV Hostname"].value == "DESKTOP-1" and values["Domain"].value == ""
    assert values["DataBasePath"].value == "%SystemRoot%\\System32\\drivers\\etc"
    assert values["SearchList"].value == ("corp.example", "lab.example")
    assert values["Dhcpv6DUID"].value == bytes.fromhex("000100012ACF19EB")
    assert "Broken" not in values and "Broken" in parsed.problems[0]
    assert [key.rsplit("\\", 1)[1] for key in parsed.subkeys] == ["Adapters", "Interfaces"]


def test_reg_query_single_value_and_missing_value():
    one = parse_reg_query("\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\r\n"
                          "    TcpTimedWaitDelay    REG_DWORD    0x78\r\n\r\n")
    assert one.values == {"TcpTimedWaitDelay": RegValue("REG_DWORD", 120, "0x78")}
    # reg exits 1 and prints a localized error: nothing to read, not an exception
    assert parse_reg_query("ERROR: The system was unable to find the specified registry key or value.\r\n") is None
    assert parse_reg_query("FEHLER: Der angegebene Registrierungsschlüssel bzw. Wert wurde nicht gefunden.\r\n") is None


@pytest.mark.parametrize("name,codepage", [("chcp__1.txt", 850), ("chcp__2.txt", 936), ("chcp__3.txt", 850)])
def test_chcp_fixtures(name, codepage):
    assert parse_chcp(fixture_text(W + name)) == codepage


@pytest.mark.parametrize("text,codepage", [("現在のコード ページ: 932\r\n", 932), ("Active code page: 65001", 65001),
                                           ("Page de codes active : 850\r\n", 850), ("", None), ("850", None),
                                           ("Active code page: 70000", None), ("Active code page: 0", None)])
def test_chcp_other_forms(text, codepage):
    assert parse_chcp(text) == codepage


@pytest.mark.parametrize("raw,codepage,text", [
    ("Aktive Codepage: 850.\r\nABHÖREN".encode("cp850"), 850, "Aktive Codepage: 850.\r\nABHÖREN"),
    ("活动代码页: 936".encode("cp936"), 936, "活动代码页: 936"),
    ("確定".encode("cp950"), 950, "確定"),
    ("Ok.\r\n".encode("utf-16-le"), None, "Ok.\r\n"),  # wsl.exe without WSL_UTF8=1
    (b"\xff\xfe" + "确定。".encode("utf-16-le"), 936, "确定。"),  # BOM wins over the code page
    ("确定。".encode("utf-16-le"), 1200, "确定。"),  # CJK UTF-16 has no NULs: the caller's 1200 decides
    ("é".encode("utf-8"), 437, "é"),  # UTF-8 validates itself; cp437 would make it mojibake
    (b"\xef\xbb\xbfOk.", 437, "Ok."),  # UTF-8 BOM
    ("Ok.".encode("ascii"), 65001, "Ok."),
    (bytearray(b"Ok."), None, "Ok."),
    (b"caf\xe9", None, "caf\ufffd"),  # no code page, not UTF-8: replaced, not raised
    (b"caf\xe9", 99999, "caf\ufffd"),  # unknown code page number
    (b"caf\xe9", 1252, "café"),
    (b"", 936, ""),
    ("already text", 936, "already text"),
    (12345, 936, ""),  # wrong type
])
def test_decode_console(raw, codepage, text):
    assert decode_console(raw, codepage) == text


def test_codec_for():
    assert [codec_for(n) for n in (437, 850, 936, 65001, 1200, 20127)] == [
        "cp437", "cp850", "gbk", "utf-8", "utf-16-le", "ascii"]
    assert [codec_for(n) for n in (0, -1, 70000, 4242, None, True, "936")] == [None] * 7


def test_reg_query_numbers_that_are_not_what_their_type_says():
    text = ("HKEY_LOCAL_MACHINE\\X\r\n    A    REG_DWORD    1e\r\n    B    REG_DWORD    ²\r\n"
            "    C    REG_QWORD    0xffffffffffffffff\r\n    D    REG_DWORD    42\r\n")
    parsed = parse_reg_query(text)
    assert {name: v.value for name, v in parsed.values.items()} == {"C": 2 ** 64 - 1, "D": 42}
    assert len(parsed.problems) == 2
