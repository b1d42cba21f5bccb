"""The one filter bar, drawn once by app.py in the sidebar and mirrored into the URL's query string.

Every view is a link: `?from=2025-11-01&to=2025-11-25&portal=4455123,2210987&app=…&dir=inbound&sdk=0.9.7&tz=…`.
Pages read the current `Filters` with `current()`.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import available_timezones

import streamlit as st

from analytics.filters import DIRECTIONS, FILTER_OPTIONS_SQL, Filters
from ui import strings
from ui.data import rows

DEFAULT_DAYS = 14  # with the previous 14 days to compare against
TIME_ZONES = ["UTC"] + sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
_KEY = "filters"


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def _from_query(options: dict) -> None:
    """Seed the widgets from the URL once per session (later the widgets are the truth)."""
    if st.session_state.get("_filters_seeded"):
        return
    q = st.query_params
    last = options["last_call"].date() if options["last_call"] is not None else date.today()
    try:
        start = date.fromisoformat(q.get("from", ""))
        end = date.fromisoformat(q.get("to", ""))
    except ValueError:
        end, start = last, last - timedelta(days=DEFAULT_DAYS - 1)
    st.session_state.f_period = (start, end)
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
        period = st.date_input(strings.PERIOD, key="f_period", help=strings.PERIOD_HELP)
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
