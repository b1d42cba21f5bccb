"""Live capture end to end, in real headless Chromium: HubSpot's side played by the SDK's own IFrameManager in host
mode on one origin, a calling app on another origin running the real CallingExtensions from npm with
capture/callscope-capture.js, the collector on loopback, and `python -m ingest calls --json` at the end.

Two calls: the first is answered and then HubSpot navigates (the iframe is removed) before it ends, so its last
messages only leave through the capture's pagehide beacon, with the PAGEHIDE marker: it must come out `dropped`.
The app is then re-mounted in the same tab (a new SDK instance) and a second call ends normally: `answered`.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.collector import collector_process, free_port
from ingest.calls import select_calls
from ingest.redact import Redactor
from ingest.store import connect_reader, snapshot_path
from tests.browser import CHROMIUM, CHROMIUM_ARGS, REPO, require_chromium

SDK_JS = REPO / "node_modules" / "@hubspot" / "calling-extensions-sdk" / "dist" / "main.js"
CAPTURE_JS = REPO / "capture" / "callscope-capture.js"
TOKEN = "tok-ringo-e2e-0123456789"
PORTAL_ID, USER_ID, OWNER_ID = 4455123, 7713, 7813

# HubSpot's side. dist/main.js is a UMD bundle: loaded by a plain <script> it copies its exports onto the global
# object, so `window.IFrameManager` is the SDK's IFrameManager and `window.default` is CallingExtensions.
# The host uses IFrameManager directly: a host-mode CallingExtensions would answer every app message with
# ERROR/UNKNOWN_MESSAGE_TYPE (its handler table only knows HubSpot→app types), which HubSpot does not do.
# The host-mode IFrameManager sends SYNC as {type, hostUrl} only; HubSpot's SYNC also carries portalId, userId,
# ownerId, iframeLocation and usesCallingWindow (protocol digest §3b), which call derivation reads. So the host's
# sendMessage is wrapped to add those fields to SYNC: the SDK's own sendSync still runs (its 100 ms resends, its
# SYNC_ACK callback), only the message is richer.
HOST_HTML = """<!doctype html><html><body><div id="calling-slot"></div>
<script src="/sdk.js"></script>
<script>
const SYNC_FIELDS = {portalId: PORTAL_ID, userId: USER_ID, ownerId: OWNER_ID, iframeLocation: "widget",
                     usesCallingWindow: false};
