"""Every file in ../shared/fixtures/windows goes through its parser: no fixture without a parser
(a new capture cannot be skipped silently), the same values from CRLF and LF, from the console's
code-page bytes (cp936 for zh-CN ...) through decode_console, and from collapsed whitespace; and no
parser raises on arbitrary text or on mutilated fixtures (truncated, lines dropped, junk added)."""

import re
import subprocess
import sys
import time

import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from netwarden.platform.parse.windows._text import split_transcript
from netwarden.platform.parse.windows.codepage import decode_console, parse_chcp
from netwarden.platform.parse.windows.dns import parse_dns_client_server_address, parse_netsh_dns
from netwarden.platform.parse.windows.events import parse_events_xml
from netwarden.platform.parse.windows.ipconfig import parse_ipconfig
from netwarden.platform.parse.windows.netsh_interfaces import parse_interfaces, parse_prefix_policies, parse_subinterfaces
from netwarden.platform.parse.windows.netsh_ports import parse_dynamic_ports, parse_excluded_port_ranges
from netwarden.platform.parse.windows.netsh_result import classify_netsh_result
from netwarden.platform.parse.windows.netstat import parse_netstat
from netwarden.platform.parse.windows.registry import parse_reg_query
from netwarden.platform.parse.windows.route import parse_route_print

WINDOWS = FIXTURES / "windows"


def netsh_transcript(text):
    """A pasted set-command session: each command's result as a transcript gives it (no exit code)."""
    return tuple(classify_netsh_result(command.output, None) for command in split_transcript(text))


# File-name slug (without `__N.txt` and `-unverified`) -> parser. A slug matching none fails.
PARSERS = [
    (r"chcp", parse_chcp),
    (r"ipconfig-all", parse_ipconfig),
    (r"netsh-ip-show-config|netsh-ipv[46]-show-dnsservers", parse_netsh_dns),
    (r"netsh-ipv[46]-show-dynamicport-(tcp|udp)", parse_dynamic_ports),
    (r"netsh-ipv4-show-excludedportrange-(tcp|udp)", parse_excluded_port_ranges),
    (r"netsh-ipv4-show-interfaces", parse_interfaces),
    (r"netsh-ipv4-show-subinterfaces", parse_subinterfaces),
    (r"netsh-ipv6-show-prefixpolicies", parse_prefix_policies),
    (r"netsh-ipv4-set-dynamicport|netsh-set-.*|netsh-ipv6-set-prefixpolicy-error", netsh_transcript),
    (r"netstat-ano", parse_netstat),
    (r"powershell-get-dnsclientserveraddress", parse_dns_client_server_address),
    (r"route-print", parse_route_print),
    (r"tcpip-events", parse_events_xml),
]
ALL_PARSERS = sorted({parser for _, parser in PARSERS} | {parse_reg_query}, key=lambda p: p.__name__)

# The code page each localized capture's console would have used (zh-CN ones: 936).
CODEPAGES = {
    "ipconfig-all__1.txt": 936, "netsh-ipv4-set-dynamicport__1.txt": 936, "netsh-ipv4-show-dynamicport-tcp__4.txt": 936,
    "netsh-ipv6-show-dynamicport-tcp__1.txt": 936, "netsh-ipv6-show-dynamicport-udp__1.txt": 936,
    "netsh-ipv4-show-excludedportrange-tcp__4.txt": 936, "netsh-ipv4-show-excludedportrange-tcp__6.txt": 936,
    "netsh-ipv4-show-subinterfaces__5.txt": 936, "netsh-ipv6-show-prefixpolicies__3.txt": 936,
    "netsh-ipv6-set-prefixpolicy-error__1.txt": 936, "netstat-ano__3.txt": 936, "chcp__2.txt": 936,
    "netsh-ipv4-show-excludedportrange-tcp__9.txt": 949,  # ko-KR
    "netsh-ipv4-show-excludedportrange-tcp-unverified__1.txt": 932,  # ja-JP
    "netsh-ipv4-show-excludedportrange-tcp-unverified__2.txt": 866,  # ru-RU
    "netsh-ipv4-show-subinterfaces__6.txt": 852,  # sk-SK interface names
    "netsh-ipv4-show-dnsservers__2.txt": 850, "route-print__3.txt": 850, "route-print__4.txt": 850,  # es, fr
}


