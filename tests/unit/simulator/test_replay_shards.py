"""`--events-file` keys every record by its user, so one user's records keep file order on any number of
shards (#11 item 7): the late touches of the attribution funnels stay late, the others stay early."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from simulator.producer import KinesisProducer
from simulator.replay import read_events_file, user_key_of, write_events_file
from simulator.successor import SuccessorRates
from simulator.workload import WorkloadConfig, generate

REGION = "us-east-1"


def _stream_order(records: list[tuple[str, bytes]], shards: int) -> dict[str, list[bytes]]:
    """Send the records through a moto Kinesis stream of `shards` shards with the simulator's producer;
    what each shard holds, in its order."""
    with mock_aws():
        client = boto3.client("kinesis", region_name=REGION)
        client.create_stream(StreamName="replay", ShardCount=shards)
        KinesisProducer(client, "replay", progress=False).send(records)
        held: dict[str, list[bytes]] = {}
        for shard in client.list_shards(StreamName="replay")["Shards"]:
            iterator = client.get_shard_iterator(
                StreamName="replay", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            got: list[bytes] = []
            while iterator:
                response = client.get_records(ShardIterator=iterator, Limit=10_000)
                got += [record["Data"] for record in response["Records"]]
                iterator = response.get("NextShardIterator") if response["Records"] else None
            held[shard["ShardId"]] = got
        return held


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A file of both formats with the attribution funnels on (purchases after campaign clicks, some
    clicks reaching the stream after the purchase), and each line's user as the generator knew it."""
    config = WorkloadConfig(
        users=40,
        events=700,
        seed=3,
        formats=("successor", "pinpoint"),
        duplicate_rate=0.02,
        successor_rates=SuccessorRates(campaign_purchase=0.7, late_touch=0.3),
    )
    workload = generate(config)
    path = tmp_path_factory.mktemp("replay") / "recorded.jsonl"
    write_events_file(path, workload.records)
    return path, [record.partition_key for record in workload.records if record.kind != "malformed"]


@pytest.mark.parametrize("shards", [3, 4])
def test_each_users_records_reach_one_shard_in_file_order(
    recorded: tuple[Path, list[str]], shards: int
) -> None:
    # given a recorded file, and who each of its records belongs to
    path, generated_users = recorded
    records = read_events_file(path)
    events = [r for r in records if json_or_none(r.data) is not None]
    assert len(events) == len(generated_users)
    user_of = {r.data: user for r, user in zip(events, generated_users, strict=True)}
    file_order = defaultdict(list)
    for record in events:
        file_order[user_of[record.data]].append(record.data)
    # when it is replayed into a stream of several shards
    held = _stream_order([(r.partition_key, r.data) for r in records], shards)
    # then each user's records are all on one shard, in the file's order
    seen: dict[str, list[bytes]] = defaultdict(list)
    shard_of: dict[str, set[str]] = defaultdict(set)
    for shard, datas in held.items():
        for data in datas:
            if data in user_of:
                seen[user_of[data]].append(data)
                shard_of[user_of[data]].add(shard)
    assert all(len(on) == 1 for on in shard_of.values())
    assert seen == file_order
    # and the check has teeth: many users have several records, spread over the shards
    assert sum(len(v) > 3 for v in file_order.values()) >= 20
    assert len({next(iter(on)) for on in shard_of.values()}) == shards


def json_or_none(data: bytes) -> Any:
    try:
        return json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    except ValueError:
        return None


def test_a_pinpoint_app_event_with_its_endpoint_in_the_client_context_is_keyed_by_its_user() -> None:
    # given an app event whose endpoint (with User.UserId) travels as JSON in client_context.custom,
    # as the engine reads it (formats/pinpoint.py user_id)
    endpoint = json.dumps({"User": {"UserId": "u-123"}})
    record = {
        "event_type": "_session.start",
        "client": {"client_id": "device-1"},
        "client_context": {"custom": {"endpoint": endpoint}},
    }
    # then the replay keys it by that user, like the user's other records, not by the device
    assert user_key_of(record) == "u-123"
    assert user_key_of({"event_type": "_session.start", "client": {"client_id": "device-1"}}) == "device-1"
