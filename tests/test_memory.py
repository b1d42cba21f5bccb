"""The writer's memory budget (ingest/memory.py): a statement that needs more than the cap runs again with more."""

from __future__ import annotations

import duckdb
import pytest

from ingest import memory


def test_a_statement_over_the_budget_runs_again_with_more_room(monkeypatch, caplog):
    monkeypatch.setattr(memory, "WRITER_MEMORY_LIMIT", "24MB")
    con = duckdb.connect(config={"memory_limit": "24000000B", "threads": 1})
    big = "SELECT len(list(i)) FROM range(2000000) t(i)"  # one list of 2M numbers: needs ~96 MB, never spilled
    with pytest.raises(duckdb.OutOfMemoryException):
        con.execute(big)
    assert memory.with_headroom(con, lambda: con.execute(big).fetchone()[0], "a test") == 2_000_000
    assert "a test needs more memory than 22 MB" in caplog.text
    assert memory.size_bytes(con.execute("SELECT current_setting('memory_limit')").fetchone()[0]) > 48_000_000


def test_out_of_memory_tries_one_thread_before_more_room_and_keeps_its_threads(monkeypatch, caplog):
    monkeypatch.setattr(memory, "WRITER_MEMORY_LIMIT", "24MB")
    con = duckdb.connect(config={"memory_limit": "24000000B", "threads": 2})
    threads_seen = []

    def big():
        threads_seen.append(con.execute("SELECT current_setting('threads')").fetchone()[0])
        return con.execute("SELECT len(list(i)) FROM range(2000000) t(i)").fetchone()[0]

    assert memory.with_headroom(con, big, "a test") == 2_000_000
    assert threads_seen[:3] == [2, 1, 2]  # all threads, one, then all of them with twice the room
    assert "a test needs more memory than 22 MB on 2 threads: trying again on one" in caplog.text
    assert "a test needs more memory than 22 MB: trying again with 45 MB" in caplog.text
    assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 2


def test_past_the_growth_limit_the_error_stands(monkeypatch):
    monkeypatch.setattr(memory, "WRITER_MEMORY_LIMIT", "8MB")
    monkeypatch.setattr(memory, "MAX_GROWTH", 2)
    con = duckdb.connect(config={"memory_limit": "8000000B", "threads": 1})
    with pytest.raises(duckdb.OutOfMemoryException):
        memory.with_headroom(con, lambda: con.execute("SELECT len(list(i)) FROM range(6000000) t(i)").fetchone(),
                             "a test")


@pytest.mark.parametrize(("text", "size"), [("640MB", 640_000_000), ("1GB", 10**9), ("610.3 MiB", 639_945_932),
                                            ("2GiB", 2**31)])
def test_sizes_read_as_duckdb_writes_them(text, size):
    assert memory.size_bytes(text) == size


def test_a_size_that_is_not_one_says_how_to_write_it():
    with pytest.raises(ValueError, match="640MB"):
        memory.size_bytes("lots")
