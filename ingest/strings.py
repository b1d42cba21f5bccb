"""Sentences the CLI and the app show people; tests assert on them."""

LOAD_SUMMARY = "Read {read:,} lines: {loaded:,} loaded, {duplicates:,} duplicates, {rejected:,} rejected ({seconds:.1f} s)."
LOAD_REJECT_REASON = "  {count:,} × {reason}"
LOAD_REJECT_HINT = "Rejected lines are kept with their reasons in the `rejects` table."
DEMO_WRITING = "Writing demo capture logs ({days} days, about {calls:,} calls) to {folder}"
NO_CALLS = "No calls match."
ERROR = "Error: {error}"
DERIVED = "Derived {calls:,} calls from the stored events ({seconds:.1f} s); the dashboard sees them now."
