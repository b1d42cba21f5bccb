"""What happens in the demo, decided before any message is written: who works when, which calls ring, how each ends.

A session is one user's working day in one portal. Each has its own random source, seeded by the demo seed, the
portal, the user and the day, so sessions can be listed first and planned later, in time order. `emit` turns a
plan into SDK messages and keeps drawing from the same source, so a plan is always emitted right after it is made.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterator

from ingest.demo.world import (
    CREATE_ERRORS,
    DAY_MS,
    HOST_URL,
    HOUR_MS,
    MINUTE_MS,
    SECOND_MS,
    UPDATE_ERRORS,
    Away,
    Break,
    CallPlan,
    CallRates,
    Contact,
    Drift,
    PageLoad,
    Period,
    Portal,
    PortalProfile,
    ScreenPop,
    SessionPlan,
    SessionSlot,
    User,
    phone_number,
)

WEEKDAY_VOLUME = (1.15, 1.1, 1.0, 1.0, 0.8, 0.5, 0.5)  # Monday first
# The pages users move between, with the cumulative share of navigations that land on each.
PAGES = ((.45, "/contacts/{portal_id}/record/0-1/{contact_id}"),
         (.55, "/contacts/{portal_id}/record/0-2/{company_id}"),
         (.7, "/contacts/{portal_id}/objects/0-1/views/all/list"),
         (.8, "/contacts/{portal_id}/objects/0-3/views/all/board"),
         (.9, "/contacts/{portal_id}/objects/0-5/views/all/list"),
         (1, "/reports-dashboard/{portal_id}/view/{dashboard_id}"))


def weekday(day: int) -> int:
    return (day + 3) % 7  # Monday is 0; 1970-01-01, day 0, was a Thursday


def session_rng(seed: int, portal: Portal, user_index: int, day: int) -> random.Random:
    return random.Random(f"{seed}|{portal.profile.portal_id}|{user_index}|{day}")


def working_hours(rng: random.Random, profile: PortalProfile, day: int) -> tuple[int, int] | None:
    """A user's browser session on a local calendar day, as UTC ms (start, end), or None for a day off."""
    if weekday(day) >= 5:
        if rng.random() >= profile.weekend_work_rate:
            return None
        start_h, length_h = rng.uniform(9.5, 14), rng.uniform(1.5, 4)
    elif rng.random() < .06:  # a weekday off
        return None
    else:
        start_h, length_h = rng.uniform(7.5, 10), rng.uniform(7, 9.5)
    start_ms = day * DAY_MS - profile.utc_offset_hours * HOUR_MS + int(start_h * HOUR_MS)
    return start_ms, start_ms + int(length_h * HOUR_MS)


