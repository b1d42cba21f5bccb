"""The call model on real SDK traffic, in headless Chromium: HubSpot's side played by the SDK's own IFrameManager
(one per iframe slot: a tab's remote iframe, the calling window), the calling app by the real CallingExtensions
with capture/callscope-capture.js, the collector on loopback. The app behaves as the SDK's demo apps were seen
to behave (issue 14): a stray "end call" with no call, a stale engagementId after CREATE_ENGAGEMENT_FAILED, a
navigation mid-call answered by echoing onReady's payload, remote iframes that make up their own externalCallId
for the calling window's call. The page code is this file's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.collector import collector_process
from ingest.store import connect_reader
from tests.browser import CHROMIUM, CHROMIUM_ARGS, REPO, require_chromium
from tests.test_capture_e2e import PORTAL_ID, TOKEN, USER_ID, require_sdk, static_site, wait_for_calls

# HubSpot's side: an IFrameManager per slot, whose SYNC carries the slot's iframeLocation and usesCallingWindow
# (and, after a navigation, the engagementId of the call in progress, as onReady hands it over). Every manager
# listens on the same window, so each one only takes the messages of its own iframe (HubSpot tells them apart).
HOST_HTML = """<!doctype html><html><body><div id="slots"></div>
<script src="/sdk.js"></script>
<script>
const BASE = {portalId: PORTAL_ID, userId: USER_ID, ownerId: USER_ID};
window.received = [];
window.managers = {};
window.handover = {};
window.failNextEngagement = false;
let nextEngagementId = 9001;
window.mountApp = function (slot, src, iframeLocation, usesCallingWindow) {
  let host = document.getElementById(slot);
  if (!host) { host = document.createElement("div"); host.id = slot; document.getElementById("slots").appendChild(host); }
  const fields = Object.assign({iframeLocation, usesCallingWindow}, BASE);
  if (window.handover[slot]) { fields.engagementId = window.handover[slot]; }
  const manager = new IFrameManager({
    iFrameOptions: {src, width: "300px", height: "300px", hostElementSelector: "#" + slot},
    onMessageHandler: (message) => { window.received.push(slot + ":" + message.type); reply(manager, message); },
  });
  const onMessage = manager.onMessage.bind(manager);
  manager.onMessage = (event) => { if (manager.iFrame && event.source === manager.iFrame.contentWindow) onMessage(event); };
  const send = manager.sendMessage.bind(manager);
  manager.sendMessage = (message, callback) =>
    send(message.type === "SYNC" ? Object.assign({}, message, fields) : message, callback);
  window.managers[slot] = manager;
};
function reply(manager, message) {
  if (message.type === "INCOMING_CALL") {
    manager.sendMessage({type: "CALLER_ID_MATCH_SUCCEEDED", data: {callerIdMatches: []}});
    if (window.failNextEngagement) {
      window.failNextEngagement = false;
      manager.sendMessage({type: "CREATE_ENGAGEMENT_FAILED", data: {error: {message: "Request failed with status code 500"}}});
    } else {
      manager.sendMessage({type: "CREATE_ENGAGEMENT_SUCCEEDED", data: {engagementId: nextEngagementId++}});
    }
  }
  if (message.type === "CALL_COMPLETED" && message.data && message.data.engagementId) {
    manager.sendMessage({type: "UPDATE_ENGAGEMENT_SUCCEEDED", data: {engagementId: message.data.engagementId}});
  }
}
// A HubSpot page navigation: the slot's iframe is destroyed; HubSpot remembers the call in progress, if any.
window.navigateAway = (slot, engagementId) => {
  if (engagementId) { window.handover[slot] = engagementId; }
  window.managers[slot].remove();
};
</script></body></html>""".replace("PORTAL_ID", str(PORTAL_ID)).replace("USER_ID", str(USER_ID))

# The calling app. It keeps one call's state; a calling window shares its calls with the remote iframes over a
# BroadcastChannel (the guide recommends a SharedWorker; any channel shows the same traffic).
APP_HTML = """<!doctype html><html><body>calling app
<script src="/sdk.js"></script>
<script src="/callscope-capture.js"></script>
<script>
const params = new URLSearchParams(location.search);
const CallingExtensions = window.default;
const channel = new BroadcastChannel("calling-window");
const state = {externalCallId: "", engagementId: null, location: null, shared: null, failures: 0};
const madeUpId = () => "own-" + Math.random().toString(16).slice(2, 10);
const extensions = new CallingExtensions({
  debugMode: false,
  eventHandlers: {
    onReady: (payload) => {
      state.location = payload.iframeLocation;
      extensions.initialized(Object.assign({isLoggedIn: true, isAvailable: true}, payload));  // the whole payload
      extensions.userAvailable();
    },
    onCreateEngagementSucceeded: (data) => {
      state.engagementId = data.engagementId;
      if (state.location === "window") { channel.postMessage({kind: "engagement", engagementId: data.engagementId}); }
    },
    onCreateEngagementFailed: () => { state.failures += 1; },  // keeps the previous call's engagementId
    defaultEventHandler: () => {},
  },
});
channel.onmessage = ({data}) => {
  if (state.location !== "remote") { return; }
  if (data.kind === "ring") {
    state.shared = {externalCallId: data.externalCallId, engagementId: null};
    if (params.get("relay") === "ring") {  // relays the window's call with a ring and an id of its own
      state.externalCallId = madeUpId();
      extensions.incomingCall(Object.assign({}, data.call, {externalCallId: state.externalCallId}));
    }
  }
  if (data.kind === "engagement" && state.shared) { state.shared.engagementId = data.engagementId; }
};
window.capture = CallscopeCapture.attach(extensions, {
  endpoint: params.get("collector") + "/v1/events", app: "ringo-voice", token: params.get("token"),
  flushIntervalMs: 200, batchSize: 50,
});
window.phone = {
  ring(id) {
    const call = {externalCallId: id, fromNumber: "+14155550123", toNumber: "+14155550100", callStartTime: Date.now(),
                  createEngagement: true};
    state.externalCallId = id;
    extensions.incomingCall(call);
    if (state.location === "window") { channel.postMessage({kind: "ring", externalCallId: id, call}); }
  },
  answer() { extensions.callAnswered({externalCallId: state.externalCallId}); },
  hangUp(status) {
    const ids = {externalCallId: state.externalCallId, engagementId: state.engagementId};
    extensions.callEnded(Object.assign({callEndStatus: status}, ids));
    extensions.callCompleted(Object.assign({hideWidget: false, engagementProperties: {hs_call_status: status}}, ids));
    state.externalCallId = "";
  },
  endCall() {  // the "end call" button, whether or not there is a call
    extensions.callEnded({externalCallId: state.externalCallId, engagementId: state.engagementId,
                          callEndStatus: "COMPLETED"});
  },
  takeShared(ownId) {  // a remote iframe takes up the calling window's call, under its id or one of its own
    state.externalCallId = ownId ? (state.externalCallId || madeUpId()) : state.shared.externalCallId;
    state.engagementId = state.shared.engagementId;
  },
  sharedEngagementId: () => state.shared && state.shared.engagementId,
  engagementId: () => state.engagementId,
  failures: () => state.failures,
  callId: () => state.externalCallId,
};
</script></body></html>"""


@contextmanager
def hubspot(tmp_path: Path) -> Iterator[tuple]:
    """A browser page on HubSpot's origin, the app's origin and a collector writing to tmp_path's database."""
    require_chromium()
    require_sdk()
    from playwright.sync_api import sync_playwright

    db = tmp_path / "callscope.duckdb"
    pages = {"/host.html": HOST_HTML, "/app.html": APP_HTML}
    with static_site("127.0.0.1", pages) as host, static_site("localhost", pages) as app, \
            collector_process(db, {"ringo-voice": TOKEN}, origins=(app,)) as collector, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{host}/host.html")
            yield page, f"{app}/app.html?collector={collector}&token={TOKEN}", db
        finally:
            browser.close()


