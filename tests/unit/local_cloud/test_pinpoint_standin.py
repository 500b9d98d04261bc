"""The Pinpoint stand-in, driven by a real botocore pinpoint client."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from simulator.local_cloud.pinpoint_standin import FaultInjection, PinpointStandIn

APP = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def standin() -> Iterator[PinpointStandIn]:
    with PinpointStandIn() as server:
        yield server


def _client(endpoint_url: str | None = None, attempts: int = 1) -> Any:
    return boto3.client(
        "pinpoint",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
    )


def test_update_endpoints_batch_then_get_endpoint(standin: PinpointStandIn) -> None:
    pinpoint = _client(standin.endpoint_url)

    response = pinpoint.update_endpoints_batch(
        ApplicationId=APP,
        EndpointBatchRequest={
            "Item": [
                {
                    "Id": "ep-1",
                    "ChannelType": "EMAIL",
                    "User": {"UserId": "u-1"},
                    "Metrics": {"EngagementScore": 3},
                },
                {"Id": "ep-2", "ChannelType": "SMS", "User": {"UserId": "u-1"}},
            ]
        },
    )

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert response["MessageBody"]["Message"] == "Accepted" and response["MessageBody"]["RequestID"]
    endpoint = pinpoint.get_endpoint(ApplicationId=APP, EndpointId="ep-1")["EndpointResponse"]
    assert endpoint["Id"] == "ep-1" and endpoint["ApplicationId"] == APP
    assert endpoint["Metrics"] == {"EngagementScore": 3.0}
    assert endpoint["ChannelType"] == "EMAIL" and endpoint["EndpointStatus"] == "ACTIVE"
    assert endpoint["OptOut"] == "NONE" and 0 <= int(endpoint["CohortId"]) < 100
    users = pinpoint.get_user_endpoints(ApplicationId=APP, UserId="u-1")["EndpointsResponse"]["Item"]
    assert sorted(e["Id"] for e in users) == ["ep-1", "ep-2"]


def test_update_endpoint_merges_metrics_and_attributes(standin: PinpointStandIn) -> None:
    pinpoint = _client(standin.endpoint_url)
    pinpoint.update_endpoint(
        ApplicationId=APP,
        EndpointId="ep-1",
        EndpointRequest={"ChannelType": "EMAIL", "Attributes": {"Plan": ["gold"]}, "Metrics": {"Visits": 2}},
    )

    pinpoint.update_endpoint(
        ApplicationId=APP,
        EndpointId="ep-1",
        EndpointRequest={"Attributes": {"EngagementTier": ["hot"]}, "Metrics": {"EngagementScore": 42.5}},
    )
    pinpoint.update_endpoint(
        ApplicationId=APP, EndpointId="ep-1", EndpointRequest={"Attributes": {"Plan": []}}
    )

    endpoint = pinpoint.get_endpoint(ApplicationId=APP, EndpointId="ep-1")["EndpointResponse"]
    assert endpoint["Attributes"] == {"EngagementTier": ["hot"]}
    assert endpoint["Metrics"] == {"Visits": 2.0, "EngagementScore": 42.5}
    assert endpoint["ChannelType"] == "EMAIL"
    assert standin.endpoints(APP)["ep-1"]["Metrics"]["EngagementScore"] == 42.5


def test_client_routed_by_the_service_specific_environment_variable(
    standin: PinpointStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # a general endpoint that must not be used
    monkeypatch.setenv("AWS_ENDPOINT_URL_PINPOINT", standin.endpoint_url)
    pinpoint = _client()

    pinpoint.update_endpoints_batch(
        ApplicationId=APP, EndpointBatchRequest={"Item": [{"Id": "ep-9", "Metrics": {"EngagementScore": 1}}]}
    )

    assert standin.calls["UpdateEndpointsBatch"] == 1
    assert set(standin.endpoints()) == {"ep-9"}


def test_unknown_endpoint_and_oversized_batch_are_errors_like_pinpoint(standin: PinpointStandIn) -> None:
    pinpoint = _client(standin.endpoint_url)

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_endpoint(ApplicationId=APP, EndpointId="missing")
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_user_endpoints(ApplicationId=APP, UserId="nobody")
    with pytest.raises(pinpoint.exceptions.BadRequestException):
        pinpoint.update_endpoints_batch(
            ApplicationId=APP, EndpointBatchRequest={"Item": [{"Id": f"ep-{i}"} for i in range(101)]}
        )


def test_fault_injection_is_seeded_and_retried_by_the_sdk() -> None:
    faults = FaultInjection(rate=0.5, statuses=(429, 500), seed=7)
    with PinpointStandIn(faults=faults) as standin:
        once = _client(standin.endpoint_url, attempts=1)
        outcomes = []
        for i in range(40):
            try:
                once.update_endpoint(
                    ApplicationId=APP, EndpointId=f"ep-{i}", EndpointRequest={"Metrics": {"S": i}}
                )
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(error.response["Error"]["Code"])
        assert {"ok", "TooManyRequestsException", "InternalServerErrorException"} == set(outcomes)
        assert sum(standin.faults_injected.values()) == outcomes.count(
            "TooManyRequestsException"
        ) + outcomes.count("InternalServerErrorException")
        assert len(standin.endpoints()) == outcomes.count("ok")

        # the same seed gives the same sequence of faults
        standin.set_faults(faults)
        again = []
        for i in range(40):
            try:
                once.update_endpoint(
                    ApplicationId=APP, EndpointId=f"ep-{i}", EndpointRequest={"Metrics": {"S": i}}
                )
                again.append("ok")
            except ClientError as error:
                again.append(error.response["Error"]["Code"])
        assert again == outcomes

        # the SDK's standard retries get through (fewer faults here: its backoff sleeps up to seconds)
        standin.set_faults(FaultInjection(rate=0.3, seed=3))
        faults_before = sum(standin.faults_injected.values())
        retrying = _client(standin.endpoint_url, attempts=10)
        for i in range(6):
            retrying.update_endpoint(
                ApplicationId=APP, EndpointId=f"r-{i}", EndpointRequest={"Metrics": {"S": 1}}
            )
        assert all(f"r-{i}" in standin.endpoints() for i in range(6))
        assert sum(standin.faults_injected.values()) > faults_before


def test_stop_closes_the_port() -> None:
    standin = PinpointStandIn().start()
    port = standin.port
    standin.stop()

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_requests_that_break_the_pinpoint_model_are_refused(standin: PinpointStandIn) -> None:
    unchecked = boto3.client(
        "pinpoint",
        endpoint_url=standin.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False),
    )
    bad_items: list[Any] = [
        [{"Id": 42, "Metrics": {"EngagementScore": 1.0}}],  # an id is a string
        [{"Id": "ep-1", "ChannelType": "PIGEON"}],  # not in the ChannelType enum
        [{"Id": "ep-1", "OptOut": ["ALL"]}],  # a string, not a list
    ]
    for items in bad_items:
        with pytest.raises(ClientError) as raised:
            unchecked.update_endpoints_batch(ApplicationId=APP, EndpointBatchRequest={"Item": items})
        assert raised.value.response["Error"]["Code"] == "BadRequestException"

    assert standin.rejected == {"UpdateEndpointsBatch": 3}
    assert standin.endpoints() == {}
    assert standin.internal_errors == []
