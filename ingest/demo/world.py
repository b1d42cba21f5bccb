"""The demo world as data: three calling apps, six HubSpot portals using them, their users, contacts and companies,
and the plans made for them (sessions, calls, page loads).

Profiles are written out below; `build_world` invents the people, companies and phone numbers from one seeded
random source, so a seed always gives the same world. Everything here is made up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, NamedTuple

SECOND_MS, MINUTE_MS, HOUR_MS, DAY_MS = 1000, 60_000, 3_600_000, 86_400_000
HOST_URL = "https://app.hubspot.com"  # SYNC.hostUrl, and where every HubSpot page lives


@dataclass(frozen=True, slots=True)
class AppProfile:
    """The choices one calling app makes where the SDK leaves them to the app."""

    name: str
    iframe_origin: str  # SYNC_ACK.iFrameUrl: IFrameManager.onMessage sends the origin of the app's page
    widget_height_px: int  # INITIALIZED.sizeInfo
    widget_width_px: int
    logs_in_on_load: bool  # sends LOGGED_IN right after INITIALIZED, even when the user was signed in
    first_load_signed_out_rate: float  # the day's first page load finds the user signed out (0: never)
    # CALL_ENDED.callEndStatus (EndStatus in src/types.ts) for an inbound call that rang out, that the caller
    # hung up while it rang, or that the user declined: each app picks its own words.
    rang_out_status: str
    caller_hung_up_status: str
    declined_status: str
    hung_up_while_dialing_status: str  # HubSpot's demo-react-ts app says COMPLETED here
    zero_engagement_id_on_failure: bool  # sends engagementId 0 when creation failed (else leaves the key out)
    other_tabs_end_rate: float  # chance that each other tab the call rang in also says CALL_ENDED


APPS = {app.name: app for app in (
    AppProfile(name="dialpad-demo", iframe_origin="https://phone.dialpad-demo.example", widget_height_px=600,
               widget_width_px=400, logs_in_on_load=False, first_load_signed_out_rate=.35,
               rang_out_status="MISSED", caller_hung_up_status="CANCELED", declined_status="REJECTED",
               hung_up_while_dialing_status="CANCELED", zero_engagement_id_on_failure=True, other_tabs_end_rate=.7),
    AppProfile(name="ringo-voice", iframe_origin="https://app.ringo-voice.example", widget_height_px=560,
               widget_width_px=360, logs_in_on_load=False, first_load_signed_out_rate=0,
               rang_out_status="NO_ANSWER", caller_hung_up_status="CANCELED", declined_status="BUSY",
               hung_up_while_dialing_status="COMPLETED", zero_engagement_id_on_failure=False, other_tabs_end_rate=.3),
    AppProfile(name="callbridge", iframe_origin="https://softphone.callbridge.example", widget_height_px=640,
               widget_width_px=380, logs_in_on_load=True, first_load_signed_out_rate=0,
               rang_out_status="MISSED", caller_hung_up_status="CANCELED", declined_status="REJECTED",
               hung_up_while_dialing_status="CANCELED", zero_engagement_id_on_failure=True, other_tabs_end_rate=.5),
)}


class Drift(StrEnum):
    """How a portal changes over the demo period, so that trends and incidents have something to show."""

    LATE_MISSES = "late_misses"  # inbound misses climb through the last week
    ADOPTS_WINDOW = "adopts_window"  # moves its calls into the calling window halfway through
    RAMP_UP = "ramp_up"  # more reps over time, and the calling-minutes limit is hit for two days
    CONNECT_UP = "connect_up"  # outbound calls connect more often (a better call list)
    MID_DIP = "mid_dip"  # inbound answers dip in the middle of the period


@dataclass(frozen=True, slots=True)
class PortalProfile:
    """One HubSpot portal (account) running one calling app; rates are probabilities."""

    portal_id: int
    app_name: str
    sdk_version: str  # the @hubspot/calling-extensions-sdk version the app ships
    utc_offset_hours: int
    iframe_location: str  # SYNC.iframeLocation: "widget", "remote", or "window" (uses the calling window)
    user_count: int  # before scaling up for big runs
    inbound_share: float
    inbound_answer_rate: float
    outbound_connect_rate: float
    navigation_interval_min: int  # mean minutes between page navigations in one tab
    midcall_navigation_rate: float  # a long call meets a page navigation
    screen_pop_rate: float  # an answered, known caller's record opens (NAVIGATE_TO_RECORD)
    weekend_work_rate: float
    country: str
    drift: Drift | None = None

    @property
    def transfer_rate(self) -> float:
        return .04 if self.sdk_version in ("0.9.6", "0.9.7") else 0  # CALL_TRANSFERRED is new in 0.9.6

    @property
    def caller_id_failure_rate(self) -> float:
        return .06 if self.country == "AU" else .03


PORTALS = (
    PortalProfile(portal_id=4455123, app_name="dialpad-demo", sdk_version="0.9.7", utc_offset_hours=-5,
                  iframe_location="remote", user_count=12, inbound_share=.62, inbound_answer_rate=.86,
                  outbound_connect_rate=.5, navigation_interval_min=30, midcall_navigation_rate=.05,
                  screen_pop_rate=.5, weekend_work_rate=.05, country="US", drift=Drift.LATE_MISSES),
    PortalProfile(portal_id=7781204, app_name="ringo-voice", sdk_version="0.9.7", utc_offset_hours=-8,
                  iframe_location="window", user_count=8, inbound_share=.25, inbound_answer_rate=.8,
                  outbound_connect_rate=.45, navigation_interval_min=20, midcall_navigation_rate=0,
                  screen_pop_rate=.6, weekend_work_rate=.12, country="US"),
    PortalProfile(portal_id=2210987, app_name="dialpad-demo", sdk_version="0.9.6", utc_offset_hours=1,
                  iframe_location="widget", user_count=5, inbound_share=.7, inbound_answer_rate=.7,
                  outbound_connect_rate=.5, navigation_interval_min=35, midcall_navigation_rate=.08,
                  screen_pop_rate=.4, weekend_work_rate=.03, country="GB", drift=Drift.ADOPTS_WINDOW),
    PortalProfile(portal_id=9034412, app_name="callbridge", sdk_version="0.8.1", utc_offset_hours=0,
                  iframe_location="widget", user_count=3, inbound_share=.5, inbound_answer_rate=.76,
                  outbound_connect_rate=.5, navigation_interval_min=40, midcall_navigation_rate=.05,
                  screen_pop_rate=0, weekend_work_rate=.02, country="GB", drift=Drift.RAMP_UP),
    PortalProfile(portal_id=5126630, app_name="ringo-voice", sdk_version="0.9.4", utc_offset_hours=-6,
                  iframe_location="remote", user_count=10, inbound_share=.2, inbound_answer_rate=.8,
                  outbound_connect_rate=.3, navigation_interval_min=25, midcall_navigation_rate=.04,
                  screen_pop_rate=0, weekend_work_rate=.05, country="US", drift=Drift.CONNECT_UP),
    PortalProfile(portal_id=6620458, app_name="callbridge", sdk_version="0.9.7", utc_offset_hours=10,
                  iframe_location="remote", user_count=2, inbound_share=.8, inbound_answer_rate=.9,
                  outbound_connect_rate=.55, navigation_interval_min=32, midcall_navigation_rate=.06,
                  screen_pop_rate=.5, weekend_work_rate=.08, country="AU", drift=Drift.MID_DIP),
)

FIRST_NAMES = ("Maria", "James", "Aisha", "Chen", "Olivia", "Mateo", "Priya", "Liam", "Sofia", "Noah", "Fatima",
               "Ethan", "Yuki", "Lucas", "Amara", "Daniel", "Ingrid", "Omar", "Grace", "Diego", "Hannah", "Kwame",
               "Elena", "Ravi", "Chloe", "Tomas", "Nadia", "Samuel", "Leah", "Marcus", "Zara", "Felix", "Ana", "Henry")
LAST_NAMES = ("Lopez", "Smith", "Khan", "Wei", "Johnson", "Garcia", "Patel", "Murphy", "Rossi", "Brown", "Haddad",
              "Nguyen", "Tanaka", "Silva", "Okafor", "Miller", "Larsen", "Farouk", "Kim", "Alvarez", "Schmidt",
              "Mensah", "Popescu", "Iyer", "Martin", "Novak", "Petrova", "Clarke", "Cohen", "Reed", "Weber")
COMPANY_NAMES = ("Brightlane", "Northwind", "Bluefin", "Cedarpoint", "Ironbark", "Lumen", "Harbor", "Summit",
                 "Evergreen", "Redwood", "Quarry", "Kestrel", "Meridian", "Oakridge", "Silverline", "Tidewater",
                 "Granite", "Foxglove")
COMPANY_KINDS = ("Logistics", "Dental", "Partners", "Labs", "Realty", "Insurance", "Foods", "Clinic", "Solar", "Legal",
                 "Motors", "Analytics", "Travel", "Supply")
TAB_COUNT_WEIGHTS = ((6, 3, 1), (2, 5, 3), (1, 3, 6), (10, 1, 0))  # a user's odds of 1, 2 or 3 open tabs
# What goes wrong, in the words of HubSpot's API (creating and updating engagements, looking up callers) and of
# the calling apps themselves (OnError.message).
CREATE_ERRORS = ("Unable to create engagement: contact {object_id} is not accessible by user {user_id}",
                 "Request failed with status code 429", "Request failed with status code 500", "Network Error",
                 "Unable to create engagement: owner {owner_id} is not a member of portal {portal_id}")
UPDATE_ERRORS = ("Missing required property hs_timestamp", "Engagement {engagement_id} was not found",
                 "Request failed with status code 409", "Request failed with status code 502")
CALLER_ID_ERRORS = ("Caller ID lookup timed out after {timeout_ms}ms", "Request failed with status code 503",
                    "Request failed with status code 429")
APP_ERRORS = ("WebRTC connection failed: ICE connection state is failed", "Microphone permission denied",
              "SIP 503 Service Unavailable from carrier gateway", "Session token expired, please sign in again")
US_AREA_CODES = ("415", "212", "312", "617", "206", "512", "303", "404", "305", "702", "646", "213", "720", "971")


@dataclass(frozen=True, slots=True)
class Contact:
    caller_id_type: ClassVar[str] = "CONTACT"  # ContactIdMatch.callerIdType (src/types.ts)
    object_type_id: ClassVar[str] = "0-1"

    object_id: int
    first_name: str
    last_name: str
    email: str
    phone_number: str

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class Company:
    caller_id_type: ClassVar[str] = "COMPANY"  # CompanyIdMatch.callerIdType (src/types.ts)
    object_type_id: ClassVar[str] = "0-2"

    object_id: int
    name: str
    email_domain: str
    phone_number: str

    @property
    def display_name(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class User:
    user_id: int
    owner_id: int
    activity_weight: float  # how many calls, next to the portal's other users
    navigation_interval_min: float  # mean minutes between page navigations in one tab
    phone_line: str
    tab_count_weights: tuple[int, int, int]  # odds of keeping 1, 2 or 3 HubSpot tabs open
    debug_mode: bool  # SYNC_ACK.debugMode


@dataclass(frozen=True, slots=True)
class Portal:
    profile: PortalProfile
    app: AppProfile
    companies: list[Company]
    contacts: list[Contact]
    caller_id_index: dict[str, list[Contact | Company]]  # phone number -> what HubSpot's caller-ID lookup finds
    users: list[User]


# The plans made for this world (plan.py makes them, emit.py writes them out).

@dataclass(frozen=True, slots=True)
class Period:
    """The span the demo covers, in UTC ms."""

    start_ms: int
    end_ms: int

    @property
    def span_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class SessionSlot:
    """A session that falls in the demo period, before its calls are planned."""

    start_ms: int
    portal_index: int
    user_index: int
    day: int  # the portal's local calendar day, in days since the epoch
    call_weight: float  # its share of the demo's calls: user activity, weekday, ramp-up and hours worked
    call_weight_in_period: float  # the same, for the part of the session before the period ends


class CallRates(NamedTuple):
    answer_rate: float  # inbound calls the user picks up
    connect_rate: float  # outbound calls someone picks up
    engagement_failure_rate: float  # HubSpot fails to create the call's engagement


class Break(NamedTuple):
    start_ms: int
    duration_ms: int


class Away(NamedTuple):
    """USER_UNAVAILABLE at start_ms, USER_AVAILABLE at end_ms."""

    start_ms: int
    end_ms: int


class ScreenPop(NamedTuple):
    """The app opens the caller's record (NAVIGATE_TO_RECORD) once the call is answered."""

    at_ms: int
    open_in: str | None  # OnNavigateToRecord.openIn, new in SDK 0.9.7
    url: str


