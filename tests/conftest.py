from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from ingest.calls import select_calls
from ingest.load import load_sources
from ingest.store import connect_reader
from tests.logs import Log

_files = itertools.count()


class Db:
    """A throwaway Callscope database that tests load crafted logs into."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / "callscope.duckdb"

    def load(self, *logs: Log | Path | str, redact: bool = False):
        paths = []
        for item in logs:
            if isinstance(item, Log):
                item = item.write(self.folder / f"log-{next(_files)}.ndjson")
            paths.append(str(item))
        return load_sources(paths, self.path, redact=redact)

    def calls(self, **filters) -> dict[str, dict]:
        with connect_reader(self.path) as con:
            return {c["external_call_id"]: c for c in select_calls(con, **filters)}

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        with connect_reader(self.path) as con:
            return con.execute(query, params or []).fetchall()


@pytest.fixture
def db(tmp_path: Path) -> Db:
    return Db(tmp_path)


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """A small demo database built by `python -m ingest demo`, shared by the real-browser tests."""
    import subprocess
    import sys

    from tests.browser import REPO, require_chromium

    require_chromium()
    db = tmp_path_factory.mktemp("browser-demo") / "callscope.duckdb"
    subprocess.run([sys.executable, "-m", "ingest", "demo", "--days", "10", "--calls", "600", "--db", str(db)],
                   cwd=REPO, check=True, capture_output=True, timeout=300)
    return db


def require_spark() -> None:
    """Skip the calling test module when Spark cannot run here (scripts/test installs both in CI)."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -r requirements-spark.txt)")
    if shutil.which("java") is None:
        pytest.skip("java is missing (apt-get install openjdk-17-jre-headless)", allow_module_level=True)


@pytest.fixture(scope="session")
def spark():
    """One local[2] Spark session for every Spark test of the run (starting one takes 10-20 s)."""
    from ingest.spark import session

    return session.start("local[2]", conf={"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"})
