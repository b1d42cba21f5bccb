"""Seeded, deterministic generator of realistic Callscope capture logs (capture format v1).

Message types and fields are those of @hubspot/calling-extensions-sdk 0.9.7 (src/Constants.ts, types.ts,
IFrameManager.ts; digest in shared/reference/sdk-protocol.md sections 3, 5 and 8). People, numbers, timings
and rates are invented. ``python -m ingest.demo`` prints the generation speed.
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import json
import math
import random
import time
from bisect import bisect_right
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ingest import sdk

try:
    import msgspec
    _encode = msgspec.json.Encoder().encode
except ImportError:  # pragma: no cover
    def _encode(obj) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

SEC, MIN, HOUR, DAY = 1000, 60_000, 3_600_000, 86_400_000
HOST_URL = "https://app.hubspot.com"
TO, FROM, CAPTURE = "to_hubspot", "from_hubspot", "capture"
WEEKDAY_VOLUME = (1.15, 1.1, 1.0, 1.0, 0.8, 0.5, 0.5)

# Per app: iFrameUrl origin; INITIALIZED sizeInfo (h, w); sends LOGGED_IN after INITIALIZED; CALL_ENDED status for
# an inbound call that (rang out, the caller hung up, the user declined); status for hanging up while dialing (the
# react demo says COMPLETED); engagementId 0 (else left out) when creation failed; p other ringing tabs say CALL_ENDED.
APPS = {
    "dialpad-demo": dict(origin="https://phone.dialpad-demo.example", size=(600, 400), logged_in=False,
                         miss=("MISSED", "CANCELED", "REJECTED"), hangup="CANCELED", zero=True, echo=.7),
    "ringo-voice": dict(origin="https://app.ringo-voice.example", size=(560, 360), logged_in=False,
                        miss=("NO_ANSWER", "CANCELED", "BUSY"), hangup="COMPLETED", zero=False, echo=.3),
    "callbridge": dict(origin="https://softphone.callbridge.example", size=(640, 380), logged_in=True,
                       miss=("MISSED", "CANCELED", "REJECTED"), hangup="CANCELED", zero=True, echo=.5),
}
# loc = iframeLocation ("window": uses the calling window); inbound share; inbound answer p; outbound connect p;
# mean minutes between page navigations per tab; p a long call meets a navigation; p screen pop; p weekend work.
_COLS = "pid app sdk tz loc users inbound answer connect nav midcall pop weekend cc drift".split()
PORTALS = tuple(dict(zip(_COLS, row)) for row in (
    (4455123, "dialpad-demo", "0.9.7", -5, "remote", 12, .62, .86, .5, 30, .05, .5, .05, "US", "late_misses"),
    (7781204, "ringo-voice", "0.9.7", -8, "window", 8, .25, .8, .45, 20, 0, .6, .12, "US", None),
    (2210987, "dialpad-demo", "0.9.6", 1, "widget", 5, .7, .7, .5, 35, .08, .4, .03, "GB", "adopts_window"),
    (9034412, "callbridge", "0.8.1", 0, "widget", 3, .5, .76, .5, 40, .05, 0, .02, "GB", "ramp_up"),
    (5126630, "ringo-voice", "0.9.4", -6, "remote", 10, .2, .8, .3, 25, .04, 0, .05, "US", "connect_up"),
    (6620458, "callbridge", "0.9.7", 10, "remote", 2, .8, .9, .55, 32, .06, .5, .08, "AU", "mid_dip"),
))
FIRST = ("Maria James Aisha Chen Olivia Mateo Priya Liam Sofia Noah Fatima Ethan Yuki Lucas Amara Daniel Ingrid "
         "Omar Grace Diego Hannah Kwame Elena Ravi Chloe Tomas Nadia Samuel Leah Marcus Zara Felix Ana Henry").split()
LAST = ("Lopez Smith Khan Wei Johnson Garcia Patel Murphy Rossi Brown Haddad Nguyen Tanaka Silva Okafor Miller "
        "Larsen Farouk Kim Alvarez Schmidt Mensah Popescu Iyer Martin Novak Petrova Clarke Cohen Reed Weber").split()
CO_A = ("Brightlane Northwind Bluefin Cedarpoint Ironbark Lumen Harbor Summit Evergreen Redwood Quarry Kestrel "
        "Meridian Oakridge Silverline Tidewater Granite Foxglove").split()
CO_B = "Logistics Dental Partners Labs Realty Insurance Foods Clinic Solar Legal Motors Analytics Travel Supply".split()
US_AREAS = "415 212 312 617 206 512 303 404 305 702 646 213 720 971".split()
CREATE_ERRORS = ("Unable to create engagement: contact {oid} is not accessible by user {uid}",
                 "Request failed with status code 429", "Request failed with status code 500", "Network Error",
                 "Unable to create engagement: owner {owner} is not a member of portal {pid}")
UPDATE_ERRORS = ("Missing required property hs_timestamp", "Engagement {eng} was not found",
                 "Request failed with status code 409", "Request failed with status code 502")
CALLER_ID_ERRORS = ("Caller ID lookup timed out after {ms}ms", "Request failed with status code 503",
                    "Request failed with status code 429")
APP_ERRORS = ("WebRTC connection failed: ICE connection state is failed", "Microphone permission denied",
              "SIP 503 Service Unavailable from carrier gateway", "Session token expired, please sign in again")
PAGES = ((.45, "/contacts/{pid}/record/0-1/{contact}"), (.55, "/contacts/{pid}/record/0-2/{company}"),
         (.7, "/contacts/{pid}/objects/0-1/views/all/list"), (.8, "/contacts/{pid}/objects/0-3/views/all/board"),
         (.9, "/contacts/{pid}/objects/0-5/views/all/list"), (1, "/reports-dashboard/{pid}/view/{dash}"))


def _phone(r: random.Random, cc: str) -> str:
    """Numbers from ranges reserved for fiction (NANP 555-01xx, Ofcom 020 7946 0xxx, ACMA 02 5550 xxxx)."""
    if cc == "GB":
        return f"+44207946{r.randrange(1000):04d}"
    if cc == "AU":
        return f"+6125550{r.randrange(10000):04d}"
    return f"+1{r.choice(US_AREAS)}55501{r.randrange(100):02d}"


def _uuid4(r: random.Random) -> str:
    h = f"{r.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _lag(r: random.Random) -> int:
    return int(min(2500, max(150, r.lognormvariate(6.2, .55))))  # HubSpot reply delay, median ~490 ms


def _coords(pid: int, m: tuple) -> dict:
    return {"portalId": pid, "objectId": m[1], "objectTypeId": "0-1" if m[0] == "CONTACT" else "0-2"}


def _match(pid: int, m: tuple) -> dict:  # ContactIdMatch | CompanyIdMatch (types.ts)
    if m[0] == "CONTACT":
        return {"callerIdType": "CONTACT", "objectCoordinates": _coords(pid, m), "firstName": m[2],
                "lastName": m[3], "email": m[4]}
    return {"callerIdType": "COMPANY", "objectCoordinates": _coords(pid, m), "name": m[2]}


class _Inst:
    """One SDK instance: one iframe page load (IFrameManager.instanceId = Date.now() at construction)."""
    __slots__ = ("id", "host", "tab", "url", "app", "sdk", "ready", "end")

    def __init__(self, iid, host, tab, url, app, sdk_version, end):
        self.id, self.host, self.tab, self.url, self.app, self.sdk = str(iid), host, tab, url, app, sdk_version
        self.ready, self.end = 1 << 62, end


class _Gen:
    def __init__(self, days: int, calls: int, seed: int, end_ms: int):
        self.seed, self.calls, self.end, self.span = seed, calls, end_ms, days * DAY
        self.start = end_ms - self.span
        self.heap: list = []
        self.seq = self.ncalls = 0
        digest = hashlib.blake2b(f"{seed}|{days}|{calls}|{end_ms}".encode(), digest_size=10).hexdigest()
        self.eid = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-"
        w = random.Random(f"callscope-demo|{seed}")
        scale = max(1, round(calls / max(days, 1) / 180))  # big runs get more users, not busier ones
        self.portals = [self._portal(w, spec, scale) for spec in PORTALS]

    @staticmethod
    def _portal(w: random.Random, spec: dict, scale: int) -> dict:
        cc = spec["cc"]
        p = dict(spec, transfer=.04 if spec["sdk"] in ("0.9.6", "0.9.7") else 0, cid_fail=.06 if cc == "AU" else .03)
        lo = 10 ** (w.choice((5, 7, 8, 10)) - 1)
        p["companies"] = [(w.randrange(lo, 10 * lo), f"{a} {w.choice(CO_B)}", a.lower(), _phone(w, cc))
                          for a in (w.choice(CO_A) for _ in range(min(25 + 4 * spec["users"] * scale, 3000)))]
        p["index"] = {}  # phone number -> what HubSpot's caller-ID lookup finds
        for co in p["companies"]:
            p["index"].setdefault(co[3], []).append(("COMPANY", co[0], co[1]))
        p["contacts"] = []
        for _ in range(min(150 + 30 * spec["users"] * scale, 20000)):
            f, l, co = w.choice(FIRST), w.choice(LAST), w.choice(p["companies"])
            email = f"{f.lower()}.{l.lower()}@{co[2]}.example.{'com' if w.random() < .7 else 'org'}"
            num = co[3] if w.random() < .15 else _phone(w, cc)  # some contacts list the company line
            p["contacts"].append(("CONTACT", w.randrange(lo, 10 * lo), f, l, email, num))
            p["index"].setdefault(num, []).insert(0, p["contacts"][-1][:5])
        p["users"] = [dict(uid=w.randrange(1_000_000, 99_999_999), owner=w.randrange(10_000_000, 999_999_999),
                           w=w.lognormvariate(0, .45), nav=spec["nav"] * w.uniform(.6, 1.6), line=_phone(w, cc),
                           tabs=w.choice(((6, 3, 1), (2, 5, 3), (1, 3, 6), (10, 1, 0))), debug=w.random() < .04)
                      for _ in range(spec["users"] * scale)]
        return p

    @staticmethod
    def _window(r: random.Random, p: dict, day: int) -> tuple[int, int] | None:
        """A user's browser session on a local calendar day (days since epoch), in UTC ms; weekday-heavy."""
        if (day + 3) % 7 >= 5:
            if r.random() >= p["weekend"]:
                return None
            start_h, length_h = r.uniform(9.5, 14), r.uniform(1.5, 4)
        elif r.random() < .06:  # day off
            return None
        else:
            start_h, length_h = r.uniform(7.5, 10), r.uniform(7, 9.5)
        s = day * DAY - p["tz"] * HOUR + int(start_h * HOUR)
        return s, s + int(length_h * HOUR)

    def run(self) -> Iterator[dict]:
        plans = []
        for pi, p in enumerate(self.portals):
            for ui, u in enumerate(p["users"]):
                for day in range((self.start + p["tz"] * HOUR) // DAY - 1, (self.end + p["tz"] * HOUR) // DAY + 1):
                    win = self._window(random.Random(f"{self.seed}|{p['pid']}|{ui}|{day}"), p, day)
                    if win is None or not self.start <= win[0] < self.end:
                        continue
                    s, e = win
                    ramp = .6 + 1.2 * (s - self.start) / self.span if p["drift"] == "ramp_up" else 1  # more reps
                    w = u["w"] * WEEKDAY_VOLUME[(day + 3) % 7] * ramp * (e - s) / HOUR
                    plans.append((s, pi, ui, day, w, w * min(1.0, (self.end - s) / (e - s))))
        plans.sort()
        total = sum(pl[5] for pl in plans) or 1.0
        heap, pop, eid, n = self.heap, heapq.heappop, self.eid, 0
        for s, pi, ui, day, w, _ in plans + [(self.end + DAY, None, None, None, 0, 0)]:
            while heap and heap[0][0] < s:  # sessions go by start time: no later one adds a record before s
                ts, _, inst, direction, msg = pop(heap)
                n += 1
                rec = {"ts": ts, "direction": direction, "instance": inst.id, "tab": inst.tab, "app": inst.app,
                       "sdk_version": inst.sdk}
                if inst.url is not None:
                    rec["url"] = inst.url
                rec["event_id"] = f"{eid}{n:012x}"
                rec["message"] = msg
                yield rec
            if pi is not None:
                p = self.portals[pi]
                r = random.Random(f"{self.seed}|{p['pid']}|{ui}|{day}")
                s, e = self._window(r, p, day)
                self._session(r, p, p["users"][ui], s, e, self.calls * w / total)

    def _put(self, inst: _Inst, ts: int, direction: str, msg: dict, handshake: bool = False) -> dict | None:
        if ts > self.end or ts > inst.end:
            return None
        # IFrameManager.sendMessage drops app messages until the SYNC is acknowledged; HubSpot sends none before.
        if not handshake and (ts <= inst.ready or ts == inst.end):
            return None
        self.seq += 1
        heapq.heappush(self.heap, (ts, self.seq, inst, direction, msg))
        return msg

    def _app(self, inst, ts, typ, data=None):
        if inst is None:
            return None
        # createMessageId: `${instanceId}_${Date.now()}`; LOGGED_IN / USER_(UN)AVAILABLE carry no data key.
        msg = {"type": typ, "messageId": f"{inst.id}_{ts}"} if data is None else \
            {"type": typ, "data": data, "messageId": f"{inst.id}_{ts}"}
        return self._put(inst, ts, TO, msg)

    def _hub(self, inst, ts, typ, data):
        if inst is None:
            return None
        # HubSpot's messages are new ones with the host's own instance prefix (else the SDK takes them as replies).
        return self._put(inst, ts, FROM, {"type": typ, "data": data, "messageId": f"{inst.host}_{ts - (ts & 1)}"})

    def _rates(self, p: dict, s: int) -> tuple[float, float, float]:
        frac, days_left = (s - self.start) / self.span, (self.end - s) / DAY
        ans, con, fail = p["answer"], p["connect"], .02
        if p["drift"] == "late_misses" and days_left < 7:
            ans -= .36 * (1 - days_left / 7)            # misses climb through the last week
        elif p["drift"] == "adopts_window" and frac >= .5:
            ans = min(.93, ans + .16)                   # the calling window keeps calls alive
        elif p["drift"] == "mid_dip":
            ans -= .15 * max(0.0, 1 - abs(frac - .5) * 4)
        elif p["drift"] == "connect_up":
            con += .14 * frac                           # a better call list
        elif p["drift"] == "ramp_up" and .6 <= frac < .67:
            fail = .7                                   # calling-minutes limit hit for two days
        return ans, con, fail

    def _session(self, r: random.Random, p: dict, u: dict, s: int, e: int, lam: float) -> None:
        A, pid = APPS[p["app"]], p["pid"]
        # Calling window (usesCallingWindow): one "window" instance carries the calls and outlives navigations.
        window = p["loc"] == "window" or (p["drift"] == "adopts_window" and s >= self.start + self.span // 2)
        ntabs = r.choices((1, 2, 3), u["tabs"])[0]
        opens = [s] + sorted(s + r.randint(MIN, 120 * MIN) for _ in range(ntabs - 1))
        wtab = ntabs if window else None
        aways = []  # lunch and short breaks: USER_UNAVAILABLE ... USER_AVAILABLE
        if r.random() < .7:
            aways.append((s - (s + p["tz"] * HOUR) % DAY + int(r.uniform(11.8, 13.3) * HOUR), r.randint(25, 60) * MIN))
        for _ in range(r.choice((0, 1, 1, 2))):
            aways.append((r.randint(s + HOUR, max(s + HOUR, e - HOUR)), r.randint(5, 20) * MIN))
        aways.sort()
        rates, calls, away = self._rates(p, s), [], []
        free, ai = s + r.randint(2 * MIN, 25 * MIN), 0
        rate = lam / max(e - free - sum(a[1] for a in aways) - lam * 270_000, (e - s) / 4)  # room for the calls
        while rate > 0:
            t = free + int(r.expovariate(rate))
            if ai < len(aways) and aways[ai][0] <= t:
                a = max(aways[ai][0], free)
                b, ai = a + aways[ai][1], ai + 1
                if a >= e:
                    break
                away.append((a, b))
                x = a + int(r.expovariate(rate * p["inbound"] * .3))
                while x < b - MIN:  # a few calls still ring while the user is unavailable
                    calls.append(self._plan(r, p, u, A, x, True, rates, [k for k in range(ntabs) if opens[k] < x],
                                            wtab, True))
                    x += int(r.expovariate(rate * p["inbound"] * .3))
                free = b
                continue
            if t >= e:
                break
            calls.append(self._plan(r, p, u, A, t, r.random() < p["inbound"], rates,
                                    [k for k in range(ntabs) if opens[k] < t - 10 * SEC], wtab, False))
            free = calls[-1]["busy"] + r.randint(5 * SEC, 90 * SEC)
        close = max([e] + [c["busy"] + 30 * SEC for c in calls]) + r.randint(0, MIN)

        # Page navigations: each unloads the tab's iframe and loads a new SDK instance (a new SYNC handshake).
        zones = sorted((c["zs"], c["ze"]) for c in calls) if not window else []
        zstarts = [z[0] for z in zones]

        def busy(t):
            i = bisect_right(zstarts, t) - 1
            return any(zones[j][1] > t for j in range(max(0, i - 3), i + 1))

        def page():
            k = r.random()
            path = next(tpl for cut, tpl in PAGES if k < cut)
            return HOST_URL + path.format(pid=pid, contact=r.choice(p["contacts"])[1],
                                          company=r.choice(p["companies"])[0], dash=1_000_000 + pid % 9_000_000)

        navs = [[(opens[k], page(), None)] for k in range(ntabs)]
        for k in range(ntabs):
            t = opens[k]
            while True:
                t += max(8 * SEC, int(r.expovariate(1 / (u["nav"] * MIN))))
                if t >= close:
                    break
                if not busy(t):  # HubSpot warns users who navigate away during a call (issue #21)
                    navs[k].append((t, page(), None))
        for c in calls:
            if c["dial_tab"] is not None:  # click-to-call happens on the contact's record page
                t = c["click"] - r.randint(20 * SEC, 90 * SEC)
                if t > opens[c["dial_tab"]] + 10 * SEC and not busy(t):
                    navs[c["dial_tab"]].append((t, f"{HOST_URL}/contacts/{pid}/record/0-1/{c['callee'][1]}", None))
            if c["mid"] is not None:  # navigating mid-call: restored via SYNC.engagementId, or the call is lost
                navs[c["tab"]].append((c["mid"], page(), c["eng"] if c["survive"] else None))
            if c["pop"] is not None and window:  # a CURRENT_TAB screen pop reloads that tab's remote iframe
                navs[0].append((c["pop"][0] + r.randint(300, 1200), c["pop"][2], None))
        if window:
            navs.append([(s + r.randint(15 * SEC, 90 * SEC), None, None)])

        def available(t):
            return not any(a <= t < b for a, b in away)

        tabs = []
        for k, tab_navs in enumerate(navs):
            tab_navs.sort(key=lambda nv: nv[0])
            tab_id, loc = f"tab-{r.getrandbits(24):06x}", ("window" if k == wtab else "remote" if window else p["loc"])
            insts = []
            for j, (tn, url, eng) in enumerate(tab_navs):
                end = (tab_navs[j + 1][0] + r.randint(15, 250)) if j + 1 < len(tab_navs) else close + r.randint(0, 5000)
                host = tn + r.randint(700, 2600)  # the HubSpot page (host IFrameManager) loads, then the iframe
                insts.append(_Inst(host + r.randint(300, 1800), host, tab_id, url, p["app"], p["sdk"], end))
                self._load(r, p, u, A, insts[-1], loc, window, eng, available, j == 0 and k == (wtab or 0))
                if r.random() < .88 and end > insts[-1].ready:  # capture's pagehide marker; sometimes lost
                    self._put(insts[-1], end, CAPTURE, {"type": "PAGEHIDE"}, handshake=True)
            tabs.append(([nv[0] for nv in tab_navs], insts))

        def cur(k, t):  # the instance living in tab k at time t
            i = bisect_right(tabs[k][0], t) - 1
            return tabs[k][1][i] if i >= 0 else None

        for c in calls:
            self._emit_call(r, p, u, A, c, cur)
        for a, b in away:
            self._app(cur(wtab or 0, a), a, "USER_UNAVAILABLE")
            self._app(cur(wtab or 0, b), b, "USER_AVAILABLE")

    def _load(self, r, p, u, A, inst, loc, window, eng, available, first) -> None:
        """SYNC (resent every 100 ms until acknowledged) -> SYNC_ACK -> INITIALIZED -> LOGGED_IN? -> USER_AVAILABLE."""
        reps = 0 if r.random() < .78 else 1 if r.random() < .7 else 2
        last = int(inst.id) + (r.randint(4, 90) if reps else r.randint(30, 400))  # repeats: the app's SDK started late
        sync = {"type": "SYNC", "hostUrl": HOST_URL, "portalId": p["pid"], "userId": u["uid"], "ownerId": u["owner"],
                "iframeLocation": loc, "usesCallingWindow": window}
        if eng:
            sync["engagementId"] = eng  # onReady engagementId: the iframe reloaded during this call
        for k in range(reps, -1, -1):
            ts = last - 100 * k - (r.randint(0, 3) if k else 0)
            msg = self._put(inst, ts, FROM, dict(sync, messageId=f"{inst.host}_{ts - (ts & 1)}"), handshake=True)
        ack = last + r.randint(1, 6)  # SYNC_ACK = Object.assign({}, SYNC, {type, debugMode, version, iFrameUrl})
        if msg:
            self._put(inst, ack, TO, dict(msg, type="SYNC_ACK", debugMode=u["debug"], version=p["sdk"],
                                          iFrameUrl=A["origin"]), handshake=True)
        inst.ready = ack
        t = ack + r.randint(3, 180)
        avail, (h, w) = available(t), A["size"]
        logged = not (first and p["app"] == "dialpad-demo" and r.random() < .35)  # first load of the day: sign-in
        data = {"isLoggedIn": logged, "isAvailable": avail, "sizeInfo": {"height": h, "width": w}}
        if eng:
            data["engagementId"] = eng  # OnInitialized.engagementId: the restored call
        self._app(inst, t, "INITIALIZED", data)
        if not logged or A["logged_in"]:
            t += r.randint(4 * SEC, 50 * SEC) if not logged else r.randint(1, 40)
            self._app(inst, t, "LOGGED_IN")
        if avail:
            self._app(inst, t + r.randint(2, 120), "USER_AVAILABLE")
        life = inst.end - ack
        for _ in range(min(8, life // HOUR + 1)):  # HubSpot reports the widget/remote being minimized or hidden
            if r.random() < (.25 if loc != "remote" else .12) and life > 20 * SEC:
                t = ack + r.randint(2 * SEC, life - 2 * SEC)
                self._hub(inst, t, "VISIBILITY_CHANGED", {"isMinimized": loc != "remote", "isHidden": loc == "remote"})
                self._hub(inst, t + r.randint(5 * SEC, 10 * MIN), "VISIBILITY_CHANGED",
                          {"isMinimized": False, "isHidden": False})
        if r.random() < .004:
            self._app(inst, ack + r.randint(SEC, 20 * SEC), "RESIZE_WIDGET", {"width": w, "height": h + 120})
        if r.random() < .001 and life > MIN:
            self._app(inst, ack + r.randint(SEC, life - SEC), "ERROR", {"message": r.choice(APP_ERRORS)})

    def _plan(self, r, p, u, A, t, inbound, rates, open_tabs, wtab, unavailable) -> dict:
        """Decide one call's story up front (times, outcome), so that navigations can be placed around it."""
        ans_p, con_p, fail_p = rates
        self.ncalls += 1
        c = dict(x=_uuid4(r), inbound=inbound, click=None, dial_tab=None, ans=None, end=None, done=None, tr=None,
                 mid=None, survive=False, pop=None, publish=False, assoc=False, talk=0, upd_err=None, eng_err=None)
        callee = r.choice(p["contacts"])
        c["eng"] = 38_000_000_000 + self.ncalls * 1013 + r.randrange(1013) if r.random() >= fail_p else 0
        if not c["eng"]:
            c["eng_err"] = (f"Calling minutes limit reached for portalId {p['pid']}" if fail_p > .5 else
                            r.choice(CREATE_ERRORS).format(oid=callee[1], uid=u["uid"], owner=u["owner"], pid=p["pid"]))
        talk = int(min(3 * HOUR, max(8 * SEC, r.lognormvariate(math.log(180 * SEC), 1.0))))  # median 3 min
        if inbound:
            c["ring"] = [wtab] if wtab is not None else open_tabs  # PR #256: INCOMING_CALL in every open tab
            c["tab"], k = r.choice(c["ring"]), r.random()
            num = callee[5] if k < .62 else r.choice(p["companies"])[3] if k < .72 else None
            for _ in range(4 if num is None else 0):  # an unknown caller: CALLER_ID_MATCH_SUCCEEDED with []
                num = _phone(r, p["cc"])
                if num not in p["index"]:
                    break
            c["matches"], c["from"], c["to"], c["inc"], k = p["index"].get(num, []), num, u["line"], t, r.random()
            if unavailable:
                c["end"], c["status"], c["hs"] = t + r.randint(3 * SEC, 15 * SEC), A["miss"][0], "NO_ANSWER"
            elif k < p["transfer"]:  # callTransferred (0.9.6+): nothing follows
                c["tr"] = t + r.randint(4 * SEC, 12 * SEC)
            elif k < p["transfer"] + .012:
                c["end"], c["status"], c["hs"] = t + r.randint(SEC, 6 * SEC), "FAILED", "FAILED"
            elif r.random() < ans_p:
                c["ans"] = t + int(r.triangular(2 * SEC, 25 * SEC, 6 * SEC))
            else:  # rang out / caller hung up / user declined, in the app's own EndStatus vocabulary
                k = r.random()
                i, dur = (0, r.randint(20, 45)) if k < .6 else (1, r.randint(3, 20)) if k < .9 else (2, r.randint(2, 9))
                c["end"], c["status"], c["hs"] = t + dur * SEC, A["miss"][i], "NO_ANSWER" if i == 0 else "CANCELED"
        else:
            c["matches"], c["callee"], c["from"], c["to"] = [callee[:5]], callee, u["line"], callee[5]
            c["tab"] = wtab if wtab is not None else r.choice(open_tabs)
            if r.random() < .75:  # click-to-call sends DIAL_NUMBER first; else the app's own dialer
                c["click"], c["dial_tab"] = t, (r.choice(open_tabs) if wtab is not None else c["tab"])
                t += r.randint(400, 2500)
            c["inc"] = t
            if r.random() < con_p:
                c["ans"] = t + int(r.triangular(5 * SEC, 30 * SEC, 12 * SEC))
            else:
                k = r.random()
                st, dur = (("NO_ANSWER", r.randint(25, 45)) if k < .55 else ("BUSY", r.randint(3, 8)) if k < .67
                           else (A["hangup"], r.randint(4, 20)) if k < .92 else ("FAILED", r.randint(1, 4)))
                c["end"], c["status"], c["hs"] = t + dur * SEC, st, st
        if c["ans"] is not None:
            c["talk"], c["end"], c["status"], c["hs"] = talk, c["ans"] + talk, "COMPLETED", "COMPLETED"
            if wtab is None and talk >= 40 * SEC and r.random() < p["midcall"]:
                c["mid"] = c["ans"] + r.randint(10 * SEC, talk - 25 * SEC)
                c["survive"] = bool(c["eng"]) and r.random() < .45
            if inbound and c["matches"] and r.random() < p["pop"] and (wtab is not None or p["sdk"] == "0.9.7"):
                m = c["matches"][0]
                url = f"{HOST_URL}/contacts/{p['pid']}/record/{_coords(0, m)['objectTypeId']}/{m[1]}"
                open_in = "CURRENT_TAB" if wtab is not None else "NEW_TAB"  # openIn is new in 0.9.7
                c["pop"] = (c["ans"] + r.randint(200, 1500), open_in if p["sdk"] == "0.9.7" else None, url)
        if c["end"] is not None and (c["ans"] is not None or r.random() < .92):  # some apps never complete misses
            c["done"] = c["end"] + int(min(10 * MIN, max(1500, r.lognormvariate(math.log(20 * SEC), .8))))
            if not c["eng"] or r.random() < .015:  # no engagement to update: likely UPDATE_ENGAGEMENT_FAILED (§8)
                c["upd_err"] = r.choice(UPDATE_ERRORS).format(eng=c["eng"]) if c["eng"] else "Engagement 0 not found"
            c["publish"] = p["sdk"] == "0.8.1" and bool(c["eng"]) and r.random() < .15
            c["assoc"] = p["sdk"] in ("0.9.6", "0.9.7") and bool(c["eng"]) and r.random() < .02
        last = c["done"] or c["end"] or c["tr"] or c["inc"]
        c["busy"] = c["mid"] + r.randint(5 * SEC, 60 * SEC) if c["mid"] and not c["survive"] else last + 3 * SEC
        c["zs"], c["ze"] = (c["click"] or c["inc"]) - 15 * SEC, c["busy"] + 3 * SEC
        return c

    def _emit_call(self, r, p, u, A, c, cur) -> None:
        app, hub, x, pid, eng = self._app, self._hub, c["x"], p["pid"], c["eng"]
        main, first = c["tab"], {}
        start = {"externalCallId": x, "fromNumber": c["from"], "toNumber": c["to"], "callStartTime": c["inc"],
                 "createEngagement": True}
        if c["inbound"]:
            for k in c["ring"]:  # the same externalCallId from every ringing tab, each gets its own replies
                ts = c["inc"] + (0 if k == main else r.randint(3, 250))
                if app(cur(k, ts), ts, "INCOMING_CALL", dict(start)):
                    first[k] = cur(k, ts)
                    self._replies(r, p, first[k], ts, c, True)
            if not first:
                return
            main = main if main in first else next(iter(first))
        else:
            inst = cur(main, c["click"] or c["inc"])
            if c["click"] is not None:  # DIAL_NUMBER: README fields + calleeInfo, the reliable callee (issue #216)
                hub(inst, c["click"], "DIAL_NUMBER", {
                    "phoneNumber": c["to"], "ownerId": u["owner"], "portalId": pid, "objectId": c["callee"][1],
                    "objectType": "CONTACT", "calleeInfo": {"calleeId": c["callee"][1], "calleeObjectTypeId": "0-1"},
                    "startTimestamp": c["click"] - r.randint(5, 60), "toPhoneNumberSrc": "phone"})
            if not app(inst, c["inc"], "OUTGOING_CALL_STARTED", start):
                return
            first[main] = inst
            self._replies(r, p, inst, c["inc"], c, False)

        def carrier(t):  # after a survived reload the new instance carries on with the same externalCallId
            return cur(main, t) if c["survive"] else first[main]
        if c["tr"] is not None:
            app(first[main], c["tr"], "CALL_TRANSFERRED", {"externalCallId": x})
            return
        if c["ans"] is not None:
            app(first[main], c["ans"], "CALL_ANSWERED", {"externalCallId": x})
        if c["pop"] is not None:  # screen pop: OnNavigateToRecord {engagementId?, objectCoordinates, openIn?}
            nav = {"engagementId": eng, "objectCoordinates": _coords(pid, c["matches"][0]), "openIn": c["pop"][1]}
            app(first[main], c["pop"][0], "NAVIGATE_TO_RECORD", {k: v for k, v in nav.items() if v})
        ended = {"externalCallId": x, "engagementId": eng, "callEndStatus": c["status"]}
        if not eng and not A["zero"]:
            del ended["engagementId"]
        if not app(carrier(c["end"]), c["end"], "CALL_ENDED", ended) and c["mid"] is not None and not c["survive"]:
            return  # dropped by the navigation: no CALL_ENDED / CALL_COMPLETED anywhere
        if c["status"] == "FAILED" and r.random() < .4:  # the app reports its own failure (OnError {message})
            app(carrier(c["end"]), c["end"] + r.randint(30, 600), "ERROR", {"message": r.choice(APP_ERRORS)})
        for k, inst in first.items():  # the other ringing tabs learn that the call ended (or say nothing)
            if k != main and r.random() < A["echo"]:
                app(inst, c["end"] + r.randint(40, 1500), "CALL_ENDED", dict(ended))
        if c["done"] is None:
            return
        m = c["matches"][0] if c["matches"] else None
        who = (f"{m[2]} {m[3]}" if m[0] == "CONTACT" else m[2]) if m else c["from"] if c["inbound"] else c["to"]
        props = {"hs_call_status": c["hs"], "hs_call_duration": str(c["talk"]),
                 "hs_call_direction": "INBOUND" if c["inbound"] else "OUTBOUND", "hs_timestamp": c["inc"],
                 "hs_call_title": f"Inbound call from {who}" if c["inbound"] else f"Call with {who}"}
        done = {"externalCallId": x, "engagementId": eng, "hideWidget": False, "engagementProperties": props}
        if not eng and not A["zero"]:
            del done["engagementId"]
        inst = carrier(c["done"])
        if not app(inst, c["done"], "CALL_COMPLETED", done):
            return
        t = c["done"] + _lag(r)  # HubSpot updates the engagement with engagementProperties
        if c["upd_err"]:
            hub(inst, t, "UPDATE_ENGAGEMENT_FAILED", {"error": {"message": c["upd_err"]}})
        else:
            hub(inst, t, "UPDATE_ENGAGEMENT_SUCCEEDED", {"engagementId": eng})
        if c["publish"]:  # an 0.8.1 app still publishes to the channel (deprecated in 0.9.4 for FINALIZE_ENGAGEMENT)
            t += r.randint(200, 2000)
            app(inst, t, "PUBLISH_TO_CHANNEL", {"externalCallId": x, "engagementId": eng})
            t += _lag(r)
            hub(inst, t, "PUBLISH_TO_CHANNEL_SUCCEEDED", {"engagementId": eng, "externalCallId": x})
        if c["assoc"]:  # SDK >= 0.9.5 dropped UPDATE_ASSOCIATIONS_FAILED: it answers ERROR UNKNOWN_MESSAGE_TYPE
            t += _lag(r)
            got = hub(inst, t, "UPDATE_ASSOCIATIONS_FAILED",
                      {"error": {"message": f"Unable to associate engagement {eng} with contact: not found"}})
            if got:
                app(inst, t + r.randint(1, 4), "ERROR", {"type": sdk.UNKNOWN_MESSAGE_TYPE_ERROR,
                                                         "data": {"originalMessage": dict(got)}})

    def _replies(self, r, p, inst, ts, c, caller_id) -> None:
        """HubSpot answers INCOMING_CALL / OUTGOING_CALL_STARTED {createEngagement: true}, in either order."""
        if caller_id:
            if r.random() < p["cid_fail"]:
                err = r.choice(CALLER_ID_ERRORS).format(ms=r.choice((3000, 5000)))
                self._hub(inst, ts + _lag(r), "CALLER_ID_MATCH_FAILED", {"error": {"message": err}})
            else:
                self._hub(inst, ts + _lag(r), "CALLER_ID_MATCH_SUCCEEDED",
                          {"callerIdMatches": [_match(p["pid"], m) for m in c["matches"]]})
        if c["eng"]:
            self._hub(inst, ts + _lag(r), "CREATE_ENGAGEMENT_SUCCEEDED", {"engagementId": c["eng"]})
        else:
            self._hub(inst, ts + _lag(r), "CREATE_ENGAGEMENT_FAILED", {"error": {"message": c["eng_err"]}})


def generate_records(days: int = 30, calls: int = 4000, seed: int = 7, end_ms: int | None = None) -> Iterator[dict]:
    """Yield capture-format-v1 records (dicts), sorted by ts ascending."""
    if end_ms is None:
        end_ms = int(time.time()) // 60 * MIN
    return _Gen(days, calls, seed, end_ms).run()


def write_demo_files(out_dir: Path, days: int = 30, calls: int = 4000, seed: int = 7,
                     end_ms: int | None = None) -> list[Path]:
    """Write one NDJSON file per UTC day (demo-YYYY-MM-DD.ndjson; every 3rd day gzip-compressed as .ndjson.gz),
    return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    day, fh, buf = None, None, []
    for rec in generate_records(days, calls, seed, end_ms):
        if rec["ts"] // DAY != day or len(buf) >= 4096:
            if fh is not None:
                fh.write(b"".join(buf))
                buf.clear()
        if rec["ts"] // DAY != day:
            if fh is not None:
                fh.close()
            day = rec["ts"] // DAY
            name = f"demo-{datetime.fromtimestamp(day * 86400, timezone.utc):%Y-%m-%d}.ndjson"
            paths.append(out_dir / (name + ".gz" if len(paths) % 3 == 2 else name))
            fh = gzip.GzipFile(paths[-1], mode="wb", mtime=0) if paths[-1].suffix == ".gz" else open(paths[-1], "wb")
        buf.append(_encode(rec) + b"\n")
    if fh is not None:
        fh.write(b"".join(buf))
        fh.close()
    return paths


if __name__ == "__main__":
    from itertools import islice
    t0 = time.perf_counter()
    n = sum(1 for _ in islice(generate_records(days=30, calls=12000, seed=7, end_ms=1_732_725_900_000), 200_000))
    dt = time.perf_counter() - t0
    print(f"{n} records in {dt:.2f} s: {n / dt:,.0f} records/s")
