"""netwarden's own state files, damaged every way a disk, a crash or a hand edit can damage them:
the journal makes --apply / --revert fail cleanly (exit 74, one line, nothing changed), the
daemon's findings and history files are set aside with a word in the log."""

import base64
import json

import pytest
from factories import DUMP_V4, NOT_REGULAR, fake_host

from netwarden import cli
from netwarden.daemon.drift import DriftEvent, History
from netwarden.journal import Journal

RANGE_FILE = "sys/net/ipv4/ip_local_port_range"
GOOD_ENTRY = {"kind": "sysctl", "target": "net.ipv4.ip_local_port_range", "original": "60700\t61000",
              "check": "ports.range", "state": "applied", "written": "32768 61000"}
FILE_ORIGINAL = {"exists": True, "content_b64": "aGk=", "mode": 420, "uid": 0, "gid": 0}


def damaged(text: str) -> bytes:
    return text.encode()


# The classes: missing parts, empty, wrong types, huge, non-finite, deeply nested, localized, truncated.
BAD_JOURNALS = {
    "empty": b"",
    "not json": b"journal",
    "truncated": json.dumps({"format": 1, "entries": [GOOD_ENTRY]}).encode()[:-7],
    "not utf-8": b'{"format": 1, "entries": ["\xff\xfe"]}',
    "a list": b"[]",
    "null": b"null",
    "deeply nested": b"[" * 100000 + b"]" * 100000,
    "nested entries": json.dumps({"format": 1, "entries": [[[[[[GOOD_ENTRY]]]]]]}).encode(),
    "other format": json.dumps({"format": 99, "entries": []}).encode(),
    "non-finite": b'{"format": 1, "entries": [{"kind": "sysctl", "target": "t", "original": NaN}]}',
    "huge number": b'{"format": 1, "entries": [{"kind": "sysctl", "target": "t", "original": 1e999}]}',
    "entries not a list": json.dumps({"format": 1, "entries": {"a": GOOD_ENTRY}}).encode(),
    "entry not an object": json.dumps({"format": 1, "entries": ["sysctl"]}).encode(),
    "entry missing kind": json.dumps({"format": 1, "entries": [{k: v for k, v in GOOD_ENTRY.items() if k != "kind"}]}).encode(),
    "entry missing original": json.dumps({"format": 1, "entries": [{k: v for k, v in GOOD_ENTRY.items() if k != "original"}]}).encode(),
    "target a number": json.dumps({"format": 1, "entries": [{**GOOD_ENTRY, "target": 7}]}).encode(),
    "state unknown": json.dumps({"format": 1, "entries": [{**GOOD_ENTRY, "state": "halfway"}]}).encode(),
    "written a list": json.dumps({"format": 1, "entries": [{**GOOD_ENTRY, "written": [1]}]}).encode(),
}
ROUTE = {"route": {"family": 4, "dst": "198.19.1.0/24", "dev": "nwtun0", "gateway": None, "metric": 5}, "present": True}
# Well-formed entries whose original its backend cannot use: that one revert fails, and says so.
BAD_ORIGINALS = {
    "sysctl original an object": {**GOOD_ENTRY, "original": {"a": 1}},
    "sysctl original two lines": {**GOOD_ENTRY, "original": "1\n2"},
    "file original truncated": {**GOOD_ENTRY, "kind": "file", "target": "/x/y", "original": {"exists": True}},
    "file original bad base64": {**GOOD_ENTRY, "kind": "file", "target": "/x/y",
                                 "original": {**FILE_ORIGINAL, "content_b64": "***"}},
    "file mode huge": {**GOOD_ENTRY, "kind": "file", "target": "/x/y", "original": {**FILE_ORIGINAL, "mode": 10**300}},
    "file uid a float": {**GOOD_ENTRY, "kind": "file", "target": "/x/y", "original": {**FILE_ORIGINAL, "uid": 1e300}},
    "route original empty": {**GOOD_ENTRY, "kind": "route-del", "target": "default dev tun0", "original": {}},
    "route of the wrong shape": {**GOOD_ENTRY, "kind": "route-del", "target": "r",
                                 "original": {"route": {"family": 4, "dst": ["x"], "dev": "tun0"}, "present": True}},
    "route saved not base64": {**GOOD_ENTRY, "kind": "route-del", "target": "r", "original": {**ROUTE, "saved": "***"}},
    "route saved a number": {**GOOD_ENTRY, "kind": "route-del", "target": "r", "original": {**ROUTE, "saved": 7}},
    "route saved truncated": {**GOOD_ENTRY, "kind": "route-del", "target": "r",
                              "original": {**ROUTE, "saved": base64.b64encode(DUMP_V4[:-3]).decode()}},
    "route saved of another route": {**GOOD_ENTRY, "kind": "route-del", "target": "r", "original": {
        **ROUTE, "route": {**ROUTE["route"], "dst": "198.19.7.0/24"}, "saved": base64.b64encode(DUMP_V4).decode()}},
    "unknown kind": {**GOOD_ENTRY, "kind": "netsh-from-the-future"},
    "huge target": {**GOOD_ENTRY, "target": "net." + "x" * 10**6},
    "target not a sysctl name": {**GOOD_ENTRY, "target": "../../etc/passwd"},
    "localized target": {**GOOD_ENTRY, "kind": "file", "target": "/x/réseau/ß", "original": {"exists": "да"}},
}


