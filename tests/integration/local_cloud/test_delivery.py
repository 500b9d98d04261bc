"""What the embedded moto server delivers that stock moto 5.2.5 only stores (simulator/local_cloud/
moto_delivery.py, pipes_service.py), through real boto3 calls against the server process.

Each test builds its resources with boto3 (the module's own SES rule, SMS subscription filter and
SNS -> SQS -> Pipe path are checked at apply level in tests/apply)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from simulator.local_cloud import localstack
from simulator.local_cloud.moto_delivery import CONTROL_MESSAGE_TEXT
from simulator.local_cloud.moto_server import EmbeddedMoto
from simulator.local_cloud.pipes_service import wait_for_pipe_sources

pytestmark = pytest.mark.integration
ACCOUNT = "123456789012"
Clients = Callable[[str], Any]


@pytest.fixture
def aws(moto_server: EmbeddedMoto) -> Clients:
    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=moto_server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _stream(aws: Clients) -> tuple[str, str]:
    name = _name("stream")
    kinesis = aws("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    return name, kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]


def _records(aws: Clients, stream: str, expected: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """Every record of a one-shard stream once there are `expected` (or after the timeout: what is there)."""
    kinesis = aws("kinesis")
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while True:  # one read at least, also with timeout_s=0
        page = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        records += page["Records"]
        iterator = page["NextShardIterator"]
        if len(records) >= expected or time.monotonic() >= deadline:
            return records
        if not page["Records"]:
            time.sleep(0.05)


def _queue(aws: Clients, **attributes: str) -> tuple[str, str]:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=_name("queue"), Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _drain_queue(aws: Clients, url: str, expected: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    sqs = aws("sqs")
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(messages) < expected and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        for message in got.get("Messages", []):
            messages.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if not got.get("Messages"):
            time.sleep(0.05)
    return messages


def _ses_detail(user_key: str | None) -> dict[str, Any]:
    tags = {"campaign": ["spring"], **({"user_key": [user_key]} if user_key else {})}
    return {"eventType": "Open", "mail": {"messageId": _name("msg"), "tags": tags}, "open": {}}


# EventBridge rule -> Kinesis ------------------------------------------------------------------------------
def test_a_matching_event_reaches_the_stream_as_eventbridge_delivers_it(aws: Clients) -> None:
    # given a rule on the default bus for SES events and a Kinesis target keyed by the user-key tag
    stream, stream_arn = _stream(aws)
    events = aws("events")
    rule = _name("ses")
    events.put_rule(
        Name=rule, EventPattern=json.dumps({"source": ["aws.ses"], "detail-type": ["Email Opened"]})
    )
    events.put_targets(
        Rule=rule,
        Targets=[
            {
                "Id": "stream",
                "Arn": stream_arn,
                "KinesisParameters": {"PartitionKeyPath": "$.detail.mail.tags.user_key[0]"},
            }
        ],
    )
    # when SES-shaped events are published (moto accepts aws.* sources; AWS only from SES itself)
    tagged, untagged, other = _ses_detail("u-42"), _ses_detail(None), _ses_detail("u-7")
    answer = events.put_events(
        Entries=[
            {"Source": "aws.ses", "DetailType": "Email Opened", "Detail": json.dumps(tagged)},
            {"Source": "aws.ses", "DetailType": "Email Opened", "Detail": json.dumps(untagged)},
            {"Source": "aws.ses", "DetailType": "Email Sent", "Detail": json.dumps(other)},  # no match
        ]
    )
    assert answer["FailedEntryCount"] == 0
    ids = [entry["EventId"] for entry in answer["Entries"]]

    # then the two matching events are in the stream as the full event JSON, keyed as configured
    records = _records(aws, stream, 2)
    assert len(records) == 2
    first, second = (json.loads(record["Data"]) for record in records)
    assert list(first) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert first["id"] == ids[0] and first["detail"] == tagged and first["account"] == ACCOUNT
    assert first["source"] == "aws.ses" and first["region"] == "us-east-1" and first["version"] == "0"
    assert time.strptime(first["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert records[0]["PartitionKey"] == "u-42"
    assert second["detail"] == untagged and records[1]["PartitionKey"] == ids[1]  # the path does not resolve
    assert len(_records(aws, stream, 3, timeout_s=0.5)) == 2  # the non-matching event went nowhere


def test_input_path_and_input_transformer_shape_the_record(aws: Clients) -> None:
    stream, stream_arn = _stream(aws)
    events = aws("events")
    rule = _name("shaped")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.ses"]}))
    transformer = {
        "InputPathsMap": {"user": "$.detail.mail.tags.user_key[0]", "type": "$.detail-type"},
        "InputTemplate": '{"user_key": <user>, "what": "<type> by <user>", "rule": "<aws.events.rule-name>"}',
    }
    events.put_targets(
        Rule=rule,
        Targets=[
            {"Id": "detail", "Arn": stream_arn, "InputPath": "$.detail"},
            {"Id": "shaped", "Arn": stream_arn, "InputTransformer": transformer},
        ],
    )
    detail = _ses_detail("u-42")
    events.put_events(
        Entries=[{"Source": "aws.ses", "DetailType": "Email Opened", "Detail": json.dumps(detail)}]
    )

    data = [json.loads(record["Data"]) for record in _records(aws, stream, 2)]
    assert data == [detail, {"user_key": "u-42", "what": "Email Opened by u-42", "rule": rule}]


def test_a_failed_delivery_goes_to_the_dead_letter_queue_with_eventbridges_attributes(aws: Clients) -> None:
    # given a target whose stream is gone, with a dead-letter queue
    _, stream_arn = _stream(aws)
    aws("kinesis").delete_stream(StreamARN=stream_arn)
    dlq_url, dlq_arn = _queue(aws)
    events = aws("events")
    rule = _name("broken")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.ses"]}))["RuleArn"]
    events.put_targets(
        Rule=rule, Targets=[{"Id": "gone", "Arn": stream_arn, "DeadLetterConfig": {"Arn": dlq_arn}}]
    )
    detail = _ses_detail("u-42")
    # when an event matches, PutEvents still succeeds (delivery is EventBridge's business)
    answer = events.put_events(
        Entries=[{"Source": "aws.ses", "DetailType": "Email Opened", "Detail": json.dumps(detail)}]
    )
    assert answer["FailedEntryCount"] == 0
    # then the event waits in the dead-letter queue, with the rule, target and error named
    (message,) = _drain_queue(aws, dlq_url, 1)
    assert json.loads(message["Body"])["detail"] == detail
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == rule_arn and attributes["TARGET_ARN"] == stream_arn
    assert attributes["ERROR_CODE"] == "NO_RESOURCE" and attributes["RETRY_ATTEMPTS"] == "0"
    assert attributes["ERROR_MESSAGE"]


def test_a_disabled_rule_delivers_nothing_and_sqs_targets_keep_working(aws: Clients) -> None:
    stream, stream_arn = _stream(aws)
    queue_url, queue_arn = _queue(aws)
    events = aws("events")
    rule = _name("mixed")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.ses"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "s", "Arn": stream_arn}, {"Id": "q", "Arn": queue_arn}])
    entry = {"Source": "aws.ses", "DetailType": "Email Opened", "Detail": json.dumps(_ses_detail("u-1"))}

    events.put_events(Entries=[entry])
    assert len(_records(aws, stream, 1)) == 1 and len(_drain_queue(aws, queue_url, 1)) == 1

    events.disable_rule(Name=rule)
    events.put_events(Entries=[entry])
    assert len(_records(aws, stream, 2, timeout_s=0.5)) == 1
    assert _drain_queue(aws, queue_url, 1, timeout_s=0.5) == []


# CloudWatch Logs subscription filter -> Kinesis ------------------------------------------------------------
def _decode(record: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(gzip.decompress(record["Data"])))


def test_subscription_records_match_the_documented_envelope(aws: Clients) -> None:
    # given a log group subscribed to a stream (as the SMS event destination path is)
    stream, stream_arn = _stream(aws)
    logs = aws("logs")
    group, log_stream = _name("/sms/events"), "destination-1"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=log_stream)
    logs.put_subscription_filter(
        logGroupName=group, filterName="to-stream", filterPattern="", destinationArn=stream_arn
    )
    now = int(time.time() * 1000)
    messages = [json.dumps({"eventType": "TEXT_DELIVERED", "messageId": f"m-{i}"}) for i in range(3)]

    # when three events are logged in one call
    logs.put_log_events(
        logGroupName=group,
        logStreamName=log_stream,
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)],
    )

    # then the stream holds AWS's CONTROL_MESSAGE, then one gzip DATA_MESSAGE with the three events
    control, data = (_decode(record) for record in _records(aws, stream, 2))
    assert control["messageType"] == "CONTROL_MESSAGE" and control["owner"] == "CloudwatchLogs"
    assert control["logEvents"][0]["message"] == CONTROL_MESSAGE_TEXT
    assert set(data) == {"messageType", "owner", "logGroup", "logStream", "subscriptionFilters", "logEvents"}
    assert data["messageType"] == "DATA_MESSAGE" and data["owner"] == ACCOUNT
    assert data["logGroup"] == group and data["logStream"] == log_stream
    assert data["subscriptionFilters"] == ["to-stream"]
    assert [e["message"] for e in data["logEvents"]] == messages
    assert [e["timestamp"] for e in data["logEvents"]] == [now, now + 1, now + 2]
    ids = [e["id"] for e in data["logEvents"]]
    assert all(isinstance(i, str) and len(i) == 56 and i.isdigit() for i in ids) and len(set(ids)) == 3


def test_the_filter_pattern_decides_what_is_delivered(aws: Clients) -> None:
    stream, stream_arn = _stream(aws)
    logs = aws("logs")
    group = _name("/sms/filtered")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_subscription_filter(
        logGroupName=group,
        filterName="delivered",
        filterPattern='"TEXT_DELIVERED"',
        destinationArn=stream_arn,
    )
    now = int(time.time() * 1000)
    for batch in (["TEXT_DELIVERED m-1", "TEXT_BLOCKED m-2"], ["TEXT_PENDING m-3"]):
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[{"timestamp": now, "message": message} for message in batch],
        )

    records = [_decode(record) for record in _records(aws, stream, 3, timeout_s=1.0)]
    assert [r["messageType"] for r in records] == ["CONTROL_MESSAGE", "DATA_MESSAGE"]  # nothing for batch 2
    assert [e["message"] for e in records[1]["logEvents"]] == ["TEXT_DELIVERED m-1"]


def test_a_log_streams_records_keep_one_partition_key_so_one_shard_holds_them_in_order(aws: Clients) -> None:
    # given a four-shard stream fed by a subscription filter with the default distribution (ByLogStream,
    # as the module's SMS filter: it sets none) and two log streams in the group
    name = _name("stream")
    kinesis, logs = aws("kinesis"), aws("logs")
    kinesis.create_stream(StreamName=name, ShardCount=4)
    stream_arn = kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]
    group = _name("/sms/ordered")
    logs.create_log_group(logGroupName=group)
    for log_stream in ("a", "b"):
        logs.create_log_stream(logGroupName=group, logStreamName=log_stream)
    logs.put_subscription_filter(
        logGroupName=group, filterName="to-stream", filterPattern="", destinationArn=stream_arn
    )
    now = int(time.time() * 1000)

    # when twelve calls alternate between the two log streams
    for i in range(12):
        log_stream = "ab"[i % 2]
        logs.put_log_events(
            logGroupName=group,
            logStreamName=log_stream,
            logEvents=[{"timestamp": now + i, "message": f"{log_stream}-{i}"}],
        )

    # then each log stream's records sit under one partition key, so on one shard, in call order
    seen: dict[str, list[tuple[str, str, str]]] = {"a": [], "b": []}
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in kinesis.get_records(ShardIterator=iterator, Limit=100)["Records"]:
            data = _decode(record)
            if data["messageType"] == "DATA_MESSAGE":
                entry = (shard["ShardId"], record["PartitionKey"], data["logEvents"][0]["message"])
                seen[data["logStream"]].append(entry)
    for log_stream, entries in seen.items():
        assert len({(shard, key) for shard, key, _ in entries}) == 1, entries
        assert [m for _, _, m in entries] == [
            f"{log_stream}-{i}" for i in range(12) if "ab"[i % 2] == log_stream
        ]
    assert seen["a"][0][1] != seen["b"][0][1]  # one key per log stream, not one for the whole group


# Pipes: SQS -> Kinesis --------------------------------------------------------------------------------
def _pipe(aws: Clients, queue_arn: str, stream_arn: str, **target: Any) -> str:
    name = _name("pipe")
    aws("pipes").create_pipe(
        Name=name,
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/pipe",
        Source=queue_arn,
        SourceParameters={"SqsQueueParameters": {"BatchSize": 3}},
        Target=stream_arn,
        TargetParameters=target,
    )
    return name


def test_an_sns_to_sqs_pipe_moves_each_notification_into_the_stream_and_empties_the_queue(
    aws: Clients,
) -> None:
    # given SNS -> SQS -> Pipe -> Kinesis, as the module wires inbound STOP replies
    stream, stream_arn = _stream(aws)
    queue_url, queue_arn = _queue(aws)
    sns = aws("sns")
    topic = sns.create_topic(Name=_name("inbound"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    _pipe(
        aws,
        queue_arn,
        stream_arn,
        InputTemplate="<$.body>",
        KinesisStreamParameters={"PartitionKey": "$.body.MessageId"},
    )
    # when five two-way SMS payloads are published (documented example numbers only)
    payloads = [
        {"originationNumber": "+14255550182", "messageKeyword": "STOP", "messageBody": f"STOP {i}"}
        for i in range(5)
    ]
    message_ids = [sns.publish(TopicArn=topic, Message=json.dumps(p))["MessageId"] for p in payloads]

    # then each SNS notification is one record, keyed by its message id, and the queue is empty
    records = _records(aws, stream, 5)
    notifications = [json.loads(record["Data"]) for record in records]
    assert sorted(n["MessageId"] for n in notifications) == sorted(message_ids)
    assert all(n["Type"] == "Notification" and n["TopicArn"] == topic for n in notifications)
    assert sorted(json.loads(n["Message"])["messageBody"] for n in notifications) == [
        f"STOP {i}" for i in range(5)
    ]
    assert [r["PartitionKey"] for r in records] == [n["MessageId"] for n in notifications]
    sqs = aws("sqs")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        counts = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        if counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0":
            break
        time.sleep(0.05)
    assert counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_message_whose_record_cannot_be_written_stays_in_the_queue_until_its_redrive(aws: Clients) -> None:
    # given a pipe keyed by a field one message lacks, on a queue with a short visibility and a redrive policy
    stream, stream_arn = _stream(aws)
    dlq_url, dlq_arn = _queue(aws)
    queue_url, queue_arn = _queue(
        aws,
        VisibilityTimeout="1",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
    )
    sqs = aws("sqs")
    for body in ({"user": "u-1"}, {"other": 1}, {"user": "u-2"}):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))
    _pipe(aws, queue_arn, stream_arn, KinesisStreamParameters={"PartitionKey": "$.body.user"})

    # then the two keyed messages are written (the pipe event, body as sent) and deleted
    records = _records(aws, stream, 2)
    assert sorted(r["PartitionKey"] for r in records) == ["u-1", "u-2"]
    assert sorted(json.loads(json.loads(r["Data"])["body"])["user"] for r in records) == ["u-1", "u-2"]
    # and the other is never deleted by the pipe: after two receives SQS moves it to the dead-letter queue
    (stuck,) = _drain_queue(aws, dlq_url, 1, timeout_s=30)
    assert json.loads(stuck["Body"]) == {"other": 1}
    assert len(_records(aws, stream, 3, timeout_s=0.5)) == 2


def test_a_stopped_pipe_moves_nothing_and_a_filter_drops_what_it_does_not_match(aws: Clients) -> None:
    stream, stream_arn = _stream(aws)
    queue_url, queue_arn = _queue(aws)
    pipes, sqs = aws("pipes"), aws("sqs")
    name = _name("pipe")
    pipes.create_pipe(
        Name=name,
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/pipe",
        Source=queue_arn,
        SourceParameters={
            "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": {"keyword": ["STOP"]}})}]}
        },
        Target=stream_arn,
        TargetParameters={"KinesisStreamParameters": {"PartitionKey": "replies"}},
        DesiredState="STOPPED",
    )
    for keyword in ("STOP", "HELP", "STOP"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"keyword": keyword}))
    assert len(_records(aws, stream, 1, timeout_s=1.5)) == 0  # stopped: nothing moves

    pipes.start_pipe(Name=name)
    records = _records(aws, stream, 2)
    assert [json.loads(json.loads(r["Data"])["body"])["keyword"] for r in records] == ["STOP", "STOP"]
    assert {r["PartitionKey"] for r in records} == {"replies"}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the filtered-out HELP is deleted too
        counts = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        if counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0":
            break
        time.sleep(0.05)
    assert counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_the_drain_check_waits_for_pipe_sources_and_names_a_stuck_pipe(aws: Clients) -> None:
    stream, stream_arn = _stream(aws)
    queue_url, queue_arn = _queue(aws)
    aws("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps({"user": "u-1"}))
    _pipe(aws, queue_arn, stream_arn, KinesisStreamParameters={"PartitionKey": "$.body.user"})

    wait_for_pipe_sources(aws("pipes"), aws("sqs"), deadline=time.monotonic() + 30)
    # drained means delivered: the record is there without waiting any longer
    assert len(_records(aws, stream, 1, timeout_s=0)) == 1

    _, gone_arn = _stream(aws)
    aws("kinesis").delete_stream(StreamARN=gone_arn)
    stuck_url, stuck_arn = _queue(aws)
    aws("sqs").send_message(QueueUrl=stuck_url, MessageBody=json.dumps({"user": "u-2"}))
    stuck = _pipe(aws, stuck_arn, gone_arn, KinesisStreamParameters={"PartitionKey": "$.body.user"})
    try:
        with pytest.raises(TimeoutError, match=stuck):
            wait_for_pipe_sources(aws("pipes"), aws("sqs"), deadline=time.monotonic() + 2)
    finally:
        aws("pipes").delete_pipe(Name=stuck)


# Lambda code, LocalStack health ------------------------------------------------------------
def test_get_function_points_at_the_deployed_zip(aws: Clients) -> None:
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    code = package.getvalue()
    name = _name("fn")
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    role = aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    aws("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code},
    )
    answer = aws("lambda").get_function(FunctionName=name)
    with urllib.request.urlopen(answer["Code"]["Location"], timeout=10) as response:
        served = response.read()
    assert served == code
    assert base64.b64encode(hashlib.sha256(served).digest()).decode() == answer["Configuration"]["CodeSha256"]


def test_only_a_standin_server_answers_localstacks_health_check(moto_server: EmbeddedMoto) -> None:
    assert not localstack.localstack_available(moto_server.endpoint_url)
    with EmbeddedMoto(localstack_health=True) as standin:
        document = localstack.health(standin.endpoint_url)
        assert localstack.localstack_available(standin.endpoint_url)
    assert document is not None and document["edition"] == "embedded-moto-standin"
