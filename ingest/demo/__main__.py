"""`python -m ingest.demo`: how fast the demo generator makes records."""

import time
from itertools import islice

from ingest.demo import generate_records

RECORDS = 200_000

start = time.perf_counter()
count = sum(1 for _ in islice(generate_records(days=30, calls=12000, seed=7, end_ms=1_732_725_900_000), RECORDS))
seconds = time.perf_counter() - start
print(f"{count} records in {seconds:.2f} s: {count / seconds:,.0f} records/s")
