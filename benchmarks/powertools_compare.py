"""aws-lambda-powertools (Logger, Metrics, batch utilities) against the hand-written logging, EMF and record
loop of the scorer: cold import time, per-batch and per-record cost, package size (issue #8 item 19).

Not part of `make bench`: powertools is not a dependency of the project (the Lambda runtime does not ship
it; it would be vendored into the zip or come as a layer), so this runs from a throwaway virtual
environment outside the repository, with the Lambda sources on the path:

    python3 -m venv /tmp/pt-venv && /tmp/pt-venv/bin/pip install aws-lambda-powertools==3.37.0
    PYTHONPATH=lambda_src:. /tmp/pt-venv/bin/python -m benchmarks.powertools_compare

The results and the decision are in docs/architecture.md ("Observability contract").
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "events" / "pinpoint"
BATCH = 500  # the module's default scorer_batch_size
RUNS = 7
# What the scorer imports anyway: powertools' imports are timed on top of it (their marginal cold start);
# ours is timed alone in a fresh interpreter (json and the rest of what it needs included: against it).
HANDLER = "engagement_scoring.handlers.scorer"
OURS = "ours: observability (JsonLog, emf_lines)"
_BATCH_IMPORT = (
    "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response"
)
IMPORTS = {
    OURS: "import engagement_scoring.observability",
    "powertools Logger": "from aws_lambda_powertools import Logger",
    "powertools Metrics": "from aws_lambda_powertools import Metrics",
    "powertools batch": _BATCH_IMPORT,
    "powertools Logger + Metrics + batch": "from aws_lambda_powertools import Logger, Metrics; "
    + _BATCH_IMPORT,
}
_CHILD = """
import sys, time
{before}
started = time.perf_counter_ns()
exec(sys.argv[1])
print(time.perf_counter_ns() - started)
"""


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def import_ms(statement: str, env: dict[str, str], before: str) -> list[float]:
    """Milliseconds for `statement` in fresh processes, after `before`."""
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD.format(before=before), statement],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        samples.append(int(out.strip()) / 1e6)
    return samples


def source_only_copy(destination: Path) -> Path:
    """powertools and its dependencies copied without any bytecode (as the Lambda package is compiled)."""
    import aws_lambda_powertools
    import jmespath
    import typing_extensions

    for module in (aws_lambda_powertools, jmespath):
        source = Path(module.__file__ or "").parent
        for path in source.rglob("*.py"):
            target = destination / source.name / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    (destination / "typing_extensions.py").write_bytes(Path(typing_extensions.__file__ or "").read_bytes())
    return destination


def measure_imports() -> dict[str, Any]:
    results: dict[str, Any] = {}
    base = {**os.environ, "PYTHONPATH": f"{ROOT / 'lambda_src'}", "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryDirectory() as scratch:
        copy = source_only_copy(Path(scratch))
        modes = {
            # pip (and a layer built with it) ships bytecode next to the sources
            "compiled": base,
            # a zip built from sources only, like lambda_src: compiled at every cold start
            "source_only": {**base, "PYTHONPATH": f"{copy}:{ROOT / 'lambda_src'}", "PYTHONNOUSERSITE": "1"},
        }
        for mode, env in modes.items():
            for name, statement in IMPORTS.items():
                before = "pass" if name == OURS else f"import {HANDLER}"
                samples = import_ms(statement, env, before)
                results.setdefault(name, {})[mode] = {
                    "ms_median": round(statistics.median(samples), 1),
                    "ms_min": round(min(samples), 1),
                    "ms_max": round(max(samples), 1),
                }
    return results


# ---- per-batch and per-record cost ------------------------------------------------------------------


def kinesis_batch() -> dict[str, Any]:
    """500 Lambda Kinesis records made from the Pinpoint fixtures, each with its own client id."""
    fixtures = [json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))]
    records = []
    for index in range(BATCH):
        record = json.loads(json.dumps(fixtures[index % len(fixtures)]))
        record.setdefault("client", {})["client_id"] = f"client-{index}"
        data = base64.b64encode(json.dumps(record).encode()).decode()
        sequence = f"{49_000_000_000_000_000_000 + index:056d}"
        records.append(
            {
                "kinesis": {"partitionKey": str(index), "sequenceNumber": sequence, "data": data},
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
            }
        )
    return {"Records": records}


SUMMARY = {
    "records": BATCH,
    "scored": 400,
    "duplicates_suppressed": 3,
    "once_per_message_suppressed": 0,
    "skipped": {"no_rule": 90, "test_event": 5},
    "rejected": {"not_json": 2},
    "users_updated": 350,
    "retryable_failures": 0,
    "aws_calls": {"BatchGetItem": 8, "TransactWriteItems": 4},
}
TOTALS = {
    "EventsScored": 400,
    "EventsSkipped": 95,
    "DuplicatesSuppressed": 3,
    "OncePerMessageSuppressed": 0,
    "RecordsRejected": 2,
    "UsersUpdated": 350,
    "SinkCalls": 12,
    "RetryableFailures": 0,
}
BY_REASON = {"EventsSkipped": {"no_rule": 90, "test_event": 5}, "RecordsRejected": {"not_json": 2}}


def best_of(action: Callable[[], object], loops: int) -> float:
    """Microseconds per call: the median of RUNS timings of `loops` calls each."""
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter_ns()
        for _ in range(loops):
            action()
        samples.append((time.perf_counter_ns() - started) / loops / 1000)
    return statistics.median(samples)


def measure_costs() -> dict[str, Any]:
    from aws_lambda_powertools import Logger, Metrics, single_metric
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from engagement_scoring.observability import JsonLog, emf_lines, print_emf
    from engagement_scoring.pipeline.scorer import decode_record

    sink = _Discard()
    ours_log = JsonLog("scorer")
    handler = logging.StreamHandler(sink)
    powertools_log = Logger(service="scorer", logger_handler=handler)

    def ours_emf() -> None:
        print_emf(emf_lines("EngagementScoring", "scorer", TOTALS, BY_REASON))

    def powertools_emf() -> None:
        metrics = Metrics(namespace="EngagementScoring")
        metrics.add_dimension(name="Function", value="scorer")
        for name, value in TOTALS.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        metrics.flush_metrics()
        for metric, reasons in BY_REASON.items():
            for reason, count in reasons.items():
                with single_metric(
                    name=metric, unit=MetricUnit.Count, value=count, namespace="EngagementScoring"
                ) as one:
                    one.add_dimension(name="Function", value="scorer")
                    one.add_dimension(name="Reason", value=reason)

    event = kinesis_batch()

    def ours_loop() -> None:
        for record in event["Records"]:
            try:
                decode_record(record["kinesis"]["data"], "auto")
            except Exception:
                continue

    def record_handler(record: Any) -> Any:
        return decode_record(record.kinesis.data, "auto")

    def powertools_loop() -> None:
        processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
        process_partial_response(event=event, record_handler=record_handler, processor=processor)

    with redirect_stdout(sink):
        results = {
            "batch_log_line_us": {
                "ours": round(best_of(lambda: ours_log.emit("INFO", "batch scored", **SUMMARY), 2000), 2),
                "powertools": round(
                    best_of(lambda: powertools_log.info("batch scored", extra=SUMMARY), 2000), 2
                ),
            },
            "batch_emf_us": {
                "ours": round(best_of(ours_emf, 2000), 2),
                "powertools": round(best_of(powertools_emf, 500), 2),
            },
            "record_loop_us_per_record": {
                "ours": round(best_of(ours_loop, 20) / BATCH, 2),
                "powertools": round(best_of(powertools_loop, 20) / BATCH, 2),
            },
        }
    return results


# ---- package size -----------------------------------------------------------------------------------


def zipped_bytes(paths: list[Path], base: Path) -> tuple[int, int]:
    """(deflated zip size, unpacked size) of every .py file under `paths`."""
    buffer = io.BytesIO()
    unpacked = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for root in paths:
            files = [root] if root.is_file() else sorted(root.rglob("*.py"))
            for path in files:
                data = path.read_bytes()
                unpacked += len(data)
                archive.writestr(str(path.relative_to(base)), data)
    return len(buffer.getvalue()), unpacked


def measure_sizes() -> dict[str, Any]:
    import aws_lambda_powertools
    import jmespath
    import typing_extensions

    site = Path(aws_lambda_powertools.__file__ or "").parent.parent
    package = [
        Path(aws_lambda_powertools.__file__ or "").parent,
        Path(jmespath.__file__ or "").parent,
        Path(typing_extensions.__file__ or ""),
    ]
    zipped, unpacked = zipped_bytes(package, site)
    ours_zipped, ours_unpacked = zipped_bytes(
        [ROOT / "lambda_src" / "engagement_scoring"], ROOT / "lambda_src"
    )
    return {
        "powertools_with_dependencies": {"zip_bytes": zipped, "unpacked_bytes": unpacked},
        "lambda_src": {"zip_bytes": ours_zipped, "unpacked_bytes": ours_unpacked},
    }


def main() -> int:
    from importlib.metadata import version

    results = {
        "python": sys.version.split()[0],
        "powertools": version("aws-lambda-powertools"),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "imports_ms": measure_imports(),
        "costs": measure_costs(),
        "sizes": measure_sizes(),
    }
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