def fixture_names():
    return sorted(path.name for path in WINDOWS.glob("*.txt")) if WINDOWS.is_dir() else []


def parsers_matching(name):
    slug = re.sub(r"(-unverified)?__\d+\.txt$", "", name)
    return [parser for pattern, parser in PARSERS if re.fullmatch(pattern, slug)]


def parser_for(name):
    matches = parsers_matching(name)
    assert len(matches) == 1, f"{name}: {len(matches)} parsers match its name; give it one in PARSERS"
    return matches[0]


def read(name):
    if not WINDOWS.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    # bytes as stored (route-print__1 and two -unverified ones are CRLF), as UTF-8 text
    return (WINDOWS / name).read_bytes().decode("utf-8")


def test_the_fixture_folder_is_there_and_full():
    if not WINDOWS.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    assert len(fixture_names()) >= 60


@pytest.mark.parametrize("name", fixture_names())
def test_every_fixture_parses_to_something(name):
    parsed = parser_for(name)(read(name))
    assert parsed is not None and parsed != ()


@pytest.mark.parametrize("name", fixture_names())
def test_crlf_and_lf_give_the_same_values(name):
    parser, text = parser_for(name), read(name)
    lf = text.replace("\r\n", "\n")
    assert parser(lf.replace("\n", "\r\n")) == parser(lf)


@pytest.mark.parametrize("name", sorted(CODEPAGES))
def test_console_bytes_in_the_local_code_page_give_the_same_values(name):
    parser, text = parser_for(name), read(name)
    console = text.replace("\r\n", "\n").replace("\n", "\r\n")  # what the console emits
    raw = console.encode(f"cp{CODEPAGES[name]}")
    assert raw != console.encode("utf-8")  # non-ASCII: the decoding matters
    decoded = decode_console(raw, CODEPAGES[name])
    assert decoded == console
    assert parser(decoded) == parser(text)


def test_zh_cn_fixtures_read_as_utf8_would_be_garbage():
    raw = read("netsh-ipv6-set-prefixpolicy-error__1.txt").encode("cp936")
    assert raw.decode("utf-8", errors="replace") != decode_console(raw, 936)


def collapse(text):
    return re.sub(r"[ \t]+", " ", text)


# Parsers whose values must not depend on column widths (a paste that collapsed the padding).
COLLAPSE_SAFE = {parse_dynamic_ports, parse_excluded_port_ranges, parse_subinterfaces, parse_interfaces,
                 parse_prefix_policies, parse_netsh_dns, parse_ipconfig, parse_netstat, parse_route_print,
                 parse_dns_client_server_address, parse_events_xml, parse_chcp}


@pytest.mark.parametrize("name", [n for n in fixture_names() if set(parsers_matching(n)) & COLLAPSE_SAFE])
def test_collapsed_whitespace_gives_the_same_values(name):
    parser, text = parser_for(name), read(name)
    assert parser(collapse(text)) == parser(text)


# Pieces of the outputs' structure, so random text also reaches the parsers' inner branches.
PIECES = st.sampled_from(["\r\n", "\n", "   ", " . . . : ", ":", "{", "}", "...", "*", "---- ----", "TCP", "UDP",
                          "IPv4", "IPv6", "DNS", "DHCP", "adapter", "REG_DWORD", "0x1e", "HKEY_LOCAL_MACHINE\\X",
                          "<Event>", "</Event>", "<EventID>4227</EventID>", "[::1]:80", "0.0.0.0:0", "fe80::1%4",
                          "192.168.1.1(Preferred)", "fec0:0:0:ffff::1%1", "On-link", "=====", "::/0", '"Wi-Fi"',
                          "C:\\>", "PS C:\\> ", "50000", "4294967295", "-1", "1e9", "nan", "\x00", "\ufeff",
                          "²", "٣", "0x", "0x1F", "1f", "REG_QWORD", "REG_MULTI_SZ", "\\0", " 27 IPv4 "])
TEXTS = st.one_of(st.text(max_size=600), st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=80).map("".join))


