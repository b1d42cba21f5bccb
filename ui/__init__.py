"""The Streamlit side: cached access to `analytics` and the first-run bootstrap. Pages import from here."""
