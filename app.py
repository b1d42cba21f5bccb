"""Callscope: call replay and observability for HubSpot Calling Extensions SDK apps. The server, the router, the frame.

`python -m streamlit run app.py` finds `app` (an `st.App`) at the bottom and serves it: as the server starts it
registers the pages and builds the demo database (ui/bootstrap.py). Every browser session then runs this file as its
script: the sign-in (ui/auth.py: nothing from the store before it), the router (`st.navigation`) and the frame (the
filter bar). Without sign-in configured the server only serves loopback; ui/access.py says what may start.
"""

import os
import sys
from contextlib import asynccontextmanager

import streamlit as st

# Pages the sidebar's filters do not apply to: they go without the filter bar rather than show one that does nothing.
UNFILTERED = ("replay", "live")


def pages() -> dict[str, list[st.Page]]:
    """The app's pages. Their scripts live in sub-folders of pages/: a top-level pages/*.py would be run as an
    old-style (v1) page, without this frame. The default page lives at `/`; Streamlit routes no other path to it, so
    `/overview` is a hidden second entry for the same script (a link to it would otherwise say "Page not found")."""
    overview = "pages/analytics/overview.py"
    return {
        "Analytics": [
            st.Page(overview, title="Overview", icon=":material/dashboard:", url_path="", default=True),
            st.Page(overview, title="Overview", icon=":material/dashboard:", url_path="overview", visibility="hidden"),
            st.Page("pages/analytics/engagements.py", title="Engagements & caller ID", icon=":material/handshake:",
                    url_path="engagements"),
            st.Page("pages/analytics/iframes.py", title="Iframes & tabs", icon=":material/tab:", url_path="iframes"),
            st.Page("pages/analytics/funnel.py", title="Lifecycle funnel", icon=":material/filter_alt:",
                    url_path="funnel"),
            st.Page("pages/analytics/calls.py", title="Calls", icon=":material/call_log:", url_path="calls"),
            st.Page("pages/analytics/beta_report.py", title="Beta report", icon=":material/summarize:",
                    url_path="beta-report"),
        ],
        "Support": [
            st.Page("pages/support/replay.py", title="Call replay", icon=":material/replay:", url_path="replay"),
            st.Page("pages/support/imports.py", title="Imports", icon=":material/upload_file:", url_path="imports"),
            st.Page("pages/support/live.py", title="Live", icon=":material/sensors:", url_path="live"),
        ],
    }


@asynccontextmanager
async def started(server: st.App):
    """Once, as the server starts and before any browser connects (ui/bootstrap.py says what and why)."""
    from ui.bootstrap import server_started  # imported once the runtime exists: ui defines cached functions

    server_started(pages)
    yield


if __name__ == "__main__":  # a browser session's run
    from ui import strings
    from ui.auth import gate
    from ui.bootstrap import ensure_data
    from ui.filters import filter_bar

    st.set_page_config(page_title=strings.APP_TITLE, page_icon=":material/call:", layout="wide")
    gate(pages)
    ensure_data()
    page = st.navigation(pages())
    if page.url_path not in UNFILTERED:
        filter_bar()
    page.run()
else:  # imported once, by `streamlit run`, which then serves `app`
    from starlette.middleware import Middleware
    from streamlit import config

    from ui.access import OVERRIDE_ENV, start_problem
    from ui.return_link import ReturnToLink

    secrets = st.secrets if st.secrets.load_if_toml_exists() else {}
    problem = start_problem(config.get_option("server.address"), secrets, os.environ.get(OVERRIDE_ENV) == "1")
    if problem:
        print(f"Error: {problem}.", file=sys.stderr)
        raise SystemExit(2)
    app = st.App(__file__, lifespan=started,
                 middleware=[Middleware(ReturnToLink, base_path=config.get_option("server.baseUrlPath") or "")])
