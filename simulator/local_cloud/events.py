"""The payloads AWS Lambda's stream pollers build: invocation events and on-failure destination records.

Shapes follow the AWS Lambda developer guide ("Using Lambda with Kinesis", "... with DynamoDB", "Retaining
records of discarded batches"); the field names and types here are the ones a handler sees on AWS.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

KINESIS = "kinesis"
DYNAMODB = "dynamodb"


@dataclass(frozen=True)
class StreamRecord:
    """One record as the poller holds it: the Lambda-shaped record plus what batching needs."""

    sequence_number: str
    partition_key: str
    arrival: float  # epoch seconds
    lambda_record: dict[str, Any]
    size_bytes: int

    @property
    def sequence_int(self) -> int:
        return int(self.sequence_number)


def _epoch(value: dt.datetime | float | int) -> float:
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


def iso_millis(epoch_s: float) -> str:
    """AWS's on-failure timestamp format, e.g. 2019-11-14T00:38:06.021Z."""
    moment = dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def kinesis_record(
    raw: dict[str, Any], shard_id: str, stream_arn: str, region: str, role_arn: str
) -> StreamRecord:
    """Turn a Kinesis GetRecords entry (boto3-parsed) into the record of a Lambda Kinesis event."""
    sequence = str(raw["SequenceNumber"])
    arrival = _epoch(raw["ApproximateArrivalTimestamp"])
    kinesis: dict[str, Any] = {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": raw["PartitionKey"],
        "sequenceNumber": sequence,
        "data": base64.b64encode(raw["Data"]).decode("ascii"),
        "approximateArrivalTimestamp": round(arrival, 3),
    }
    if raw.get("EncryptionType") and raw["EncryptionType"] != "NONE":
        kinesis["encryptionType"] = raw["EncryptionType"]
    record = {
        "kinesis": kinesis,
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }
    return StreamRecord(sequence, raw["PartitionKey"], arrival, record, len(json.dumps(record)))


def _plain_attribute_values(value: Any) -> Any:
    """boto3 decodes B/BS attribute values to bytes; the Lambda event carries them base64-encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {key: _plain_attribute_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_attribute_values(item) for item in value]
    return value


def dynamodb_record(raw: dict[str, Any], stream_arn: str, region: str) -> StreamRecord:
    """Turn a DynamoDB Streams GetRecords entry (boto3-parsed) into the record of a Lambda DynamoDB event."""
    source = raw["dynamodb"]
    created = _epoch(source.get("ApproximateCreationDateTime", 0))
    image: dict[str, Any] = {"ApproximateCreationDateTime": int(created)}
    for key in ("Keys", "NewImage", "OldImage"):
        if key in source:
            image[key] = _plain_attribute_values(source[key])
    image["SequenceNumber"] = str(source["SequenceNumber"])
    image["SizeBytes"] = int(source.get("SizeBytes", 0))
    image["StreamViewType"] = source.get("StreamViewType", "NEW_AND_OLD_IMAGES")
    record: dict[str, Any] = {
        "eventID": raw.get("eventID") or uuid.uuid4().hex,
        "eventName": raw["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": image,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:  # TTL deletions
        record["userIdentity"] = raw["userIdentity"]
    partition_key = json.dumps(image.get("Keys", {}), sort_keys=True)
    return StreamRecord(image["SequenceNumber"], partition_key, created, record, len(json.dumps(record)))


def invocation_event(records: list[StreamRecord]) -> dict[str, Any]:
    return {"Records": [record.lambda_record for record in records]}


def on_failure_record(
    *,
    source_kind: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    shard_id: str,
    stream_arn: str,
    records: list[StreamRecord],
    function_error: str | None,
    now: float,
) -> dict[str, Any]:
    """The message Lambda sends to an on-failure destination for a discarded stream batch.

    condition is "RetryAttemptsExhausted" or "RecordAgeExceeded" (AWS also has "MaximumPayloadSizeExceeded").
    """
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response_context["functionError"] = function_error
    batch_info = {
        "shardId": shard_id,
        "startSequenceNumber": records[0].sequence_number,
        "endSequenceNumber": records[-1].sequence_number,
        "approximateArrivalOfFirstRecord": iso_millis(records[0].arrival),
        "approximateArrivalOfLastRecord": iso_millis(records[-1].arrival),
        "batchSize": len(records),
        "streamArn": stream_arn,
    }
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response_context,
        "version": "1.0",
        "timestamp": iso_millis(now),
        "KinesisBatchInfo" if source_kind == KINESIS else "DDBStreamBatchInfo": batch_info,
    }
