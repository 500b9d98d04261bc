"""The archive's cost line (benchmarks/archive_cost.py) on records whose figures are computed by hand."""

from __future__ import annotations

import gzip

import pytest

from benchmarks import archive_cost, prices, report


def test_archive_cost_rounds_records_to_5_kb_and_prices_puts_storage_and_scans() -> None:
    records = [b"x" * 100, b"y" * 5120, b"z" * 5121]  # billed 5 KB, 5 KB, 10 KB
    result = archive_cost.per_million(records, events=4, events_per_s=1000.0, buffer_mb=64, buffer_s=300)
    scale = 1e6 / 4
    quantities = result["quantities"]
    assert quantities["firehose_billed_gb"] == pytest.approx(20 * 1024 * scale / 1024**3, abs=1e-6)
    # 1000 s of traffic at 1000 events/s: 4 objects by time; 2.6 GB of lines: 40 objects of 64 MB by size.
    raw = (100 + 5120 + 5121 + 3) * scale
    assert quantities["s3_puts"] == max(4, -(-raw // (64 * 1024**2)))
    compressed = len(gzip.compress(b"".join(r + b"\n" for r in records), compresslevel=6)) * scale
    assert quantities["s3_stored_gb"] == pytest.approx(compressed / 1024**3, abs=1e-6)
    assert result["breakdown_usd"]["s3_puts"] == pytest.approx(quantities["s3_puts"] * 0.005 / 1000, abs=1e-6)
    assert result["breakdown_usd"]["s3_storage_month"] == pytest.approx(
        quantities["s3_stored_gb"] * 0.023, abs=1e-6
    )
    scanned = max(compressed, 10 * 1024**2) / 1024**4
    assert result["athena_usd_per_query"] == pytest.approx(scanned * 5.0, abs=1e-6)
    assert result["unpriced"] == (
        ["firehose_direct_put_gb"] if prices.PRICES["firehose_direct_put_gb"].usd is None else []
    )
    line = report.archive_line(result)
    assert line.startswith("Events archive (create_archive): $") and "5 KB steps" in line
