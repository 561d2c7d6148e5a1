"""The Windows backend's facts and plans, piece by piece, on the real captures: tunnel adapters by
their driver, routes named by their interface, a dead tunnel holding routes, the commands' own
failures (missing, exit code, timeout), WSL's interop code page, and the advice for what netsh
does not change."""

import json

import pytest
from windows_host import SYSTEM32, WSL32, english_host, fx

from netwarden.checks import all_checks
from netwarden.config import Settings
from netwarden.model import Facts, Finding, Intent, PlatformInfo, PortBlock, PortRange, Route, Severity, Unknown
from netwarden.platform import windows_facts as wf
from netwarden.platform import windows_plan
from netwarden.platform.source import CommandResult, NotRecorded, Source
from netwarden.platform.windows import WindowsBackend
from netwarden.platform.windows_commands import Commands

WINDOWS = PlatformInfo("win32", "windows", "10.0.19045")
# CONSTRUCTED in netsh's subinterfaces format for the host of ipconfig-all__3 (a Tailscale tunnel
# that received nothing, Ethernet 2, the disconnected Bluetooth PAN), and its routes in route
# print's format (Tailscale's 100.64.0.0/10 through its address, the default through Ethernet 2).
SUBINTERFACES = ("\r\n   MTU  MediaSenseState   Bytes In  Bytes Out  Interface\r\n"
                 "------  ---------------  ---------  ---------  -------------\r\n"
                 "4294967295                1          0      61754  Loopback Pseudo-Interface 1\r\n"
                 "  1280                1          0     983040  Tailscale\r\n"
                 "  1500                1  378930172   17361001  Ethernet 2\r\n"
                 "  1500                2          0          0  Bluetooth Network Connection\r\n")
ROUTES = ("===========================================================================\r\nInterface List\r\n"
          "  8...........................Tailscale Tunnel\r\n 16...f8 e4 3b ad f2 6d ......ASIX AX88179 USB 3.0 to "
          "Gigabit Ethernet Adapter #2\r\n  1...........................Software Loopback Interface 1\r\n"
          "===========================================================================\r\n\r\nIPv4 Route Table\r\n"
          "===========================================================================\r\nActive Routes:\r\n"
          "Network Destination        Netmask          Gateway       Interface  Metric\r\n"
          "          0.0.0.0          0.0.0.0       10.50.13.1     10.50.13.132     25\r\n"
          "       10.50.13.0    255.255.255.0         On-link      10.50.13.132    281\r\n"
          "     10.50.13.132  255.255.255.255         On-link      10.50.13.132    281\r\n"
          "       100.64.0.0      255.192.0.0         On-link     100.115.71.66      5\r\n"
          "        224.0.0.0        240.0.0.0         On-link         127.0.0.1    331\r\n"
          "===========================================================================\r\nPersistent Routes:\r\n  None\r\n"
          "\r\nIPv6 Route Table\r\n===========================================================================\r\n"
          "Active Routes:\r\n If Metric Network Destination      Gateway\r\n"
          "  8      5 fd7a:115c:a1e0::/48      On-link\r\n 16    281 ::/0                     fe80::1\r\n"
          "  1    331 ff00::/8                 On-link\r\n"
          "===========================================================================\r\nPersistent Routes:\r\n  None\r\n")


def test_tunnel_adapters_are_told_by_their_driver_and_a_silent_one_has_no_carrier():
    config = wf.ipconfig(fx("ipconfig-all__3.txt"))
    links = {link.name: link for link in wf.links(SUBINTERFACES, config)}
    assert (links["Tailscale"].kind, links["Tailscale"].carrier, links["Tailscale"].operstate) == ("tun", False,
                                                                                                   "nothing received")
    assert links["Ethernet 2"].kind == "ether" and links["Ethernet 2"].carrier is True
    assert links["Bluetooth Network Connection"].carrier is False  # media disconnected
    assert links["Loopback Pseudo-Interface 1"].kind == "loopback"
    for description, kind in (("Wintun Userspace Tunnel", "tun"), ("TAP-Windows Adapter V9", "tap"),
                              ("WireGuard Tunnel", "wireguard"), ("OpenVPN Data Channel Offload", "tun"),
                              ("Tailscale Tunnel", "tun"), ("Intel(R) Wi-Fi 6 AX201 160MHz", "ether")):
        assert wf.link_kind(description, 1500) == kind, description


