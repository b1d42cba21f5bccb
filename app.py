"""Callscope: call replay and observability for HubSpot Calling Extensions SDK apps. Router and frame."""

import streamlit as st

from ui import strings
from ui.bootstrap import ensure_data
from ui.filters import filter_bar

st.set_page_config(page_title=strings.APP_TITLE, page_icon="📞", layout="wide")
ensure_data()

# Page scripts live in sub-folders of pages/: a top-level pages/*.py would make Streamlit run a deep link such
# as /replay?call=… as an old-style (v1) page, without this frame, on the first session after a restart.
PAGES = {
    "Analytics": [
        st.Page("pages/analytics/overview.py", title="Overview", icon="📊", url_path="overview", default=True),
        st.Page("pages/analytics/engagements.py", title="Engagements & caller ID", icon="🤝", url_path="engagements"),
        st.Page("pages/analytics/iframes.py", title="Iframes & tabs", icon="🪟", url_path="iframes"),
        st.Page("pages/analytics/funnel.py", title="Lifecycle funnel", icon="🔻", url_path="funnel"),
        st.Page("pages/analytics/calls.py", title="Calls", icon="📋", url_path="calls"),
        st.Page("pages/analytics/beta_report.py", title="Beta report", icon="📝", url_path="beta-report"),
    ],
    "Support": [
        st.Page("pages/support/replay.py", title="Call replay", icon="🎞️", url_path="replay"),
        st.Page("pages/support/imports.py", title="Imports", icon="📥", url_path="imports"),
        st.Page("pages/support/live.py", title="Live", icon="🔴", url_path="live"),
    ],
}
page = st.navigation(PAGES)
filter_bar()
page.run()
