"""`python -m ingest serve`: the HTTP collector the browser capture script (capture/) sends batches to.

`POST /v1/events` takes capture-format v1 records as NDJSON or one JSON array, optionally gzip (by
`Content-Encoding: gzip` or by its magic bytes). It answers only once the batch is durable in the spool
(`ingest.spool`); a background flusher loads the spool into DuckDB. Answers:

- 202 `{"accepted": n, "rejected": [{"line": k, "reason": "..."}]}`: stored (rejected lines go to `rejects`).
- 400 the same body when every line was rejected (they still go to `rejects`), or when there is no record at all.
- 401 no or wrong token; 403 an origin that is not allowed, or records that name another app than the token's;
  408 the body did not arrive in time; 413 a body over MAX_BODY_BYTES (or over MAX_INFLATED_BYTES un-gzipped),
  or of more than MAX_BATCH_LINES lines;
  415 a content type or encoding that is not JSON, or gzip inside gzip (one layer is decompressed, no more);
  503 with Retry-After: the spool is full because the database stayed locked, the disk is full, or too many
  bodies are arriving at once (retry later).

Slow and greedy clients are bounded by `ingest.connections` (request deadlines, a connection cap, a budget for
bodies in flight).

`GET /healthz` says `"status": "ok"`, or `"degraded"` while something needs an operator: the disk refused the
last spool write, the last flush failed (its error in `last_error`), or batches that fail to load even alone
sit in `spool/quarantine/` (counted, with the last one's error; see `ingest.spool`). Another writer holding the
database (an `ingest load`) is no fault: the spool waits, and `waiting_for_writer` says for whom.

Tokens: one per app, from `--tokens-file` (JSON or TOML, `{"app-id": "token"}`) or CALLSCOPE_COLLECTOR_TOKENS.
A token names its app. It is sent as `Authorization: Bearer <token>` or, for browsers (`navigator.sendBeacon`
cannot set headers, and a header would cost a CORS preflight per batch), as `?token=<token>`.
CORS: only origins in the allowed list get CORS headers and may post; requests without an Origin (servers,
curl) are not browser requests and are judged by their token alone.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import hmac
import json
import logging
import os
import sys
import time
import tomllib
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ingest.connections import BodyBudget, Limits, guarded_protocol, raise_fd_limit
from ingest.errors import CallscopeError
from ingest.flusher import Flusher
from ingest.redact import Redactor, load_key
from ingest.spool import MAX_SPOOL_BYTES, QUARANTINE, AppMismatch, Spool, TooManyLines, spool_dir

MAX_BODY_BYTES = 1 << 20  # on the wire; the capture script sends batches of at most 48 KiB
MAX_INFLATED_BYTES = 16 << 20  # after un-gzipping (a gzip bomb stops here)
MAX_LISTED_REJECTS = 1_000
DEFAULT_PORT = 8765
DEFAULT_FLUSH_INTERVAL_S = 1.0
MIN_FLUSH_INTERVAL_S = 1.0
TOKENS_ENV = "CALLSCOPE_COLLECTOR_TOKENS"
# HubSpot's app origins. The capture script runs inside the calling app's iframe, so browsers send the calling
# app's own origin: add it with --allow-origin.
DEFAULT_ORIGINS = ("https://app.hubspot.com", "https://app-eu1.hubspot.com")
JSON_TYPES = frozenset({"", "application/json", "application/x-ndjson", "application/ndjson", "application/jsonl",
                        "application/x-jsonlines", "text/plain"})  # text/plain: what sendBeacon sends for a string
PREFLIGHT_MAX_AGE_S = 600
# Threads that check and spool request bodies (`Spool.accept`: the parse holds the interpreter lock, the fsyncs do
# not). A plain executor hands a body over more cheaply than anyio's thread pool; with it, no proxy-header
# middleware (nothing here reads the client's address) and msgspec encoding the answer, ack p99 at 20k events/s
# went from 87-89 ms to 67-78 ms, three runs each, alternated (`python -m bench.collector --seconds 30 --rate 20000`).
ACCEPT_THREADS = 8
RETRY_AFTER_S = 5

log = logging.getLogger("callscope.collector")


@dataclass(frozen=True)
class CollectorConfig:
    db_path: Path
    tokens: dict[str, str]  # app id -> token
    origins: frozenset[str]
    flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S
    redact: bool = False
    limits: Limits = Limits()


def load_tokens(tokens_file: Path | None, environ: dict[str, str] | None = None) -> dict[str, str]:
    """App tokens from a JSON or TOML file (`{"app": "token"}`, or a `[tokens]` table), else the environment."""
    environ = os.environ if environ is None else environ
    hint = (f"Pass --tokens-file FILE (JSON or TOML: app id = token) or set {TOKENS_ENV}='{{\"my-app\": \"a long "
            "random secret\"}'")
    if tokens_file is not None:
        try:
            text = Path(tokens_file).read_text()
        except OSError as exc:
            raise CallscopeError(f"cannot read tokens file {tokens_file}: {exc.strerror}", hint) from None
        try:
            raw = tomllib.loads(text) if Path(tokens_file).suffix == ".toml" else json.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise CallscopeError(f"tokens file {tokens_file} is not valid JSON/TOML ({exc})", hint) from None
        raw = raw.get("tokens", raw) if isinstance(raw, dict) else raw
    elif environ.get(TOKENS_ENV):
        try:
            raw = json.loads(environ[TOKENS_ENV])
        except ValueError as exc:
            raise CallscopeError(f"{TOKENS_ENV} is not a JSON object ({exc})", hint) from None
    else:
        raise CallscopeError("no collector tokens are configured", hint)
    if not isinstance(raw, dict) or not raw or not all(isinstance(k, str) and k and isinstance(v, str) and v
                                                       for k, v in raw.items()):
        raise CallscopeError("collector tokens must map each app id to a non-empty token string", hint)
    if len(set(raw.values())) != len(raw):
        raise CallscopeError("two apps share a token; a token must name one app", hint)
    return dict(raw)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


GZIP_MAGIC = b"\x1f\x8b"


class NestedGzip(ValueError):
    """The un-gzipped body is gzip again: one layer is decompressed, never more (each layer multiplies)."""


def _inflate(body: bytes) -> bytes:
    """Un-gzip one layer (several members allowed), stopping past MAX_INFLATED_BYTES; ValueError for a broken
    stream, NestedGzip when what comes out is gzip again."""
    out = bytearray()
    while body:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(body, MAX_INFLATED_BYTES + 1 - len(out))
        except zlib.error as exc:
            raise ValueError(f"the body is not valid gzip ({exc})") from None
        if len(out) > MAX_INFLATED_BYTES:
            raise OverflowError
        if not inflater.eof:
            raise ValueError("the gzip body is truncated")
        body = inflater.unused_data
    if out[:2] == GZIP_MAGIC:
        raise NestedGzip("the body is gzip inside gzip; compress once")
    return bytes(out)


class Collector:
    """The HTTP side: origin, token, size and type checks, then `Spool.accept`."""

    def __init__(self, config: CollectorConfig):
        self.config = config
        redactor = Redactor(load_key(Path(config.db_path).parent)) if config.redact else None
        self.spool = Spool(spool_dir(config.db_path), redactor)
        self.flusher = Flusher(self.spool, config.db_path, interval_s=config.flush_interval_s, redact=config.redact)
        self._apps_by_token = {token.encode(): app for app, token in config.tokens.items()}
        self.budget = BodyBudget(config.limits.max_buffered_bytes)
        self.disk_full_at: float | None = None  # epoch seconds of the last refused write for lack of space
        self.accepting = ThreadPoolExecutor(ACCEPT_THREADS, thread_name_prefix="callscope-accept")

    def _cors(self, request: Request) -> tuple[bool, dict[str, str]]:
        """(allowed, headers to add). No Origin header: not a browser, nothing to allow."""
        origin = request.headers.get("origin")
        if origin is None:
            return True, {}
        if origin not in self.config.origins:
            return False, {}
        return True, {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def _app_for(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else request.query_params.get("token", "")
        found = None
        for known, app in self._apps_by_token.items():  # compare against every token, in constant time each
            if hmac.compare_digest(known, token.encode()):
                found = app
        return found

    async def preflight(self, request: Request) -> Response:
        allowed, cors = self._cors(request)
        if not allowed or not cors:
            return _error(403, "this origin may not send capture batches to this collector")
        return Response(status_code=204, headers={
            **cors, "Access-Control-Allow-Methods": "POST", "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
            "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding",
        })

    async def events(self, request: Request) -> Response:
        allowed, cors = self._cors(request)
        if not allowed:
            return _error(403, f"origin {request.headers['origin']} is not allowed; start the collector with "
                               f"--allow-origin {request.headers['origin']} to accept it")
        app = self._app_for(request)
        if app is None:
            return _error(401, "missing or unknown token: send Authorization: Bearer <token> or ?token=<token>",
                          {**cors, "WWW-Authenticate": "Bearer"})
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if content_type not in JSON_TYPES or encoding not in ("identity", "gzip", "x-gzip"):
            return _error(415, f"send NDJSON or a JSON array (application/x-ndjson, application/json or text/plain), "
                               f"optionally gzip; got {content_type or 'no type'} ({encoding})", cors)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _error(413, f"the body is over {MAX_BODY_BYTES:,} bytes; send smaller batches", cors)
        held = 0  # bytes this request holds in the shared body budget
        try:
            body, held, refusal = await self._receive(request, cors)
            if refusal is not None:
                return refusal
            return await self._accept(body, app, cors)
        finally:
            self.budget.give_back(held)

    async def _receive(self, request: Request, cors: dict[str, str]) -> tuple[bytes, int, Response | None]:
        """The body, un-gzipped once, within the deadline, the size limits and the shared budget."""
        body, held = bytearray(), 0
        busy = _error(503, "too many batches are arriving at once; retry later", {**cors, "Retry-After": str(RETRY_AFTER_S)})
        try:
            with anyio.fail_after(self.config.limits.request_timeout_s):
                async for chunk in request.stream():
                    if not self.budget.take(len(chunk)):
                        return b"", held, busy
                    held += len(chunk)
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        return b"", held, _error(413, f"the body is over {MAX_BODY_BYTES:,} bytes; send smaller batches", cors)
        except TimeoutError:
            return b"", held, _error(408, "the body did not arrive in time; send it at once", cors)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding == "identity" and body[:2] != GZIP_MAGIC:
            return bytes(body), held, None
        if not self.budget.take(MAX_INFLATED_BYTES):  # room for the worst case, given back with the rest
            return b"", held, busy
        held += MAX_INFLATED_BYTES
        try:
            return await anyio.to_thread.run_sync(_inflate, bytes(body)), held, None
        except OverflowError:
            return b"", held, _error(413, f"the body is over {MAX_INFLATED_BYTES:,} bytes un-gzipped; send smaller batches", cors)
        except NestedGzip as exc:
            return b"", held, _error(415, str(exc), cors)
        except ValueError as exc:
            return b"", held, _error(400, str(exc), cors)

    async def _accept(self, body: bytes, app: str, cors: dict[str, str]) -> Response:
        if self.spool.bytes_pending > MAX_SPOOL_BYTES:
            return _error(503, "the collector's spool is full (the database has been locked for a while); retry later",
                          {**cors, "Retry-After": str(RETRY_AFTER_S)})
        try:
            receipt = await asyncio.get_running_loop().run_in_executor(self.accepting, self.spool.accept, bytes(body),
                                                                       app)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            self.disk_full_at = time.time()
            log.error("the spool's disk is full: answering 503 until there is room")
            return _error(503, "the collector's disk is full; retry later", {**cors, "Retry-After": str(RETRY_AFTER_S)})
        except TooManyLines as exc:
            return _error(413, str(exc), cors)
        except AppMismatch as exc:
            return JSONResponse({"error": str(exc), "rejected": [
                {"line": line, "reason": f"app {other!r} is not the app this token is for ({app!r})"}
                for line, other in exc.lines[:MAX_LISTED_REJECTS]]}, status_code=403, headers=cors)
        self.disk_full_at = None  # a write went through: there is room again
        if receipt.path is None:
            return _error(400, "the body holds no capture records", cors)
        answer = {"accepted": receipt.accepted, "rejected_count": len(receipt.rejects),
                  "rejected": [{"line": r.line_no, "reason": r.reason} for r in receipt.rejects[:MAX_LISTED_REJECTS]]}
        if receipt.accepted == 0:
            answer["error"] = "every line was rejected (the lines are kept in `rejects`)"
            return JSONResponse(answer, status_code=400, headers=cors)
        return Response(msgspec.json.encode(answer), status_code=202, media_type="application/json", headers=cors)

    async def health(self, request: Request) -> Response:
        st = self.flusher.status
        counts = st.last_counts.__dict__ if st.last_counts else None
        quarantined = self.spool.quarantined()
        degraded = self.disk_full_at is not None or st.last_error is not None or bool(quarantined)
        return JSONResponse({
            "status": "degraded" if degraded else "ok",
            "spool": {"segments": len(self.spool.pending()), "bytes": self.spool.bytes_pending},
            "disk_full_at": self.disk_full_at,
            "quarantine": {"segments": len(quarantined), "folder": str(self.spool.folder / QUARANTINE),
                           "last_error": max(quarantined, key=lambda q: q.moved_at).error if quarantined else None},
            "flushes": st.flushes, "last_flush_at": st.last_flush_at, "last_flush_s": round(st.last_duration_s, 3),
            "last_flush": counts, "last_error": st.last_error, "waiting_for_writer": st.waiting_for,
        })


def create_app(config: CollectorConfig) -> Starlette:
    collector = Collector(config)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        # Listen at once: batches acknowledged before a restart load in the background, oldest first (the spool's
        # order), ahead of those acknowledged since.
        collector.flusher.start()
        try:
            yield
        finally:
            collector.accepting.shutdown(wait=True)  # uvicorn has answered every request by now
            await anyio.to_thread.run_sync(collector.flusher.stop)

    app = Starlette(routes=[
        Route("/v1/events", collector.events, methods=["POST"]),
        Route("/v1/events", collector.preflight, methods=["OPTIONS"]),
        Route("/healthz", collector.health, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.collector = collector
    return app


def serve(config: CollectorConfig, host: str, port: int) -> int:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    apps = ", ".join(sorted(config.tokens))
    log.info("Callscope collector on http://%s:%d/v1/events → %s (spool %s; apps: %s; origins: %s)", host, port,
             config.db_path, spool_dir(config.db_path), apps, ", ".join(sorted(config.origins)))
    limits = raise_fd_limit(config.limits)
    app, protocol = create_app(config), guarded_protocol(limits)
    # What startup made (modules, Starlette, DuckDB's bindings: ~60,000 objects) lives until the server stops: frozen,
    # no collection walks it again. Each full collection walked it holding the interpreter lock, which every request
    # waits for: at 20k events/s, 15 a minute of 15-84 ms each. Unfrozen at the end, so the exit frees it as usual.
    gc.freeze()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5,
                    http=protocol, timeout_keep_alive=5, proxy_headers=False,
                    limit_concurrency=limits.max_connections + 1)  # uvicorn's cap is exclusive
    finally:
        gc.unfreeze()
    return 0
