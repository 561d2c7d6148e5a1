"""Source.run decodes a Windows console program's output by its code page (cp936 for zh-CN,
UTF-16LE for wsl.exe); a recording keeps the decoded text, so its replay needs no code page."""

import json
import sys

import pytest
from conftest import fixture_text

from netwarden.platform.source import CONSOLE, RecordingSource, ReplaySource, Source, console_codepage

ZH_DYNAMIC = "netsh-ipv4-show-dynamicport-tcp__4.txt"


def printing(raw: bytes) -> list[str]:
    """A command that writes exactly these bytes to stdout (and a little to stderr)."""
    return [sys.executable, "-c", f"import sys; sys.stdout.buffer.write({raw!r}); sys.stderr.buffer.write({raw[:8]!r})"]


def test_cp936_bytes_decode_by_their_code_page_and_utf8_stays_the_default():
    text = fixture_text(f"windows/{ZH_DYNAMIC}")
    raw = text.replace("\n", "\r\n").encode("cp936")
    assert "启动端口" in Source().run(printing(raw), codepage=936).stdout
    assert "启动端口" not in Source().run(printing(raw)).stdout  # the UTF-8 default does not read GBK


def test_utf16le_output_of_wsl_exe_is_recognised_whatever_the_code_page():
    raw = "NAT\r\n".encode("utf-16-le")
    assert Source().run(printing(raw), codepage=437).stdout.strip() == "NAT"


def test_a_recording_keeps_the_decoded_text_and_the_replay_asks_for_no_code_page(tmp_path):
    from netwarden.config import Settings

    text = fixture_text(f"windows/{ZH_DYNAMIC}")
    argv = printing(text.encode("cp936"))
    recorder = RecordingSource()
    live = recorder.run(argv, codepage=936)
    recorder.save(tmp_path / "b", ["netwarden"], Settings())
    saved = json.loads((tmp_path / "b" / "entries.json").read_text())
    assert saved[0]["result"]["stdout"] == live.stdout and "启动端口" in live.stdout
    replayed = ReplaySource(tmp_path / "b").run(argv)  # no code page given
    assert replayed.stdout == live.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="the console's code page exists only on Windows")
def test_the_console_code_page_off_windows_is_none_and_output_is_decoded_as_utf8_or_utf16():
    assert console_codepage() is None
    assert Source().run(printing("é\n".encode()), codepage=CONSOLE).stdout == "é\n"
