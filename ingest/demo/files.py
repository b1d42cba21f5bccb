"""The demo as log files: one NDJSON file per UTC day, as the capture script's collector would leave them."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from itertools import groupby, islice
from pathlib import Path
from typing import BinaryIO

import msgspec

from ingest.demo.emit import generate_records
from ingest.demo.world import DAY_MS

LINES_PER_WRITE = 4096
_encode = msgspec.json.Encoder().encode


def write_demo_files(out_dir: Path, days: int = 30, calls: int = 4000, seed: int = 7,
                     end_ms: int | None = None) -> list[Path]:
    """Write demo-YYYY-MM-DD.ndjson per UTC day, every third one gzip-compressed (.ndjson.gz) so that loading
    the demo reads both; return the paths in day order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for day, records in groupby(generate_records(days, calls, seed, end_ms), key=lambda record: record["ts"] // DAY_MS):
        name = f"demo-{datetime.fromtimestamp(day * DAY_MS // 1000, UTC):%Y-%m-%d}.ndjson"
        paths.append(out_dir / (name + ".gz" if len(paths) % 3 == 2 else name))
        with _open_for_writing(paths[-1]) as file:
            while lines := [_encode(record) + b"\n" for record in islice(records, LINES_PER_WRITE)]:
                file.write(b"".join(lines))
    return paths


def _open_for_writing(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return gzip.GzipFile(path, mode="wb", mtime=0)  # mtime 0: the same seed gives the same bytes
    return open(path, "wb")
