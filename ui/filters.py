"""The one filter bar, drawn once by app.py in the sidebar and mirrored into the URL's query string.

Every view is a link: `?from=2025-11-01&to=2025-11-25&portal=4455123,2210987&app=…&dir=inbound&sdk=0.9.7&tz=…`.
Pages the filters do not apply to (the replay, Live) go without the bar. A link whose period cannot be shown (not a day, outside FIRST_DAY..LAST_DAY, ending before it starts) gets the
default period and a warning saying why. Pages read the current `Filters` with `current()`.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import available_timezones

import streamlit as st

from analytics.filters import DIRECTIONS, FILTER_OPTIONS_SQL, FIRST_DAY, LAST_DAY, Filters, check_period, parse_day
from analytics.format import md_escape
from ingest.errors import CallscopeError
from ui import strings
from ui.data import rows

DEFAULT_DAYS = 14  # with the previous 14 days to compare against
TIME_ZONES = ["UTC"] + sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
_KEY = "filters"


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def _period_from_query(last_call: date | None) -> tuple[date, date]:
    """`?from=` and `?to=` when both are given and make a period that can be shown, else the DEFAULT_DAYS up to the
    last call (a warning says what was wrong with the link's)."""
    last = min(max(last_call or date.today(), FIRST_DAY + timedelta(days=DEFAULT_DAYS - 1)), LAST_DAY)
    default = (last - timedelta(days=DEFAULT_DAYS - 1), last)
    given = {name: st.query_params.get(name, "") for name in ("from", "to")}
    try:
        days = [parse_day(text, name) for name, text in given.items() if text]
        return check_period(*days) if len(days) == 2 else default
    except CallscopeError as exc:
        st.warning(strings.BAD_PERIOD.format(error=md_escape(exc.message), days=DEFAULT_DAYS))
        return default


def _from_query(options: dict) -> None:
    """Seed the widgets from the URL once per session (later the widgets are the truth); after a page without the
    bar (Streamlit forgets a widget that a run did not draw), from the filters they last said."""
    if st.session_state.get("_filters_seeded"):
        if "f_period" not in st.session_state and _KEY in st.session_state:
            f = st.session_state[_KEY]
            st.session_state.update(f_period=(f.start, f.end), f_portals=list(f.portals), f_apps=list(f.apps),
                                    f_dirs=list(f.directions), f_sdks=list(f.sdk_versions), f_tz=f.tz)
        return
    q = st.query_params
    st.session_state.f_period = _period_from_query(
        options["last_call"].date() if options["last_call"] is not None else None)
    st.session_state.f_portals = [int(p) for p in _split(q.get("portal")) if p.isdigit() and int(p) in options["portals"]]
    st.session_state.f_apps = [a for a in _split(q.get("app")) if a in options["apps"]]
    st.session_state.f_dirs = [d for d in _split(q.get("dir")) if d in DIRECTIONS]
    st.session_state.f_sdks = [v for v in _split(q.get("sdk")) if v in options["sdk_versions"]]
    st.session_state.f_tz = q.get("tz") if q.get("tz") in TIME_ZONES else "UTC"
    st.session_state._filters_seeded = True


def _to_query(f: Filters) -> None:
    wanted = {"from": f.start.isoformat(), "to": f.end.isoformat(), "portal": ",".join(map(str, f.portals)),
              "app": ",".join(f.apps), "dir": ",".join(f.directions), "sdk": ",".join(f.sdk_versions), "tz": f.tz}
    for key, value in wanted.items():
        if value and st.query_params.get(key) != value:
            st.query_params[key] = value
        elif not value and key in st.query_params:
            del st.query_params[key]


def filter_bar() -> Filters | None:
    """Draw the filter bar in the sidebar; None when there is no data to filter."""
    found = rows(FILTER_OPTIONS_SQL)
    if not found or found[0]["first_call"] is None:
        return None
    options = {k: found[0][k] or [] for k in ("portals", "apps", "sdk_versions")} | {"last_call": found[0]["last_call"]}
    _from_query(options)
    with st.sidebar:
        st.header(strings.FILTERS)
        period = st.date_input(strings.PERIOD, key="f_period", help=strings.PERIOD_HELP, min_value=FIRST_DAY,
                               max_value=LAST_DAY)
        portals = st.multiselect(strings.PORTALS, options["portals"], key="f_portals", placeholder=strings.ANY)
        apps = st.multiselect(strings.APPS, options["apps"], key="f_apps", placeholder=strings.ANY)
        dirs = st.multiselect(strings.DIRECTIONS, list(DIRECTIONS), key="f_dirs", placeholder=strings.ANY)
        sdks = st.multiselect(strings.SDK_VERSIONS, options["sdk_versions"], key="f_sdks", placeholder=strings.ANY)
        tz = st.selectbox(strings.TIME_ZONE, TIME_ZONES, key="f_tz")
    start, end = (period if isinstance(period, (tuple, list)) and len(period) == 2 else (period[0], period[0])) \
        if isinstance(period, (tuple, list)) else (period, period)
    f = Filters(start=start, end=end, portals=tuple(portals), apps=tuple(apps), directions=tuple(dirs),
                sdk_versions=tuple(sdks), tz=tz)
    _to_query(f)
    st.session_state[_KEY] = f
    return f


def current() -> Filters | None:
    return st.session_state.get(_KEY)


def current_or_stop() -> Filters:
    """The current filters; with no data at all, the page says how to get some and stops here."""
    f = current()
    if f is None:
        st.info(strings.NO_DATA)
        st.stop()
    return f
