"""Call replay (placeholder until the replay issue lands)."""

import streamlit as st

st.title("Call replay")
call = st.query_params.get("call")
st.info(f"Replay of call `{call}` is coming." if call else "Pick a call from the calls explorer.")
