"""`python -m ingest bench` (plugged into `ingest.cli` by `ingest/__main__.py`): the loader against DuckDB's own `read_json` on the same file, in the same run.

Each contender runs in a fresh subprocess (so peak memory is its own), `--repeat` times; medians are printed
with the ratio to the baseline. `--python-parser` adds the loader with every line parsed in Python (the columnar
path's oracle), so the gain of the columnar parse is measured in the same run too. This is a benchmark command,
not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from ingest.cli import Command
from ingest.demo import generate_records

_CHILD = r"""
import json, resource, sys, time
kind, log, db = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.perf_counter()
derive_s = 0.0
if kind in ("callscope", "python"):
    from ingest.load import load_sources
    from pathlib import Path
    result = load_sources([log], Path(db), columnar=kind == "callscope")
    rows, derive_s = result.counts.loaded, result.derive_s
else:
    import duckdb
    con = duckdb.connect(db)
    con.execute("CREATE TABLE events AS SELECT * FROM read_json(?, format='newline_delimited')", [log])
    rows = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb, "derive_s": derive_s}))
"""


def write_log(path: Path, events: int, seed: int = 11) -> int:
    """A realistic capture log of about `events` records (the demo generator, scaled)."""
    calls = max(events // 14, 10)
    days = max(min(calls // 400, 30), 1)
    encoder = msgspec.json.Encoder()
    written = 0
    with path.open("wb") as fh:
        for record in generate_records(days=days, calls=calls, seed=seed, end_ms=1_764_072_000_000):
            fh.write(encoder.encode(record) + b"\n")
            written += 1
            if written >= events:
                break
    return written


def _run_child(kind: str, log: Path, workdir: Path, repo: Path) -> dict:
    db = workdir / f"{kind}-{time.monotonic_ns()}.duckdb"
    out = subprocess.run([sys.executable, "-c", _CHILD, kind, str(log), str(db)], cwd=repo, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} run failed:\n{out.stderr[-3000:]}")
    for leftover in workdir.glob(f"{db.stem}*"):  # the store's folder (callscope), or read_json's file
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    return json.loads(out.stdout.strip().splitlines()[-1])


CONTENDERS = {"callscope": "callscope", "python": "python parser", "read_json": "duckdb read_json"}


def main(events: int, repeat: int, keep: Path | None, python_parser: bool = False) -> int:
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="callscope-bench-") as tmp:
        workdir = Path(keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        log = workdir / f"bench-{events}.ndjson"
        if not log.exists():
            print(f"writing {events:,} events to {log} …", file=sys.stderr)
            write_log(log, events)
        size_mb = log.stat().st_size / 1e6
        lines = sum(1 for _ in log.open("rb"))
        kinds = [k for k in CONTENDERS if python_parser or k != "python"]
        results: dict[str, list[dict]] = {CONTENDERS[k]: [] for k in kinds}
        for i in range(repeat):
            for kind in kinds:
                key = CONTENDERS[kind]
                r = _run_child(kind, log, workdir, repo)
                results[key].append(r | {"stored_s": r["seconds"] - r["derive_s"]})
                derive = f"  (deriving calls {r['derive_s']:.2f} s)" if r["derive_s"] else ""
                print(f"  run {i + 1}/{repeat} {key:<17} {r['seconds']:7.2f} s  {r['peak_mb']:7.0f} MB peak{derive}",
                      file=sys.stderr)
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("seconds", "peak_mb", "derive_s", "stored_s")}
           for k, v in results.items()}
    base, ours = med["duckdb read_json"], med["callscope"]
    print(f"file: {lines:,} events, {size_mb:,.0f} MB NDJSON; medians of {repeat} runs")
    print(f"{'loader':<18}{'events/s':>12}{'seconds':>10}{'peak MB':>10}")
    for name in results:
        print(f"{name:<18}{lines / med[name]['seconds']:>12,.0f}{med[name]['seconds']:>10.2f}{med[name]['peak_mb']:>10.0f}")
    print(f"ratio callscope / read_json: time x{ours['seconds'] / base['seconds']:.2f}, "
          f"throughput x{base['seconds'] / ours['seconds']:.2f}, peak memory x{ours['peak_mb'] / base['peak_mb']:.2f}")
    print(f"callscope without deriving the calls (read, validate, key, dedup, store as sorted Parquet): "
          f"{ours['stored_s']:.2f} s, throughput x{base['seconds'] / ours['stored_s']:.2f} of read_json; "
          f"deriving and publishing the calls: {ours['derive_s']:.2f} s")
    if "python parser" in med:
        old = med["python parser"]
        print(f"ratio callscope / python parser: throughput x{old['seconds'] / ours['seconds']:.2f}, "
              f"peak memory x{ours['peak_mb'] / old['peak_mb']:.2f}")
    print("(read_json only parses into a table; callscope also validates, keys, dedups, redacts if asked, "
          "derives calls and publishes them)")
    return 0


def add(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    bench = sub.add_parser("bench", help="Benchmark the loader against DuckDB's read_json (not a test).",
                           description="Load the same generated log with Callscope and with DuckDB's read_json, "
                                       "each in a fresh process; print medians and ratios.")
    bench.add_argument("--events", type=int, default=1_000_000, help="events in the log (default 1,000,000)")
    bench.add_argument("--repeat", type=int, default=3, help="runs of each loader (default 3)")
    bench.add_argument("--keep", type=Path, help="keep the generated log in this folder and reuse it")
    bench.add_argument("--python-parser", action="store_true",
                       help="also run the loader with every line parsed in Python (the columnar path's oracle)")
    return bench


BENCH = Command(add=add, run=lambda args: main(args.events, args.repeat, args.keep, args.python_parser))
