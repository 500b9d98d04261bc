"""Helpers of the engine tests: AWS-shaped events, Lambda event factories, a fake context, moto resources."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from engagement_scoring.core.changes import image
from engagement_scoring.core.config import ScorerConfig
from engagement_scoring.core.dedupe import ring_digests
from engagement_scoring.pipeline.scorer import ScorerRuntime

EVENTS = Path(__file__).resolve().parents[2] / "events"
RULES_TABLE = "es-score-rules"
SCORES_TABLE = "es-user-scores"
LEDGER_TABLE = "es-processed-events"
EVENT_SOURCE = "engagement.scoring"


def load_event(name: str) -> dict[str, Any]:
    """A fixture from tests/events, e.g. `pinpoint/email_open.json` (a fresh copy each time)."""
    value: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return copy.deepcopy(value)


def encode(payload: dict[str, Any] | bytes) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.b64encode(raw).decode()


def kinesis_record(
    payload: dict[str, Any] | bytes | str, sequence_number: str, shard_id: str = "shardId-000000000000"
) -> dict[str, Any]:
    """A Lambda Kinesis record (shape of tests/events/lambda/kinesis_event.json); str payload = raw data."""
    record = load_event("lambda/kinesis_event.json")["Records"][0]
    record["kinesis"]["data"] = payload if isinstance(payload, str) else encode(payload)
    record["kinesis"]["sequenceNumber"] = sequence_number
    record["eventID"] = f"{shard_id}:{sequence_number}"
    return record


def kinesis_event(
    payloads: Sequence[dict[str, Any] | bytes | str], first_sequence: int = 1000
) -> dict[str, Any]:
    return {
        "Records": [
            kinesis_record(payload, str(first_sequence + index)) for index, payload in enumerate(payloads)
        ]
    }


def custom_event(user_key: str, event_type: str, timestamp: int, **extra: Any) -> dict[str, Any]:
    return {
        "schema": "engagement.event/1",
        "event_type": event_type,
        "user_key": user_key,
        "timestamp": timestamp,
        **extra,
    }


# SES EventBridge detail-types (EventBridge event reference, Amazon SES).
SES_DETAIL_TYPES = {
    "Send": "Email Sent",
    "Delivery": "Email Delivered",
    "Open": "Email Opened",
    "Click": "Email Clicked",
    "Bounce": "Email Bounced",
    "Complaint": "Email Complaint Received",
    "Reject": "Email Rejected",
    "Rendering Failure": "Email Rendering Failed",
    "DeliveryDelay": "Email Delivery Delayed",
    "Subscription": "Email Subscribed",
}


def eventbridge(
    detail: dict[str, Any], event_id: str = "5c0fa4f8-e4ba-ed02-6101-c795472fccd0"
) -> dict[str, Any]:
    """An EventBridge event around an SES or End User Messaging record, as their rules deliver it."""
    if "mail" in detail:
        source, detail_type = "aws.ses", SES_DETAIL_TYPES.get(detail.get("eventType", ""), "Email Sent")
    else:
        source, detail_type = "aws.sms-voice", "Text Message Delivery Status Updated"
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2024-10-16T17:21:40Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def cloudwatch_logs(messages: Sequence[dict[str, Any] | str], compress: bool = True) -> bytes:
    """CloudWatch Logs subscription data carrying `messages` as log events (gzip, as Kinesis gets it)."""
    envelope = load_event("envelopes/cloudwatch_logs_sms.json")
    envelope["logEvents"] = [
        {
            "id": f"3195310660696698337880902507980421114328961542429822{1568 + index}",
            "timestamp": 1686975103500 + index,
            "message": message if isinstance(message, str) else json.dumps(message, separators=(",", ":")),
        }
        for index, message in enumerate(messages)
    ]
    raw = json.dumps(envelope).encode()
    return gzip.compress(raw, mtime=0) if compress else raw


def sns_notification(message: dict[str, Any] | str) -> dict[str, Any]:
    """An SNS notification (SQS delivery, raw message delivery off) carrying `message`."""
    envelope = load_event("envelopes/sns_inbound_stop.json")
    envelope["Message"] = message if isinstance(message, str) else json.dumps(message)
    return envelope


def sqs_message(body: dict[str, Any] | str) -> dict[str, Any]:
    """An SQS message as EventBridge Pipes passes it to a Kinesis target without an input template."""
    envelope = load_event("envelopes/sqs_pipes_sns_inbound_stop.json")
    envelope["body"] = body if isinstance(body, str) else json.dumps(body)
    return envelope


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


class FakeContext:
    """The parts of the Lambda context the handlers may use."""

    function_name = "es-scorer"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:es-scorer"
    memory_limit_in_mb = 256
    aws_request_id = "6f0c1f6e-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/es-scorer"
    log_stream_name = "2024/11/22/[$LATEST]example"

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class AwsResources:
    dynamodb: Any
    sqs: Any
    events: Any
    failure_queue_url: str
    bus_queue_url: str
    bus_name: str

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "RULES_TABLE": RULES_TABLE,
            "SCORES_TABLE": SCORES_TABLE,
            "PROCESSED_EVENTS_TABLE": LEDGER_TABLE,
            "FAILURE_QUEUE_URL": self.failure_queue_url,
        }
        env.update(overrides)
        return env

    def scorer(self, **env: str) -> ScorerRuntime:
        return ScorerRuntime(
            ScorerConfig.from_env(self.env(**env)), self.dynamodb, self.sqs, sleep=lambda _: None
        )

    def put_rule(self, event_type: str, points: int | str, **extra: Any) -> None:
        item: dict[str, Any] = {"event_type": {"S": event_type}, "points": {"N": str(points)}}
        for name, value in extra.items():
            item[name] = {"BOOL": value} if isinstance(value, bool) else {"S": value}
        self.dynamodb.put_item(TableName=RULES_TABLE, Item=item)

    def scores(self) -> dict[str, dict[str, Any]]:
        items = self.dynamodb.scan(TableName=SCORES_TABLE, ConsistentRead=True)["Items"]
        return {item["user_key"]["S"]: image(item) or {} for item in items}

    def ledger_keys(self) -> set[str]:
        items = self.dynamodb.scan(TableName=LEDGER_TABLE, ConsistentRead=True)["Items"]
        return {item["event_key"]["S"] for item in items}

    def dedupe_digests(self) -> dict[str, set[bytes]]:
        """Per user, every digest the exactly-once state holds: the ring `dk` and its overflow buckets."""
        held: dict[str, set[bytes]] = {}
        for user_key, item in self.scores().items():
            held[user_key] = ring_digests(bytes(item.get("dk", b"")))
        for bucket in self.dynamodb.scan(TableName=LEDGER_TABLE, ConsistentRead=True)["Items"]:
            key = bucket["event_key"]["S"]
            if key.startswith("b#"):
                user_key = key[2:].rpartition("#")[0]
                held.setdefault(user_key, set()).update(bytes(d) for d in bucket.get("d", {}).get("BS", []))
        return held

    def queue_messages(self, queue_url: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return messages
            messages.extend(json.loads(message["Body"]) for message in batch)
            self.sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )

    def stream_event(self, shard_iterator_type: str = "TRIM_HORIZON") -> dict[str, Any]:
        """The user-scores stream records so far, shaped like a Lambda DynamoDB stream event."""
        stream_arn = self.dynamodb.describe_table(TableName=SCORES_TABLE)["Table"]["LatestStreamArn"]
        streams = boto3.client("dynamodbstreams")
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType=shard_iterator_type
            )["ShardIterator"]
            for record in streams.get_records(ShardIterator=iterator)["Records"]:
                body = dict(record["dynamodb"])
                body.pop("ApproximateCreationDateTime", None)
                records.append(
                    {
                        "eventID": record["eventID"],
                        "eventName": record["eventName"],
                        "eventSource": "aws:dynamodb",
                        "dynamodb": body,
                    }
                )
        return {"Records": records}


def log_lines(output: str) -> list[dict[str, Any]]:
    """The JSON lines a handler printed (batch line, EMF documents)."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def batch_line(output: str, message: str = "batch scored") -> dict[str, Any]:
    lines = [line for line in log_lines(output) if line.get("message") == message]
    assert len(lines) == 1, f"expected exactly one {message!r} line, got {len(lines)}"
    return lines[0]


