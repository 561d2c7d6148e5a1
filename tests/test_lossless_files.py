"""Files --apply edits keep the user's other lines byte for byte: CRLF and other line endings,
bytes that are not UTF-8 (Latin-1), characters str.splitlines takes for line breaks (form feed,
NEL, U+2028), a lone CR, NUL, no final newline, a huge line; and the file keeps its owner,
group and mode. For the three writers (netwarden's sysctl drop-in, gai.conf, resolv.conf), the
backend that writes them, and a support bundle that records and replays them."""

import json
import os
import stat

import pytest
from factories import LINUX, fake_host, fake_proc, run_cli, settings_for
from hypothesis import given, settings
from hypothesis import strategies as st

from netwarden.model import Change
from netwarden.platform.linux import LinuxBackend
from netwarden.platform.linux_plan import _prefer_ipv4, _reorder_resolvers
from netwarden.platform.parse.gai_conf import with_ipv4_first
from netwarden.platform.parse.lines import bodies, join_lines, split_lines
from netwarden.platform.parse.resolv_conf import reordered
from netwarden.platform.source import RecordingSource, ReplaySource, Source, file_bytes

OTHER = 12345
RANGE = "net.ipv4.ip_local_port_range"
# One line per class; the endings vary too.
MESSY_LINES = [
    b"# caf\xe9 (Latin-1)\r\n",  # CRLF, Latin-1
    b"# \xff\xfe not UTF-8 at all\n",
    b"# valid UTF-8: r\xc3\xa9seau \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\r\n",
    b"# form\x0cfeed, NEL\xc2\x85here, line\xe2\x80\xa8separator\n",  # str.splitlines breaks these
    b"# a lone\rcarriage return and a NUL\x00\n",
    b"\r\n",  # an empty CRLF line
    b"# " + b"x" * 100_000 + b"\n",  # huge
    b"#\ttabs\t \r\n",
]
LAST_WITHOUT_NEWLINE = b"# the last line has no newline"


def messy(*middle: bytes, final: bool = False) -> bytes:
    return b"".join(MESSY_LINES[:4]) + b"".join(middle) + b"".join(MESSY_LINES[4:]) + (
        LAST_WITHOUT_NEWLINE if final else b"")


