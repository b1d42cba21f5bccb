"""The queries behind the Engagements, Iframes, Funnel and Calls pages, on crafted logs: each number exactly."""

from __future__ import annotations

from datetime import date

import pandas as pd

from analytics import engagements, explorer, funnel, iframes, metrics
from analytics.filters import Filters
from ingest.store import connect_reader
from tests.logs import T0, Instance, Tab

DAY = date(2025, 11, 25)  # tests.logs.T0
F = Filters(DAY, DAY)
MIN = 60_000


def q(db, sql: str, f: Filters = F, **extra) -> pd.DataFrame:
    with connect_reader(db.path) as con:
        return con.execute(sql, {**f.params(), **extra}).df()


def ids(frame: pd.DataFrame) -> set[str]:
    return set(frame["external_call_id"])


def failed_engagement(inst: Instance, message: str) -> None:
    inst.recv("CREATE_ENGAGEMENT_FAILED", error={"message": message})


def test_failure_messages_are_normalised_grouped_and_add_up_to_the_failure_rate(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("f1", at=T0 + MIN)
    failed_engagement(a, "Unable to create engagement: contact 9310576 is not accessible by user 65236476")
    a.end("f1", "MISSED", at=a.now + 5_000)
    a.ring("f2", at=T0 + 2 * MIN)
    failed_engagement(a, "Unable to create engagement: contact 86660 is not accessible by user 7")
    a.end("f2", "MISSED", at=a.now + 5_000)
    a.dial("f3", at=T0 + 3 * MIN); failed_engagement(a, "Network Error"); a.end("f3", "BUSY", at=a.now + 5_000)
    a.ring("ok", at=T0 + 4 * MIN); a.engagement(9001); a.end("ok", "MISSED", 9001, at=a.now + 5_000)
    db.load(log)
    groups = q(db, engagements.FAILURE_GROUPS_SQL)
    assert groups[["message", "calls"]].values.tolist() == [
        ["Unable to create engagement: contact N is not accessible by user N", 2], ["Network Error", 1]]
    first = groups.iloc[0]
    assert list(first["examples"]) == ["f2", "f1"]  # newest first
    assert first["latest_message"].endswith("user 7") and first["first_seen"] < first["last_seen"]
    kpis = q(db, metrics.KPIS_SQL).iloc[0]
    assert groups["calls"].sum() == kpis["engagement_failed"] == 3 and kpis["engagement_replied"] == 4
    trend = q(db, metrics.TREND_SQL, bucket="hour")  # the page's tiles add the trend's counts up
    assert metrics.summed_rate(trend, "engagement_failure_rate") == (kpis["engagement_failure_rate"], 3, 4)
    behind = q(db, engagements.DRILL_SQL, **engagements.drill_params("day", message=first["message"]))
    assert ids(behind) == {"f1", "f2"}
    behind = q(db, engagements.DRILL_SQL, **engagements.drill_params("day", engagement="created", bucket_start=DAY))
    assert ids(behind) == {"ok"}


def test_caller_id_mix_and_latency_by_portal(db, log):
    a = Tab(log, "tab-a", portal_id=111).iframe("remote", at=T0)
    b = Tab(log, "tab-b", portal_id=222).iframe("remote", at=T0 + 7)
    a.ring("contact", at=T0 + MIN); a.matched("Ada Lovelace")  # 40 ms after the ring
    a.ring("company", at=T0 + 2 * MIN)
    a.recv("CALLER_ID_MATCH_SUCCEEDED", at=a.now + 300, callerIdMatches=[{
        "callerIdType": "COMPANY", "name": "Acme",
        "objectCoordinates": {"portalId": 111, "objectId": 1, "objectTypeId": "0-2"}}])
    a.ring("nobody", at=T0 + 3 * MIN); a.recv("CALLER_ID_MATCH_SUCCEEDED", callerIdMatches=[])
    b.ring("broken", at=T0 + 4 * MIN)
    b.recv("CALLER_ID_MATCH_FAILED", error={"message": "Request failed with status code 503"})
    b.ring("silent", at=T0 + 5 * MIN)  # no reply: outside the mix
    b.dial("out", at=T0 + 6 * MIN)
    db.load(log)
    mix = q(db, engagements.CALLER_ID_SQL).set_index("portal")
    kinds = ["replied", "matched_contact", "matched_company", "no_match", "failed"]
    assert mix.loc["all portals", kinds].tolist() == [4, 1, 1, 1, 1]
    assert mix.loc["111", kinds].tolist() == [3, 1, 1, 1, 0]
    assert mix.loc["222", kinds].tolist() == [1, 0, 0, 0, 1]
    assert mix.loc["111", "latency_median_ms"] == 40 and mix.loc["111", "latency_p95_ms"] > 250
    kpis = q(db, metrics.KPIS_SQL).iloc[0]  # the match rate counts the same calls
    assert (kpis["caller_id_matched"], kpis["caller_id_replied"]) == (2, 4)
    behind = q(db, engagements.DRILL_SQL, **engagements.drill_params("day", caller_id_kind="matched company",
                                                                     portal="111"))
    assert ids(behind) == {"company"}
    only_222 = q(db, engagements.CALLER_ID_SQL, Filters(DAY, DAY, portals=(222,)))
    assert only_222["portal"].tolist() == ["all portals", "222"]


def test_funnel_counts_and_the_calls_lost_at_each_step(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("full", at=T0 + MIN); a.engagement(1); a.send("CALL_ANSWERED", externalCallId="full")
    a.end("full", "COMPLETED", 1, at=a.now + MIN); a.complete("full", 1)
    a.send("FINALIZE_ENGAGEMENT", externalCallId="full", engagementId=1)
    a.ring("logged", at=T0 + 5 * MIN); a.engagement(2); a.send("CALL_ANSWERED", externalCallId="logged")
    a.end("logged", "COMPLETED", 2, at=a.now + MIN); a.complete("logged", 2)
    a.ring("missed", at=T0 + 9 * MIN); a.engagement(3); a.end("missed", "MISSED", 3, at=a.now + 20_000)
    a.ring("no-engagement", at=T0 + 12 * MIN); failed_engagement(a, "boom")
    a.end("no-engagement", "MISSED", at=a.now + 9_000)
    a.dial("out", at=T0 + 15 * MIN); a.engagement(4); a.end("out", "NO_ANSWER", 4, at=a.now + 30_000)
    a.ring("dropped", at=T0 + 20 * MIN); a.engagement(5); a.send("CALL_ANSWERED", externalCallId="dropped")
    a.pagehide(at=a.now + MIN)
    # A call in an instance whose handshake was not captured (the capture started late).
    late = Instance(Tab(log, "tab-late"), "remote", T0 + 30 * MIN, False)
    late.ring("unsynced"); late.end("unsynced", "MISSED", at=late.now + 9_000)
    db.load(log)
    counts = q(db, funnel.FUNNEL_SQL)
    inbound = funnel.funnel_steps(counts, "inbound").set_index("key")
    assert inbound["passed"].tolist() == [5, 5, 5, 5, 4, 3, 2, 2, 1]
    assert inbound["lost"].tolist() == [1, 0, 0, 0, 1, 1, 1, 0, 1]
    assert inbound.loc["answered", "conversion"] == 3 / 4 and inbound.loc["answered", "of_all"] == 3 / 6
    outbound = funnel.funnel_steps(counts, "outbound").set_index("key")
    assert outbound.loc["engagement", "passed"] == 1 and outbound.loc["answered", "lost"] == 1
    step = {key: n for n, (key, *_) in enumerate(funnel.STEPS, start=1)}

    def behind(key: str, lost: bool = True) -> set[str]:
        return ids(q(db, funnel.DRILL_SQL, direction="inbound", step=step[key], lost=lost))

    assert behind("sync") == {"unsynced"}
    assert behind("engagement") == {"no-engagement"}
    assert behind("answered") == {"missed"}
    assert behind("ended") == {"dropped"}
    assert behind("finalized") == {"logged"}
    assert behind("completed", lost=False) == {"full", "logged"}


def test_time_to_ready_and_handshakes_that_never_completed(db, log):
    tab = Tab(log, "tab-a", portal_id=111)
    tab.iframe("remote", at=T0)                 # SYNC, SYNC_ACK 40 ms later
    tab.iframe("widget", at=T0 + MIN)
    stuck = Instance(tab, "remote", T0 + 2 * MIN, False)
    for at in (T0 + 2 * MIN, T0 + 2 * MIN + 100):  # HubSpot resends SYNC; the app never answers
        stuck._record("from_hubspot", {"type": "SYNC", "messageId": f"{stuck.host}_{at}", "portalId": 111,
                                       "userId": 7713, "iframeLocation": "remote", "usesCallingWindow": False}, at)
    db.load(log)
    ready = q(db, funnel.READY_SQL, dimension="iframe_location")
    stats = funnel.ready_stats(ready)
    assert (stats["instances"], stats["handshakes"], stats["never_ready"], stats["timed"]) == (3, 3, 1, 2)
    assert stats["median_ms"] == stats["p90_ms"] == 40
    bins = funnel.ready_bins(ready)
    assert bins.values.tolist() == [["remote", 1, 1], ["widget", 1, 1]]  # 40 ms: the 10–50 ms bin
    assert funnel.READY_BINS[1][1] == "10–50 ms"
    never = q(db, funnel.NEVER_READY_SQL)
    assert never["instance"].tolist() == [stuck.id] and never["waited_ms"].iloc[0] == 100
    # Instances have no direction: the direction filter leaves them alone.
    outbound = q(db, funnel.READY_SQL, Filters(DAY, DAY, directions=("outbound",)), dimension="portal")
    assert funnel.ready_stats(outbound)["instances"] == 3 and set(outbound["key"]) == {"111"}


def test_simultaneous_ringing_locations_and_drops_by_iframe_location(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    b = Tab(log, "tab-b").iframe("remote", at=T0 + 5)
    w = Tab(log, "tab-w").iframe("window", at=T0 + 10, uses_calling_window=True)
    g = Tab(log, "tab-g", portal_id=222).iframe("widget", at=T0 + 20)
    a.ring("multi", at=T0 + MIN); b.ring("multi", at=T0 + MIN + 3)
    b.send("CALL_ANSWERED", externalCallId="multi"); b.end("multi", "COMPLETED", at=b.now + MIN)
    w.ring("windowed", at=T0 + 5 * MIN); w.send("CALL_ANSWERED", externalCallId="windowed")
    w.end("windowed", "COMPLETED", at=w.now + MIN)
    g.ring("lost", at=T0 + 9 * MIN); g.send("CALL_ANSWERED", externalCallId="lost"); g.pagehide(at=g.now + MIN)
    db.load(log)
    s = q(db, iframes.SUMMARY_SQL).iloc[0]
    assert (s["instances"], s["calling_window_instances"], s["calling_window_known"]) == (4, 1, 4)
    assert (s["calls"], s["ringing_incidents"], s["ringing_share"]) == (3, 1, 1 / 3)
    ringing = q(db, iframes.RINGING_SQL)
    assert ringing[["ringing", "outcome", "calls"]].values.tolist() == [["1", "answered", 1], ["1", "dropped", 1],
                                                                       ["2", "answered", 1]]
    # The location charts count calls (so every bar drills to calls), by where they rang.
    by_portal = q(db, iframes.LOCATIONS_BY_PORTAL_SQL)
    assert by_portal[["portal", "location", "calls", "calling_window"]].values.tolist() == [
        ["222", "widget", 1, 0], ["4455123", "remote", 1, 0], ["4455123", "window", 1, 1]]
    trend = q(db, iframes.LOCATIONS_TREND_SQL, bucket="day")
    assert trend["calls"].sum() == 3
    for row in (*by_portal.itertuples(), *trend.itertuples()):  # every bar lists exactly its calls
        behind = q(db, iframes.DRILL_SQL, **iframes.drill_params(
            "day", location=row.location, **({"portal": row.portal} if hasattr(row, "portal") else
                                             {"bucket_start": str(row.bucket)})))
        assert len(behind) == row.calls, row
    by_location = q(db, metrics.BREAKDOWN_SQL, dimension="iframe_location").set_index("key")
    assert by_location.loc["widget", ["dropped", "known"]].tolist() == [1, 1]
    assert by_location.loc["remote", "dropped_rate"] == 0 and by_location.loc["window", "dropped_rate"] == 0
    by_window = iframes.by_calling_window(q(db, iframes.RECREATED_SQL)).set_index("key")
    assert by_window.loc["no calling window", ["dropped", "known"]].tolist() == [1, 2]
    assert by_window.loc["uses a calling window", ["dropped", "known"]].tolist() == [0, 1]
    drill = q(db, iframes.DRILL_SQL, **iframes.drill_params("day", ringing="2"))
    assert ids(drill) == {"multi"}
    assert ids(q(db, iframes.DRILL_SQL, **iframes.drill_params("day", location="widget", portal="222"))) == {"lost"}
    # Instance numbers ignore the direction filter; call numbers follow it.
    outbound = q(db, iframes.SUMMARY_SQL, Filters(DAY, DAY, directions=("outbound",))).iloc[0]
    assert (outbound["instances"], outbound["calls"]) == (4, 0)


def test_iframes_recreated_during_a_call(db, log):
    nav = Tab(log, "tab-nav")
    a = nav.iframe("remote", at=T0)
    a.ring("navigated", at=T0 + MIN); a.send("CALL_ANSWERED", externalCallId="navigated")
    nav.iframe("remote", at=a.now + MIN)  # a page navigation re-mounts the iframe: the call is gone
    keep = Tab(log, "tab-keep")
    b = keep.iframe("widget", at=T0 + 7)
    b.ring("handed-over", at=T0 + 2 * MIN); b.engagement(77); b.send("CALL_ANSWERED", externalCallId="handed-over")
    b.pagehide(at=b.now + MIN)
    c = keep.iframe("widget", at=b.now + 900, engagement_id=77)  # HubSpot hands the reloaded iframe the call
    c.end("handed-over", "COMPLETED", 77, at=c.now + MIN)
    w = Tab(log, "tab-w").iframe("window", at=T0 + 13, uses_calling_window=True)
    w.ring("calm", at=T0 + 3 * MIN); w.send("CALL_ANSWERED", externalCallId="calm")
    w.end("calm", "COMPLETED", at=w.now + MIN)
    keep.iframe("widget", at=T0 + 30 * MIN)  # a navigation after every call ended counts for none
    db.load(log)
    table = q(db, iframes.RECREATED_SQL)
    rows = {(r.recreated, r.calling_window): r for r in table.itertuples()}
    assert set(rows) == {("1", "no calling window"), ("0", "uses a calling window")}
    recreated = rows[("1", "no calling window")]
    assert (recreated.calls, recreated.recreations, recreated.dropped, recreated.dropped_rate) == (2, 2, 1, 0.5)
    assert rows[("0", "uses a calling window")].calls == 1
    behind = q(db, iframes.DRILL_SQL, **iframes.drill_params("day", recreated="1"))
    assert ids(behind) == {"navigated", "handed-over"} and set(behind["iframes_recreated"]) == {1}
    assert db.calls()["calm"]["outcome"] == "answered"


def test_availability_messages_and_calls_that_arrived_while_unavailable(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)  # USER_AVAILABLE on load
    a.send("USER_UNAVAILABLE", at=T0 + MIN, data=None)
    a.ring("u1", at=T0 + 2 * MIN); a.end("u1", "MISSED", at=a.now + 20_000)
    a.send("USER_AVAILABLE", at=T0 + 3 * MIN, data=None)
    a.ring("u2", at=T0 + 4 * MIN); a.end("u2", "MISSED", at=a.now + 20_000)
    db.load(log)
    day = q(db, iframes.AVAILABILITY_SQL, bucket="day").iloc[0]
    assert (day["unavailable_messages"], day["users_unavailable"], day["arrived_unavailable"],
            day["arrived_unavailable_missed"]) == (1, 1, 1, 1)
    assert q(db, iframes.SUMMARY_SQL).iloc[0]["arrived_unavailable"] == 1
    assert ids(q(db, iframes.DRILL_SQL, **iframes.drill_params("day", unavailable=True))) == {"u1"}
    assert q(db, iframes.AVAILABILITY_SQL, Filters(DAY, DAY, portals=(1,)), bucket="day").empty


def test_explorer_finds_calls_by_digits_engagement_id_and_id(db, log):
    a = Tab(log, "tab-a").iframe("remote", at=T0)
    a.ring("alpha-1", at=T0 + MIN, from_number="+14155550123"); a.engagement(31337001)
    a.end("alpha-1", "MISSED", 31337001, at=a.now + 9_000)
    a.ring("beta-2", at=T0 + 2 * MIN, from_number="+14155550188"); a.end("beta-2", "MISSED", at=a.now + 9_000)
    a.dial("gamma-3", at=T0 + 3 * MIN, to_number="+442079460123"); a.send("CALL_ANSWERED", externalCallId="gamma-3")
    a.end("gamma-3", "COMPLETED", at=a.now + MIN)
    db.load(log, redact=True)  # redacted numbers keep their last 4 digits

    def found(**given) -> list[str]:
        return q(db, explorer.CALLS_SQL, **explorer.explorer_params(**given), limit=10)["external_call_id"].tolist()

    assert found() == ["gamma-3", "beta-2", "alpha-1"]
    assert found(text="0123") == ["gamma-3", "alpha-1"]
    assert found(text="0188") == ["beta-2"]
    assert found(text="31337001") == ["alpha-1"]
    assert found(text="BETA") == ["beta-2"]
    assert found(text="0123", outcomes=["answered"]) == ["gamma-3"]
    assert found(tagged=["beta-2"]) == ["beta-2"] and found(tagged=[]) == []
    assert found(text="no such call") == []
    assert len(q(db, explorer.CALLS_SQL, **explorer.explorer_params(), limit=1)) == 1
    assert q(db, explorer.COUNT_SQL, **explorer.explorer_params(text="0123"))["matching"].tolist() == [2]
    assert explorer.search_params("+1 (415) 555-0123") == {"text": "+1 (415) 555-0123", "digits": "14155550123"}
    assert explorer.search_params("call-42")["digits"] is None
