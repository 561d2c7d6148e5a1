"""The command line's parsing: a bare `check` skips argparse (start-up) yet means what argparse says."""

import subprocess
import sys
from pathlib import Path

from factories import clean_env

from netwarden.cli import build_parser, parse, parser_for

ROOT = Path(__file__).resolve().parents[1]


def test_a_bare_check_means_what_argparse_makes_of_it():
    expected = vars(build_parser().parse_args(["check"]))
    assert vars(parse(["check"])) == expected
    assert vars(parser_for(["check"]).parse_args(["check"])) == expected
    assert vars(parse(["check", "--json"])) == {**expected, "json": True}


def test_a_bare_check_runs_without_importing_argparse(tmp_path):
    code = ("import sys; from netwarden.cli import main; rc = main(['check']); "
            "print('argparse' in sys.modules, rc, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=clean_env(NETWARDEN_CONFIG=""), cwd=ROOT)
    imported, rc = out.stderr.split()[-2:]
    assert imported == "False", out.stderr
    assert int(rc) in (0, 1, 2, 3) and "ports.range" in out.stdout
