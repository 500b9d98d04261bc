"""What the events archive (archive.tf, input create_archive) adds per million events, from the records of
the B6 workload (their sizes and how well they compress are measured here; the prices are prices.py's).

- Firehose ingestion: each record is billed rounded up to the next 5 KB (Firehose pricing: "ingestion ...
  calculated in 5KB increments", https://aws.amazon.com/firehose/pricing/); the per-GB price was not found
  (prices.py), so this part is priced at nothing and the billed GB are shown.
- S3 PUTs: one object per buffer (archive_buffering, default 64 MB or 300 s, whichever first) at an assumed
  steady rate; S3 storage: the GZIP bytes for one month in S3 Standard.
- Athena: a query over the whole archive scans its GZIP bytes (the named queries read every day: no date
  filter), at least 10 MB per query.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Sequence
from typing import Any

from benchmarks import prices

GB = 1024**3
TB = 1024**4
FIREHOSE_INCREMENT = 5 * 1024
ATHENA_MINIMUM_BYTES = 10 * 1024**2
DEFAULT_BUFFER_MB = 64
DEFAULT_BUFFER_S = 300
ASSUMED_EVENTS_PER_S = 100.0


def per_million(
    records: Sequence[bytes],
    events: int,
    events_per_s: float = ASSUMED_EVENTS_PER_S,
    buffer_mb: int = DEFAULT_BUFFER_MB,
    buffer_s: int = DEFAULT_BUFFER_S,
) -> dict[str, Any]:
    """USD per million events (and the quantities) for `records`, which carry `events` events."""
    if not records or events <= 0:
        raise ValueError("need records and events")
    scale = 1e6 / events
    raw_bytes = sum(len(data) + 1 for data in records)  # each record and its newline, as Firehose writes
    billed_bytes = sum(math.ceil(len(data) / FIREHOSE_INCREMENT) * FIREHOSE_INCREMENT for data in records)
    compressed = len(gzip.compress(b"".join(data + b"\n" for data in records), compresslevel=6))
    stored_bytes = compressed * scale
    seconds = 1e6 / events_per_s
    objects = max(math.ceil(seconds / buffer_s), math.ceil(raw_bytes * scale / (buffer_mb * 1024**2)))
    quantities = {
        "firehose_billed_gb": billed_bytes * scale / GB,
        "s3_puts": float(objects),
        "s3_stored_gb": stored_bytes / GB,
        "athena_scanned_tb_per_query": max(stored_bytes, ATHENA_MINIMUM_BYTES) / TB,
    }
    breakdown = {
        "firehose": quantities["firehose_billed_gb"] * prices.usd("firehose_direct_put_gb"),
        "s3_puts": quantities["s3_puts"] * prices.usd("s3_put_request"),
        "s3_storage_month": quantities["s3_stored_gb"] * prices.usd("s3_standard_storage_gb_month"),
    }
    return {
        "usd_per_million_events": round(sum(breakdown.values()), 6),
        "breakdown_usd": {name: round(cost, 6) for name, cost in breakdown.items()},
        "athena_usd_per_query": round(
            quantities["athena_scanned_tb_per_query"] * prices.usd("athena_tb_scanned"), 6
        ),
        "quantities": {name: round(value, 6) for name, value in quantities.items()},
        "measured": {
            "records": len(records),
            "events": events,
            "mean_record_bytes": round(raw_bytes / len(records) - 1, 1),
            "gzip_ratio": round(compressed / raw_bytes, 4),
        },
        "assumptions": {
            "events_per_s": events_per_s,
            "buffer_mb": buffer_mb,
            "buffer_s": buffer_s,
            "storage": "one month in S3 Standard (the default lifecycle: STANDARD_IA from day 30)",
        },
        "unpriced": [name for name in ("firehose_direct_put_gb",) if prices.PRICES[name].usd is None],
    }