def mount(page, app_url: str, slot: str, location: str, calling_window: bool = False, relay: str = ""):
    """HubSpot mounts the app in `slot`; returns its frame once the handshake is done and the app initialized."""
    src = f"{app_url}&slot={slot}&relay={relay}&n={time.monotonic_ns()}"
    ready = len([t for t in page.evaluate("window.received") if t == f"{slot}:USER_AVAILABLE"])
    page.evaluate("([slot, src, location, cw]) => mountApp(slot, src, location, cw)",
                  [slot, src, location, calling_window])
    wait_received(page, f"{slot}:USER_AVAILABLE", ready + 1)
    return next(f for f in page.frames if f.url == src and not f.is_detached())


def wait_received(page, what: str, count: int = 1) -> None:
    page.wait_for_function(f"window.received.filter(t => t === {json.dumps(what)}).length >= {count}",
                           timeout=15_000)


def calls_json(db: Path) -> dict[str, dict]:
    out = subprocess.run([sys.executable, "-m", "ingest", "calls", "--json", "--db", str(db)], cwd=REPO,
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return {c["external_call_id"]: c for c in json.loads(out.stdout)}


def sql(db: Path, query: str) -> list[tuple]:
    with connect_reader(db) as con:
        return con.execute(query).fetchall()


def test_a_stray_end_call_and_a_stale_engagement_id_change_no_call(tmp_path):
    with hubspot(tmp_path) as (page, app_url, db):
        tab = mount(page, app_url, "tab", "remote")
        tab.evaluate("phone.ring('c1')")
        tab.wait_for_function("phone.engagementId() === 9001")
        tab.evaluate("phone.answer()")
        tab.evaluate("phone.hangUp('COMPLETED')")
        wait_received(page, "tab:CALL_COMPLETED")
        tab.evaluate("phone.endCall()")           # "end call" with no call: CALL_ENDED {externalCallId: ""}
        wait_received(page, "tab:CALL_ENDED", 2)
        page.evaluate("window.failNextEngagement = true")
        tab.evaluate("phone.ring('c2')")
        tab.wait_for_function("phone.failures() === 1")
        tab.evaluate("phone.answer()")
        tab.evaluate("phone.hangUp('COMPLETED')")  # with the previous call's engagementId
        wait_received(page, "tab:CALL_COMPLETED", 2)
        wait_for_calls(db, {"c1": "answered", "c2": "answered"})
    calls = calls_json(db)
    assert list(calls) == ["c1", "c2"]
    assert (calls["c1"]["end_status"], calls["c1"]["engagement_id"], calls["c1"]["foreign_engagements"]) == (
        "COMPLETED", 9001, [])
    assert (calls["c2"]["engagement"], calls["c2"]["engagement_id"]) == ("failed", None)
    assert calls["c2"]["foreign_engagements"] == [{"engagement_id": 9001, "created_for": "c1"}]
    assert sql(db, "SELECT type, call_id, near_call_id FROM blank_id_messages") == [("CALL_ENDED", None, "c1")]
    assert sql(db, "SELECT DISTINCT call_id FROM call_messages WHERE type = 'UPDATE_ENGAGEMENT_SUCCEEDED'") == [("c1",)]


def test_a_navigation_drops_the_call_even_when_the_new_iframe_echoes_its_engagement(tmp_path):
    with hubspot(tmp_path) as (page, app_url, db):
        tab = mount(page, app_url, "tab", "remote")
        tab.evaluate("phone.ring('nav')")
        tab.wait_for_function("phone.engagementId() === 9001")
        tab.evaluate("phone.answer()")
        wait_received(page, "tab:CALL_ANSWERED")
        page.wait_for_timeout(1_500)
        page.evaluate("navigateAway('tab', 9001)")
        mount(page, app_url, "tab", "remote")     # SYNC carries engagementId 9001; INITIALIZED echoes it
        page.wait_for_timeout(2_000)               # the tab stays open
        wait_for_calls(db, {"nav": "dropped"})
    call = calls_json(db)["nav"]
    assert call["outcome"] == "dropped" and 1_400 <= call["duration_ms"] <= 2_500, call
    echoes = sql(db, "SELECT count(*) FROM events WHERE type = 'INITIALIZED' AND message->>'$.data.engagementId' = '9001'")
    assert echoes == [(1,)]


def test_a_call_held_by_the_calling_window_survives_a_navigation_in_the_tab(tmp_path):
    with hubspot(tmp_path) as (page, app_url, db):
        window = mount(page, app_url, "window", "window", calling_window=True)
        tab = mount(page, app_url, "tab", "remote", calling_window=True)
        window.evaluate("phone.ring('held')")
        tab.wait_for_function("phone.sharedEngagementId() === 9001")
        tab.evaluate("phone.takeShared(false)")
        tab.evaluate("phone.answer()")             # answered in the tab, under the window's id
        wait_received(page, "tab:CALL_ANSWERED")
        page.evaluate("navigateAway('tab')")
        mount(page, app_url, "tab", "remote", calling_window=True)
        page.wait_for_timeout(1_000)
        wait_for_calls(db, {"held": "in_progress"})
        window.evaluate("phone.hangUp('COMPLETED')")
        wait_received(page, "window:CALL_COMPLETED")
        wait_for_calls(db, {"held": "answered"})


def test_remote_iframes_with_ids_of_their_own_make_one_call(tmp_path):
    with hubspot(tmp_path) as (page, app_url, db):
        window = mount(page, app_url, "window", "window", calling_window=True)
        answering = mount(page, app_url, "tab-a", "remote", calling_window=True)
        relaying = mount(page, app_url, "tab-b", "remote", calling_window=True, relay="ring")
        window.evaluate("phone.ring('w1')")        # tab-b relays it with an INCOMING_CALL of its own
        wait_received(page, "tab-b:INCOMING_CALL")
        answering.wait_for_function("phone.sharedEngagementId() === 9001")
        answering.evaluate("phone.takeShared(true)")  # the minimal demo: a made-up id before answering
        ids = [answering.evaluate("phone.callId()")]
        answering.evaluate("phone.answer()")
        answering.evaluate("phone.hangUp('COMPLETED')")
        relaying.wait_for_function("phone.sharedEngagementId() === 9001")
        relaying.evaluate("phone.takeShared(true)")   # keeps its relayed id, reports the window's engagement
        ids.append(relaying.evaluate("phone.callId()"))
        relaying.evaluate("phone.hangUp('MISSED')")
        wait_received(page, "tab-b:CALL_COMPLETED")
        wait_for_calls(db, {"w1": "answered"})
    call = calls_json(db)["w1"]
    assert call["aliases"] == sorted(ids) and all(i.startswith("own-") for i in ids), call
    assert (call["direction"], call["engagement_id"], call["end_status"], call["tabs"]) == (
        "inbound", 9001, "COMPLETED", 2), call
    assert sql(db, "SELECT count(DISTINCT instance) FROM call_messages WHERE call_id = 'w1'") == [(3,)]
