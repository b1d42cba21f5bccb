"""Keeping a store small: `compact` (one file per partition) and `prune --before DAY` (retention by whole days).

Both run as the one writer and publish a new version; the files they replace are deleted after the grace period
(`ingest.manifest.GRACE_S`), like any superseded file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

from ingest import partitions
from ingest.derived import derive_all


def compact_all(writer) -> int:
    """Merge every partition of every table into one file; returns how many files were merged away."""
    generation = writer.manifest.generation + 1
    merged = 0
    for table in list(writer.manifest.tables):
        days = {f.day for f in writer.manifest.files(table)}
        merged += partitions.compact(writer.con, writer.folder, writer.manifest, table, days, generation, keep=1, at=1)
    writer.publish()
    return merged


@dataclass
class Pruned:
    days: list[str]
    events: int


def prune(writer, before: date) -> Pruned:
    """Drop every event of a UTC day before `before` (whole day partitions), derive again what the rest feeds
    (the derived rows only those days fed go away), and record the prune in `loads` (tool `prune`)."""
    started = time.perf_counter()
    cut = before.isoformat()
    gone = [f for f in writer.manifest.files("events") if f.day < cut]
    days = sorted({f.day for f in gone})
    writer.manifest.replace("events", gone, [])
    if gone:
        derive_all(writer)
    events = sum(f.rows for f in gone)
    writer.record_load({"tool": "prune", "sources": [f"events before {cut}: {events} dropped ({len(days)} days)"],
                        "duration_ms": round((time.perf_counter() - started) * 1000), "lines_read": 0, "loaded": 0,
                        "duplicates": 0, "rejected": 0})
    writer.publish()
    return Pruned(days, events)
