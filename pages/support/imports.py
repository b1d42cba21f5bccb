"""Imports: every load with its counts (read = loaded + duplicates + rejected), rejected lines, unknown types."""

from pathlib import Path

import pandas as pd
import streamlit as st

from analytics import imports
from analytics.filters import FIRST_DAY, LAST_DAY
from ui import strings
from ui.data import db_path, run
from ui.filters import current
from ui.tables import table

st.title("Imports")
st.caption(strings.IMPORTS_CAPTION)

quarantined = imports.quarantined(db_path())
if quarantined:
    st.warning(strings.QUARANTINED.format(count=len(quarantined), folder=Path(quarantined[0]["file"]).parent))
    table(pd.DataFrame(quarantined), config={"moved_at": st.column_config.DatetimeColumn("moved (UTC)")})

loads = run(imports.LOADS_SQL, limit=200)
if loads.empty:
    st.info(strings.NO_DATA)
    st.stop()
table(loads)

st.subheader(strings.REJECT_REASONS)
reasons = run(imports.REJECT_REASONS_SQL)
if reasons.empty:
    st.success(strings.NO_REJECTS)
else:
    table(reasons)
    with st.expander(strings.REJECTED_LINES):
        table(run(imports.REJECTED_LINES_SQL, limit=500))

st.subheader(strings.UNKNOWN_TYPES)
f = current()
start_utc, end_utc = f.bounds_utc() if f else (FIRST_DAY, LAST_DAY)
unknown = run(imports.UNKNOWN_TYPES_SQL, start_utc=start_utc, end_utc=end_utc)
if unknown.empty:
    st.success(strings.NO_UNKNOWN_TYPES)
else:
    st.caption(strings.UNKNOWN_TYPES_HELP)
    table(unknown)

st.subheader(strings.ORPHANS)
orphans = run(imports.ORPHANS_SQL, start_utc=start_utc, end_utc=end_utc)
if orphans.empty:
    st.success(strings.NO_ORPHANS)
else:
    st.caption(strings.ORPHANS_HELP)
    table(orphans)
