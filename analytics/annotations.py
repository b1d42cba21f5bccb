"""Tags and notes on calls, in their own small DuckDB file inside the store: `data/callscope/notes.duckdb`.

Why a separate file: the store's data files are written only by the writer holding its lock, and annotations must
survive re-imports and be writable from the dashboard. So each write takes the notes file's own
flock (`<notes file>.lock`), opens it, writes one row and closes it (milliseconds); each read opens it read-only
for a moment, retrying while a write holds it. Rows are keyed by `external_call_id`, which a re-import keeps.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from ingest import locks
from ingest.errors import CallscopeError
from ingest.manifest import store_dir

SUGGESTED_TAGS = ("beta-feedback", "sdk-bug", "app-bug", "hubspot-bug", "needs-follow-up")
TAG_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MAX_NOTE_CHARS = 4000
LOCK_WAIT_S = 5.0
READ_RETRIES = 5
READ_RETRY_S = 0.05

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS call_annotations (
    external_call_id VARCHAR NOT NULL,
    kind             VARCHAR NOT NULL CHECK (kind IN ('tag', 'note')),
    value            VARCHAR NOT NULL,
    author           VARCHAR,
    created_at       TIMESTAMP NOT NULL
);
"""

ADD_TAG_SQL = """
INSERT INTO call_annotations
SELECT $call_id, 'tag', $tag, $author, now()::TIMESTAMP
WHERE NOT EXISTS (SELECT 1 FROM call_annotations WHERE external_call_id = $call_id AND kind = 'tag' AND value = $tag)
"""
REMOVE_TAG_SQL = "DELETE FROM call_annotations WHERE external_call_id = $call_id AND kind = 'tag' AND value = $tag"
ADD_NOTE_SQL = "INSERT INTO call_annotations VALUES ($call_id, 'note', $note, $author, now()::TIMESTAMP)"
TAGS_FOR_SQL = """
SELECT external_call_id, list(value ORDER BY value) AS tags
FROM call_annotations
WHERE kind = 'tag' AND list_contains($call_ids, external_call_id)
GROUP BY external_call_id
"""
CALLS_WITH_TAG_SQL = """
SELECT DISTINCT external_call_id FROM call_annotations WHERE kind = 'tag' AND value = $tag ORDER BY 1
"""
NOTES_FOR_SQL = """
SELECT value AS note, author, created_at FROM call_annotations
WHERE kind = 'note' AND external_call_id = $call_id
ORDER BY created_at
"""
# One row per annotated call, for explorers and reports to join with `calls` on external_call_id.
ANNOTATED_CALLS_SQL = """
SELECT external_call_id, list(DISTINCT value ORDER BY value) FILTER (WHERE kind = 'tag') AS tags,
       count(*) FILTER (WHERE kind = 'note') AS notes, max(created_at) AS last_annotated_at
FROM call_annotations
GROUP BY external_call_id
ORDER BY external_call_id
"""
ALL_TAGS_SQL = """
SELECT value AS tag, count(*) AS calls FROM call_annotations WHERE kind = 'tag' GROUP BY 1 ORDER BY 2 DESC, 1
"""


class BadAnnotation(CallscopeError):
    """A tag or note that cannot be stored as given."""


NOTES_FILE = "notes.duckdb"


def notes_path(db_path: Path) -> Path:
    """`data/callscope` (or its old name `data/callscope.duckdb`) → `data/callscope/notes.duckdb`. A notes file of
    the old layout (`data/callscope.notes.duckdb`, beside the old single-file store) is moved in on first use."""
    folder = store_dir(db_path)
    path = folder / NOTES_FILE
    old = folder.with_name(folder.name + ".notes.duckdb")
    if old.exists() and not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        old.replace(path)
    return path


def clean_tag(tag: str) -> str:
    value = tag.strip().lower().replace(" ", "-")
    if not TAG_RE.fullmatch(value):
        raise BadAnnotation(f"{tag!r} is not a tag", "Use up to 40 letters, digits, - or _ (e.g. sdk-bug)")
    return value