def lines_of(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def kept_in_order(original: list[bytes], written: bytes) -> bool:
    """Each of `original`'s lines (endings included) is a whole line of `written`, in order."""
    out, at = written.split(b"\n"), 0
    for line in original:
        try:
            at = out.index(line, at) + 1
        except ValueError:
            return False
    return True


def owned(path, data: bytes, mode=0o640):
    path.write_bytes(data)
    os.chown(path, OTHER, OTHER)
    path.chmod(mode)
    return path


@pytest.fixture
def backend(tmp_path):
    settings = settings_for(tmp_path, fake_proc(tmp_path), gai_conf=tmp_path / "gai.conf",
                            resolv_conf=tmp_path / "resolv.conf", dns_fallback=("198.18.0.9",))
    return LinuxBackend(Source(), settings, LINUX)


def dropin_change(backend):
    sysctl = Change("ports.range", "sysctl", RANGE, "60700 61000", "32768 61000", persist=True)
    return backend.dropin_change([sysctl])


def gai_change(backend):
    from netwarden.platform.linux_net import gai_conf

    return _prefer_ipv4("ipv6.preference", None, Facts(gai=gai_conf(backend.source, str(backend.settings.gai_conf))),
                        backend.settings)[0][0]


def resolv_change(backend):
    from netwarden.model import Intent
    from netwarden.platform.linux_net import resolv_conf

    facts = Facts(resolv=resolv_conf(backend.source, str(backend.settings.resolv_conf)))
    intent = Intent("reorder-resolvers", {"live": ["198.18.0.2"], "dead": ["198.18.0.77"]})
    return _reorder_resolvers("dns.resolvers", intent, facts, backend.settings)[0][0]


def Facts(**values):
    from netwarden.model import Facts as F

    return F(platform=LINUX, **values)


# (file, its content, how to plan its write, lines the write changes on purpose)
NAMESERVERS = b"nameserver 198.18.0.77\r\nnameserver 198.18.0.2\n"
WRITERS = {
    "sysctl drop-in": ("sysctl.d/60-netwarden.conf", messy(b"net.core.somaxconn = 4096\r\n", final=True),
                       dropin_change, []),
    "gai.conf": ("gai.conf", messy(b"label ::1/128 0\r\n", final=True), gai_change, []),
    "resolv.conf": ("resolv.conf", messy(b"search example.org\r\n", NAMESERVERS, b"options rotate\r\n", final=True),
                    resolv_change, lines_of(NAMESERVERS)[:2]),
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_apply_keeps_every_other_line_byte_for_byte_and_the_file_s_owner_then_revert_is_exact(backend, tmp_path, name):
    relative, original, plan, rewritten = WRITERS[name]
    path = owned(tmp_path / relative, original)
    change = plan(backend)
    assert change.kind == "file" and change.target == str(path)
    before = backend.snapshot(change)
    backend.apply(change)
    written = path.read_bytes()
    kept = [line for line in lines_of(original) if line not in rewritten]
    # the last line, without a newline, gains one when something is written after it
    kept = [line for line in kept if line != LAST_WITHOUT_NEWLINE] + [LAST_WITHOUT_NEWLINE]
    assert kept_in_order(kept, written), written[:3000]
    assert b"\xef\xbf\xbd" not in written  # no U+FFFD: nothing was replaced
    st_ = path.stat()
    assert (st_.st_uid, st_.st_gid, stat.S_IMODE(st_.st_mode)) == (OTHER, OTHER, 0o640)
    backend.restore(change.kind, change.target, before)
    assert path.read_bytes() == original


def test_a_new_file_is_this_user_s_with_mode_0644(backend, tmp_path):
    change = dropin_change(backend)
    backend.apply(change)
    st_ = (tmp_path / "sysctl.d" / "60-netwarden.conf").stat()
    assert (st_.st_uid, stat.S_IMODE(st_.st_mode)) == (os.geteuid(), 0o644)


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_the_drop_in_s_own_line_is_rewritten_in_place_with_its_own_ending(backend, tmp_path, ending):
    original = b"# mine\r\n" + f"{RANGE} = 60700 61000".encode() + ending + b"# after\xff\n"
    owned(tmp_path / "sysctl.d" / "60-netwarden.conf", original)
    change = dropin_change(backend)
    backend.apply(change)
    assert (tmp_path / "sysctl.d" / "60-netwarden.conf").read_bytes() == original.replace(b"60700", b"32768")


# Line bodies built from the bytes that broke things: any mix of them, any ending.
PIECES = [b"a", b" ", b"=", b"#", b"\r", b"\xff", b"\xe9", b"\x0c", b"\xc2\x85", b"\xe2\x80\xa8", b"\x00", b"\xe6\x97\xa5"]
BODIES = st.lists(st.sampled_from(PIECES), max_size=12).map(b"".join)
FILES = st.lists(st.tuples(BODIES, st.sampled_from([b"\n", b"\r\n"])), max_size=12).map(
    lambda lines: b"".join(body + end for body, end in lines))


def read_as_source(tmp_path, data: bytes) -> str:
    path = tmp_path / "file"
    path.write_bytes(data)
    return Source().read(str(path))


@settings(max_examples=150, deadline=None)
@given(data=FILES)
def test_lines_split_and_join_back_to_the_same_bytes(tmp_path_factory, data):
    text = read_as_source(tmp_path_factory.mktemp("f"), data)
    assert file_bytes(text) == data
    assert file_bytes(join_lines(split_lines(text))) == data
    assert len(split_lines(text)) == data.count(b"\n") + (not data.endswith(b"\n") and bool(data))
    assert bodies(text) == [line.body for line in split_lines(text)]  # numbered alike: a rewrite finds its line


@settings(max_examples=150, deadline=None)
@given(data=FILES)
def test_gai_and_resolv_writers_keep_every_line_they_do_not_change(tmp_path_factory, data):
    text = read_as_source(tmp_path_factory.mktemp("f"), data)
    lines = [line for line in lines_of(data)[:-1]  # blank lines may go (before the gai.conf block)
             if (line[:-1] if line.endswith(b"\r") else line).strip(b" \t")]
    gai = file_bytes(with_ipv4_first(text))
    assert kept_in_order([line for line in lines if b"precedence" not in line], gai)
    resolv = file_bytes(reordered(text, ["198.18.0.2"], ["198.18.0.77"], []))
    assert kept_in_order(lines, resolv)


def test_a_support_bundle_records_and_replays_such_files_exactly(tmp_path):
    data = messy(NAMESERVERS, final=True)
    (tmp_path / "resolv.conf").write_bytes(data)
    recording = RecordingSource()
    text = recording.read(str(tmp_path / "resolv.conf"))
    recording.save(tmp_path / "bundle", ["netwarden", "--record"], settings_for(tmp_path))
    json.loads((tmp_path / "bundle" / "entries.json").read_bytes().decode("ascii"))  # escaped, plain ASCII
    replayed = ReplaySource(tmp_path / "bundle").read(str(tmp_path / "resolv.conf"))
    assert replayed == text and file_bytes(replayed) == data  # and the answer-form check accepts it


def test_check_prints_a_report_of_such_files_on_a_strict_utf8_terminal(tmp_path):
    """Evidence quoting these files' lines must not crash a UTF-8 stdout (no surrogates printed)."""
    _, env = fake_host(tmp_path)
    (tmp_path / "sysctl.d" / "50-caf\xe9.conf".encode("latin-1").decode("utf-8", "surrogateescape")).write_bytes(
        b"net.ipv4.ip_local_port_range = 60700 61000\xff\r\n\xff\xfe not a line\n")
    (tmp_path / "gai.conf").write_bytes(b"precedence ::ffff:0:0/96 \xff\r\nprecedence \xe9 1\n")
    (tmp_path / "resolv.conf").write_bytes(b"nameserver 198.18.0.2 \xff\r\nsearch caf\xe9 # \xff\noptions \xff\n\xe9\xff\n")
    env.update({"NETWARDEN_GAI_CONF": str(tmp_path / "gai.conf"), "NETWARDEN_RESOLV_CONF": str(tmp_path / "resolv.conf"),
                "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8", "PYTHONUTF8": "0"})
    for args in (["--only", "ports.range", "ipv6.preference", "dns.resolvers"], ["--json"]):
        r = run_cli("check", *args, env=env)
        assert r.returncode in (0, 1, 2, 3) and "Traceback" not in r.stderr, r.stderr[-3000:]


@pytest.mark.parametrize("text, shown", [
    ("plain", "plain"), ("r\u00e9seau \u65e5", "r\u00e9seau \u65e5"),  # valid Unicode stays as it is
    (b"caf\xe9".decode("utf-8", "surrogateescape"), "caf\\xe9"),  # a byte that is not UTF-8: shown as \\xNN
    ("lone \ud800 surrogate", "lone \\ud800 surrogate"),  # from a hand-edited bundle
])
def test_the_report_shows_every_string_as_valid_unicode(text, shown):
    from netwarden.engine import displayable

    doc = displayable({"a": [text, {text: (text, 1, None)}]})
    assert doc == {"a": [shown, {shown: [shown, 1, None]}]}
    json.dumps(doc, ensure_ascii=False).encode("utf-8")  # strict UTF-8 holds it
