"""The files the checks read (resolv.conf, gai.conf, sysctl.conf, a sysctl.d directory's files)
are paths an admin can set: whatever is found there, a check says what it is and the run ends.
/dev/zero used to fill the memory (the kernel's OOM killer at 24 GB), a FIFO to block for ever."""

import json
import os

import pytest
from factories import NOT_REGULAR, run_cli

from netwarden.platform.source import MAX_READ, Source

# Each path setting, and the check whose finding must say what was found there.
READ_BY = {"NETWARDEN_RESOLV_CONF": "dns.resolvers", "NETWARDEN_GAI_CONF": "ipv6.preference"}
NOT_FILES = {"a character device": lambda path: "/dev/zero", "an endless random device": lambda path: "/dev/urandom",
             "a FIFO": lambda path: (os.mkfifo(path), str(path))[1], "a directory": lambda path: (path.mkdir(), str(path))[1],
             "a sparse file over the limit": lambda path: (os.truncate(_touch(path), MAX_READ + 1), str(path))[1]}

WHAT = {"a sparse file over the limit": f"over {MAX_READ >> 20} MiB", "a directory": "Is a directory"}


def _touch(path):
    path.touch()
    return path


@pytest.mark.parametrize("kind", NOT_FILES)
@pytest.mark.parametrize("variable", READ_BY)
def test_a_read_path_that_is_not_a_readable_regular_file_makes_its_check_unknown(tmp_path, variable, kind):
    path = NOT_FILES[kind](tmp_path / "file")
    r = run_cli("--json", "--only", READ_BY[variable], env={"NETWARDEN_STATE_DIR": str(tmp_path / "state"),
                                                          variable: path}, timeout=30)
    assert r.returncode in (0, 1, 2, 3) and "Traceback" not in r.stderr, r.stderr[-2000:]
    finding, = json.loads(r.stdout)["findings"]
    what = WHAT.get(kind, "not a regular file")
    assert f"{path}: {what}" in finding["observed"], finding


@pytest.mark.parametrize("kind", NOT_FILES)
def test_sysctl_files_that_are_not_regular_files_end_the_run_too(tmp_path, kind):
    dropins = tmp_path / "sysctl.d"
    dropins.mkdir()
    (dropins / "90-x.conf").symlink_to(NOT_FILES[kind](tmp_path / "file"))
    r = run_cli("--json", "--only", "ports.range", env={
        "NETWARDEN_STATE_DIR": str(tmp_path / "state"), "NETWARDEN_SYSCTL_CONF": str(dropins / "90-x.conf"),
        "NETWARDEN_SYSCTL_SEARCH_DIRS": json.dumps([str(dropins)])}, timeout=30)
    assert r.returncode in (0, 1, 2, 3) and "Traceback" not in r.stderr, r.stderr[-2000:]
    finding, = json.loads(r.stdout)["findings"]
    assert f"ignored at boot: {dropins / '90-x.conf'}: {WHAT.get(kind, 'not a regular file')}" in finding["evidence"]


@pytest.mark.parametrize("kind", NOT_REGULAR)
def test_the_source_reads_regular_files_only_and_says_so(tmp_path, kind):
    path = tmp_path / "file"
    NOT_REGULAR[kind](path)
    if kind == "a_symlink_to_a_file":
        assert Source().read(str(path)) == ""  # an admin's symlink to a real file is followed
        return
    with pytest.raises(OSError) as e:
        Source().read(str(path))
    assert e.value.strerror in ("not a regular file", "Is a directory", "No such file or directory",
                                "No such device or address"), e.value


def test_procfs_and_sysfs_files_are_regular_files_of_size_zero_and_are_read():
    assert Source().read("/proc/sys/net/ipv4/ip_local_port_range").strip()
    assert Source().read("/proc/self/status").startswith("Name:")


def test_a_file_of_thousands_of_bad_lines_gives_a_bounded_report(tmp_path):
    """60,000 lines resolv.conf does not take: the finding shows the first ones and a count, not
    all (a 63 MiB file printed 217 MB of evidence)."""
    from netwarden.engine import MAX_EVIDENCE

    resolv = tmp_path / "resolv.conf"
    resolv.write_text("net.ipv4.x = 1\n" * 60000)
    env = {"NETWARDEN_STATE_DIR": str(tmp_path / "state"), "NETWARDEN_RESOLV_CONF": str(resolv)}
    r = run_cli("--json", "--only", "dns.resolvers", env=env, timeout=30)
    finding, = json.loads(r.stdout)["findings"]
    assert len(finding["evidence"]) == MAX_EVIDENCE, len(finding["evidence"])
    assert finding["evidence"][-1].startswith("… and ") and "more lines like these" in finding["evidence"][-1]
    assert len(run_cli("--only", "dns.resolvers", env=env, timeout=30).stdout) < 20_000


def test_the_text_report_shows_control_characters_in_a_path_escaped(tmp_path):
    path = tmp_path / "x\x1b[31m\ny\u202ez"
    r = run_cli("--only", "dns.resolvers", env={"NETWARDEN_STATE_DIR": str(tmp_path / "state"),
                                                "NETWARDEN_RESOLV_CONF": str(path)}, timeout=30)
    assert "x\\x1b[31m\\ny\\u202ez" in r.stdout, r.stdout
    assert all(line.isprintable() for line in r.stdout.splitlines()), r.stdout
