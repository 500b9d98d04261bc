"""B2 per format times one format per workload against that format's own parsing floor: each workload must
hold records of its format only, the floor must parse what the format carries (gzip and the log events'
messages for SMS), and the scorer must take every record of each (no timing is asserted here)."""

from __future__ import annotations

import gzip
import json
from typing import Any

from benchmarks import b2_cpu

USERS, RECORDS = 40, 300


def _payload(data: bytes) -> Any:
    return json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def _shape(data: bytes) -> str:
    value = _payload(data)
    if "logEvents" in value:
        messages = [json.loads(e["message"]) for e in value["logEvents"]]
        return "sms" if all(m["eventType"].startswith("TEXT_") for m in messages) else "sms?"
    if value.get("source") == "aws.ses" and "detail-type" in value:
        return "ses_eventbridge"
    if "mail" in value and "eventType" in value:
        return "ses"
    if value.get("schema") == "engagement.event/1":
        return "custom"
    if "application" in value and "event_type" in value:
        return "pinpoint"
    return "other"


def test_each_format_workload_holds_only_its_format() -> None:
    for name in b2_cpu.FORMAT_WORKLOADS:
        records = b2_cpu.format_workload(name, USERS, RECORDS).records
        assert len(records) == RECORDS
        assert {_shape(r.data) for r in records} == {name}, name


def test_the_floor_parses_the_log_events_inside_the_sms_envelopes() -> None:
    events = b2_cpu.kinesis_events(b2_cpu.format_workload("sms", USERS, RECORDS), 100)
    datas = [r["kinesis"]["data"] for e in events for r in e["Records"]]
    documents = [b2_cpu.parse_floor(d) for d in datas]
    # the envelope, then one document per status event (one to three per message)
    assert min(documents) >= 2 and max(documents) <= 4 and sum(documents) > 2.2 * len(datas)


def test_the_scorer_takes_every_record_of_every_format() -> None:
    results = b2_cpu.run_by_format(1, USERS, RECORDS, batch_size=100, log=lambda _: None)
    assert list(results) == list(b2_cpu.FORMAT_WORKLOADS)
    for name, entry in results.items():
        assert entry["failed_records"] == 0, name
        # custom: most app events have no rule (product_viewed...), so fewer are applied
        assert entry["events_applied"] > RECORDS // 4, name
        assert entry["records"] == RECORDS


def test_the_report_shows_each_format_beside_its_floor() -> None:
    from benchmarks import report

    entry = {
        "records": 300,
        "json_documents_per_record": 3.1,
        "ours_us_per_record_median": 40.0,
        "ours_us_per_record_spread": [39.0, 41.0],
        "floor_us_per_record_median": 20.0,
        "floor_us_per_record_spread": [19.5, 21.0],
        "ratio_median": 2.0,
        "ratio_spread": [1.9, 2.1],
        "load_average": ["7.1 8.0 9.0", "6.9 7.9 8.9"],
    }
    results: dict[str, Any] = {
        "api_calls_per_1000_events": dict.fromkeys(("ours_batch100", "ours_batch1000", "original_batch100")),
        "cpu_us_per_event": {"ours": 30.0, "floor": 20.0},
        "cpu_us_per_event_by_format": {"sms": {"ours": 40.0, "floor": 20.0, "ratio": 2.0}},
        "simulator_events_per_s": None,
        "import_ms": {"scorer": None, "score_sync": None},
        "simulate_wall_s": None,
        "simulate_peak_mb": None,
        "quick": True,
        "benchmarks_run": ["B2"],
        "measured_at": "2026-12-03T16:00:00+00:00",
        "machine": {"cpu_model": "x", "cpu_count": 2, "python": "3.11", "platform": "linux"},
        "details": {
            "B2": {"headline_batch_size": 500, "by_batch_size": {"500": entry}, "by_format": {"sms": entry}}
        },
    }
    rows, missed = report.evaluate(results)
    sms = [row for row in rows if "sms only" in row.metric]
    assert len(sms) == 1 and sms[0].measured == "40.0 µs" and sms[0].ratio.startswith("2.00x its floor")
    section = report.results_section(results, rows, missed)
    assert (
        "| sms | 300 | 3.1 | 40.0 | [39.0, 41.0] | 20.0 | [19.5, 21.0] | 2.0x | 7.1 8.0 9.0 → 6.9 7.9 8.9 |"
        in section
    )
    assert (
        "| 500 | 40.0 | [39.0, 41.0] | 20.0 | [19.5, 21.0] | 2.0x | [1.9, 2.1] | 7.1 8.0 9.0 → 6.9 7.9 8.9 |"
        in section
    )
