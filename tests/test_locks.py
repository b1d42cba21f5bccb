"""The one lock module: who waits for whom, what the holder leaves in the lock file, what a timeout says.

flock locks belong to an open file, so two `with` blocks in one process contend like two processes would.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from analytics import annotations
from ingest import locks
from ingest.errors import CallscopeError, WriterBusy
from ingest.store import Writer


def test_exclusive_records_its_pid_and_a_timeout_names_it(tmp_path):
    path = tmp_path / "x.lock"
    with locks.exclusive(path):
        assert path.read_text() == str(os.getpid())
        with pytest.raises(locks.LockBusy, match=f"locked by process {os.getpid()}"):
            with locks.exclusive(path, wait_s=0.05):
                pass
        with pytest.raises(KeyError, match="holder"):
            with locks.shared(path, wait_s=0.05, on_timeout=lambda holder: KeyError(f"holder {holder}")):
                pass
    with locks.exclusive(path, wait_s=0):  # released on leaving the block
        pass


def test_readers_share_and_keep_a_writer_out(tmp_path):
    path = tmp_path / "x.lock"
    with locks.shared(path, wait_s=0), locks.shared(path, wait_s=0), pytest.raises(locks.LockBusy):
        with locks.exclusive(path, wait_s=0.05):
            pass


def test_without_wait_s_a_lock_waits_for_its_turn(tmp_path):
    path, order = tmp_path / "x.lock", []

    def second() -> None:
        with locks.exclusive(path):
            order.append("second")

    with locks.exclusive(path):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.1)
        order.append("first")
    thread.join(timeout=5)
    assert order == ["first", "second"]


def test_a_busy_writer_names_the_database_and_the_process(tmp_path):
    db = tmp_path / "callscope.duckdb"
    with Writer(db), pytest.raises(WriterBusy) as busy, Writer(db, wait_s=0.05):
        pass
    assert str(busy.value).startswith(f"callscope is being written by process {os.getpid()}. Wait for")


def test_a_busy_notes_file_says_so(tmp_path, monkeypatch):
    db = tmp_path / "callscope.duckdb"
    monkeypatch.setattr(annotations, "LOCK_WAIT_S", 0.05)
    annotations.notes_path(db).parent.mkdir()  # the store's folder
    with locks.exclusive(locks.lock_path(annotations.notes_path(db))):
        with pytest.raises(CallscopeError, match="notes.duckdb is busy. Try again in a moment"):
            annotations.add_tag(db, "c1", "sdk-bug")
    assert annotations.add_tag(db, "c1", "sdk-bug") == "sdk-bug"