def test_routes_are_named_by_their_interface_and_the_host_routes_are_left_out():
    config = wf.ipconfig(fx("ipconfig-all__3.txt"))
    routes = wf.routes(ROUTES, config)
    assert Route(4, "default", "Ethernet 2", "10.50.13.1", 25) in routes
    assert Route(4, "100.64.0.0/10", "Tailscale", None, 5) in routes
    assert Route(6, "fd7a:115c:a1e0::/48", "Tailscale", None, 5) in routes
    assert Route(6, "default", "Ethernet 2", "fe80::1", 281) in routes
    assert not [r for r in routes if r.dst in ("10.50.13.132/32", "224.0.0.0/4", "ff00::/8")]


def test_a_dead_tailscale_tunnel_holding_routes_is_reported_with_the_route_delete_commands():
    config = wf.ipconfig(fx("ipconfig-all__3.txt"))
    facts = Facts(WINDOWS, links=wf.links(SUBINTERFACES, config), routes=wf.routes(ROUTES, config))
    [finding] = all_checks()["tunnels.stale"].run(facts, Settings())
    assert finding.severity is Severity.WARNING and finding.title == "2 routes through dead tunnels"
    realized = windows_plan.realize(finding, facts, Settings(tunnels_remove_stale_routes=True))
    assert realized.changes == ()  # never deleted on Windows, even when allowed
    assert "route delete 100.64.0.0 mask 255.192.0.0" in realized.advice
    assert "route delete fd7a:115c:a1e0::/48" in realized.advice


@pytest.mark.parametrize("text, why", [
    (Unknown("`netsh interface ipv4 show dynamicport tcp`: not in the support bundle"), "not in the support bundle"),
    ("", "nothing readable"), ("Start Port : 70000\nNumber of Ports : 9\n", "nothing readable"),
    ("\x00" * 50, "nothing readable")])
def test_an_unreadable_range_is_unknown_with_the_reason(text, why):
    found = wf.port_range(text, "", {})
    assert isinstance(found, Unknown) and why in found.reason


def test_overlapping_exclusions_count_each_port_once():
    blocks = "Start Port    End Port\n----------    --------\n 50000 50099\n 50050 50149 *\n 50120 50130\n"
    ports = wf.port_range(fx("netsh-ipv4-show-dynamicport-tcp__1.txt"), blocks, {})
    assert ports.usable == 16384 - 150
    assert ports.excluded == (PortBlock(50000, 50099, False), PortBlock(50100, 50149, True))


@pytest.mark.parametrize("value, seconds, said", [(None, 120, "Windows' default 120 s"), (30, 30, "= 30 s"),
                                                 (5, 30, "counted as 30 s"), (4000, 300, "counted as 300 s")])
def test_time_wait_from_the_registry_within_its_documented_range(value, seconds, said):
    from windows_host import reg_query

    reg = wf.registry(reg_query(**({} if value is None else {"TcpTimedWaitDelay": value})))
    found = wf.time_wait(reg, wf.connections(fx("netstat-ano__2.txt")))
    assert found.seconds == seconds and said in found.setting and found.count == 3


def test_keepalive_and_pmtu_read_their_values_in_milliseconds_and_say_the_defaults():
    from windows_host import reg_query

    reg = wf.registry(reg_query(KeepAliveTime=240_000, KeepAliveInterval=2000, EnablePMTUBHDetect=1))
    keepalive = wf.keepalive(reg)
    assert (keepalive.idle, keepalive.interval, keepalive.probes, keepalive.retries) == (240, 2, 10, 5)
    assert "TcpMaxDataRetransmissions absent (default)" in keepalive.setting
    assert wf.pmtu(reg).enabled is True
    assert wf.pmtu(wf.registry(reg_query(EnablePMTUDiscovery=0))).setting.endswith("path-MTU discovery itself is off "
                                                                                   "(576-byte segments off-link)")


class Answers(Source):
    """A Windows host answering each argv from a dict (text, a CommandResult, or an OSError)."""

    system = "win32"

    def __init__(self, answers, system32=SYSTEM32):
        self.answers, self.asked = answers, []
        self.system32 = system32

    def call(self, name, fn, *args):
        raise NotRecorded("call", name)

    def exists(self, path):
        return path == f"{WSL32}/netsh.exe"

    def read(self, path):
        raise FileNotFoundError(path)

    def run(self, argv, timeout=10.0, codepage=None):
        self.asked.append((argv, codepage))
        answer = self.answers.get(tuple(argv))
        if isinstance(answer, OSError):
            raise answer
        if isinstance(answer, CommandResult):
            return answer
        if answer is None:
            raise FileNotFoundError(2, "No such file or directory", argv[0])
        return CommandResult(0, answer, "")