class PageLoad(NamedTuple):
    """A HubSpot page loads in a tab; each load starts a new SDK instance with its own SYNC handshake."""

    at_ms: int
    url: str | None  # None: the calling window, which is no HubSpot page
    restored_engagement_id: int | None = None  # SYNC.engagementId: this reload happened during that call


@dataclass(slots=True, eq=False)
class CallPlan:
    """One call's story, times in UTC ms; None for what never happens."""

    external_call_id: str
    inbound: bool
    engagement_id: int = 0  # 0: HubSpot failed to create the engagement
    engagement_error: str | None = None
    callee: Contact | None = None  # outbound calls
    caller_id_matches: list[Contact | Company] = field(default_factory=list)
    from_number: str = ""
    to_number: str = ""
    tab: int = 0  # the tab whose SDK instance carries the call
    ringing_tabs: list[int] = field(default_factory=list)  # inbound: every tab the call rings in
    dial_tab: int | None = None  # click-to-call: the tab the user clicked in (HubSpot sends DIAL_NUMBER there)
    clicked_ms: int | None = None
    started_ms: int = 0  # INCOMING_CALL / OUTGOING_CALL_STARTED
    answered_ms: int | None = None
    transferred_ms: int | None = None
    ended_ms: int | None = None
    completed_ms: int | None = None  # CALL_COMPLETED: the app logs the call
    end_status: str = ""  # CALL_ENDED.callEndStatus
    engagement_status: str = ""  # hs_call_status in CALL_COMPLETED.engagementProperties
    talk_ms: int = 0
    navigated_ms: int | None = None  # the user navigates away mid-call, reloading the call's SDK instance
    survives_navigation: bool = False  # the reloaded app restores the call (SYNC.engagementId)
    screen_pop: ScreenPop | None = None
    update_error: str | None = None  # UPDATE_ENGAGEMENT_FAILED instead of _SUCCEEDED
    publishes_to_channel: bool = False
    gets_retired_associations_failure: bool = False  # HubSpot sends UPDATE_ASSOCIATIONS_FAILED
    busy_until_ms: int = 0  # the user's next call comes after this
    no_navigation_from_ms: int = 0  # the user does not navigate away around the call
    no_navigation_until_ms: int = 0


