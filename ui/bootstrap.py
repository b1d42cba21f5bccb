"""The server's start, and the demo database it builds so the first screen is never empty.

`python -m streamlit run app.py` serves app.py's `st.App`, whose lifespan calls `server_started`: as the server
starts it registers the app's pages and starts building the demo database in the background (when the database has
no snapshot yet), before any browser connects. A session that arrives while the build runs waits for it with its
progress on screen (`ensure_data`); under streamlit.testing, where no server starts, the session starts the build.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from analytics import db
from analytics.filters import FILTER_OPTIONS_SQL
from analytics.format import md_escape
from ingest.demo import write_demo_files
from ingest.errors import CallscopeError
from ingest.load import load_sources
from ui import strings
from ui.data import db_path, generation, warm

# What the pages import besides what this module does: imported as the server starts, not by the first session.
WARM_MODULES = ("ui.drill", "ui.drilldown", "ui.replay_panels", "ui.replay_tabs", "analytics.figures.charts",
                "analytics.figures.timeline", "analytics.report.build", "analytics.report.render")
DEMO_DAYS = 30
DEMO_CALLS = 4000
POLL_S = 0.25


@dataclass
class DemoBuild:
    """One demo build in a background thread; sessions read its progress and wait for `done`."""

    path: Path
    days: int
    calls: int
    done: threading.Event = field(default_factory=threading.Event)
    share_loaded: float = 0.0
    writing: bool = True
    events: int = 0
    error: str | None = None


_builds: dict[Path, DemoBuild] = {}
_starting = threading.Lock()  # the server's start and the first sessions may ask at once: one build per database


def _build(build: DemoBuild) -> None:
    try:
        files = write_demo_files(build.path.parent / "demo", days=build.days, calls=build.calls)
        build.writing = False
        total = max(sum(f.stat().st_size for f in files), 1)
        consumed: dict[str, int] = {}

        def progress(name: str, done: int) -> None:
            consumed[name] = done
            build.share_loaded = min(sum(consumed.values()) / total, 1.0)

        build.events = load_sources([str(f) for f in files], build.path, tool="demo", progress=progress).counts.loaded
    except CallscopeError as exc:
        build.error = f"{exc.message}. {exc.hint}" if exc.hint else exc.message
    except OSError as exc:
        build.error = str(exc)
    finally:
        build.done.set()


def start_demo_build(path: Path, days: int = DEMO_DAYS, calls: int = DEMO_CALLS) -> DemoBuild | None:
    """The demo build of `path`, started now unless one runs or ran; None when the database has a snapshot."""
    path = Path(path)
    with _starting:
        build = _builds.get(path)
        if build is not None and build.error is None:
            return build
        if db.snapshot_generation(path) is not None:
            return None
        build = _builds[path] = DemoBuild(path, days, calls)
        threading.Thread(target=_build, args=(build,), name="callscope-demo-build", daemon=True).start()
        return build


def server_started(pages: Callable[[], dict]) -> None:
    """As the server starts: register the app's pages, and start building the demo database if there is none.

    Streamlit runs a session as an old-style multipage app (pages/*.py) until some session has called st.navigation,
    so the server's first session would open a deep link (/replay?call=…) with "Page not found" over the page.
    Declaring the navigation here, outside any session (Streamlit then only records that the app navigates with
    st.navigation, and says it runs in bare mode), settles that before the first session starts."""
    bare_mode = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = bare_mode.level
    bare_mode.setLevel(logging.ERROR)
    try:
        st.navigation(pages())
    finally:
        bare_mode.setLevel(level)
    if start_demo_build(db.DEFAULT_DB_PATH) is None:  # data already there: open it now, not for the first session
        warm(db.DEFAULT_DB_PATH, FILTER_OPTIONS_SQL)
    for module in WARM_MODULES:  # the first session would wait seconds for these imports
        importlib.import_module(module)


def ensure_data() -> None:
    """Return when the database has a snapshot; else wait for the demo build, showing its progress."""
    if generation() is not None:
        return
    days, calls = st.session_state.get("demo_size", (DEMO_DAYS, DEMO_CALLS))
    build = start_demo_build(db_path(), days, calls)
    if build is None:
        return
    with st.status(strings.BUILDING_DEMO, expanded=True) as status:
        st.write(strings.BUILDING_DEMO_FILES.format(days=build.days, calls=build.calls))
        bar = st.progress(0.0, text=strings.WRITING_DEMO)
        while not build.done.wait(POLL_S):
            bar.progress(build.share_loaded, text=strings.WRITING_DEMO if build.writing else strings.LOADING_DEMO)
        if build.error is not None:
            status.update(label=strings.DEMO_FAILED, state="error")
            st.error(strings.DEMO_FAILED_DETAIL.format(error=md_escape(build.error.rstrip("."))))
            st.stop()
        bar.progress(1.0, text=strings.LOADING_DEMO)
        status.update(label=strings.DEMO_READY.format(events=build.events), state="complete", expanded=False)
