"""Callscope: call replay and observability for HubSpot Calling Extensions SDK apps. Router and frame."""

import streamlit as st

from ui import strings
from ui.bootstrap import ensure_data

st.set_page_config(page_title=strings.APP_TITLE, page_icon="📞", layout="wide")
ensure_data()
page = st.navigation([st.Page("pages/overview.py", title="Overview", icon="📊", default=True)])
page.run()
