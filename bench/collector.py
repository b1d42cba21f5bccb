"""`python -m bench.collector`: a bounded load test of the collector on loopback (a benchmark, not a test).

Many concurrent senders post batches to a collector in its own process for a while; the collector is then
killed with SIGKILL under load, restarted on the same database, and every batch it acknowledged is counted in
DuckDB: each acknowledged event must be stored exactly once. Prints sustained events/s, the p50/p99 time to
acknowledgement, where the CPU went during the load (the collector, its flusher, the senders: on a small machine they
share the cores, and the ack latency shows it) and the spool's size over time (bounded when the flusher keeps up). Also the harness the collector tests use (`collector_process`).
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingest.store import snapshot_path

REPO = Path(__file__).resolve().parent.parent
BENCH_APP = "bench-app"
T0_MS = 1_764_072_000_000  # 2025-11-25T12:00:00Z


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_collector(db: Path, port: int, tokens: dict[str, str], origins: tuple[str, ...] = (),
                    log_path: Path | None = None, extra_args: tuple[str, ...] = (),
                    fd_limit: int | None = None) -> subprocess.Popen:
    """`python -m ingest serve` in its own process, ready to accept (its /healthz answers). `fd_limit` sets its
    soft and hard descriptor limits, as a small server would have them."""
    env = dict(os.environ, CALLSCOPE_COLLECTOR_TOKENS=json.dumps(tokens))
    args = [sys.executable, "-m", "ingest", "serve", "--port", str(port), "--db", str(db), *extra_args]
    for origin in origins:
        args += ["--allow-origin", origin]
    limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))) if fd_limit else None
    with open(log_path or os.devnull, "ab") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=limit)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            tail = log_path.read_text()[-2000:] if log_path else ""
            raise RuntimeError(f"the collector did not start (exit {proc.returncode})\n{tail}")
        time.sleep(0.1)


def stop_collector(proc: subprocess.Popen) -> None:
    """SIGTERM: the collector loads what is still spooled, then exits."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def collector_process(db: Path, tokens: dict[str, str], origins: tuple[str, ...] = (), **options) -> Iterator[str]:
    """A collector on a free loopback port for the length of the block; yields its base URL. `options` go to
    `start_collector` (extra_args, fd_limit)."""
    port = free_port()
    proc = start_collector(db, port, tokens, origins, log_path=Path(db).with_suffix(".collector.log"), **options)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_collector(proc)