def list_sessions(portals: list[Portal], period: Period, seed: int) -> list[SessionSlot]:
    """Every session that starts in the period, in start order."""
    slots = []
    for portal_index, portal in enumerate(portals):
        offset_ms = portal.profile.utc_offset_hours * HOUR_MS
        for user_index, user in enumerate(portal.users):
            for day in range((period.start_ms + offset_ms) // DAY_MS - 1, (period.end_ms + offset_ms) // DAY_MS + 1):
                hours = working_hours(session_rng(seed, portal, user_index, day), portal.profile, day)
                if hours is None or not period.start_ms <= hours[0] < period.end_ms:
                    continue
                start_ms, end_ms = hours
                ramp = (.6 + 1.2 * (start_ms - period.start_ms) / period.span_ms
                        if portal.profile.drift == Drift.RAMP_UP else 1)  # more reps join over time
                weight = user.activity_weight * WEEKDAY_VOLUME[weekday(day)] * ramp * (end_ms - start_ms) / HOUR_MS
                share_in_period = min(1.0, (period.end_ms - start_ms) / (end_ms - start_ms))
                slots.append(SessionSlot(start_ms=start_ms, portal_index=portal_index, user_index=user_index, day=day,
                                         call_weight=weight, call_weight_in_period=weight * share_in_period))
    slots.sort(key=lambda slot: (slot.start_ms, slot.portal_index, slot.user_index, slot.day))
    return slots


def call_rates(profile: PortalProfile, start_ms: int, period: Period) -> CallRates:
    """The portal's rates for a session starting at start_ms, moved by its drift."""
    elapsed, days_left = (start_ms - period.start_ms) / period.span_ms, (period.end_ms - start_ms) / DAY_MS
    answer, connect, engagement_failure = profile.inbound_answer_rate, profile.outbound_connect_rate, .02
    if profile.drift == Drift.LATE_MISSES and days_left < 7:
        answer -= .36 * (1 - days_left / 7)
    elif profile.drift == Drift.ADOPTS_WINDOW and elapsed >= .5:
        answer = min(.93, answer + .16)  # the calling window keeps calls alive
    elif profile.drift == Drift.MID_DIP:
        answer -= .15 * max(0.0, 1 - abs(elapsed - .5) * 4)
    elif profile.drift == Drift.CONNECT_UP:
        connect += .14 * elapsed
    elif profile.drift == Drift.RAMP_UP and .6 <= elapsed < .67:
        engagement_failure = .7  # the portal's calling-minutes limit
    return CallRates(answer, connect, engagement_failure)


def plan_session(rng: random.Random, portal: Portal, user: User, *, start_ms: int, end_ms: int,
                 expected_calls: float, period: Period, call_numbers: Iterator[int]) -> SessionPlan:
    """The session's tabs, breaks, calls and page loads; call_numbers counts calls across the whole demo."""
    profile = portal.profile
    uses_calling_window = profile.iframe_location == "window" or (
        profile.drift == Drift.ADOPTS_WINDOW and start_ms >= period.start_ms + period.span_ms // 2)
    tab_count = rng.choices((1, 2, 3), user.tab_count_weights)[0]
    tab_opened_ms = [start_ms] + sorted(start_ms + rng.randint(MINUTE_MS, 120 * MINUTE_MS)
                                        for _ in range(tab_count - 1))
    session = SessionPlan(portal=portal, user=user, start_ms=start_ms, end_ms=end_ms,
                          uses_calling_window=uses_calling_window, tab_opened_ms=tab_opened_ms,
                          rates=call_rates(profile, start_ms, period))
    _plan_calls(rng, session, _plan_breaks(rng, session), expected_calls, call_numbers)
    session.closed_ms = (max([end_ms] + [call.busy_until_ms + 30 * SECOND_MS for call in session.calls])
                         + rng.randint(0, MINUTE_MS))
    session.page_loads = _plan_page_loads(rng, session)
    return session


def _plan_breaks(rng: random.Random, session: SessionPlan) -> list[Break]:
    """Lunch and short breaks; the user is unavailable for their length."""
    start_ms, end_ms = session.start_ms, session.end_ms
    breaks = []
    if rng.random() < .7:
        local_midnight_ms = start_ms - (start_ms + session.portal.profile.utc_offset_hours * HOUR_MS) % DAY_MS
        breaks.append(Break(local_midnight_ms + int(rng.uniform(11.8, 13.3) * HOUR_MS),
                            rng.randint(25, 60) * MINUTE_MS))
    for _ in range(rng.choice((0, 1, 1, 2))):
        breaks.append(Break(rng.randint(start_ms + HOUR_MS, max(start_ms + HOUR_MS, end_ms - HOUR_MS)),
                            rng.randint(5, 20) * MINUTE_MS))
    breaks.sort()
    return breaks


def _plan_calls(rng: random.Random, session: SessionPlan, breaks: list[Break], expected_calls: float,
                call_numbers: Iterator[int]) -> None:
    """Calls one after another at a Poisson rate, with the breaks in between; a few still ring during a break."""
    start_ms, end_ms, inbound_share = session.start_ms, session.end_ms, session.portal.profile.inbound_share
    free_ms = start_ms + rng.randint(2 * MINUTE_MS, 25 * MINUTE_MS)
    next_break = 0
    # Calls per ms, leaving room for the calls themselves (about 4.5 minutes each).
    rate = expected_calls / max(end_ms - free_ms - sum(b.duration_ms for b in breaks) - expected_calls * 270_000,
                                (end_ms - start_ms) / 4)
    while rate > 0:
        at_ms = free_ms + int(rng.expovariate(rate))
        if next_break < len(breaks) and breaks[next_break].start_ms <= at_ms:
            away_start_ms = max(breaks[next_break].start_ms, free_ms)
            away_end_ms = away_start_ms + breaks[next_break].duration_ms
            next_break += 1
            if away_start_ms >= end_ms:
                break
            session.away.append(Away(away_start_ms, away_end_ms))
            ring_ms = away_start_ms + int(rng.expovariate(rate * inbound_share * .3))
            while ring_ms < away_end_ms - MINUTE_MS:
                session.calls.append(plan_call(rng, session, next(call_numbers), ring_ms, inbound=True,
                                               open_tabs=session.tabs_open_before(ring_ms), unavailable=True))
                ring_ms += int(rng.expovariate(rate * inbound_share * .3))
            free_ms = away_end_ms
            continue
        if at_ms >= end_ms:
            break
        inbound = rng.random() < inbound_share
        call = plan_call(rng, session, next(call_numbers), at_ms, inbound=inbound,
                         open_tabs=session.tabs_open_before(at_ms - 10 * SECOND_MS), unavailable=False)
        session.calls.append(call)
        free_ms = call.busy_until_ms + rng.randint(5 * SECOND_MS, 90 * SECOND_MS)


def _plan_page_loads(rng: random.Random, session: SessionPlan) -> list[list[PageLoad]]:
    """Page navigations per tab: each unloads the tab's iframe and loads a new SDK instance."""
    portal, calls, window_tab = session.portal, session.calls, session.calling_window_tab
    quiet = sorted((call.no_navigation_from_ms, call.no_navigation_until_ms) for call in calls) if window_tab is None \
        else []  # the calling window holds the calls, so navigating is harmless
    quiet_starts = [start_ms for start_ms, _ in quiet]

    def in_call(at_ms: int) -> bool:  # the last four calls that began by at_ms: a session's calls barely overlap
        last = bisect_right(quiet_starts, at_ms) - 1
        return any(quiet[i][1] > at_ms for i in range(max(0, last - 3), last + 1))

    loads = [[PageLoad(opened_ms, _random_page(rng, portal))] for opened_ms in session.tab_opened_ms]
    for tab, opened_ms in enumerate(session.tab_opened_ms):
        at_ms = opened_ms
        while True:
            at_ms += max(8 * SECOND_MS, int(rng.expovariate(1 / (session.user.navigation_interval_min * MINUTE_MS))))
            if at_ms >= session.closed_ms:
                break
            # HubSpot warns users who navigate away during a call (calling-extensions-sdk issue #21).
            if not in_call(at_ms):
                loads[tab].append(PageLoad(at_ms, _random_page(rng, portal)))
    for call in calls:
        if call.dial_tab is not None:  # click-to-call happens on the contact's record page
            at_ms = call.clicked_ms - rng.randint(20 * SECOND_MS, 90 * SECOND_MS)
            if at_ms > session.tab_opened_ms[call.dial_tab] + 10 * SECOND_MS and not in_call(at_ms):
                record_url = f"{HOST_URL}/contacts/{portal.profile.portal_id}/record/0-1/{call.callee.object_id}"
                loads[call.dial_tab].append(PageLoad(at_ms, record_url))
        if call.navigated_ms is not None:  # restored through SYNC.engagementId, or the call is lost
            loads[call.tab].append(PageLoad(call.navigated_ms, _random_page(rng, portal),
                                            call.engagement_id if call.survives_navigation else None))
        if call.screen_pop is not None and window_tab is not None:  # CURRENT_TAB reloads that tab's remote iframe
            loads[0].append(PageLoad(call.screen_pop.at_ms + rng.randint(300, 1200), call.screen_pop.url))
    if window_tab is not None:
        loads.append([PageLoad(session.start_ms + rng.randint(15 * SECOND_MS, 90 * SECOND_MS), None)])
    for tab_loads in loads:
        tab_loads.sort(key=lambda load: load.at_ms)
    return loads


def _random_page(rng: random.Random, portal: Portal) -> str:
    roll = rng.random()
    path = next(template for cumulative_share, template in PAGES if roll < cumulative_share)
    portal_id = portal.profile.portal_id
    return HOST_URL + path.format(portal_id=portal_id, contact_id=rng.choice(portal.contacts).object_id,
                                  company_id=rng.choice(portal.companies).object_id,
                                  dashboard_id=1_000_000 + portal_id % 9_000_000)


def random_uuid4(rng: random.Random) -> str:
    digits = f"{rng.getrandbits(128):032x}"
    return (f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{'89ab'[int(digits[16], 16) & 3]}{digits[17:20]}"
            f"-{digits[20:]}")


def plan_call(rng: random.Random, session: SessionPlan, call_number: int, at_ms: int, *, inbound: bool,
              open_tabs: list[int], unavailable: bool) -> CallPlan:
    """One call's story, decided up front (times, outcome), so that page navigations can be placed around it."""
    portal, user = session.portal, session.user
    call = CallPlan(external_call_id=random_uuid4(rng), inbound=inbound)
    callee = rng.choice(portal.contacts)
    if rng.random() >= session.rates.engagement_failure_rate:
        call.engagement_id = 38_000_000_000 + call_number * 1013 + rng.randrange(1013)
    elif session.rates.engagement_failure_rate > .5:
        call.engagement_error = f"Calling minutes limit reached for portalId {portal.profile.portal_id}"
    else:
        call.engagement_error = rng.choice(CREATE_ERRORS).format(
            object_id=callee.object_id, user_id=user.user_id, owner_id=user.owner_id,
            portal_id=portal.profile.portal_id)
    talk_ms = int(min(3 * HOUR_MS, max(8 * SECOND_MS, rng.lognormvariate(math.log(180 * SECOND_MS), 1.0))))
    if inbound:
        _plan_inbound(rng, session, call, callee, at_ms, open_tabs=open_tabs, unavailable=unavailable)
    else:
        _plan_outbound(rng, session, call, callee, at_ms, open_tabs=open_tabs)
    if call.answered_ms is not None:
        _plan_conversation(rng, session, call, talk_ms)
    if call.ended_ms is not None and (call.answered_ms is not None or rng.random() < .92):
        _plan_wrap_up(rng, portal.profile, call)  # some apps never complete a missed call
    last_ms = call.completed_ms or call.ended_ms or call.transferred_ms or call.started_ms
    call.busy_until_ms = (call.navigated_ms + rng.randint(5 * SECOND_MS, 60 * SECOND_MS)
                          if call.navigated_ms and not call.survives_navigation else last_ms + 3 * SECOND_MS)
    call.no_navigation_from_ms = (call.clicked_ms or call.started_ms) - 15 * SECOND_MS
    call.no_navigation_until_ms = call.busy_until_ms + 3 * SECOND_MS
    return call


def _end_call(call: CallPlan, ended_ms: int, end_status: str, engagement_status: str) -> None:
    call.ended_ms, call.end_status, call.engagement_status = ended_ms, end_status, engagement_status


def _plan_inbound(rng: random.Random, session: SessionPlan, call: CallPlan, callee: Contact, at_ms: int, *,
                  open_tabs: list[int], unavailable: bool) -> None:
    portal, app, window_tab = session.portal, session.portal.app, session.calling_window_tab
    # Every open tab rings (calling-extensions-sdk PR #256); the calling window rings alone.
    call.ringing_tabs = [window_tab] if window_tab is not None else open_tabs
    call.tab, roll = rng.choice(call.ringing_tabs), rng.random()
    number = callee.phone_number if roll < .62 else rng.choice(portal.companies).phone_number if roll < .72 else None
    for _ in range(4 if number is None else 0):  # an unknown caller: CALLER_ID_MATCH_SUCCEEDED with []
        number = phone_number(rng, portal.profile.country)
        if number not in portal.caller_id_index:
            break
    call.caller_id_matches = portal.caller_id_index.get(number, [])
    call.from_number, call.to_number, call.started_ms = number, session.user.phone_line, at_ms
    roll, transfer_rate = rng.random(), portal.profile.transfer_rate
    if unavailable:
        _end_call(call, at_ms + rng.randint(3 * SECOND_MS, 15 * SECOND_MS), app.rang_out_status, "NO_ANSWER")
    elif roll < transfer_rate:  # CALL_TRANSFERRED: nothing follows
        call.transferred_ms = at_ms + rng.randint(4 * SECOND_MS, 12 * SECOND_MS)
    elif roll < transfer_rate + .012:
        _end_call(call, at_ms + rng.randint(SECOND_MS, 6 * SECOND_MS), "FAILED", "FAILED")
    elif rng.random() < session.rates.answer_rate:
        call.answered_ms = at_ms + int(rng.triangular(2 * SECOND_MS, 25 * SECOND_MS, 6 * SECOND_MS))
    else:  # rang out, the caller hung up, or the user declined
        roll = rng.random()
        if roll < .6:
            _end_call(call, at_ms + rng.randint(20, 45) * SECOND_MS, app.rang_out_status, "NO_ANSWER")
        elif roll < .9:
            _end_call(call, at_ms + rng.randint(3, 20) * SECOND_MS, app.caller_hung_up_status, "CANCELED")
        else:
            _end_call(call, at_ms + rng.randint(2, 9) * SECOND_MS, app.declined_status, "CANCELED")


def _plan_outbound(rng: random.Random, session: SessionPlan, call: CallPlan, callee: Contact, at_ms: int, *,
                   open_tabs: list[int]) -> None:
    window_tab = session.calling_window_tab
    call.callee, call.caller_id_matches = callee, [callee]
    call.from_number, call.to_number = session.user.phone_line, callee.phone_number
    call.tab = window_tab if window_tab is not None else rng.choice(open_tabs)
    if rng.random() < .75:  # click-to-call: HubSpot sends DIAL_NUMBER first; else the user dials in the app
        call.clicked_ms = at_ms
        call.dial_tab = rng.choice(open_tabs) if window_tab is not None else call.tab
        at_ms += rng.randint(400, 2500)
    call.started_ms = at_ms
    if rng.random() < session.rates.connect_rate:
        call.answered_ms = at_ms + int(rng.triangular(5 * SECOND_MS, 30 * SECOND_MS, 12 * SECOND_MS))
        return
    roll = rng.random()
    if roll < .55:
        status, seconds = "NO_ANSWER", rng.randint(25, 45)
    elif roll < .67:
        status, seconds = "BUSY", rng.randint(3, 8)
    elif roll < .92:
        status, seconds = session.portal.app.hung_up_while_dialing_status, rng.randint(4, 20)
    else:
        status, seconds = "FAILED", rng.randint(1, 4)
    _end_call(call, at_ms + seconds * SECOND_MS, status, status)


def _plan_conversation(rng: random.Random, session: SessionPlan, call: CallPlan, talk_ms: int) -> None:
    profile, window_tab = session.portal.profile, session.calling_window_tab
    call.talk_ms = talk_ms
    _end_call(call, call.answered_ms + talk_ms, "COMPLETED", "COMPLETED")
    if window_tab is None and talk_ms >= 40 * SECOND_MS and rng.random() < profile.midcall_navigation_rate:
        call.navigated_ms = call.answered_ms + rng.randint(10 * SECOND_MS, talk_ms - 25 * SECOND_MS)
        call.survives_navigation = bool(call.engagement_id) and rng.random() < .45
    if (call.inbound and call.caller_id_matches and rng.random() < profile.screen_pop_rate
            and (window_tab is not None or profile.sdk_version == "0.9.7")):
        match = call.caller_id_matches[0]
        url = f"{HOST_URL}/contacts/{profile.portal_id}/record/{match.object_type_id}/{match.object_id}"
        open_in = "CURRENT_TAB" if window_tab is not None else "NEW_TAB"
        call.screen_pop = ScreenPop(at_ms=call.answered_ms + rng.randint(200, 1500),
                                    open_in=open_in if profile.sdk_version == "0.9.7" else None, url=url)


def _plan_wrap_up(rng: random.Random, profile: PortalProfile, call: CallPlan) -> None:
    """CALL_COMPLETED after the user's notes, and what HubSpot answers."""
    engagement_id = call.engagement_id
    call.completed_ms = call.ended_ms + int(min(10 * MINUTE_MS,
                                                max(1500, rng.lognormvariate(math.log(20 * SECOND_MS), .8))))
    if not engagement_id:  # no engagement to update
        call.update_error = "Engagement 0 not found"
    elif rng.random() < .015:
        call.update_error = rng.choice(UPDATE_ERRORS).format(engagement_id=engagement_id)
    call.publishes_to_channel = profile.sdk_version == "0.8.1" and bool(engagement_id) and rng.random() < .15
    call.gets_retired_associations_failure = (profile.sdk_version in ("0.9.6", "0.9.7") and bool(engagement_id)
                                              and rng.random() < .02)