@pytest.mark.parametrize("answer, why", [
    (None, "`netsh interface ipv4 show dynamicport tcp`: No such file or directory"),
    (TimeoutError(110, "netsh.exe did not answer within 20 s"), "did not answer within 20 s"),
    (CommandResult(1, "The requested operation requires elevation (Run as administrator).\r\n", ""),
     "exited 1: The requested operation requires elevation"),
    (CommandResult(5, "", "Access is denied.\r\n"), "exited 5: Access is denied."),
])
def test_a_command_that_fails_makes_its_fact_unknown_naming_the_command(answer, why):
    key = (f"{SYSTEM32}\\netsh.exe", "interface", "ipv4", "show", "dynamicport", "tcp")
    backend = WindowsBackend(Answers({key: answer}), Settings(), WINDOWS)
    found = backend.collect({"port_range"}).port_range
    assert isinstance(found, Unknown) and why in found.reason


def test_wsl_interop_runs_chcp_first_and_decodes_netsh_by_its_code_page():
    chcp = (f"{WSL32}/chcp.com",)
    source = Answers({chcp: fx("chcp__2.txt")})  # 活动代码页: 936
    commands = Commands.interop(source)
    commands.dynamic_ports("ipv4", "tcp")
    assert commands.codepage == 936
    assert source.asked[-1] == ([f"{WSL32}/netsh.exe", "interface", "ipv4", "show", "dynamicport", "tcp"], 936)
    assert source.asked[0] == ([f"{WSL32}/chcp.com"], None)


def test_the_native_backend_asks_for_the_console_code_page_and_system32_from_the_system():
    source = Answers({})
    WindowsBackend(source, Settings(), WINDOWS).collect({"address_policy"})
    assert source.asked == [([f"{SYSTEM32}\\netsh.exe", "interface", "ipv6", "show", "prefixpolicies"], "console")]


def range_finding(ports: PortRange, severity=Severity.CRITICAL) -> Finding:
    return Finding("ports.range", severity, "t", intents=(Intent("widen-port-range", {
        "low": min(ports.low, 49152), "high": max(ports.high, 65535), "current": (ports.low, ports.high),
        "layer": ports.layer}),))


def test_widening_is_one_netsh_change_per_setting_never_narrower_and_none_for_a_wide_one():
    ports = PortRange(50000, 51999, 2000, wf.DEFAULT_RANGE, "s", shared_pool=True)
    facts = Facts(WINDOWS, port_range=ports, host={"dynamic_ports": {
        "ipv4 tcp": (50000, 2000), "ipv4 udp": (40000, 20000), "ipv6 tcp": (49152, 16384), "ipv6 udp": (49152, 1000)}})
    realized = windows_plan.realize(range_finding(ports), facts, Settings())
    assert [(c.kind, c.target, c.current, c.new) for c in realized.changes] == [
        ("netsh-dynamicport", "ipv4 tcp", "start=50000 num=2000", "start=49152 num=16384"),
        ("netsh-dynamicport", "ipv4 udp", "start=40000 num=20000", "start=40000 num=25536"),  # keeps its lower start
        ("netsh-dynamicport", "ipv6 udp", "start=49152 num=1000", "start=49152 num=16384")]
    assert realized.changes[0].summary == "netsh interface ipv4 set dynamicport tcp start=49152 num=16384"


@pytest.mark.parametrize("setting, start, num, problem", [
    ("ipv4 tcp", 1024, 1000, "start port of 1025 or more"), ("ipv4 tcp", 60000, 100, "not a range netsh accepts"),
    ("ipv4 tcp", 60000, 6000, "not a range netsh accepts"), ("ipv4 sctp", 50000, 1000, "not a dynamic port range"),
    ("ipv4 tcp", "50000", 1000, "must be numbers"), ("ipv4 tcp", True, 1000, "must be numbers")])
def test_values_netsh_would_refuse_never_reach_its_argv(setting, start, num, problem):
    with pytest.raises(ValueError, match=problem):
        windows_plan.dynamic_argv(setting, start, num)


