"""The CLI at its edges: exit codes, stdout vs stderr, golden `calls --json`, --help and the README."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.__main__ import PLUGGED_IN
from ingest.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
REQUIRED_KEYS = {"external_call_id", "direction", "outcome", "answered", "end_status", "engagement_id",
                 "engagement_error", "caller_id", "caller_id_matches", "iframe_locations", "instances", "tabs",
                 "portal_id", "started_at", "time_to_answer_ms", "duration_ms"}


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ingest", *args], cwd=REPO, input=stdin, capture_output=True,
                          timeout=120)


def test_load_then_calls_json_matches_the_golden_file(tmp_path):
    db = str(tmp_path / "c.duckdb")
    loaded = cli("load", str(DATA / "support-ticket.ndjson"), "--db", db)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == b""
    assert "Read 35 lines: 35 loaded, 0 duplicates, 0 rejected" in loaded.stderr.decode()
    out = cli("calls", "--db", db, "--json")
    assert out.returncode == 0
    calls = json.loads(out.stdout)
    assert all(REQUIRED_KEYS <= set(c) for c in calls)
    assert calls == json.loads((DATA / "support-ticket.calls.json").read_text())


def test_calls_filters(tmp_path):
    db = str(tmp_path / "c.duckdb")
    cli("load", str(DATA / "support-ticket.ndjson"), "--db", db)
    dropped = json.loads(cli("calls", "--db", db, "--json", "--outcome", "dropped").stdout)
    assert [c["external_call_id"] for c in dropped] == ["c4e9-dropped"]
    outbound = json.loads(cli("calls", "--db", db, "--json", "--direction", "outbound").stdout)
    assert [c["external_call_id"] for c in outbound] == ["0aa1-live"]
    late = json.loads(cli("calls", "--db", db, "--json", "--since", "2025-11-25T12:10:00").stdout)
    assert [c["external_call_id"] for c in late] == ["c4e9-dropped", "0aa1-live"]
    none = cli("calls", "--db", db, "--json", "--portal", "1")
    assert json.loads(none.stdout) == [] and "No calls match" in none.stderr.decode()


def test_stdin_and_reload_counts(tmp_path):
    db = str(tmp_path / "c.duckdb")
    text = (DATA / "support-ticket.ndjson").read_bytes()
    first = cli("load", "-", "--db", db, stdin=text + b"garbage line\n")
    assert first.returncode == 0
    assert "Read 36 lines: 35 loaded, 0 duplicates, 1 rejected" in first.stderr.decode()
    again = cli("load", "-", "--db", db, stdin=text)
    assert "Read 35 lines: 0 loaded, 35 duplicates, 0 rejected" in again.stderr.decode()


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "nope.ndjson", "does not exist"),
    (lambda d: (d / "x.csv").write_text("a,b\n1,2\n") and d / "x.csv", "does not look like a Callscope capture log"),
])
def test_errors_exit_2_and_say_what_to_do(tmp_path, make, message):
    result = cli("load", str(make(tmp_path)), "--db", str(tmp_path / "c.duckdb"))
    err = result.stderr.decode()
    assert result.returncode == 2 and result.stdout == b""
    assert err.startswith("Error: ") and message in err


@pytest.mark.parametrize("option, value", [("--since", "garbage"), ("--until", "2025-13-01"),
                                           ("--since", "9999-12-31T23:00:00-05:00")])
def test_calls_time_that_is_not_one_exits_2_and_says_how_to_write_it(tmp_path, option, value):
    db = str(tmp_path / "c.duckdb")
    cli("load", str(DATA / "support-ticket.ndjson"), "--db", db)
    result = cli("calls", "--json", option, value, "--db", db)
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().strip() == (f"Error: {option} {value!r} is not a UTC time. Write it in ISO-8601, "
                                              "e.g. 2025-11-25 or 2025-11-25T12:10:00")


def test_calls_time_with_an_offset_is_read_as_utc(tmp_path):
    db = str(tmp_path / "c.duckdb")
    cli("load", str(DATA / "support-ticket.ndjson"), "--db", db)
    late = json.loads(cli("calls", "--db", db, "--json", "--since", "2025-11-25T13:10:00+01:00").stdout)
    assert [c["external_call_id"] for c in late] == ["c4e9-dropped", "0aa1-live"]


def test_calls_without_data_says_how_to_get_some(tmp_path):
    result = cli("calls", "--json", "--db", str(tmp_path / "empty.duckdb"))
    assert result.returncode == 2
    assert "python -m ingest load FILE" in result.stderr.decode()


def test_redacted_load_prints_no_personal_data(tmp_path):
    result = cli("load", str(DATA / "support-ticket.ndjson"), "--db", str(tmp_path / "c.duckdb"), "--redact")
    out = json.loads(cli("calls", "--json", "--db", str(tmp_path / "c.duckdb")).stdout)
    everything = result.stderr.decode() + json.dumps(out)
    assert "4155550" not in everything and "Lovelace" not in everything
    assert {c["from_number"][-4:] for c in out if c["from_number"]} >= {"0188", "0142"}


def test_every_command_has_help_and_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    sub = next(a for a in build_parser(PLUGGED_IN)._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        assert parser.description and parser.format_help()
        assert f"python -m ingest {name}" in readme, name
        for action in parser._actions:
            assert action.help, f"{name} {action.dest} has no help"


def test_readme_opens_with_the_two_commands():
    head = (REPO / "README.md").read_text().split("---")[0]
    blocks = re.findall(r"```bash\n(.+?)\n```", head, re.S)
    assert blocks == ["python -m pip install -r requirements.txt && python -m streamlit run app.py", "scripts/test"]
    assert "scripts/test" in (REPO / ".ci" / "run").read_text()
