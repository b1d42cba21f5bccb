"""`python -m ingest bench-spark` (plugged into `ingest.cli` by `ingest/__main__.py`): the whole call derivation
on DuckDB (the baseline), on Spark `local[2]`, and on a Spark standalone cluster started on loopback from
pyspark's own `sbin/spark-daemon.sh` (a master and two workers of one core each), over copies of the same store.

Each engine derives `--repeat` times; medians are printed with the ratio to DuckDB's, measured in the same run,
and the session start apart (a cluster pays it once per job). The daemons are started with pid files in a
temporary folder and stopped by them. This is a benchmark command, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ingest.cli import Command, db_arg, err

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def add(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    bench = sub.add_parser("bench-spark", help="Time the derivation on DuckDB, Spark local[2] and a 2-worker cluster.",
                           description="Derive every call of a store (copied first) on DuckDB, on Spark local[2] and "
                                       "on a Spark standalone cluster on loopback (a master and two workers started "
                                       "from pyspark's sbin scripts), and print the medians and ratios to DuckDB.")
    bench.add_argument("--repeat", type=int, default=1, help="derivations per engine (default 1)")
    bench.add_argument("--workers", type=int, default=2, help="standalone workers, one core each (default 2)")
    bench.add_argument("--worker-memory", default="2g", help="memory of each worker (default 2g)")
    bench.add_argument("--driver-memory", default="4g", help="memory of the driver, which runs local[2] (default 4g)")
    db_arg(bench)
    return bench


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A standalone master and workers on 127.0.0.1, started and stopped with spark-daemon.sh and its pid files."""

    def __init__(self, folder: Path, workers: int, memory: str):
        import pyspark

        home = Path(pyspark.__file__).parent
        self.daemon = str(home / "sbin" / "spark-daemon.sh")
        self.env = os.environ | {"SPARK_HOME": str(home), "SPARK_LOG_DIR": str(folder / "logs"),
                                 "SPARK_PID_DIR": str(folder / "pids"), "SPARK_LOCAL_IP": "127.0.0.1"}
        self.port, self.workers, self.memory, self.folder = _free_port(), workers, memory, folder
        self.url = f"spark://127.0.0.1:{self.port}"

    def _run(self, *args: str) -> None:
        subprocess.run(["bash", self.daemon, *args], env=self.env, check=True, capture_output=True)

    def __enter__(self) -> Cluster:
        self._run("start", MASTER_CLASS, "1", "--host", "127.0.0.1", "--port", str(self.port),
                  "--webui-port", str(_free_port()))
        for n in range(1, self.workers + 1):
            self._run("start", WORKER_CLASS, str(n), "--host", "127.0.0.1", "--webui-port", str(_free_port()),
                      "--cores", "1", "--memory", self.memory, "--work-dir", str(self.folder / f"work-{n}"), self.url)
        return self

    def __exit__(self, *exc) -> None:
        for n in range(1, self.workers + 1):
            self._run("stop", WORKER_CLASS, str(n))
        self._run("stop", MASTER_CLASS, "1")


def _copy(store: Path, folder: Path, name: str) -> Path:
    target = folder / name
    shutil.copytree(store, target, ignore=shutil.ignore_patterns("spool", ".tmp", "writer.lock"))
    return target


def _derive_duckdb(store: Path) -> float:
    from ingest.derived import derive_all
    from ingest.store import Writer

    started = time.perf_counter()
    with Writer(store) as writer:
        derive_all(writer)
        writer.publish()
    return time.perf_counter() - started


def _derive_spark(spark, store: Path) -> float:
    from ingest.spark.derive import derive_on_spark
    from ingest.store import Writer

    started = time.perf_counter()
    with Writer(store) as writer:
        derive_on_spark(writer, spark)
        writer.publish()
    return time.perf_counter() - started


def _spark_runs(master: str, store: Path, repeat: int, conf: dict) -> tuple[float, list[float]]:
    from ingest.spark import session

    started = time.perf_counter()
    spark = session.start(master, app_name="callscope-bench", conf=conf)
    start_s = time.perf_counter() - started
    try:
        return start_s, [_derive_spark(spark, store) for _ in range(repeat)]
    finally:
        spark.stop()


def run(args: argparse.Namespace) -> int:
    from ingest import manifest as mf
    from ingest.spark.engine import require

    require()
    manifest = mf.read(args.db)
    if manifest is None:
        from ingest.catalog import no_data

        raise no_data(args.db)
    events = sum(f.rows for f in manifest.files("events"))
    results: dict[str, tuple[float | None, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="callscope-bench-spark-") as tmp:
        folder = Path(tmp)
        store = _copy(mf.store_dir(args.db), folder, "store")
        err.print(f"deriving {events:,} events: duckdb", markup=False)
        results["duckdb"] = (None, [_derive_duckdb(store) for _ in range(args.repeat)])
        err.print("spark local[2]", markup=False)
        results["spark local[2]"] = _spark_runs("local[2]", store, args.repeat,
                                                 {"spark.ui.enabled": "false", "spark.driver.memory": args.driver_memory})
        err.print(f"spark standalone, {args.workers} workers of 1 core", markup=False)
        with Cluster(folder, args.workers, args.worker_memory) as cluster:
            conf = {"spark.driver.host": "127.0.0.1", "spark.ui.enabled": "false", "spark.executor.cores": "1",
                    "spark.executor.memory": args.worker_memory, "spark.driver.memory": args.driver_memory}
            results[f"spark standalone x{args.workers}"] = _spark_runs(cluster.url, store, args.repeat, conf)
    baseline = statistics.median(results["duckdb"][1])
    print(f"derivation over {events:,} events (median of {args.repeat}; session start apart)")
    for name, (start_s, times) in results.items():
        median = statistics.median(times)
        start = f"  session start {start_s:5.1f} s" if start_s is not None else ""
        print(f"{name:24s} {median:8.1f} s   x{median / baseline:5.2f} of duckdb{start}")
    return 0


BENCH_SPARK = Command(add=add, run=run)