@pytest.fixture
def host(tmp_path, no_netwarden_env):
    proc, _ = fake_host(tmp_path, no_netwarden_env)
    (tmp_path / "state").mkdir()
    return tmp_path, proc


def run(capsys, *args):
    code = cli.main(["--only", "ports.range", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name", sorted(BAD_JOURNALS))
@pytest.mark.parametrize("command", ["--apply", "--revert"])
def test_a_damaged_journal_stops_apply_and_revert_with_74_and_changes_nothing(host, capsys, name, command):
    tmp, proc = host
    (tmp / "state" / "journal.json").write_bytes(BAD_JOURNALS[name])
    code, out, err = run(capsys, command)
    assert code == 74, (code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "journal.json" in err
    assert (proc / RANGE_FILE).read_text() == "60700\t61000\n"  # nothing was changed
    assert (tmp / "state" / "journal.json").read_bytes() == BAD_JOURNALS[name]  # nor the evidence


@pytest.mark.parametrize("name", sorted(BAD_ORIGINALS))
def test_an_unusable_original_fails_its_revert_clearly_and_stays_journaled(host, capsys, name):
    tmp, proc = host
    entries = [BAD_ORIGINALS[name]]
    (tmp / "state" / "journal.json").write_text(json.dumps({"format": 1, "entries": entries}))
    code, out, err = run(capsys, "--revert")
    assert code == 74, (code, err)
    assert "Traceback" not in err and "journaled original is unusable" in err
    assert len(Journal(tmp / "state").entries) == 1  # kept: nothing is lost


STATE_DAMAGE = {
    "empty": b"", "not json": b"{{", "a list": b"[]", "a string": b'"ok"', "null": b"null",
    "truncated": b'{"ports.range": {"severity": "ok", "val', "deeply nested": b"[" * 100000 + b"]" * 100000,
    "values of the wrong type": b'{"ports.range": ["ok"]}', "severity a number": b'{"ports.range": {"severity": 1, "value": ""}}',
    "not utf-8": b'{"\xff": {}}', "non-finite": b'{"ports.range": {"severity": NaN, "value": Infinity}}',
    "utf-16 with its byte-order mark": '{"ports.range": {"severity": "ok", "value": ""}}'.encode("utf-16"),
    "truncated deep into the file": b'{"ports.range": {"severity": "ok", "title": "' + b"x" * 600 + b'", "value": "1',
}


@pytest.mark.parametrize("name", sorted(STATE_DAMAGE))
def test_a_damaged_findings_state_starts_afresh_and_says_so(tmp_path, name):
    (tmp_path / "findings.json").write_bytes(STATE_DAMAGE[name])
    history = History(tmp_path, limit=10)
    assert history.findings == {}
    assert history.problems and "findings.json" in history.problems[0]
    history.save_findings({"ports.range": {"severity": "ok", "value": "x", "title": ""}})  # and it can go on
    assert History(tmp_path, limit=10).findings["ports.range"]["value"] == "x"


def _a_complete_reason(problem: str, ending: str) -> None:
    """One line that says why in words and closes every parenthesis it opens: not Python's
    `[Errno 1] ...: '/path/fin` cut mid-word, nor a codec's name."""
    assert problem.endswith(ending) and "\n" not in problem and len(problem) < 400, problem
    assert "Errno" not in problem and "codec" not in problem, problem
    depth = 0
    for c in problem:
        depth += {"(": 1, ")": -1}.get(c, 0)
        assert depth >= 0, problem
    assert depth == 0, problem


@pytest.mark.parametrize("name", sorted(STATE_DAMAGE))
def test_a_damaged_findings_state_is_said_in_a_complete_reason(tmp_path, name):
    (tmp_path / "findings.json").write_bytes(STATE_DAMAGE[name])
    problem, = History(tmp_path, limit=10).problems
    _a_complete_reason(problem, "; starting afresh")
    if name in ("not utf-8", "utf-16 with its byte-order mark"):
        assert "(not UTF-8 JSON: byte 0xff at offset " in problem, problem


@pytest.mark.parametrize("kind", sorted(NOT_REGULAR))
def test_a_findings_state_that_is_not_a_regular_file_is_said_plainly(tmp_path, kind):
    NOT_REGULAR[kind](tmp_path / "findings.json")
    problem, = History(tmp_path, limit=10).problems
    _a_complete_reason(problem, "; starting afresh")
    assert problem in (f"{tmp_path / 'findings.json'}: not a findings state ({why}); starting afresh"
                       for why in ("not a regular file", "a symlink")), problem


def test_a_reason_longer_than_a_line_is_cut_with_an_ellipsis_inside_its_parenthesis(tmp_path, monkeypatch):
    import netwarden.daemon.drift as drift

    def verbose(raw):
        raise ValueError("a reason of many words " * 40)

    monkeypatch.setattr(drift, "loads", verbose)
    (tmp_path / "findings.json").write_bytes(b"{}")
    problem, = History(tmp_path, limit=10).problems
    _a_complete_reason(problem, "…); starting afresh")


def _event_line(subject: str) -> bytes:
    return json.dumps(DriftEvent("file-changed", subject, None, None, "t", "m").to_json()).encode() + b"\n"


@pytest.mark.parametrize("where", ["in the middle", "torn at the end"])
@pytest.mark.parametrize("name", sorted(STATE_DAMAGE))
def test_history_lines_that_are_not_events_are_dropped_once_and_lose_no_later_event(tmp_path, name, where):
    """A crash mid-append leaves a torn last line (no newline): the next event must not be glued
    onto it (and lost at the next start), nor the warning repeat at every start."""
    damage = STATE_DAMAGE[name].replace(b"\n", b" ")
    content = _event_line("/f") + damage + b"\n" + _event_line("/f")
    if where == "torn at the end":
        content = _event_line("/f") * 2 + damage
    (tmp_path / "history.jsonl").write_bytes(content)
    history = History(tmp_path, limit=10)
    assert [e["subject"] for e in history.events] == ["/f", "/f"]
    assert len(history.problems) == (1 if damage.strip() else 0), history.problems
    history.add(DriftEvent("file-changed", "/g", None, None, "t", "m"))
    again = History(tmp_path, limit=10)
    assert [e["subject"] for e in again.events] == ["/f", "/f", "/g"]
    assert again.problems == []  # said once: the file no longer holds the damage
    if damage.strip():  # an empty line is harmless and stays
        assert (tmp_path / "history.jsonl").read_bytes() == _event_line("/f") * 2 + _event_line("/g")


def test_history_that_cannot_be_rewritten_still_starts_the_next_event_on_a_new_line(tmp_path, monkeypatch):
    (tmp_path / "history.jsonl").write_bytes(_event_line("/f") + b'{"kind": "to')
    import netwarden.daemon.drift as drift

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(drift, "atomic_write", full_disk)
    history = History(tmp_path, limit=10)
    assert "cannot rewrite" in history.problems[0] and "No space left" in history.problems[0]
    history.add(DriftEvent("file-changed", "/g", None, None, "t", "m"))
    monkeypatch.undo()
    assert [e["subject"] for e in History(tmp_path, limit=10).events] == ["/f", "/g"]


HISTORY_DAMAGE = {  # content -> the words for it: torn only at the end, unfinished, after events
    "events, then an unfinished last line": (_event_line("/f") * 2 + b'{"kind": "file-chan', "its torn last line"),
    "events, then a whole line of garbage": (_event_line("/f") + b"garbage\n", "a line that is not an event"),
    "one garbage line, unfinished": (b"garbage", "a line that is not an event"),
    "one garbage line": (b"\x00\xff garbage\n", "a line that is not an event"),
    "garbage lines only": (b"a\nb\nc", "3 lines that are not events"),
    "garbage in the middle and torn at the end": (_event_line("/f") + b"x\n" + _event_line("/f") + b'{"ki',
                                                  "2 lines that are not events (the last one torn: a crash mid-write)"),
}


@pytest.mark.parametrize("name", sorted(HISTORY_DAMAGE))
def test_history_calls_a_line_torn_only_where_a_crash_mid_write_leaves_one(tmp_path, name):
    content, words = HISTORY_DAMAGE[name]
    (tmp_path / "history.jsonl").write_bytes(content)
    problem, = History(tmp_path, limit=10).problems
    assert problem == f"{tmp_path / 'history.jsonl'}: dropped {words}" + (
        " (a crash mid-write)" if words == "its torn last line" else ""), problem