class FlakyDynamoDB:
    """Wraps a DynamoDB client; `on_transact(actions, attempt)` may raise or act before each write
    (TransactWriteItems, or UpdateItem seen as a one-action transaction), `after_transact` after it.

    A TransactionCanceledException raised for an UpdateItem becomes the error UpdateItem itself raises
    for that reason (ThrottlingError -> ThrottlingException, TransactionConflict ->
    TransactionConflictException, ConditionalCheckFailed -> ConditionalCheckFailedException), so one
    fault script serves both write calls."""

    def __init__(self, client: Any, on_transact: Any = None, after_transact: Any = None) -> None:
        self._client = client
        self._on_transact = on_transact
        self._after_transact = after_transact
        self.transact_attempts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **request: Any) -> Any:
        self.transact_attempts += 1
        if self._on_transact is not None:
            self._on_transact(request["TransactItems"], self.transact_attempts)
        response = self._client.transact_write_items(**request)
        if self._after_transact is not None:
            self._after_transact(request["TransactItems"], self.transact_attempts)
        return response

    def update_item(self, **request: Any) -> Any:
        self.transact_attempts += 1
        actions = [{"Update": request}]
        if self._on_transact is not None:
            try:
                self._on_transact(actions, self.transact_attempts)
            except Exception as exc:
                raise _as_update_item_error(exc) from None
        response = self._client.update_item(**request)
        if self._after_transact is not None:
            self._after_transact(actions, self.transact_attempts)
        return response


