"""Headless queries over the Callscope store (no Streamlit): the dashboard and reports call these."""