@pytest.mark.parametrize("name", ['Wi-Fi "2"', "Wi-Fi\n2", "%PATH%", "", "x" * 300, None, 5])
def test_an_interface_name_that_cannot_be_quoted_safely_is_not_put_in_a_command(name):
    finding = Finding("mtu.path", Severity.CRITICAL, "t", intents=(Intent("lower-mtu", {"dev": name, "mtu": 1280,
                                                                                         "target": "a:443"}),))
    [advice] = windows_plan.realize(finding, Facts(WINDOWS), Settings()).advice
    assert '"<interface>" mtu=1280 store=persistent' in advice
    assert windows_plan.quoted_name("Wi-Fi 2") == '"Wi-Fi 2"'


def test_registry_and_mtu_advice_is_the_exact_command_and_never_disables_ipv6():
    settings = Settings()
    intents = (Intent("enable-pmtu-probing"), Intent("shorten-keepalive", {"idle": 240, "current": 7200}),
               Intent("limit-retries", {"retries": 8, "current": 15}), Intent("lower-mtu", {
                   "dev": "Pripojenie bezdrôtovej siete", "mtu": 1280, "target": "a:443"}))
    advice = " ".join(windows_plan.realize(Finding("x", Severity.WARNING, "t", intents=intents), Facts(WINDOWS),
                                           settings).advice)
    parameters = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"
    assert f"`reg add {parameters} /v EnablePMTUBHDetect /t REG_DWORD /d 1 /f`" in advice
    assert f"`reg add {parameters} /v KeepAliveTime /t REG_DWORD /d 240000 /f`" in advice
    assert '`netsh interface ipv4 set subinterface "Pripojenie bezdrôtovej siete" mtu=1280 store=persistent`' in advice
    assert "DisabledComponents" not in advice


def test_dead_resolvers_are_advice_per_adapter_with_live_ones_first():
    config = wf.ipconfig(fx("ipconfig-all__1.txt"))
    facts = Facts(WINDOWS, resolvers=wf.resolvers(config))
    finding = Finding("dns.resolvers", Severity.CRITICAL, "t", intents=(
        Intent("reorder-resolvers", {"live": ["240e:1f:1::1"], "dead": ["192.168.1.1"]}),))
    [advice] = windows_plan.realize(finding, facts, Settings(dns_fallback=("9.9.9.9",))).advice
    assert ('Set-DnsClientServerAddress -InterfaceAlias "以太网" -ServerAddresses ("240e:1f:1::1","240e:1f:1::33",'
            '"9.9.9.9")') in advice


def test_every_windows_answer_is_what_the_english_host_bundle_assembles():
    """The helper's argv are the backend's: a collection asks exactly the assembled questions."""
    from windows_host import QUESTIONS

    keys = {tuple(argv): text for name, argv in QUESTIONS.items() if (text := english_host().get(name)) is not None}
    source = Answers(keys)
    WindowsBackend(source, Settings(), WINDOWS).collect({spec for check in all_checks().values()
                                                         for spec in check.facts})
    assert {tuple(argv) for argv, _ in source.asked} == set(keys) - {tuple(QUESTIONS["ver"])}
    assert json.dumps([argv for argv, _ in source.asked])  # plain strings only


def test_the_zh_cn_host_printing_cp936_bytes_gives_the_same_facts_as_its_decoded_bundle():
    """What Source.run does with a console at code page 936: the GBK bytes of each capture, CRLF,
    decoded by the code page (source.decoded), read as the replay reads the decoded text."""
    from windows_host import QUESTIONS, chinese_host

    from netwarden.platform.source import decoded

    texts = {tuple(QUESTIONS[name]): text for name, text in chinese_host().items()}

    class Console(Answers):
        def run(self, argv, timeout=10.0, codepage=None):
            raw = texts[tuple(argv)].replace("\r\n", "\n").replace("\n", "\r\n").encode("cp936")
            return CommandResult(0, decoded(raw, 936), "")

    wanted = {"port_range", "address_policy", "links", "resolvers", "time_wait", "census"}
    from_bytes = WindowsBackend(Console({}), Settings(), WINDOWS).collect(wanted)
    from_text = WindowsBackend(Answers(texts), Settings(), WINDOWS).collect(wanted)
    for name in wanted:
        assert getattr(from_bytes, name) == getattr(from_text, name), name
    assert (from_bytes.port_range.low, from_bytes.port_range.usable) == (1024, 12775)
    assert [link.name for link in from_bytes.links][3:5] == ["以太网", "本地连接* 1"]