def health(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as r:
        return json.loads(r.read())


def wait_until_flushed(base_url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while health(base_url)["spool"]["segments"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the collector did not load its spool in time")
        time.sleep(0.2)


# A sender is a stream of agents one after another: each agent's browser tab (one SDK instance) carries this many
# calls, then the next agent's starts. Real traffic at 20k events/s comes from thousands of tabs, each a few events a
# second; one tab per sender carrying every call would be one iframe sending 1,000 events a second for ever, and
# every flush would re-derive its whole history (the calls of a tab are derived together).
CALLS_PER_TAB = 20


def batch_body(sender: int, batch: int, events: int, calls_per_tab: int = CALLS_PER_TAB) -> tuple[bytes, list[str]]:
    """One NDJSON batch of realistic records (one call per batch, `calls_per_tab` calls per tab and instance); and
    its event ids."""
    agent = batch // calls_per_tab
    instance = str(T0_MS + agent * 1000 + sender)  # the SDK's instanceId: Date.now() when the iframe loaded
    tab = f"tab-{sender}-{agent}"
    call = f"bench-{sender}-{batch}"
    ids, lines = [], []
    for n in range(events):
        ts = T0_MS + batch * 1000 + n
        event_id = f"{sender:04d}{batch:08d}{n:06d}{secrets.token_hex(7)}"
        kind = ("INCOMING_CALL", "CALL_ANSWERED", "CALL_ENDED")[min(n, 2)] if n < 3 else "RESIZE_WIDGET"
        data = {"externalCallId": call, "fromNumber": "+14155550123", "toNumber": "+14155550100"} if n < 3 \
            else {"width": 400, "height": 600}
        lines.append(json.dumps({
            "ts": ts, "direction": "to_hubspot", "instance": instance, "tab": tab, "app": BENCH_APP,
            "sdk_version": "0.9.7", "event_id": event_id,
            "message": {"type": kind, "messageId": f"{instance}_{ts}", "data": data},
        }, separators=(",", ":")))  # as the capture script's JSON.stringify writes it
        ids.append(event_id)
    return ("\n".join(lines) + "\n").encode(), ids


class Sender(threading.Thread):
    """Posts batches over one keep-alive connection until told to stop or the collector goes away."""

    def __init__(self, n: int, port: int, token: str, events: int, stop: threading.Event, max_batches: int,
                 interval_s: float = 0.0):
        super().__init__(daemon=True)
        self.n, self.port, self.token, self.events, self.stop, self.max_batches = n, port, token, events, stop, max_batches
        self.interval_s = interval_s  # a batch every interval_s at most (0: as fast as acknowledged)
        self.acked_ids: list[str] = []
        self.latencies_s: list[float] = []
        self.acked_at: list[float] = []
        self.failures = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/x-ndjson"}
        due = time.monotonic()
        for batch in range(self.max_batches):
            # paced: the next batch is due interval_s after the last one was (a late batch is sent at once, never
            # skipped, so the rate offered stays the rate asked for as long as the collector keeps up)
            if self.stop.wait(max(0.0, due - time.monotonic())):
                break
            due += self.interval_s
            body, ids = batch_body(self.n, batch, self.events)
            started = time.perf_counter()
            try:
                conn.request("POST", "/v1/events", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                self.failures += 1  # not acknowledged: the collector died with this batch in flight
                break
            if 200 <= response.status < 300:
                self.latencies_s.append(time.perf_counter() - started)
                self.acked_at.append(time.monotonic())
                self.acked_ids.extend(ids)
            else:
                self.failures += 1
        conn.close()


def count_stored(db: Path, event_ids: list[str]) -> tuple[int, int, int]:
    """(acknowledged events found, copies beyond the first among them, events stored in all)."""
    import pyarrow as pa

    from ingest.parse import event_key
    from ingest.store import connect_reader

    keys = pa.table({"event_key": [event_key(b"", i) for i in event_ids]})
    with connect_reader(db) as con:
        con.register("acked", keys)
        found, extra = con.execute(
            "SELECT count(DISTINCT e.event_key), count(*) - count(DISTINCT e.event_key) "
            "FROM events e JOIN acked a USING (event_key)").fetchone()
        total = con.execute("SELECT count(*) FROM events").fetchone()[0]
    return found, extra, total


def spool_size(db: Path) -> tuple[int, int]:
    """(segments, bytes) waiting in the collector's spool."""
    from ingest.spool import spool_dir

    sizes = []
    for path in spool_dir(db).glob("*.ndjson"):
        try:
            sizes.append(path.stat().st_size)
        except FileNotFoundError:  # flushed while we looked
            continue
    return len(sizes), sum(sizes)


def sample_spool(db: Path, every_s: float, stop: threading.Event, samples: list[tuple[float, int, int]]) -> None:
    started = time.monotonic()
    while not stop.wait(every_s):
        samples.append((time.monotonic() - started, *spool_size(db)))


def _proc_stat(pid: int | str) -> list[str] | None:
    """A process's /proc/<pid>/stat fields from the state on (index 0 is field 3), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _used_s(fields: list[str]) -> float:
    """User and system time of a process's stat fields (`_proc_stat`), in seconds."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU seconds a process has used, those its live children have used) (Linux; zeros elsewhere)."""
    own = _proc_stat(pid)
    children = [f for p in Path("/proc").glob("[0-9]*") if (f := _proc_stat(p.name)) and f[1] == str(pid)]
    return (_used_s(own) if own else 0.0), sum(map(_used_s, children))


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (every state but idle and iowait) since it booted."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0.0
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(collector_pid: int) -> dict[str, float]:
    """Where the CPU has gone so far: the collector, its flusher (its children), this process (the senders) and
    the whole machine."""
    collector, flusher = cpu_seconds(collector_pid)
    return {"collector": collector, "flusher": flusher, "load generator": sum(os.times()[:2]),
            "machine": machine_busy_s()}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else (values or [0.0])[0]


def main(argv: list[str] | None = None) -> int:
    """Long because it is the benchmark's script: arguments, load, kill -9, restart, count, report."""
    parser = argparse.ArgumentParser(prog="python -m bench.collector", description=__doc__.split("\n\n")[0])
    parser.add_argument("--senders", type=int, default=20, help="concurrent senders (default 20)")
    parser.add_argument("--events", type=int, default=50, help="events per batch (default 50)")
    parser.add_argument("--seconds", type=float, default=20, help="load before the kill -9, at most 300 (default 20)")
    parser.add_argument("--sample-s", type=float, default=5, help="seconds between spool size samples (default 5)")
    parser.add_argument("--rate", type=float, default=0,
                        help="events/s offered by all senders together (default 0: each as fast as it is answered)")
    parser.add_argument("--max-batches", type=int, default=100_000, help="batches per sender at most (default 100,000)")
    args = parser.parse_args(argv)
    seconds = min(args.seconds, 300.0)

    folder = Path(tempfile.mkdtemp(prefix="callscope-serve-bench-"))
    db = folder / "callscope.duckdb"
    token = secrets.token_urlsafe(24)
    tokens = {BENCH_APP: token}
    port = free_port()
    log_path = folder / "collector.log"
    print(f"collector on 127.0.0.1:{port}, database {db}; {args.senders} senders × {args.events} events per batch, "
          f"{seconds:.0f} s of load{f' offered at {args.rate:,.0f} events/s' if args.rate > 0 else ''}, then kill -9",
          file=sys.stderr)
    proc = start_collector(db, port, tokens, log_path=log_path)
    stop = threading.Event()
    interval_s = args.senders * args.events / args.rate if args.rate > 0 else 0.0
    senders = [Sender(n, port, token, args.events, stop, args.max_batches, interval_s) for n in range(args.senders)]
    samples: list[tuple[float, int, int]] = []
    sampler = threading.Thread(target=sample_spool, args=(db, args.sample_s, stop, samples), daemon=True)
    started = time.monotonic()
    cpu_before = cpu_snapshot(proc.pid)
    # The senders time each request in this process: a collection of its own would count as the collector's
    # latency (a full one took 75 ms here under load). Their garbage has next to no cycles (330 objects left for the
    # collector after 12,000 requests), so none is needed until the end.
    gc.freeze()
    gc.disable()
    for s in senders:
        s.start()
    sampler.start()
    time.sleep(seconds)
    cpu_used = {k: v - cpu_before[k] for k, v in cpu_snapshot(proc.pid).items()}
    in_duckdb = count_stored(db, [])[2] if snapshot_path(db).exists() else 0
    os.kill(proc.pid, signal.SIGKILL)  # under load: batches in flight are lost unacknowledged, never half-stored
    killed_at = time.monotonic()
    proc.wait()
    stop.set()
    gc.enable()
    for s in senders:
        s.join(timeout=30)

    acked = [i for s in senders for i in s.acked_ids]
    latencies = sorted(x for s in senders for x in s.latencies_s)
    window = killed_at - started
    events_per_s = len(acked) / window
    print(f"load: {len(latencies):,} batches acknowledged, {len(acked):,} events in {window:.1f} s = "
          f"{events_per_s:,.0f} events/s ({len(latencies) / window:,.0f} batches/s); ack latency p50 "
          f"{percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms; "
          f"{sum(s.failures for s in senders)} batch(es) in flight at the kill; {in_duckdb:,} events already in "
          f"DuckDB ({in_duckdb / window:,.0f} events/s), the rest in the spool", file=sys.stderr)

    cores = {k: round(v / window, 2) for k, v in cpu_used.items()}
    print(f"CPU during the load, in cores busy of {os.cpu_count()}: " + ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
          + f" (the rest of the machine: {max(0.0, cores['machine'] - sum(v for k, v in cores.items() if k != 'machine')):.2f})",
          file=sys.stderr)
    print("spool over time: " + "; ".join(f"{t:.0f} s {n} segments {b / 1e6:.1f} MB" for t, n, b in samples),
          file=sys.stderr)
    restart = time.monotonic()
    proc = start_collector(db, port, tokens, log_path=log_path)  # listens at once; the leftovers load meanwhile
    ready_s = time.monotonic() - restart
    wait_until_flushed(f"http://127.0.0.1:{port}", timeout_s=600)
    drained_s = time.monotonic() - restart
    stop_collector(proc)
    found, extra, total = count_stored(db, acked)
    verdict = "OK" if found == len(acked) and extra == 0 else "FAILED"
    print(f"after kill -9 and restart (listening after {ready_s:.1f} s, leftover spool loaded after {drained_s:.1f} s): "
          f"acknowledged "
          f"{len(acked):,}, stored {found:,} of them, {extra} stored twice; {total:,} events in the database "
          f"({total - found:,} from batches in flight at the kill, stored but never acknowledged): {verdict}",
          file=sys.stderr)
    print(json.dumps({"events_per_s": round(events_per_s), "loaded_per_s_during_load": round(in_duckdb / window),
                      "batches": len(latencies),
                      "p50_ms": round(percentile(latencies, 50) * 1000, 1),
                      "p99_ms": round(percentile(latencies, 99) * 1000, 1), "acknowledged": len(acked),
                      "stored_acknowledged": found, "stored_twice": extra, "stored_total": total,
                      "cpu_cores": cores, "restart_s": round(ready_s, 1), "drained_s": round(drained_s, 1),
                      "spool_over_time": [{"s": round(t), "segments": n, "bytes": b} for t, n, b in samples],
                      "ok": verdict == "OK"}))
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    raise SystemExit(main())
