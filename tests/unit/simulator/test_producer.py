"""The Kinesis producer against moto's real PutRecords: limits, partial failures, retries, pacing."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from simulator_support import create_stream, read_stream

from simulator.producer import (
    MAX_BYTES_PER_CALL,
    MAX_BYTES_PER_RECORD,
    KinesisProducer,
    ProducerError,
    partition_key_for,
)
from simulator.workload import WorkloadConfig, generate


class Recording:
    """Wraps a Kinesis client and records every PutRecords call's entries."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[list[dict[str, Any]]] = []

    def put_records(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(list(kwargs["Records"]))
        return dict(self.client.put_records(**kwargs))


class PartiallyFailing(Recording):
    """Fails every third entry of the first `failing_calls` calls (those entries never reach moto)."""

    def __init__(self, client: Any, failing_calls: int) -> None:
        super().__init__(client)
        self.failing_calls = failing_calls
        self.failed: list[list[bytes]] = []

    def put_records(self, **kwargs: Any) -> dict[str, Any]:
        entries = list(kwargs["Records"])
        self.calls.append(entries)
        if len(self.calls) > self.failing_calls:
            return dict(self.client.put_records(**kwargs))
        fail = {i for i in range(len(entries)) if i % 3 == 0}
        self.failed.append([entries[i]["Data"] for i in sorted(fail)])
        passed = [e for i, e in enumerate(entries) if i not in fail]
        real = iter(self.client.put_records(StreamName=kwargs["StreamName"], Records=passed)["Records"])
        results = [
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"}
            if i in fail
            else next(real)
            for i in range(len(entries))
        ]
        return {"FailedRecordCount": len(fail), "Records": results}


def quiet(client: Any, stream: str, **kwargs: Any) -> KinesisProducer:
    return KinesisProducer(client, stream, progress=False, jitter_seed=1, **kwargs)


def test_sends_every_record_once_in_calls_of_at_most_500(aws: Callable[[str], Any]) -> None:
    kinesis = aws("kinesis")
    stream = create_stream(kinesis, shards=3)
    records = [
        (r.partition_key, r.data) for r in generate(WorkloadConfig(users=100, events=1234, seed=3)).records
    ]
    client = Recording(kinesis)
    stats = quiet(client, stream).send(records)
    assert [len(c) for c in client.calls] == [500, 500, 234]
    assert (stats.records_sent, stats.calls, stats.entries_retried) == (1234, 3, 0)
    stored = read_stream(kinesis, stream)
    assert Counter(d for _, _, d in stored) == Counter(d for _, d in records)
    shards_of_key: dict[str, set[str]] = defaultdict(set)
    for shard, key, _ in stored:
        shards_of_key[key].add(shard)
    assert all(len(shards) == 1 for shards in shards_of_key.values())  # one user, one shard
    in_stream = [d for shard, key, d in stored if key == records[0][0]]
    assert in_stream == [d for k, d in records if k == records[0][0]]  # a user's events keep their order


def test_calls_stay_under_5_mib_and_oversized_records_are_skipped(aws: Callable[[str], Any]) -> None:
    kinesis = aws("kinesis")
    stream = create_stream(kinesis, shards=1)
    big = 900 * 1024
    records = [(f"user-{i}", bytes([65 + i]) * big) for i in range(12)]
    records.append(("too-large", b"x" * MAX_BYTES_PER_RECORD))  # 1 MiB + the key: over the record limit
    client = Recording(kinesis)
    stats = quiet(client, stream).send(records)
    sizes = [sum(len(e["Data"]) + len(e["PartitionKey"]) for e in call) for call in client.calls]
    assert all(size <= MAX_BYTES_PER_CALL for size in sizes)
    assert [len(c) for c in client.calls] == [5, 5, 2]
    assert (stats.records_sent, stats.skipped_too_large) == (12, 1)
    assert Counter(d for _, _, d in read_stream(kinesis, stream)) == Counter(d for _, d in records[:12])


def test_only_failed_entries_are_retried_and_nothing_is_lost_or_duplicated(aws: Callable[[str], Any]) -> None:
    kinesis = aws("kinesis")
    stream = create_stream(kinesis, shards=2)
    records = [
        (r.partition_key, r.data) for r in generate(WorkloadConfig(users=50, events=700, seed=5)).records
    ]
    client = PartiallyFailing(kinesis, failing_calls=2)
    delays: list[float] = []
    stats = quiet(client, stream, sleep=delays.append).send(records)
    first, retry = client.calls[0], client.calls[1]
    assert len(first) == 500
    assert [e["Data"] for e in retry] == client.failed[0]  # exactly the failed entries, in order
    assert len(retry) == 167
    # the retry failed partly again: its failed third is sent by the next call, then batch two goes out
    assert [e["Data"] for e in client.calls[2]] == client.failed[1]
    assert stats.entries_retried == 167 + 56
    assert stats.records_sent == 700
    assert stats.error_codes == {"ProvisionedThroughputExceededException": 167 + 56}
    assert len(delays) == 2 and all(d > 0 for d in delays)
    assert Counter(d for _, _, d in read_stream(kinesis, stream)) == Counter(d for _, d in records)


class AlwaysFailing:
    def __init__(self) -> None:
        self.calls = 0

    def put_records(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        n = len(kwargs["Records"])
        return {"FailedRecordCount": n, "Records": [{"ErrorCode": "InternalFailure"}] * n}


def test_gives_up_after_max_attempts_with_exponential_backoff_and_jitter() -> None:
    delays: list[float] = []
    client = AlwaysFailing()
    producer = KinesisProducer(
        client, "s", progress=False, max_attempts=5, base_delay_s=0.1, max_delay_s=0.5, sleep=delays.append
    )
    with pytest.raises(
        ProducerError, match=r"3 records could not be put into s after 5 attempts.*InternalFailure"
    ):
        producer.send([("a", b"1"), ("b", b"2"), ("c", b"3")])
    assert client.calls == 5
    nominal = [0.1, 0.2, 0.4, 0.5]  # doubled each time, capped
    assert len(delays) == 4
    assert all(n / 2 <= d <= n for d, n in zip(delays, nominal, strict=True))


class ThrottledOnce:
    def __init__(self, code: str) -> None:
        self.code = code
        self.calls = 0

    def put_records(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "PutRecords")
        return {
            "FailedRecordCount": 0,
            "Records": [{"SequenceNumber": "1", "ShardId": "s"}] * len(kwargs["Records"]),
        }


def test_a_throttled_call_is_retried_whole_and_other_errors_are_raised() -> None:
    client = ThrottledOnce("ProvisionedThroughputExceededException")
    stats = KinesisProducer(client, "s", progress=False, sleep=lambda _: None).send(
        [("a", b"1"), ("b", b"2")]
    )
    assert (client.calls, stats.records_sent, stats.calls_failed) == (2, 2, 1)
    with pytest.raises(ClientError):
        KinesisProducer(ThrottledOnce("ResourceNotFoundException"), "s", progress=False).send([("a", b"1")])


def test_rate_limit_paces_the_calls() -> None:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    class Instant:
        def put_records(self, **kwargs: Any) -> dict[str, Any]:
            return {"FailedRecordCount": 0, "Records": [{}] * len(kwargs["Records"])}

    producer = KinesisProducer(Instant(), "s", rate=100, progress=False, sleep=sleep, clock=lambda: clock[0])
    stats = producer.send([(str(i), b"x") for i in range(300)])
    assert stats.calls == 30  # batches of rate / 10
    assert clock[0] == pytest.approx(2.9)  # the 30th call may start at 290 records / 100 per second
    assert stats.records_per_s == pytest.approx(300 / 2.9)


def test_partition_keys_are_valid() -> None:
    assert partition_key_for("user-1") == "user-1"
    assert partition_key_for("") == "-"
    assert len(partition_key_for("k" * 300)) == 64
