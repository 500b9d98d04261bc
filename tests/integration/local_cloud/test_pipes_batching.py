"""The Pipes service honours the batch size and batching window (simulator/local_cloud/pipes_service.py).

The service runs in this test process beside an in-process moto server, so its PutRecords calls can be
counted; in the embedded cloud the same class runs inside the moto server process."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from simulator.local_cloud.moto_server import free_port
from simulator.local_cloud.pipes_service import PipesService

pytestmark = pytest.mark.integration


class RecordingPipesService(PipesService):
    """Counts the records of every PutRecords call the pipes make."""

    def __init__(self, endpoint_url: str) -> None:
        super().__init__(endpoint_url, poll_interval_s=0.05, discovery_interval_s=0.1)
        self.put_records_sizes: list[int] = []

    def client(self, service: str, region: str) -> Any:
        client = super().client(service, region)
        if service == "kinesis":

            def count(params: dict[str, Any], **_: Any) -> None:
                self.put_records_sizes.append(len(params["Records"]))

            client.meta.events.register("provide-client-params.kinesis.PutRecords", count)
        return client


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _pipe_with_queued_messages(endpoint: str, messages: int, source_parameters: dict[str, Any]) -> str:
    """A stream, a queue holding `messages` messages, and a pipe between them; returns the stream name."""
    suffix = uuid.uuid4().hex[:8]
    kinesis, sqs = _client(endpoint, "kinesis"), _client(endpoint, "sqs")
    kinesis.create_stream(StreamName=f"s-{suffix}", ShardCount=1)
    stream_arn = kinesis.describe_stream(StreamName=f"s-{suffix}")["StreamDescription"]["StreamARN"]
    url = sqs.create_queue(QueueName=f"q-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for i in range(messages):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))
    _client(endpoint, "pipes").create_pipe(
        Name=f"p-{suffix}",
        RoleArn="arn:aws:iam::123456789012:role/pipe",
        Source=queue_arn,
        SourceParameters={"SqsQueueParameters": source_parameters},
        Target=stream_arn,
        TargetParameters={"KinesisStreamParameters": {"PartitionKey": "k"}},
    )
    return f"s-{suffix}"


def _stream_size(endpoint: str, stream: str) -> int:
    kinesis = _client(endpoint, "kinesis")
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return len(kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"])


def _run_until(service: RecordingPipesService, endpoint: str, stream: str, records: int) -> None:
    service.start()
    try:
        deadline = time.monotonic() + 30
        while _stream_size(endpoint, stream) < records and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        service.stop()


def test_batches_hold_at_most_the_batch_size(endpoint: str) -> None:
    # given 25 waiting messages and a pipe with batch size 7 (more than one ReceiveMessage can fetch)
    stream = _pipe_with_queued_messages(endpoint, 25, {"BatchSize": 7})
    service = RecordingPipesService(endpoint)
    # when the pipe runs
    _run_until(service, endpoint, stream, 25)
    # then full batches of 7 go first, the rest after, and every message is in the stream once
    assert service.put_records_sizes == [7, 7, 7, 4]
    assert _stream_size(endpoint, stream) == 25


def test_the_batching_window_gathers_messages_that_trickle_in(endpoint: str) -> None:
    window_s = 5
    stream = _pipe_with_queued_messages(
        endpoint, 0, {"BatchSize": 100, "MaximumBatchingWindowInSeconds": window_s}
    )
    service = RecordingPipesService(endpoint)
    sqs = _client(endpoint, "sqs")
    url = sqs.get_queue_url(QueueName="q-" + stream[2:])["QueueUrl"]
    service.start()
    try:
        started = time.monotonic()
        for i in range(5):  # one message every 0.05 s: all inside the window counted from the first
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))
            time.sleep(0.05)
        sending_s = time.monotonic() - started
        assert sending_s < window_s - 1, f"sending took {sending_s:.1f}s: the test cannot judge the window"
        deadline = time.monotonic() + 30
        while _stream_size(endpoint, stream) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        service.stop()
    assert service.put_records_sizes == [5]
