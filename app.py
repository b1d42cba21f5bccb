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
    ],
    "Support": [
        st.Page("pages/replay.py", title="Call replay", icon="🎞️", url_path="replay"),
    ],
}
page = st.navigation(PAGES)
filter_bar()
page.run()