@dataclass(slots=True, eq=False)
class SessionPlan:
    portal: Portal
    user: User
    start_ms: int
    end_ms: int
    uses_calling_window: bool  # SYNC.usesCallingWindow: one "window" instance carries the calls
    tab_opened_ms: list[int]  # one per HubSpot tab
    rates: CallRates
    away: list[Away] = field(default_factory=list)
    calls: list[CallPlan] = field(default_factory=list)
    closed_ms: int = 0  # the user closes HubSpot
    page_loads: list[list[PageLoad]] = field(default_factory=list)  # per tab, in time order

    @property
    def calling_window_tab(self) -> int | None:
        """The calling window counts as one more tab, after the HubSpot tabs."""
        return len(self.tab_opened_ms) if self.uses_calling_window else None

    @property
    def main_tab(self) -> int:
        """The tab whose app reports the user's availability: the calling window's, else the first tab's."""
        return self.calling_window_tab or 0

    def is_available(self, at_ms: int) -> bool:
        return not any(away.start_ms <= at_ms < away.end_ms for away in self.away)

    def tabs_open_before(self, at_ms: int) -> list[int]:
        return [tab for tab, opened_ms in enumerate(self.tab_opened_ms) if opened_ms < at_ms]


def phone_number(rng: random.Random, country: str) -> str:
    """Numbers from ranges reserved for fiction (NANP 555-01xx, Ofcom 020 7946 0xxx, ACMA 02 5550 xxxx)."""
    if country == "GB":
        return f"+44207946{rng.randrange(1000):04d}"
    if country == "AU":
        return f"+6125550{rng.randrange(10000):04d}"
    return f"+1{rng.choice(US_AREA_CODES)}55501{rng.randrange(100):02d}"


