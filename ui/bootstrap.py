"""First run: build the embedded demo database so the first screen is never empty."""

from __future__ import annotations

import streamlit as st

from ingest.demo import write_demo_files
from ingest.load import load_sources
from ui import strings
from ui.data import db_path, generation

DEMO_DAYS = 30
DEMO_CALLS = 4000


def ensure_data() -> None:
    """Build and load the demo logs when the default database has no snapshot yet."""
    if generation() is not None:
        return
    path = db_path()
    days, calls = st.session_state.get("demo_size", (DEMO_DAYS, DEMO_CALLS))
    with st.status(strings.BUILDING_DEMO, expanded=True) as status:
        st.write(strings.BUILDING_DEMO_FILES.format(days=days, calls=calls))
        files = write_demo_files(path.parent / "demo", days=days, calls=calls)
        bar = st.progress(0.0, text=strings.LOADING_DEMO)
        total = sum(f.stat().st_size for f in files)
        done_before: dict[str, int] = {}

        def progress(name: str, consumed: int) -> None:
            done_before[name] = consumed
            bar.progress(min(sum(done_before.values()) / max(total, 1), 1.0), text=strings.LOADING_DEMO)

        result = load_sources([str(f) for f in files], path, tool="demo", progress=progress)
        status.update(label=strings.DEMO_READY.format(events=result.counts.loaded), state="complete", expanded=False)
