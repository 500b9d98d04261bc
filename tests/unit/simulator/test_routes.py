"""Which records `--route-share` sends through the module's SMS routes, and what it sends there."""

from __future__ import annotations

import gzip
import json
from typing import Any

from simulator.injection import EVENT
from simulator.routes import send, split
from simulator.workload import WorkloadConfig, generate


class Recorder:
    """A deployment whose logs and sns clients record their calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.outputs = {
            "sms_event_log_group_name": "/sms",
            "sms_inbound_topic_arn": "arn:aws:sns:us-east-1:123456789012:in",
        }

    def client(self, service: str) -> Any:
        recorder = self

        class Client:
            def __getattr__(self, name: str) -> Any:
                return lambda **kw: recorder.calls.append((f"{service}.{name}", kw))

        return Client()


def test_a_share_of_the_sms_records_and_stop_replies_takes_the_routes_and_nothing_else() -> None:
    records = generate(
        WorkloadConfig(users=300, events=4000, seed=2, duplicate_rate=0.05, malformed_rate=0.01)
    ).records
    direct, routed = split(records, 0.5, route_inbound=True)
    assert len(direct) + len(routed) == len(records)
    sms = [r for r in records if r.kind == EVENT and r.data[:2] == b"\x1f\x8b"]
    stops = [r for r in records if r.kind == EVENT and b'"aws:sqs"' in r.data]
    assert set(routed) <= {r.data for r in sms + stops}
    assert 0.3 * len(sms) < sum(d[:2] == b"\x1f\x8b" for d in routed) < 0.7 * len(sms)
    assert any(b'"aws:sqs"' in d for d in routed)
    assert split(records, 0.5, route_inbound=True) == (direct, routed)  # the same records every time
    assert not any(b'"aws:sqs"' in d for d in split(records, 1.0, route_inbound=False)[1])
    # when they are sent: one PutLogEvents per SMS record with its messages, one Publish per reply
    deployment = Recorder()
    stats = send(deployment, routed)
    puts = [kw for name, kw in deployment.calls if name == "logs.put_log_events"]
    published = [kw for name, kw in deployment.calls if name == "sns.publish"]
    first_sms = next(d for d in routed if d[:2] == b"\x1f\x8b")
    messages = [e["message"] for e in json.loads(gzip.decompress(first_sms))["logEvents"]]
    assert [e["message"] for e in puts[0]["logEvents"]] == messages and puts[0]["logGroupName"] == "/sms"
    assert json.loads(published[0]["Message"])["messageKeyword"] == "STOP"
    assert (stats.log_calls, stats.sns_published) == (len(puts), len(published))
