"""Converting a version-1 store (one DuckDB file, `data/callscope.duckdb`) into a store folder (`data/callscope/`).

Runs on the first start that finds the old file and no store (a writer, or a reader), or as `python -m ingest
migrate`. Under the writer lock: the events are exported as day partitions, the rejects and the `loads` rows as
they are (a `running` row, whose import died, becomes `failed`), the derived tables derived again, all of it
published as the store's first version. Then the notes file and the collector's spool move into the store folder,
the old read snapshot (a copy) is deleted and the old file is renamed `<name>.v1.duckdb`, which `ingest` never
reads again: delete it once the store has what you expect.
"""

from __future__ import annotations

import os
from pathlib import Path

from ingest import manifest as mf
from ingest import partitions
from ingest.derived import derive_all

MIGRATED_SUFFIX = ".v1.duckdb"


def migrate(db_path: Path) -> bool:
    """Convert the old file of `db_path`'s store, if there is one and no store yet; True when it did."""
    from ingest.store import Writer

    with Writer(db_path) as writer:  # its start converts the old file (`migrate_into`) under the lock
        return writer.manifest.generation > 0


def migrate_into(writer) -> None:
    """Fill `writer`'s empty store from the old file beside it and publish it (the caller holds the lock)."""
    old = mf.legacy_file(writer.db_path)
    con, folder, generation = writer.con, writer.folder, writer.manifest.generation + 1
    con.execute(f"ATTACH '{str(old).replace(chr(39), chr(39) * 2)}' AS v1 (READ_ONLY)")
    try:
        tables = {t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'v1'").fetchall()}
        if "events" in tables:
            _copy_events(writer, generation)
        if "rejects" in tables:
            con.execute("CREATE OR REPLACE TEMP TABLE old_rejects AS SELECT load_id, source, line_no, raw, reason, "
                        "coalesce(lines, 1) AS lines FROM v1.rejects")
            writer.manifest.replace("rejects", [], partitions.write_days(con, folder, "rejects", "old_rejects", generation))
        if "loads" in tables:
            con.execute("CREATE OR REPLACE TEMP TABLE old_loads AS SELECT * REPLACE ("
                        "CASE WHEN status = 'running' THEN 'failed' ELSE status END AS status) FROM v1.loads")
            writer.manifest.replace("loads", [], partitions.write_days(con, folder, "loads", "old_loads", generation))
            last = con.execute("SELECT max(load_id) FROM v1.loads").fetchone()[0]
            writer.manifest.next_load_id = max(writer.manifest.next_load_id, (last or 0) + 1)
    finally:
        con.execute("DETACH v1")
    derive_all(writer)
    writer.publish()
    _move_beside(old, folder)


def _copy_events(writer, generation: int) -> None:
    """The old events, one day partition at a time (a day's rows sorted in memory, never the whole table)."""
    con, folder = writer.con, writer.folder
    days = [d for (d,) in con.execute(
        "SELECT DISTINCT strftime(ts, '%Y-%m-%d') FROM v1.events ORDER BY 1").fetchall()]
    for day in days:
        con.execute("CREATE OR REPLACE TEMP TABLE old_events AS SELECT * FROM v1.events "
                    "WHERE ts >= $day::TIMESTAMP AND ts < $day::TIMESTAMP + INTERVAL 1 DAY", {"day": day})
        written = partitions.write_days(con, folder, "events", "old_events", generation)
        writer.manifest.replace("events", [], written)
    con.execute("DROP TABLE IF EXISTS old_events")


def _move_beside(old: Path, folder: Path) -> None:
    """The notes file and the spool into the store; the old snapshot copy away; the old file out of the way."""
    notes = old.with_name(old.stem + ".notes.duckdb")
    if notes.exists() and not (folder / "notes.duckdb").exists():
        os.replace(notes, folder / "notes.duckdb")
    spool = old.parent / "spool"
    if spool.is_dir() and not (folder / "spool").exists():
        os.replace(spool, folder / "spool")
    old.with_name(old.stem + ".read.duckdb").unlink(missing_ok=True)
    for leftover in (old.with_name(old.name + ".wal"), old.with_name(old.name + ".lock")):
        leftover.unlink(missing_ok=True)
    os.replace(old, old.with_name(old.stem + MIGRATED_SUFFIX))
