"""packaging/windows/netwarden-daemon.xml: a Task Scheduler definition that starts `netwarden daemon`
at boot as SYSTEM, elevated, restarts it when it fails, never stops it for running long, and works
in the state folder netwarden uses on Windows; its values are within the schema's bounds
(RestartOnFailure: Interval PT1M..P31D, Count an unsignedByte >= 1)."""

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path, PureWindowsPath

import pytest

from netwarden.cli import build_parser
from netwarden.config import platform_paths

TASK = Path(__file__).resolve().parents[1] / "packaging" / "windows" / "netwarden-daemon.xml"
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def task():
    return ElementTree.parse(TASK).getroot()


def text(path: str) -> str:
    found = task().find(path, NS)
    assert found is not None, path
    return (found.text or "").strip()


def minutes(duration: str) -> float:
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", duration)
    assert m, duration
    days, hours, mins, secs = (int(g or 0) for g in m.groups())
    return days * 1440 + hours * 60 + mins + secs / 60


def test_it_is_a_task_scheduler_definition_in_the_encoding_it_declares():
    raw = TASK.read_bytes()
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>') and raw.isascii()
    assert task().tag == f"{{{NS['t']}}}Task" and task().get("version") == "1.2"


def test_it_starts_at_boot_as_system_elevated():
    assert text("t:Triggers/t:BootTrigger/t:Enabled") == "true"
    principal = task().find("t:Principals/t:Principal", NS)
    assert text("t:Principals/t:Principal/t:UserId") == "S-1-5-18"  # LocalSystem, in any language
    assert text("t:Principals/t:Principal/t:RunLevel") == "HighestAvailable"
    assert task().find("t:Actions", NS).get("Context") == principal.get("id")


def test_it_is_restarted_on_failure_and_never_stopped_for_running_long():
    interval, count = text("t:Settings/t:RestartOnFailure/t:Interval"), int(text("t:Settings/t:RestartOnFailure/t:Count"))
    assert 1 <= minutes(interval) <= 31 * 1440 and 1 <= count <= 255
    assert text("t:Settings/t:ExecutionTimeLimit") == "PT0S"
    assert text("t:Settings/t:MultipleInstancesPolicy") == "IgnoreNew"
    assert text("t:Settings/t:StopIfGoingOnBatteries") == "false"
    assert text("t:Settings/t:Enabled") == "true"


def test_it_runs_netwarden_daemon_in_netwardens_windows_state_folder(monkeypatch):
    command = PureWindowsPath(text("t:Actions/t:Exec/t:Command"))
    assert command.name == "py.exe" and command.parts[0] == "%SystemRoot%"
    arguments = text("t:Actions/t:Exec/t:Arguments").split()
    assert arguments[:3] == ["-3", "-m", "netwarden"]
    assert build_parser().parse_args(arguments[3:]).command == "daemon"
    monkeypatch.setenv("ProgramData", "%ProgramData%")
    assert PureWindowsPath(text("t:Actions/t:Exec/t:WorkingDirectory")) == PureWindowsPath(
        platform_paths("win32")["state_dir"])


@pytest.mark.parametrize("duration, expected", [("PT1M", 1), ("PT1H", 60), ("P1DT2H", 1560), ("PT0S", 0)])
def test_durations_are_read_as_the_schema_writes_them(duration, expected):
    assert minutes(duration) == expected