def build_world(seed: int, days: int, calls: int) -> list[Portal]:
    rng = random.Random(f"callscope-demo|{seed}")
    scale = max(1, round(calls / max(days, 1) / 180))  # big runs get more users, not busier ones
    return [_build_portal(rng, profile, scale) for profile in PORTALS]


def _build_portal(rng: random.Random, profile: PortalProfile, scale: int) -> Portal:
    country = profile.country
    smallest_id = 10 ** (rng.choice((5, 7, 8, 10)) - 1)  # a portal's object ids all have the same length
    companies = []
    for _ in range(min(25 + 4 * profile.user_count * scale, 3000)):
        name = rng.choice(COMPANY_NAMES)
        companies.append(Company(object_id=rng.randrange(smallest_id, 10 * smallest_id),
                                 name=f"{name} {rng.choice(COMPANY_KINDS)}", email_domain=name.lower(),
                                 phone_number=phone_number(rng, country)))
    caller_id_index: dict[str, list[Contact | Company]] = {}
    for company in companies:
        caller_id_index.setdefault(company.phone_number, []).append(company)
    contacts = []
    for _ in range(min(150 + 30 * profile.user_count * scale, 20000)):
        first, last, company = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng.choice(companies)
        email = f"{first.lower()}.{last.lower()}@{company.email_domain}.example.{'com' if rng.random() < .7 else 'org'}"
        number = company.phone_number if rng.random() < .15 else phone_number(rng, country)  # or the company line
        contacts.append(Contact(object_id=rng.randrange(smallest_id, 10 * smallest_id), first_name=first,
                                last_name=last, email=email, phone_number=number))
        caller_id_index.setdefault(number, []).insert(0, contacts[-1])  # the lookup puts contacts first
    users = [_user(rng, profile) for _ in range(profile.user_count * scale)]
    return Portal(profile=profile, app=APPS[profile.app_name], companies=companies, contacts=contacts,
                  caller_id_index=caller_id_index, users=users)


def _user(rng: random.Random, profile: PortalProfile) -> User:
    return User(user_id=rng.randrange(1_000_000, 99_999_999), owner_id=rng.randrange(10_000_000, 999_999_999),
                activity_weight=rng.lognormvariate(0, .45),
                navigation_interval_min=profile.navigation_interval_min * rng.uniform(.6, 1.6),
                phone_line=phone_number(rng, profile.country), tab_count_weights=rng.choice(TAB_COUNT_WEIGHTS),
                debug_mode=rng.random() < .04)
