"""ports.clock-freeze as a pure check: when the TCP clock wraps, and what the TIME_WAIT samples a
backend took past that point prove."""

import pytest

from netwarden.checks.clock import check_clock, frozen
from netwarden.config import Settings
from netwarden.model import Facts, PlatformInfo, Severity, TcpClock, TimeWait, Unknown

MAC = PlatformInfo("darwin", "macos", "23.4.0")
BOOT, DAY = 1_700_000_000.0, 86400
WRAP = BOOT + (2**32 - 1_000_000) / 1000  # now_init 1,000,000 ms: 49 d 16 h 46 min after the boot (2023-11-14 22:13 UTC)


def run(clock, time_wait=TimeWait(30.0)):
    (finding,) = check_clock(Facts(MAC, tcp_clock=clock, time_wait=time_wait), Settings())
    return finding


def clock(days_up, samples=(), lingering=None, note=""):
    return TcpClock(BOOT, 1_000_000, WRAP, BOOT + days_up * DAY, samples, lingering, note)


@pytest.mark.parametrize("days_up, severity", [(0.01, "ok"), (46.6, "ok"), (46.8, "warning"), (49.68, "warning")])
def test_before_the_wrap_ok_then_a_warning_within_three_days(days_up, severity):
    finding = run(clock(days_up))
    assert finding.severity.value == severity
    if severity == "warning":
        assert finding.advice == ("Plan a reboot before 2024-01-03 14:59 UTC.",)
        assert "EADDRNOTAVAIL" in finding.title


def test_past_the_wrap_the_samples_decide():
    assert run(clock(50, ((0, 300), (31, 300)), lingering=300)).severity is Severity.CRITICAL
    assert run(clock(50, ((0, 300), (31, 290)), lingering=1)).severity is Severity.CRITICAL  # one survivor is enough
    assert run(clock(50, ((0, 300), (31, 300)), lingering=0)).severity is Severity.OK  # all new sockets: it drains
    assert run(clock(50, ((0, 900), (31, 950)))).severity is Severity.CRITICAL  # counts only: no fall
    assert run(clock(50, ((0, 900), (31, 10)))).severity is Severity.OK
    for undecided in (clock(50), clock(50, ((0, 0),), note="no TIME_WAIT socket to watch drain"),
                      clock(50, ((0, 300),), note="no second sample: timed out")):
        finding = run(undecided)
        assert finding.severity is Severity.WARNING and "could not be seen" in finding.title
    assert "no second sample: timed out" in run(clock(50, ((0, 300),), note="no second sample: timed out")).evidence


def test_samples_not_more_than_two_msl_apart_prove_nothing():
    assert frozen(clock(50, ((0, 300), (30, 300)), lingering=300), 30.0) is None
    assert frozen(clock(50, ((0, 300), (61, 300)), lingering=300), 60.0) is True
    assert run(clock(50, ((0, 300), (31, 300)), lingering=300), TimeWait(60.0)).severity is Severity.WARNING


def test_unknown_clock_and_dates_beyond_the_c_library():
    assert run(Unknown("net.inet.tcp.now_init not read")).severity is Severity.UNKNOWN
    assert run(None).observed == "not collected"
    far = TcpClock(2**60, 0, 2**60 + 4294967.296, 2**60 + 1.0)
    assert "Unix time" in run(far).observed
