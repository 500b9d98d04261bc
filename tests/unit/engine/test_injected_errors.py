"""The errors the engine tests inject by hand (engine_support.client_error) have the shape DynamoDB's own
errors have on moto, so the scorer's error handling is tested on what it will really meet."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from engagement_scoring.aws.errors import cancellation_codes, describe, error_code, http_status, is_retryable
from engine_support import SCORES_TABLE, AwsResources, client_error


def test_an_injected_cancellation_looks_like_a_real_one(aws: AwsResources) -> None:
    # given a real TransactionCanceledException: the second action's condition fails
    aws.dynamodb.put_item(TableName=SCORES_TABLE, Item={"user_key": {"S": "u1"}})
    condition = {"ConditionExpression": "attribute_not_exists(user_key)"}
    with pytest.raises(ClientError) as raised:
        aws.dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": SCORES_TABLE, "Item": {"user_key": {"S": "u2"}}, **condition}},
                {"Put": {"TableName": SCORES_TABLE, "Item": {"user_key": {"S": "u1"}}, **condition}},
            ]
        )
    real = raised.value
    # and the same failure built the way the engine tests inject it
    injected = client_error(
        "TransactionCanceledException",
        "TransactWriteItems",
        CancellationReasons=[{"Code": "None"}, {"Code": "ConditionalCheckFailed"}],
    )
    # then the engine reads both alike, from the same places of the response
    for error in (real, injected):
        assert isinstance(error, ClientError)
        assert error_code(error) == describe(error) == "TransactionCanceledException"
        assert http_status(error) == 400
        assert cancellation_codes(error) == ["None", "ConditionalCheckFailed"]
        assert not is_retryable(error)
        assert set(error.response) >= {"Error", "ResponseMetadata", "CancellationReasons"}
        assert error.operation_name == "TransactWriteItems"
