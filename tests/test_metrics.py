"""analytics/metrics.py: the rate definitions, on crafted logs and on demo data, and the drill-down behind them."""

from __future__ import annotations

from datetime import date

import pytest

from analytics import metrics
from analytics.filters import Filters
from ingest.calls import OUTCOMES
from ingest.demo import write_demo_files
from ingest.store import connect_reader
from tests.logs import T0, Log, Tab

DAY = date(2025, 11, 25)  # tests.logs.T0
MIN = 60_000


def kpis(db, f: Filters) -> dict:
    with connect_reader(db.path) as con:
        return con.execute(metrics.KPIS_SQL, f.params()).df().iloc[0].to_dict()


def test_rates_count_a_multi_tab_call_once_and_leave_in_progress_out(db):
    log = Log()
    a, b = Tab(log, "t1").iframe("remote", at=T0), Tab(log, "t2").iframe("remote", at=T0 + 5)
    for inst in (a, b):
        inst.ring("multi", at=T0 + MIN)
    a.send("CALL_ANSWERED", at=T0 + MIN + 4_000, externalCallId="multi"); a.end("multi", "COMPLETED", at=T0 + 3 * MIN)
    a.ring("miss", at=T0 + 5 * MIN); a.end("miss", "NO_ANSWER", at=T0 + 5 * MIN + 20_000)
    a.dial("out", at=T0 + 9 * MIN); a.end("out", "BUSY", at=T0 + 9 * MIN + 3_000)
    a.ring("live", at=T0 + 12 * MIN)  # the instance's latest call: one it moved on from would be never_ended
    db.load(log)
    k = kpis(db, Filters(DAY, DAY))
    assert (k["calls"], k["inbound"], k["offered"], k["in_progress"]) == (4, 3, 2, 1)
    assert k["answer_rate"] == 0.5 and k["miss_rate"] == 0.5
    assert (k["known"], k["dropped_rate"]) == (3, 0.0)
    assert k["tta_median_s"] == pytest.approx(4.0)
    assert kpis(db, Filters(DAY, DAY, directions=("outbound",)))["calls"] == 1
    assert kpis(db, Filters(DAY, DAY, portals=(1,)))["calls"] == 0


def test_periods_follow_the_time_zone(db):
    # A call at 2025-11-25 02:00 UTC is on the 24th in New York.
    log = Log()
    a = Tab(log, "t").iframe("remote", at=T0 - 10 * 3_600_000)
    a.ring("early", at=T0 - 10 * 3_600_000 + 1_000); a.end("early", "MISSED")
    db.load(log)
    assert kpis(db, Filters(DAY, DAY))["calls"] == 1
    assert kpis(db, Filters(DAY, DAY, tz="America/New_York"))["calls"] == 0
    assert kpis(db, Filters(date(2025, 11, 24), date(2025, 11, 24), tz="America/New_York"))["calls"] == 1


def test_previous_period_has_equal_length():
    f = Filters(date(2025, 11, 10), date(2025, 11, 16))
    assert (f.previous().start, f.previous().end, f.previous().days) == (date(2025, 11, 3), date(2025, 11, 9), 7)


def test_breakdowns_trend_and_drill_down_account_for_every_call(db, tmp_path):
    db.load(*write_demo_files(tmp_path / "demo", days=6, calls=250, seed=3, end_ms=T0))
    f = Filters(date(2025, 11, 19), DAY)
    total = kpis(db, f)
    assert total["calls"] == sum(total[o] for o in OUTCOMES)
    with connect_reader(db.path) as con:
        trend = con.execute(metrics.TREND_SQL, {**f.params(), "bucket": "day"}).df()
        assert trend["calls"].sum() == total["calls"]
        for dimension in metrics.DIMENSIONS:
            table = con.execute(metrics.BREAKDOWN_SQL, {**f.params(), "dimension": dimension}).df()
            assert table["calls"].sum() == total["calls"], dimension
        portal_row = con.execute(metrics.BREAKDOWN_SQL, {**f.params(), "dimension": "portal"}).df().iloc[0]
        behind = con.execute(metrics.DRILL_SQL, {**f.params(), "outcome": "answered", "direction": None,
                                                 "bucket": "day", "bucket_start": None, "dimension": "portal",
                                                 "key": portal_row["key"]}).df()
        assert len(behind) == portal_row["answered"] and set(behind["outcome"]) == {"answered"}
        # A rate's point lists the calls its numerator counts: the answer rate's are inbound answered calls.
        outcome, direction = metrics.RATE_CALLS["answer_rate"]
        numerator = con.execute(metrics.DRILL_SQL, {**f.params(), "outcome": outcome, "direction": direction,
                                                    "bucket": "day", "bucket_start": None, "dimension": None,
                                                    "key": None}).df()
        assert len(numerator) == total["answered_inbound"] and set(numerator["direction"]) <= {"inbound"}
