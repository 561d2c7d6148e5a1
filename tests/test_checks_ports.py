"""The port checks as pure functions over Facts."""

from netwarden import record

from factories import dest, facts, on_linux

from netwarden.checks import ports
from netwarden.config import Settings, Thresholds
from netwarden.model import PlatformInfo, Severity, Unknown

S = Settings()
check_range, check_pressure, check_tw_reuse = (on_linux(c) for c in (ports.check_range, ports.check_pressure,
                                                                    ports.check_tw_reuse))


def one(findings):
    assert len(findings) == 1
    return findings[0]


def test_wsl2_host_range_of_301_ports_is_critical_and_widened_to_at_least_the_kernel_default():
    f = one(check_range(facts("60700 61000"), S))
    assert f.severity is Severity.CRITICAL
    assert "301 ports, 301 usable by connect()" in f.observed
    (change,) = f.changes
    assert (change.target, change.current, change.new, change.persist) == (
        "net.ipv4.ip_local_port_range", "60700 61000", "32768 61000", True)


def test_range_thresholds_and_reserved_ports_count_against_the_range():
    assert one(check_range(facts("32768 60999"), S)).severity is Severity.OK
    assert one(check_range(facts("50000 60000"), S)).severity is Severity.WARNING  # 10,001 ports
    reserved = one(check_range(facts("32768 60999", reserved="33000-60000"), S))
    assert reserved.severity is Severity.CRITICAL  # 28,232 - 27,001 = 1,231 usable
    assert "1231 usable by connect() (27001 excluded, 96%)" in reserved.observed


def test_widening_never_narrows_either_end():
    change = one(check_range(facts("1024 10000"), S)).changes[0]  # 8,977 ports: warning
    assert change.new == "1024 60999"


def test_thresholds_come_from_settings():
    strict = Settings(thresholds=Thresholds(ports_range_critical=30000, ports_range_warning=40000))
    assert one(check_range(facts("32768 60999"), strict)).severity is Severity.CRITICAL


def test_wsl2_mirrored_mode_is_never_widened_only_advised():
    mirrored = PlatformInfo("linux", "wsl2", "5.15", "mirrored")
    f = one(check_range(facts("44620 48715", platform=mirrored), S))  # the real WSL range, 4096 ports
    assert f.severity is Severity.WARNING
    assert f.changes == ()
    assert any("tcp_tw_reuse" in a for a in f.advice) and any("hang" in a for a in f.advice)


def test_wsl2_with_unknown_mode_is_not_widened_but_nat_mode_is():
    unknown = PlatformInfo("linux", "wsl2", "5.15", None)
    assert one(check_range(facts("60700 61000", platform=unknown), S)).changes == ()
    nat = PlatformInfo("linux", "wsl2", "5.15", "nat")
    assert one(check_range(facts("60700 61000", platform=nat), S)).changes


def test_unreadable_range_is_unknown_with_the_reason():
    f = facts()
    f.sysctls["net.ipv4.ip_local_port_range"] = Unknown("permission denied")
    assert one(check_range(f, S)).severity is Severity.UNKNOWN
    assert "permission denied" in one(check_range(f, S)).observed
    assert one(check_range(facts("garbage"), S)).severity is Severity.UNKNOWN


def test_a_sysctl_file_after_the_dropin_is_named_as_winning_at_boot():
    f = facts("60700 61000", boot=[("/etc/sysctl.d/10-a.conf", "net.ipv4.ip_local_port_range", "1 2"),
                                   ("/etc/sysctl.d/99-wsl.conf", "net.ipv4.ip_local_port_range", "60700 61000")])
    evidence = " ".join(one(check_range(f, S)).evidence)
    assert "99-wsl.conf" in evidence and "wins at boot" in evidence
    before_mine = facts("60700 61000", boot=[("/etc/sysctl.d/10-a.conf", "net.ipv4.ip_local_port_range", "1 2")])
    assert "wins at boot" not in " ".join(one(check_range(before_mine, S)).evidence)


def test_pressure_is_per_destination_share_of_the_usable_range():
    usable = 28232
    assert one(check_pressure(facts(destinations=[dest(100)]), S)).severity is Severity.OK
    assert one(check_pressure(facts(destinations=[dest(usable // 2 + 1)]), S)).severity is Severity.WARNING
    f = one(check_pressure(facts(destinations=[dest(int(usable * 0.9)), dest(5, address="10.9.9.9")]), S))
    assert f.severity is Severity.CRITICAL
    assert "198.18.0.2:443" in f.title


def test_forecast_from_time_wait_ages():
    # 150 closed in the last 10 s, 50 leaving in the next 10 s: grows 10/s; 301-200 ports left.
    f = one(check_pressure(facts("60700 61000", destinations=[dest(200, young=150, expiring=50)]), S))
    assert "sustains 5.0 new connections/s" in f.evidence[0]
    assert "runs out in ~10 s" in f.evidence[0]
    exhausted = one(check_pressure(facts("60700 61000", destinations=[dest(301, young=301)]), S))
    assert "exhausted now" in exhausted.evidence[0]
    steady = one(check_pressure(facts(destinations=[dest(100, young=10, expiring=10)]), S))
    assert "not growing" in steady.evidence[0]


def test_pressure_without_census_is_unknown():
    f = record.replace(facts(), census=Unknown("sock_diag census failed: no such module"))
    assert one(check_pressure(f, S)).severity is Severity.UNKNOWN


def test_tw_reuse_is_asked_for_only_under_pressure():
    calm = one(check_tw_reuse(facts(tw_reuse="2"), S))
    assert calm.severity is Severity.OK and not calm.changes
    pressed = one(check_tw_reuse(facts("60700 61000", tw_reuse="2", destinations=[dest(250)]), S))
    assert pressed.severity is Severity.WARNING
    assert [(c.target, c.new) for c in pressed.changes] == [("net.ipv4.tcp_tw_reuse", "1")]
    assert "not a burst" in pressed.evidence[0]
    already = one(check_tw_reuse(facts("60700 61000", tw_reuse="1", destinations=[dest(250)]), S))
    assert already.severity is Severity.OK


def test_a_threshold_above_the_kernel_default_plans_no_change_and_says_why():
    asks_more = Settings(thresholds=Thresholds(ports_range_critical=4096, ports_range_warning=30000))
    f = one(check_range(facts("32768 60999"), asks_more))
    assert f.severity is Severity.WARNING and f.changes == ()  # never "32768 60999 -> 32768 60999"
    assert "ports_range_warning" in f.advice[0] and "30000" in f.advice[0]
    wider_already = one(check_range(facts("20000 60999"), Settings(thresholds=Thresholds(50000, 50000))))
    assert wider_already.severity is Severity.CRITICAL and wider_already.changes == ()
    # where widening helps, it still happens
    assert one(check_range(facts("40000 60999"), asks_more)).changes[0].new == "32768 60999"
