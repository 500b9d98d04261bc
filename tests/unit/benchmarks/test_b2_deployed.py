"""B2 as deployed runs the handler in a process that holds what a Lambda holds: the child must add no
freezing of its own to the handler as is (which freezes at its import end and after init), do what each
variant says, serve every record, and build its runtime through the handler's own init (real boto3
clients). No timing is asserted here."""

from __future__ import annotations

from pathlib import Path

from benchmarks import b2_deployed
from benchmarks.common import kinesis_events, standard_workload


def test_the_child_freezes_only_what_its_variant_says(tmp_path: Path) -> None:
    events = kinesis_events(standard_workload(20, 200), 100)
    path = b2_deployed.write_batches(events, tmp_path / "batches.jsonl")
    runs = {variant: b2_deployed.run_child(variant, path) for variant in b2_deployed.VARIANTS}
    for variant, run in runs.items():
        assert run["records"] == 200 and run["failed_records"] == 0, variant
        assert run["events_applied"] > 100, variant
        assert run["init_ns"] > 0 and run["handler_ns"] > 0 and run["floor_ns"] > 0, variant
    # the handler as is freezes at its import end and after init (the harness adds nothing)
    assert runs["nofreeze"]["frozen_objects"] == 0
    assert 1000 < runs["import"]["frozen_objects"] < runs["none"]["frozen_objects"]