window.received = [];
let nextEngagementId = 9001;
window.mountApp = function (src) {
  const manager = new IFrameManager({
    iFrameOptions: {src, width: "400px", height: "600px", hostElementSelector: "#calling-slot"},
    onMessageHandler: (message) => { window.received.push(message.type); reply(manager, message); },
  });
  const send = manager.sendMessage.bind(manager);
  manager.sendMessage = (message, callback) =>
    send(message.type === "SYNC" ? Object.assign({}, message, SYNC_FIELDS) : message, callback);
  window.manager = manager;
};
function reply(manager, message) {
  if (message.type === "INCOMING_CALL") {  // inbound happy path, protocol digest §8
    manager.sendMessage({type: "CALLER_ID_MATCH_SUCCEEDED", data: {callerIdMatches: [{callerIdType: "CONTACT",
      objectCoordinates: {portalId: PORTAL_ID, objectId: 501, objectTypeId: "0-1"},
      firstName: "Ada", lastName: "Lovelace", email: "ada@example.com"}]}});
    manager.sendMessage({type: "CREATE_ENGAGEMENT_SUCCEEDED", data: {engagementId: nextEngagementId++}});
  }
  if (message.type === "CALL_COMPLETED") {
    manager.sendMessage({type: "UPDATE_ENGAGEMENT_SUCCEEDED", data: {engagementId: message.data.engagementId}});
  }
}
window.navigateAway = () => window.manager.remove();  // a HubSpot page navigation: the iframe goes away
</script></body></html>""".replace("PORTAL_ID", str(PORTAL_ID)).replace("USER_ID", str(USER_ID)).replace(
    "OWNER_ID", str(OWNER_ID))

# The calling app: the real CallingExtensions and the capture script, attached with one call.
APP_HTML = """<!doctype html><html><body>calling app
<script src="/sdk.js"></script>
<script src="/callscope-capture.js"></script>
<script>
const params = new URLSearchParams(location.search);
const CallingExtensions = window.default;
let engagementId = null;
const extensions = new CallingExtensions({
  debugMode: false,
  eventHandlers: {
    onReady: () => { extensions.initialized({isLoggedIn: true, isAvailable: true}); extensions.userAvailable(); },
    onCallerIdMatchSucceeded: () => {},
    onCreateEngagementSucceeded: (data) => { engagementId = data.engagementId; },
    onUpdateEngagementSucceeded: () => {},
    defaultEventHandler: () => {},
  },
});
window.capture = CallscopeCapture.attach(extensions, {
  endpoint: params.get("collector") + "/v1/events", app: "ringo-voice", token: params.get("token"),
  flushIntervalMs: Number(params.get("flushMs")), batchSize: Number(params.get("batch")),
  redact: params.get("redactKey") ? {key: params.get("redactKey")} : null,
});
window.phone = {
  ring(id) { extensions.incomingCall({externalCallId: id, fromNumber: "+14155550123", toNumber: "+14155550100",
                                      callStartTime: Date.now(), createEngagement: true}); },
  answer(id) { extensions.callAnswered({externalCallId: id}); },
  hangUp(id) {
    extensions.callEnded({externalCallId: id, engagementId, callEndStatus: "COMPLETED"});
    extensions.callCompleted({externalCallId: id, engagementId, hideWidget: false,
                              engagementProperties: {hs_call_status: "COMPLETED"}});
  },
  engagementId: () => engagementId,
};
</script></body></html>"""


def require_sdk() -> None:
    if not SDK_JS.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install the npm packages (scripts/test runs npm ci)")
        pytest.skip("the HubSpot SDK is not installed (npm ci)")


class _Files(http.server.SimpleHTTPRequestHandler):
    routes: dict[str, tuple[bytes, str]] = {}

    def do_GET(self) -> None:
        body, kind = self.routes.get(self.path.split("?")[0], (None, None))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def static_site(host: str, pages: dict[str, str] | None = None) -> Iterator[str]:
    """The pages (path → HTML; by default this module's host and app) with the SDK bundle and the capture script,
    on their own loopback origin (http://<host>:<free port>)."""
    pages = pages or {"/host.html": HOST_HTML, "/app.html": APP_HTML}
    routes = {path: (html.encode(), "text/html") for path, html in pages.items()} | {
        "/sdk.js": (SDK_JS.read_bytes(), "text/javascript"),
        "/callscope-capture.js": (CAPTURE_JS.read_bytes(), "text/javascript")}
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(type("Files", (_Files,), {"routes": routes})))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


def mount_app(page, src: str):
    """The host mounts the calling app's iframe at `src`; returns that frame once the app is attached."""
    page.evaluate("src => mountApp(src)", src)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        frame = next((f for f in page.frames if f.url == src and not f.is_detached()), None)
        if frame is not None:
            frame.wait_for_function("window.phone !== undefined && window.capture !== null")
            return frame
        page.wait_for_timeout(50)  # not time.sleep: Playwright only takes in frame events while it is called
    raise AssertionError("the calling app's iframe never loaded")


def wait_host_received(page, message_type: str, count: int = 1) -> None:
    page.wait_for_function(f"window.received.filter(t => t === {json.dumps(message_type)}).length >= {count}",
                           timeout=10_000)


def wait_for_calls(db: Path, expected: dict[str, str], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    seen: dict = {}
    while time.monotonic() < deadline:
        if snapshot_path(db).exists():
            with connect_reader(db) as con:
                seen = {c["external_call_id"]: c["outcome"] for c in select_calls(con)}
            if seen == expected:
                return
        time.sleep(0.3)
    raise AssertionError(f"calls in the database: {seen}, expected {expected}")


def test_capture_in_chromium_reports_a_drop_on_navigation_and_an_answered_call(tmp_path):
    require_chromium()
    require_sdk()
    from playwright.sync_api import sync_playwright

    db = tmp_path / "callscope.duckdb"
    with static_site("127.0.0.1") as hubspot, static_site("localhost") as app_origin, \
            collector_process(db, {"ringo-voice": TOKEN}, origins=(app_origin,)) as collector, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{hubspot}/host.html")
            query = f"collector={collector}&token={TOKEN}"

            # Instance 1 holds every record (no timed flush, huge batches): only the pagehide beacon sends them.
            frame = mount_app(page, f"{app_origin}/app.html?{query}&flushMs=600000&batch=100000")
            wait_host_received(page, "USER_AVAILABLE")
            frame.evaluate("phone.ring('call-dropped')")
            frame.wait_for_function("phone.engagementId() === 9001")
            frame.evaluate("phone.answer('call-dropped')")
            wait_host_received(page, "CALL_ANSWERED")
            stats = frame.evaluate("capture.stats")
            assert stats["sent"] == 0 and stats["errors"] == 0 and stats["captured"] >= 8
            first_instance = frame.evaluate("capture.instance")
            tab_from_storage = frame.evaluate("capture.tabFromStorage")
            page.evaluate("navigateAway()")

            # Instance 2, re-mounted in the same tab (HubSpot's next page), sends as it goes; its call ends.
            frame = mount_app(page, f"{app_origin}/app.html?{query}&flushMs=200&batch=50")
            wait_host_received(page, "USER_AVAILABLE", 2)
            frame.evaluate("phone.ring('call-answered')")
            frame.wait_for_function("phone.engagementId() === 9002")
            frame.evaluate("phone.answer('call-answered')")
            frame.evaluate("phone.hangUp('call-answered')")
            wait_host_received(page, "CALL_COMPLETED")
            frame.wait_for_function("capture.pending() === 0 && capture.stats.sent > 0", timeout=10_000)
            assert frame.evaluate("capture.stats.errors") == 0
            wait_for_calls(db, {"call-dropped": "dropped", "call-answered": "answered"})
        finally:
            browser.close()

    out = subprocess.run([sys.executable, "-m", "ingest", "calls", "--json", "--db", str(db)], cwd=REPO,
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    calls = {c["external_call_id"]: c for c in json.loads(out.stdout)}
    dropped, answered = calls["call-dropped"], calls["call-answered"]
    assert dropped["outcome"] == "dropped" and dropped["answered"] and dropped["went_away_at"]
    assert answered["outcome"] == "answered" and answered["end_status"] == "COMPLETED"
    for call, engagement in ((dropped, 9001), (answered, 9002)):
        assert call["engagement_id"] == engagement and call["caller_id"] == "matched"
        assert call["portal_id"] == PORTAL_ID and call["iframe_locations"] == ["widget"]

    with connect_reader(db) as con:
        first = con.execute("SELECT direction, type, message_id, tab FROM events WHERE instance = ? "
                            "ORDER BY ts, load_id, line_no", [first_instance]).fetchall()
        instances = con.execute("SELECT instance, tab, pagehide_at IS NOT NULL FROM instances ORDER BY started_at").fetchall()
    types = [t for _, t, _, _ in first]
    # The last messages before the navigation arrived (only through the beacon), and the PAGEHIDE marker after them.
    for needed in ("SYNC", "SYNC_ACK", "INITIALIZED", "USER_AVAILABLE", "INCOMING_CALL", "CALLER_ID_MATCH_SUCCEEDED",
                   "CREATE_ENGAGEMENT_SUCCEEDED", "CALL_ANSWERED"):
        assert needed in types, (needed, types)
    assert types[-1] == "PAGEHIDE" and types.index("SYNC") < types.index("SYNC_ACK") < types.index("INCOMING_CALL")
    # Real wire objects: every SDK message has its messageId; the app's own carry the instance as their prefix.
    assert all(mid for d, _, mid, _ in first if d != "capture")
    assert all(mid.startswith(first_instance + "_") for d, t, mid, _ in first if d == "to_hubspot" and t != "SYNC_ACK")
    # Two SDK instances in one tab, the first one's page unloaded. The tab id lives in sessionStorage, which
    # Chromium denies a cross-site iframe while it blocks third-party cookies (as it does here): then each page
    # load has its own tab id, and the PAGEHIDE marker alone made the first call `dropped`.
    assert len(instances) == 2 and instances[0][0] == first_instance and instances[0][2]
    assert (instances[0][1] == instances[1][1]) == tab_from_storage


def test_browser_redaction_matches_the_server_redactor(tmp_path):
    """The capture's in-browser hashing gives the same tokens as `ingest load --redact` with the same key."""
    script = (
        "const {Redactor} = require(process.argv[1]);"
        "const r = new Redactor(process.argv[2]);"
        "process.stdout.write(JSON.stringify(r.walk(JSON.parse(process.argv[3]))));"
    )
    message = {"type": "CALLER_ID_MATCH_SUCCEEDED", "messageId": "1_2", "data": {
        "fromNumber": "+1 (415) 555-0123", "callerIdMatches": [
            {"callerIdType": "CONTACT", "firstName": "Zoë", "lastName": "Lovelace", "email": "Ada@Example.com",
             "objectCoordinates": {"portalId": 4455123, "objectId": 501, "objectTypeId": "0-1"}},
            {"callerIdType": "COMPANY", "name": "Analytical Engines ☃", "note": "call +44 20 7946 0958 or x@y.io"}]}}
    for key in ("k", "a" * 64, "0f" * 40):  # shorter than, exactly, and longer than SHA-256's 64-byte block
        try:
            out = subprocess.run(["node", "-e", script, str(CAPTURE_JS), key, json.dumps(message)],
                                 capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            pytest.skip("node is not installed")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == Redactor(key.encode()).walk(message)
