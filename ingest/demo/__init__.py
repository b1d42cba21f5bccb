"""Seeded, deterministic demo capture logs (capture format v1) from an invented world of calling apps and portals.

`world` holds the apps, portals, people and plans as data; `plan` decides what happens (sessions, calls, outcomes,
timings); `emit` turns plans into the SDK messages of @hubspot/calling-extensions-sdk 0.9.7; `files` writes them
as daily log files. The same arguments always give the same bytes. `python -m ingest.demo` prints the speed.
"""

from ingest.demo.emit import generate_records
from ingest.demo.files import write_demo_files

__all__ = ["generate_records", "write_demo_files"]