# One process (the dashboard) serves many sessions on threads: DuckDB refuses to open one file read-write and
# read-only at once in a process, so every open of the notes file in this process takes this lock too.
_in_process = threading.Lock()


@contextmanager
def _locked(path: Path, exclusive: bool) -> Iterator[None]:
    """This process's lock, then the notes file's flock: shared for reads, exclusive for writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    take = locks.exclusive if exclusive else locks.shared
    busy = CallscopeError(f"{path.name} is busy", "Try again in a moment")
    with _in_process, take(locks.lock_path(path), LOCK_WAIT_S, on_timeout=lambda _holder: busy):
        yield


@contextmanager
def _writing(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    path = notes_path(db_path)
    with _locked(path, exclusive=True):
        con = duckdb.connect(str(path))
        try:
            con.execute(SCHEMA_SQL)
            yield con
        finally:
            con.close()


def _read(db_path: Path, sql: str, params: dict) -> pd.DataFrame:
    path = notes_path(db_path)
    if not path.exists():
        return pd.DataFrame()
    with _locked(path, exclusive=False):
        con = _open_read_only(path)
        try:
            if not con.execute(
                    "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'call_annotations'").fetchone()[0]:
                return pd.DataFrame()
            return con.execute(sql, params).df()
        finally:
            con.close()


def _open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    for attempt in range(READ_RETRIES):
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException:  # a process that ignores our flock is writing it: a few milliseconds
            if attempt == READ_RETRIES - 1:
                raise CallscopeError(f"{path.name} is busy", "Reload the page in a moment") from None
            time.sleep(READ_RETRY_S * (attempt + 1))
    raise AssertionError("unreachable")


def add_tag(db_path: Path, call_id: str, tag: str, author: str | None = None) -> str:
    """Tag a call (a tag already on it is left alone); returns the tag as stored."""
    value = clean_tag(tag)
    with _writing(db_path) as con:
        con.execute(ADD_TAG_SQL, {"call_id": call_id, "tag": value, "author": author or None})
    return value


def remove_tag(db_path: Path, call_id: str, tag: str) -> None:
    with _writing(db_path) as con:
        con.execute(REMOVE_TAG_SQL, {"call_id": call_id, "tag": clean_tag(tag)})


def add_note(db_path: Path, call_id: str, note: str, author: str | None = None) -> None:
    text = note.strip()
    if not text:
        raise BadAnnotation("the note is empty", "Write something first")
    if len(text) > MAX_NOTE_CHARS:
        raise BadAnnotation(f"the note is {len(text):,} characters long", f"Keep it under {MAX_NOTE_CHARS:,}")
    with _writing(db_path) as con:
        con.execute(ADD_NOTE_SQL, {"call_id": call_id, "note": text, "author": author or None})


def tags_for(db_path: Path, call_ids: list[str]) -> dict[str, list[str]]:
    """Each call's tags (calls without tags are left out)."""
    frame = _read(db_path, TAGS_FOR_SQL, {"call_ids": list(call_ids)})
    return {row.external_call_id: list(row.tags) for row in frame.itertuples()} if not frame.empty else {}


def calls_with_tag(db_path: Path, tag: str) -> list[str]:
    frame = _read(db_path, CALLS_WITH_TAG_SQL, {"tag": clean_tag(tag)})
    return frame["external_call_id"].tolist() if not frame.empty else []


def notes_for(db_path: Path, call_id: str) -> pd.DataFrame:
    """The call's notes, oldest first: note, author, created_at (UTC)."""
    return _read(db_path, NOTES_FOR_SQL, {"call_id": call_id})


def annotated_calls(db_path: Path) -> pd.DataFrame:
    """external_call_id, tags, notes (count), last_annotated_at: one row per annotated call."""
    return _read(db_path, ANNOTATED_CALLS_SQL, {})


def all_tags(db_path: Path) -> pd.DataFrame:
    """Every tag in use and how many calls carry it."""
    return _read(db_path, ALL_TAGS_SQL, {})
