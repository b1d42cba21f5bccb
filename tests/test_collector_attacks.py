"""The collector under attack, on loopback, in its own process: slow request heads and slow bodies must not stop
healthy senders or grow its memory. The token is public (it travels in the capture script's URL), so every
attacker here has a valid one."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from bench.collector import free_port, start_collector, stop_collector
from tests.logs import T0, Log, Tab

TOKEN = "tok-ringo-0123456789abcdef"
TOKENS = {"ringo-voice": TOKEN}
MEMORY_CEILING_MB = 500


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@contextmanager
def collector(tmp_path: Path, *extra_args: str, fd_limit: int | None = None):
    port = free_port()
    proc = start_collector(tmp_path / "callscope.duckdb", port, TOKENS, log_path=tmp_path / "collector.log",
                           extra_args=extra_args, fd_limit=fd_limit)
    try:
        yield port, proc
    finally:
        stop_collector(proc)


def a_call(call_id: str) -> bytes:
    log = Log()
    app = Tab(log, "tab-a").iframe("remote", at=T0)
    app.send("INCOMING_CALL", externalCallId=call_id, fromNumber="+14155550123", toNumber="+14155550100")
    app.send("CALL_ENDED", externalCallId=call_id, callEndStatus="COMPLETED")
    return log.ndjson().encode()


def post(port: int, body: bytes, timeout: float = 10) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events?token={TOKEN}", data=body,
                                     headers={"Content-Type": "application/x-ndjson"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def slow_connections(stack: ExitStack, port: int, count: int, first_bytes: bytes) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        s.sendall(first_bytes)
        socks.append(s)
    return socks


def test_slow_request_heads_beyond_the_descriptor_limit_do_not_starve_healthy_senders(tmp_path):
    # 1,100 connections that never finish their request head, against a process allowed 1,024 descriptors.
    with collector(tmp_path, fd_limit=1024) as (port, proc), ExitStack() as stack:
        slow_connections(stack, port, 1100, b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        body = a_call("healthy-1")
        status, answer = post(port, body)
        waited = time.monotonic() - started
        assert (status, answer["accepted"]) == (202, body.count(b"\n"))
        assert waited < 3, f"a healthy sender waited {waited:.1f} s"
        assert proc.poll() is None


def test_slow_heads_are_closed_after_the_request_timeout(tmp_path):
    with collector(tmp_path, "--request-timeout", "2") as (port, _), ExitStack() as stack:
        socks = slow_connections(stack, port, 20, b"POST /v1/events HTTP/1.1\r\n")
        for s in socks:  # trickling a byte now and then does not reset the deadline
            s.sendall(b"X")
        time.sleep(1.2)
        for s in socks:
            s.sendall(b"-")
        time.sleep(1.8)
        closed = 0
        for s in socks:
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, TimeoutError):
                closed += 1
        assert closed == 20


def test_a_thousand_slow_bodies_stay_within_memory_and_time_out(tmp_path):
    head = (f"POST /v1/events?token={TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
            f"Content-Length: 1000000\r\n\r\n").encode()
    with collector(tmp_path, "--request-timeout", "4") as (port, proc), ExitStack() as stack:
        socks = slow_connections(stack, port, 1000, head + b"x" * 100_000)
        time.sleep(1)
        assert _peak_rss_mb(proc.pid) < MEMORY_CEILING_MB
        answers = []
        for s in socks[:50]:  # every slow body is answered 408 (or 503 when the budget was full), then closed
            s.settimeout(10)
            answers.append(s.recv(64).split(b" ")[1])
        assert set(answers) <= {b"408", b"503"} and b"408" in answers
        stack.close()
        body = a_call("after-the-attack")
        status, answer = post(port, body)
        assert (status, answer["accepted"]) == (202, body.count(b"\n"))
        assert _peak_rss_mb(proc.pid) < MEMORY_CEILING_MB


@pytest.mark.parametrize("flag", ["--max-connections", "--request-timeout"])
def test_limits_are_documented_for_the_operator(flag):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert flag in readme
