"""Reference implementation of the 2019 solution's algorithm, for call-count comparison only (benchmark B1).

Written from the description in ../shared/docs/domain.md (the original code has no licence):
- scorer, per Kinesis record: skip `_test.event_stream`; GetItem the event type's definition
  (HASH EventType, RANGE PinpointProjectId); Pinpoint GetEndpoint(client.client_id) to find
  User.UserId; UpdateItem `SET Score = if_not_exists(Score, 0) + :inc` on (UserId, PinpointProjectId).
  Every error is caught and logged, as in the original.
- updater, per stream record: GetUserEndpoints(UserId), then UpdateEndpoint on each endpoint with
  User.UserAttributes.EngagementScore = ["<score>"].
It is deliberately faithful, weaknesses included (no idempotency, no batching); do not use it for scoring.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

DEFINITION_TABLE_KEYS = [
    {"AttributeName": "EventType", "KeyType": "HASH"},
    {"AttributeName": "PinpointProjectId", "KeyType": "RANGE"},
]
SCORE_TABLE_KEYS = [
    {"AttributeName": "UserId", "KeyType": "HASH"},
    {"AttributeName": "PinpointProjectId", "KeyType": "RANGE"},
]


def create_tables(dynamodb: Any, definition_table: str, score_table: str) -> None:
    """Create the original solution's two tables (score table with a NEW_IMAGE stream)."""
    attributes = [{"AttributeName": "PinpointProjectId", "AttributeType": "S"}]
    dynamodb.create_table(
        TableName=definition_table,
        KeySchema=DEFINITION_TABLE_KEYS,
        AttributeDefinitions=[*attributes, {"AttributeName": "EventType", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName=score_table,
        KeySchema=SCORE_TABLE_KEYS,
        AttributeDefinitions=[*attributes, {"AttributeName": "UserId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )


def seed_definitions(dynamodb: Any, definition_table: str, app_id: str, points: Mapping[str, int]) -> None:
    for event_type, offset in points.items():
        dynamodb.put_item(
            TableName=definition_table,
            Item={
                "EventType": {"S": event_type},
                "PinpointProjectId": {"S": app_id},
                "ScoreOffset": {"N": str(offset)},
            },
        )


def score_records(
    kinesis_records: list[dict[str, Any]],
    dynamodb: Any,
    pinpoint: Any,
    app_id: str,
    definition_table: str,
    score_table: str,
) -> None:
    """The original scorer's per-record loop over a Kinesis Lambda event's Records."""
    for record in kinesis_records:
        try:
            event = json.loads(base64.b64decode(record["kinesis"]["data"]))
            event_type = event["event_type"]
            if event_type == "_test.event_stream":
                continue
            definition = dynamodb.get_item(
                TableName=definition_table,
                Key={"EventType": {"S": event_type}, "PinpointProjectId": {"S": app_id}},
            )
            if "Item" not in definition:
                continue
            offset = definition["Item"]["ScoreOffset"]["N"]
            endpoint = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId=event["client"]["client_id"])
            user_id = endpoint["EndpointResponse"]["User"]["UserId"]
            dynamodb.update_item(
                TableName=score_table,
                Key={"UserId": {"S": user_id}, "PinpointProjectId": {"S": app_id}},
                UpdateExpression="SET Score = if_not_exists(Score, :zero) + :inc",
                ExpressionAttributeValues={":zero": {"N": "0"}, ":inc": {"N": offset}},
            )
        except Exception:  # the original caught and logged everything: failed records were lost
            logger.exception("original scorer: record dropped")


def update_endpoints(stream_records: list[dict[str, Any]], pinpoint: Any, app_id: str) -> None:
    """The original updater's per-record loop over a DynamoDB stream Lambda event's Records."""
    for record in stream_records:
        try:
            image = record["dynamodb"].get("NewImage")
            if not image or "Score" not in image:
                continue
            user_id = image["UserId"]["S"]
            score = image["Score"]["N"]
            endpoints = pinpoint.get_user_endpoints(ApplicationId=app_id, UserId=user_id)
            for endpoint in endpoints["EndpointsResponse"]["Item"]:
                pinpoint.update_endpoint(
                    ApplicationId=app_id,
                    EndpointId=endpoint["Id"],
                    EndpointRequest={"User": {"UserAttributes": {"EngagementScore": [score]}}},
                )
        except Exception:
            logger.exception("original updater: record dropped")
