"""The embedded target end to end: moto + Terraform apply of examples/local + the real handlers.

Slow (the apply takes about 80 s on 2 cores), hence the integration marker.
"""

from __future__ import annotations

import os
import socket

import pytest

from simulator.local_cloud.terraform import ROOT
from simulator.targets import EmbeddedDeployment, open_deployment

pytestmark = pytest.mark.integration


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_embedded_target_runs_the_deployed_handlers_and_stops_everything() -> None:
    records = [path.read_bytes() for path in sorted((ROOT / "tests/events/pinpoint").glob("*.json"))]
    records.append(b"not json")
    logs: list[str] = []

    with open_deployment("embedded", {"name_prefix": "lc-e2e"}, logs.append) as deployment:
        assert isinstance(deployment, EmbeddedDeployment)
        assert deployment.moto is not None and deployment.pinpoint is not None and deployment.runner
        assert deployment.customer_profiles is not None
        ports = [deployment.moto.port, deployment.pinpoint.port, deployment.customer_profiles.port]
        kinesis = deployment.client("kinesis")
        kinesis.put_records(
            StreamName=deployment.outputs["stream_name"],
            Records=[{"Data": data, "PartitionKey": str(i)} for i, data in enumerate(records)],
        )

        deployment.wait_until_drained(timeout_s=120)

        stats = deployment.pipeline_stats()
        endpoints = deployment.pinpoint_endpoints()
        events = deployment.eventbridge_events()
        pids = deployment.runner.worker_pids()

    assert stats is not None and stats["scorer"]["records"] == len(records)
    assert stats["scorer"]["rejected"].get("not_json") == 1
    assert stats["scorer"]["users_updated"] > 0 and stats["score_sync"]["records"] > 0
    assert stats["runner"].get("function_errors", 0) == 0
    assert endpoints and all("EngagementScore" in e["Metrics"] for e in endpoints.values())
    assert stats["score_sync"]["pinpoint_endpoints_updated"] >= len(endpoints)  # updates, not endpoints
    assert events and {e["source"] for e in events} == {"engagement.scoring"}
    assert len(events) == stats["score_sync"]["events_published"]
    # teardown: nothing listens any more, no worker survives
    assert len(pids) == 2
    assert not any(_port_open(port) for port in ports)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert logs[-1] == "embedded: torn down"
