"""Parsers against real captured outputs (../shared/fixtures) and arbitrary text."""

from conftest import fixture_text
from hypothesis import given
from hypothesis import strategies as st

from netwarden.platform.parse.procfs import count_in_range, parse_port_list, parse_port_range, parse_sockstat
from netwarden.platform.parse.sysctl_conf import normalize_key, parse_sysctl_conf
from netwarden.platform.parse.wsl import classify_kernel, parse_ini, wslconfig_networking_mode


def test_port_range_fixtures_tab_or_spaces():
    assert parse_port_range(fixture_text("linux/proc-ip_local_port_range__1.txt")) == (32768, 61000)
    assert parse_port_range(fixture_text("linux/proc-ip_local_port_range__2.txt")) == (44620, 48715)
    assert parse_port_range(fixture_text("linux/proc-ip_local_port_range__3.txt")) == (44620, 48715)
    assert parse_port_range(fixture_text("linux/proc-ip_local_port_range__4.txt")) == (32768, 60999)
    assert parse_port_range("61000 60000") is None and parse_port_range("") is None


def test_reserved_ports_fixture_and_counting():
    ranges, bad = parse_port_list(fixture_text("linux/proc-ip_local_reserved_ports__1.txt"))
    assert ranges == [(65000, 65535)] and bad == []
    ranges, bad = parse_port_list("8000-8100,9090, 40000-40009,x-1")
    assert bad == ["x-1"]
    assert count_in_range(ranges, 32768, 60999) == 10
    assert count_in_range([(1, 100), (50, 150)], 1, 1000) == 150  # overlaps counted once


def test_kernel_classification_fixtures():
    assert classify_kernel(fixture_text("linux/proc-version__1.txt")) == "wsl2"
    assert classify_kernel(fixture_text("linux/proc-version__2.txt")) == "wsl2"  # no -WSL2 suffix
    assert classify_kernel(fixture_text("linux/proc-version__3.txt")) == "wsl1"
    assert classify_kernel(fixture_text("linux/proc-version__4.txt")) == "wsl2"
    assert classify_kernel(fixture_text("linux/proc-version__5.txt")) == "wsl1"
    assert classify_kernel("Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)") is None


def test_wsl_conf_fixtures_trailing_spaces_and_comment_only_file():
    assert parse_ini(fixture_text("linux/wsl-conf__1.txt")) == {"network": {"generateresolvconf": "false"}}
    assert parse_ini(fixture_text("linux/wsl-conf__2.txt")) == {"network": {"generateresolvconf": "false"}}
    assert parse_ini(fixture_text("linux/wsl-conf__3.txt")) == {}  # all comments: no [network] section


def test_wslconfig_networking_mode_fixtures():
    assert wslconfig_networking_mode(fixture_text("linux/wslconfig__1.txt")) == "mirrored"
    assert wslconfig_networking_mode(fixture_text("linux/wslconfig__2.txt")) is None
    assert wslconfig_networking_mode("[experimental]\r\nnetworkingMode=Mirrored\r\n") == "mirrored"


def test_sysctl_conf_lines_keys_and_problems():
    text = "# c\n; c\nnet.ipv4.tcp_tw_reuse=1\n-net/ipv4/ip_local_port_range = 1024  65000 \nbroken line\n"
    found, problems = parse_sysctl_conf(text, "/x.conf")
    assert [(a.line, a.key, a.value) for a in found] == [
        (3, "net.ipv4.tcp_tw_reuse", "1"), (4, "net.ipv4.ip_local_port_range", "1024  65000")]
    assert problems == ["/x.conf:5: not a `key = value` line: 'broken line'"]
    assert normalize_key("net/ipv4/conf/eth0.100/rp_filter") == "net.ipv4.conf.eth0/100.rp_filter"


def test_sockstat():
    s = parse_sockstat("sockets: used 2\nTCP: inuse 3 orphan 1 tw 300 alloc 4 mem 1\nUDP: inuse 0\n")
    assert (s.tcp_inuse, s.time_wait, s.orphan) == (3, 300, 1)
    assert parse_sockstat("TCP: inuse x") is None


@given(st.text())
def test_parsers_never_raise(text):
    parse_port_range(text)
    parse_port_list(text)
    parse_sockstat(text)
    parse_sysctl_conf(text, "/f")
    parse_ini(text)
    wslconfig_networking_mode(text)
    classify_kernel(text)
