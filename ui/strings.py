"""Sentences the dashboard shows; tests assert on them."""

APP_TITLE = "Callscope"
BUILDING_DEMO = "First run: building the demo database…"
BUILDING_DEMO_FILES = "Writing {days} days of demo capture logs (about {calls:,} calls)…"
LOADING_DEMO = "Loading the demo logs into DuckDB…"
DEMO_READY = "Demo data ready: {events:,} SDK messages loaded."
NO_DATA = ("No Callscope data yet. Load a log with `python -m ingest load FILE` "
           "or build the demo with `python -m ingest demo`.")
OVERVIEW_CAPTION = ("Calls derived from captured HubSpot Calling Extensions SDK messages. "
                    "The full analytics dashboard, replay and reports are on their way.")