_UPDATE_ITEM_CODES = {
    "ThrottlingError": "ThrottlingException",
    "TransactionConflict": "TransactionConflictException",
    "ConditionalCheckFailed": "ConditionalCheckFailedException",
}


def _as_update_item_error(exc: Exception) -> Exception:
    response = getattr(exc, "response", None)
    if (
        not isinstance(response, dict)
        or response.get("Error", {}).get("Code") != "TransactionCanceledException"
    ):
        return exc
    reasons = [reason.get("Code") for reason in response.get("CancellationReasons", [])]
    code = next((_UPDATE_ITEM_CODES[r] for r in reasons if r in _UPDATE_ITEM_CODES), "InternalServerError")
    return client_error(code, "UpdateItem", 500 if code == "InternalServerError" else 400)


def client_error(code: str, operation: str, status: int = 400, **extra: Any) -> Exception:
    from botocore.exceptions import ClientError

    response: Any = {
        "Error": {"Code": code, "Message": "injected"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    response.update(extra)
    return ClientError(response, operation)


def users_in(actions: list[dict[str, Any]]) -> set[str]:
    return {
        action["Update"]["Key"]["user_key"]["S"]
        for action in actions
        if "Update" in action and "user_key" in action["Update"]["Key"]
    }


def user_image(
    user: str,
    score: int | str,
    tier: str | None = None,
    endpoints: list[str] | None = None,
    version: int = 1,
) -> dict[str, Any]:
    """A user_scores item in DynamoDB JSON, as a stream image carries it."""
    item: dict[str, Any] = {
        "user_key": {"S": user},
        "score": {"N": str(score)},
        "raw_score": {"N": str(score)},
        "as_of": {"N": "1732300000000"},
        "channels": {"M": {"email": {"N": str(score)}}},
        "events_applied": {"N": "1"},
        "version": {"N": str(version)},
        "updated_at": {"N": "1732300000500"},
    }
    if tier is not None:
        item["tier"] = {"S": tier}
    if endpoints:
        item["endpoint_ids"] = {"SS": endpoints}
    return item


def stream_record(
    seq: int, name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A Lambda DynamoDB stream record of the user_scores table."""
    source = new or old
    assert source is not None
    body: dict[str, Any] = {
        "Keys": {"user_key": source["user_key"]},
        "SequenceNumber": f"{seq:021d}",
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        body["NewImage"] = new
    if old is not None:
        body["OldImage"] = old
    return {"eventID": str(seq), "eventName": name, "eventSource": "aws:dynamodb", "dynamodb": body}
