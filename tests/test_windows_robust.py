"""The Windows backend never raises, whatever its commands print (hypothesis: arbitrary text,
mutilated captures, odd exit codes, commands that cannot run); it imports nothing POSIX-only (a
whole replayed check runs with fcntl, grp, pwd and termios blocked); and a Linux check imports no
Windows module."""

import json
import subprocess
import sys
from pathlib import Path

from factories import clean_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from windows_host import QUESTIONS, english_host, write_bundle

from netwarden import engine
from netwarden.config import Settings
from netwarden.model import PlatformInfo, to_jsonable
from netwarden.platform.source import CommandResult, NotRecorded, Source
from netwarden.platform.windows import WindowsBackend

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = [text for text in english_host().values() if text]


def mutilated(text: str, cut: int, drop: int, junk: str) -> str:
    lines = text.splitlines(keepends=True)
    kept = [line for number, line in enumerate(lines) if drop == 0 or number % drop]
    return "".join(kept)[: max(cut, 0)] + junk


ANSWER = st.one_of(
    st.text(max_size=300),
    st.builds(mutilated, st.sampled_from(CAPTURES), st.integers(0, 8000), st.integers(0, 5),
              st.text(alphabet="0123456789 :.-*/\r\n\t%[]ABCabc以太网", max_size=40)),
    st.sampled_from(CAPTURES).map(lambda t: t.replace("1", "9999999999999")),
    st.sampled_from(CAPTURES).map(lambda t: t.replace("1", "9" * 5000)),  # past int()'s 4,300 digits
    st.just(OSError(2, "No such file or directory")), st.just(TimeoutError(110, "timed out")),
)


class Fuzzed(Source):
    system = "win32"

    def __init__(self, answers: dict, codes: dict, clock):
        self.answers, self.codes, self.clock = answers, codes, clock

    def call(self, name, fn, *args):
        if name == "clock.now" and self.clock is not None:
            return self.clock
        raise NotRecorded("call", name)

    def run(self, argv, timeout=10.0, codepage=None):
        name = next((n for n, q in QUESTIONS.items() if q == list(argv)), None)
        answer = self.answers.get(name, "")
        if isinstance(answer, OSError):
            raise answer
        return CommandResult(self.codes.get(name, 0), answer, "")


ALL_FACTS = {"port_range", "time_wait", "census", "address_policy", "resolvers", "dns", "pmtu", "keepalive", "links",
             "routes", "ipv6", "targets", "paths", "conntrack"}


@given(answers=st.dictionaries(st.sampled_from(sorted(QUESTIONS)), ANSWER),
       codes=st.dictionaries(st.sampled_from(sorted(QUESTIONS)), st.sampled_from([0, 0, 0, 1, 5, -1, 2 ** 31])),
       clock=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 4e9)))
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_backend_never_raises_on_what_its_commands_print(answers, codes, clock):
    backend = WindowsBackend(Fuzzed(answers, codes, clock), Settings(), PlatformInfo("win32", "windows"))
    specs = engine.select_checks(Settings(), system="win32")
    facts = engine.collect(backend, specs)
    findings = engine.analyze(facts, Settings(), specs, backend)
    json.dumps(to_jsonable(engine.report_document(facts, findings, engine.plan(findings, backend).changes, None)))
    for name in ALL_FACTS:
        backend.collect({name})


def test_a_whole_windows_check_runs_with_posix_only_modules_blocked(tmp_path):
    bundle = write_bundle(tmp_path / "en", english_host())
    code = (
        "import json, sys\n"
        "for name in ('fcntl', 'grp', 'pwd', 'termios'): sys.modules[name] = None  # import raises ImportError\n"
        "import netwarden.platform.windows, netwarden.platform.windows_plan, netwarden.platform.windows_facts\n"
        "import netwarden.platform.windows_commands, netwarden.platform.probe\n"
        "from netwarden.cli import main\n"
        f"rc = main(['--replay', {str(bundle)!r}, '--json'])\n"
        "print('RC', rc, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=clean_env(),
                          timeout=60)
    assert "Traceback" not in done.stderr and done.stderr.strip() == "RC 1", done.stderr[-2000:]
    assert json.loads(done.stdout)["platform"]["system"] == "win32"


def test_a_linux_check_imports_no_windows_module(tmp_path):
    from factories import fake_proc

    proc = fake_proc(tmp_path)
    code = ("import sys\nfrom netwarden.cli import main\nrc = main(['check'])\n"
            "print(sorted(m for m in sys.modules if 'windows' in m or 'darwin' in m), rc, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env=clean_env(NETWARDEN_CONFIG="", NETWARDEN_PROC_DIR=str(proc)))
    imported, rc = done.stderr.strip().rsplit(" ", 1)
    assert imported == "[]", done.stderr
    assert int(rc) in (0, 1, 2, 3) and "ports.range" in done.stdout