@pytest.mark.parametrize("parser", ALL_PARSERS, ids=lambda p: p.__name__)
@given(text=TEXTS)
@settings(max_examples=150, deadline=None)
def test_arbitrary_text_never_raises(parser, text):
    parser(text)


@st.composite
def mutilated_fixture(draw):
    name = draw(st.sampled_from(fixture_names() or ["none"]))
    if not WINDOWS.is_dir():
        return name, ""
    lines = read(name).splitlines(keepends=True)
    if lines and draw(st.booleans()):  # drop some lines
        keep = draw(st.lists(st.booleans(), min_size=len(lines), max_size=len(lines)))
        lines = [line for line, kept in zip(lines, keep) if kept]
    if draw(st.booleans()):  # junk at a random line
        lines.insert(draw(st.integers(0, len(lines))), draw(st.text(max_size=80)))
    if draw(st.booleans()):  # swap two lines
        i, j = draw(st.integers(0, max(len(lines) - 1, 0))), draw(st.integers(0, max(len(lines) - 1, 0)))
        if lines:
            lines[i], lines[j] = lines[j], lines[i]
    text = "".join(lines)
    if draw(st.booleans()):
        text = collapse(text)
    return name, text[:draw(st.integers(0, len(text)))]  # truncated at a random point


@given(mutilated_fixture())
@settings(max_examples=600, deadline=None)
def test_mutilated_fixtures_never_raise_in_any_parser(case):
    name, text = case
    for parser in ALL_PARSERS:
        parser(text)


@pytest.mark.parametrize("junk", [
    "\x00" * 50, "\ufeff\r\r\r\n", "9" * 100_000, "..." * 1000, "[" * 5000, "%" * 5000, "<Event>" * 10_000,
    "\n".join(["  TCP 1.1.1.1:1 2.2.2.2:2 TIME_WAIT 0"] * 20_000),
    # single 100 KB lines shaped to make a backtracking regex quadratic
    " " * 100_000 + "x", "  a" + " ." * 50_000, "  a" + " 1" * 50_000 + " {", "Active: 1" + " " * 100_000 + "x",
    ":" * 100_000, "  x" + "    y" * 20_000 + "    REG_SZ", "  " + "=" * 100_000 + "x", "1 " * 50_000,
])
def test_odd_and_huge_inputs_never_raise_nor_stall(junk):
    started = time.monotonic()
    for parser in ALL_PARSERS:
        parser(junk)
    assert time.monotonic() - started < 10  # linear: well under a second each on this machine


@pytest.mark.parametrize("wrong", [None, b"Start Port : 1", 42, ["a"]])
def test_wrong_types_are_read_as_nothing(wrong):
    for parser in ALL_PARSERS:
        assert parser(wrong) in (None, ())


def test_the_parsers_import_nothing_posix_only():
    """They run on Windows: fcntl, grp, pwd, termios (and their kin) must not be needed."""
    code = (
        "import importlib, sys\n"
        "BLOCKED = {'fcntl', 'grp', 'pwd', 'termios', 'resource', 'pty', 'tty', 'syslog', 'posix_ipc'}\n"
        "for name in BLOCKED: sys.modules.pop(name, None)\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED: raise ImportError('POSIX-only: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "for module in ('_text', 'codepage', 'dns', 'events', 'ipconfig', 'netsh_interfaces', 'netsh_ports',\n"
        "               'netsh_result', 'netstat', 'registry', 'route'):\n"
        "    importlib.import_module('netwarden.platform.parse.windows.' + module)\n"
        "print(sorted(BLOCKED & set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@given(raw=st.one_of(st.binary(max_size=400), TEXTS.map(lambda t: t.encode("utf-16-le")),
                     TEXTS.map(lambda t: t.encode("gbk", errors="replace"))),
       codepage=st.one_of(st.none(), st.integers(-5, 70_000), st.sampled_from([437, 850, 936, 932, 65001, 1200, 1201])))
@settings(max_examples=400, deadline=None)
def test_decode_console_never_raises_and_chcp_reads_its_output(raw, codepage):
    text = decode_console(raw, codepage)
    assert isinstance(text, str)
    parse_chcp(text)
