"""The Customer Profiles sink of the score sync, against the local stand-in over HTTP with real boto3.

The stand-in validates every request against botocore's customer-profiles model and records what it
refused (`rejected`) and any answer of its own that broke the model (`internal_errors`): both must stay
empty in every test here, so nothing the sink sends is malformed.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.validate import validate_parameters
from engagement_scoring.aws.sinks import PROFILES_CONCURRENCY, profile_object_type
from engagement_scoring.core.config import ConfigError, SyncConfig
from engagement_scoring.handlers import score_sync as sync_handler
from engagement_scoring.pipeline.score_sync import SyncRuntime
from engagement_scoring.profiles_setup import main as profiles_setup
from engine_support import (
    AwsResources,
    FakeContext,
    batch_line,
    custom_event,
    failed_ids,
    kinesis_event,
    log_lines,
    stream_record,
    user_image,
)

from simulator.local_cloud.customer_profiles_standin import CustomerProfilesStandIn
from simulator.local_cloud.rest_json import ServiceError, service_model, validate
from simulator.local_cloud.terraform import ROOT

DOMAIN = "engagement-test"
TYPE = "EngagementScore"
EMAIL = "recipient@example.com"  # documented example values only
PHONE = "+14255550182"


@pytest.fixture
def standin() -> Iterator[CustomerProfilesStandIn]:
    with CustomerProfilesStandIn() as server:
        client(server).create_domain(DomainName=DOMAIN, DefaultExpirationDays=366)
        yield server
    assert server.rejected == Counter(), "the sink sent a request the model refuses"
    assert server.internal_errors == []


def client(standin: CustomerProfilesStandIn) -> Any:
    """One attempt per call: retries in these tests are the sink's own."""
    return boto3.client(
        "customer-profiles",
        endpoint_url=standin.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


Sleeps = list[float]


def runtime(standin: CustomerProfilesStandIn, sleeps: Sleeps | None = None, **env: str) -> SyncRuntime:
    config = SyncConfig.from_env({"CUSTOMER_PROFILES_DOMAIN": DOMAIN, **env})
    recorded = sleeps if sleeps is not None else []
    return SyncRuntime(config, profiles=client(standin), sleep=recorded.append)


def run(sync: SyncRuntime, event: dict[str, Any]) -> dict[str, Any]:
    sync_handler._runtime = sync
    try:
        return sync_handler.handler(event, FakeContext())
    finally:
        sync_handler._runtime = None


def batch(*users: str, first: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            stream_record(first + i, "INSERT", user_image(user, 10 + i, "warm" if i % 2 else None))
            for i, user in enumerate(users)
        ]
    }


def test_first_use_creates_the_object_type_then_puts_one_object_per_user(
    standin: CustomerProfilesStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a domain without the object type, and three changed users (two keyed by an address)
    sync = runtime(standin)
    event = {
        "Records": [
            stream_record(1, "INSERT", user_image("u-1", "62.5", "warm")),
            stream_record(2, "INSERT", user_image(f"email:{EMAIL}", 12)),
            stream_record(3, "INSERT", user_image(f"sms:{PHONE}", -3, "cold")),
        ]
    }
    # when the sync handles the batch
    assert failed_ids(run(sync, event)) == []
    # then the type was created as the sink defines it, and each user has one object
    created = client(standin).get_profile_object_type(DomainName=DOMAIN, ObjectTypeName=TYPE)
    assert {key: created[key] for key in ("Fields", "Keys", "AllowProfileCreation")} == {
        key: profile_object_type()[key] for key in ("Fields", "Keys", "AllowProfileCreation")
    }
    stamp = "2024-11-22T18:26:40.500Z"  # the images' updated_at, 1732300000500 ms
    assert standin.objects(DOMAIN, TYPE) == {
        "u-1": {
            "user_key": "u-1",
            "score": 62.5,
            "channels": {"email": 62.5},
            "rules": [],
            "tier": "warm",
            "updated_at": stamp,
        },
        f"email:{EMAIL}": {
            "user_key": f"email:{EMAIL}",
            "score": 12,
            "channels": {"email": 12},
            "rules": [],
            "updated_at": stamp,
            "email_address": EMAIL,
        },
        f"sms:{PHONE}": {
            "user_key": f"sms:{PHONE}",
            "score": -3,
            "channels": {"email": -3},
            "rules": [],
            "tier": "cold",
            "updated_at": stamp,
            "phone_number": PHONE,
        },
    }
    # and the profiles carry the tier and the addresses the sink mapped into them
    profiles = {p["Keys"]["engagement_user_key"][0]: p for p in standin.profiles(DOMAIN).values()}
    assert profiles["u-1"]["Attributes"] == {"EngagementTier": "warm"}
    assert profiles[f"email:{EMAIL}"]["EmailAddress"] == EMAIL
    assert profiles[f"sms:{PHONE}"]["PhoneNumber"] == PHONE
    # and the batch line and EMF count what happened, without any address
    output = capsys.readouterr().out
    line = batch_line(output, "scores synced")
    assert line["profiles_updated"] == 3 and line["retryable_failures"] == 0
    assert line["aws_calls"] == {"GetProfileObjectType": 1, "PutProfileObject": 3, "PutProfileObjectType": 1}
    (emf,) = [doc for doc in log_lines(output) if "_aws" in doc and "ProfilesUpdated" in doc]
    assert emf["ProfilesUpdated"] == 3
    (failures,) = [doc for doc in log_lines(output) if "SinkFailures" in doc]
    assert (failures["Sink"], failures["SinkFailures"]) == ("customer_profiles", 0)
    assert EMAIL not in output and PHONE[1:] not in output
    # and later batches of the same execution environment do not look the type up again
    assert failed_ids(run(sync, batch("u-2", first=10))) == []
    assert batch_line(capsys.readouterr().out, "scores synced")["aws_calls"] == {"PutProfileObject": 1}


def test_an_existing_profile_gets_the_score_of_the_address_it_holds(standin: CustomerProfilesStandIn) -> None:
    existing = client(standin).create_profile(DomainName=DOMAIN, PhoneNumber=PHONE)["ProfileId"]

    assert failed_ids(run(runtime(standin), batch(f"sms:{PHONE}"))) == []

    assert list(standin.profiles(DOMAIN)) == [existing]
    listed = client(standin).list_profile_objects(DomainName=DOMAIN, ObjectTypeName=TYPE, ProfileId=existing)
    assert [json.loads(item["Object"])["score"] for item in listed["Items"]] == [10]


def test_an_existing_object_type_is_used_as_it_is(
    standin: CustomerProfilesStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    client(standin).put_profile_object_type(
        DomainName=DOMAIN, ObjectTypeName=TYPE, **{**profile_object_type(), "Description": "managed by ops"}
    )

    assert failed_ids(run(runtime(standin), batch("u-1", "u-2"))) == []

    assert client(standin).get_profile_object_type(DomainName=DOMAIN, ObjectTypeName=TYPE)["Description"] == (
        "managed by ops"
    )
    line = batch_line(capsys.readouterr().out, "scores synced")
    assert line["aws_calls"] == {"GetProfileObjectType": 1, "PutProfileObject": 2}
    assert sorted(standin.objects(DOMAIN, TYPE)) == ["u-1", "u-2"]


def test_without_leave_to_create_a_missing_type_every_record_comes_back_until_it_is_set_up(
    standin: CustomerProfilesStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a sync that may not create the type, and no type yet
    sync = runtime(standin, CUSTOMER_PROFILES_CREATE_OBJECT_TYPE="false")
    event = batch("u-1", "u-2")
    # when / then every record comes back, nothing is created
    assert failed_ids(run(sync, event)) == [f"{1:021d}", f"{2:021d}"]
    line = batch_line(capsys.readouterr().out, "scores synced")
    assert line["errors"] == ["ObjectTypeMissing"] and line["aws_calls"] == {"GetProfileObjectType": 1}
    assert standin.calls["PutProfileObjectType"] == 0
    # when the documented setup command creates it, the retried batch goes through
    assert profiles_setup(["--domain", DOMAIN], client=client(standin)) == 0
    assert json.loads(capsys.readouterr().out) == {
        "domain": DOMAIN,
        "object_type": TYPE,
        "outcome": "created",
    }
    assert failed_ids(run(sync, event)) == []
    assert sorted(standin.objects(DOMAIN, TYPE)) == ["u-1", "u-2"]
    capsys.readouterr()
    assert profiles_setup(["--domain", DOMAIN], client=client(standin)) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "exists"


def test_the_setup_command_prints_the_definition_and_reports_an_unknown_domain(
    standin: CustomerProfilesStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert profiles_setup(["--print", "--object-type", "Scores"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ObjectTypeName": "Scores", **profile_object_type()}

    assert profiles_setup(["--domain", "missing"], client=client(standin)) == 1
    assert capsys.readouterr().err == "error: ResourceNotFoundException: Domain not found\n"


def flaky_puts(standin: CustomerProfilesStandIn, failures: Callable[[str, int], str | None]) -> Counter[str]:
    """Make PutProfileObject answer `failures(user_key, attempt)` (an error code) when it returns one."""
    attempts: Counter[str] = Counter()
    lock = threading.Lock()
    real = standin._handlers["PutProfileObject"]

    def handler(params: dict[str, Any]) -> dict[str, Any]:
        user_key = json.loads(params["Object"])["user_key"]
        with lock:
            attempts[user_key] += 1
            attempt = attempts[user_key]
        code = failures(user_key, attempt)
        if code is not None:
            raise ServiceError(code, "Injected fault")
        return real(params)

    standin._handlers["PutProfileObject"] = handler
    return attempts


def test_throttling_and_internal_errors_are_retried_with_backoff(standin: CustomerProfilesStandIn) -> None:
    # given every user's first put throttled and, for every second user, the second one failing too
    users = [f"u-{i}" for i in range(8)]
    attempts = flaky_puts(
        standin,
        lambda user, attempt: (
            "ThrottlingException"
            if attempt == 1
            else ("InternalServerException" if attempt == 2 and int(user[2:]) % 2 else None)
        ),
    )
    sleeps: Sleeps = []
    # when
    assert failed_ids(run(runtime(standin, sleeps), batch(*users))) == []
    # then every user got through, after the jittered backoff of the other sinks
    assert sorted(standin.objects(DOMAIN, TYPE)) == sorted(users)
    assert attempts == {user: 3 if int(user[2:]) % 2 else 2 for user in users}
    assert len(sleeps) == 12 and all(0 <= delay <= 2.0 for delay in sleeps)


def test_a_user_whose_puts_keep_failing_comes_back_with_every_record(
    standin: CustomerProfilesStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    attempts = flaky_puts(standin, lambda user, _: "ThrottlingException" if user == "u-2" else None)
    event = {
        "Records": [
            stream_record(1, "INSERT", {"user_key": {"S": "u-2"}}),  # moto's key-only first INSERT
            stream_record(2, "INSERT", user_image("u-2", 5)),
            stream_record(3, "INSERT", user_image("u-1", 7)),
        ]
    }

    assert failed_ids(run(runtime(standin), event)) == [f"{1:021d}", f"{2:021d}"]

    assert attempts == {"u-2": 4, "u-1": 1}
    assert sorted(standin.objects(DOMAIN, TYPE)) == ["u-1"]
    line = batch_line(capsys.readouterr().out, "scores synced")
    assert (line["profiles_updated"], line["retryable_failures"]) == (1, 2)
    assert line["errors"] == ["ThrottlingException"]


def test_a_request_the_type_refuses_is_not_retried_and_its_users_come_back(
    standin: CustomerProfilesStandIn,
) -> None:
    # given an operator's object type whose UNIQUE key is a field the sink's objects lack
    client(standin).put_profile_object_type(
        DomainName=DOMAIN,
        ObjectTypeName=TYPE,
        Description="someone else's",
        Fields={"customer": {"Source": "_source.customer_id"}},
        Keys={"customer": [{"StandardIdentifiers": ["PROFILE", "UNIQUE"], "FieldNames": ["customer"]}]},
    )

    assert failed_ids(run(runtime(standin), batch("u-1", "u-2"))) == [f"{1:021d}", f"{2:021d}"]

    assert standin.calls["PutProfileObject"] == 2  # one each: a BadRequestException is final
    assert standin.objects(DOMAIN) == {}


def test_a_deleted_type_is_looked_up_and_created_again(standin: CustomerProfilesStandIn) -> None:
    sync = runtime(standin)
    assert failed_ids(run(sync, batch("u-1"))) == []
    client(standin).delete_profile_object_type(DomainName=DOMAIN, ObjectTypeName=TYPE)

    assert failed_ids(run(sync, batch("u-2", first=5))) == [f"{5:021d}"]  # ResourceNotFound: retried later
    assert failed_ids(run(sync, batch("u-2", first=5))) == []

    assert standin.calls["PutProfileObjectType"] == 2
    assert sorted(standin.objects(DOMAIN, TYPE)) == ["u-2"]


def test_two_environments_creating_the_type_at_once_both_succeed(standin: CustomerProfilesStandIn) -> None:
    # given two cold sync environments whose lookups both miss before either creates the type
    both_looked = threading.Barrier(2, timeout=30)

    def after_both_lookups(**_: Any) -> None:  # a before-call hook returning a value would replace the call
        both_looked.wait()

    syncs = [runtime(standin), runtime(standin)]
    for sync in syncs:
        assert sync.profiles is not None
        sync.profiles.client.meta.events.register(
            "before-call.customer-profiles.PutProfileObjectType", after_both_lookups
        )
    responses: list[dict[str, Any]] = []
    threads = [
        threading.Thread(
            target=lambda s=sync, n=n: responses.append(run(s, batch(f"a-{n}", f"b-{n}", first=n * 10)))
        )
        for n, sync in enumerate(syncs)
    ]
    # when both handle a batch at the same time
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then both created the type (the same definition twice) and every object is there
    assert [failed_ids(response) for response in responses] == [[], []]
    assert standin.calls["GetProfileObjectType"] == 2 and standin.calls["PutProfileObjectType"] == 2
    assert sorted(standin.objects(DOMAIN, TYPE)) == ["a-0", "a-1", "b-0", "b-1"]


def test_puts_run_a_few_at_a_time(standin: CustomerProfilesStandIn) -> None:
    # given a stand-in that holds each put until PROFILES_CONCURRENCY of them are in flight together
    together = threading.Barrier(PROFILES_CONCURRENCY, timeout=30)
    in_flight, most = [0], [0]
    lock = threading.Lock()
    real = standin._handlers["PutProfileObject"]

    def handler(params: dict[str, Any]) -> dict[str, Any]:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        try:
            together.wait()
            return real(params)
        finally:
            with lock:
                in_flight[0] -= 1

    standin._handlers["PutProfileObject"] = handler
    users = [f"u-{i}" for i in range(3 * PROFILES_CONCURRENCY)]
    # when / then every group of puts met at the barrier, and no more were ever in flight
    assert failed_ids(run(runtime(standin), batch(*users))) == []
    assert most[0] == PROFILES_CONCURRENCY
    assert len(standin.objects(DOMAIN, TYPE)) == len(users)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CUSTOMER_PROFILES_DOMAIN": "has space"}, "CUSTOMER_PROFILES_DOMAIN must be"),
        ({"CUSTOMER_PROFILES_DOMAIN": "d" * 65}, "CUSTOMER_PROFILES_DOMAIN must be"),
        ({"CUSTOMER_PROFILES_OBJECT_TYPE": "_Reserved"}, "CUSTOMER_PROFILES_OBJECT_TYPE must be"),
        ({"CUSTOMER_PROFILES_CREATE_OBJECT_TYPE": "yes"}, "must be true or false"),
    ],
)
def test_invalid_settings_are_configuration_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SyncConfig.from_env(env)


def test_settings_default_to_the_contract() -> None:
    config = SyncConfig.from_env(
        {"CUSTOMER_PROFILES_DOMAIN": DOMAIN, "CUSTOMER_PROFILES_CREATE_OBJECT_TYPE": "False"}
    )
    assert (config.customer_profiles_domain, config.customer_profiles_object_type) == (DOMAIN, TYPE)
    assert config.customer_profiles_create_object_type is False
    assert SyncConfig.from_env({}).customer_profiles_create_object_type is True
    assert SyncConfig.from_env({}).customer_profiles_domain == ""


def test_the_handler_syncs_scores_from_moto_into_the_stand_in_by_its_environment(
    aws: AwsResources, standin: CustomerProfilesStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given scores the scorer wrote to DynamoDB (moto), and a sync configured by its environment only
    from engagement_scoring.handlers import scorer as scorer_handler

    scorer_handler._runtime = aws.scorer(
        TIERS='[{"name": "cold", "min_score": 0}, {"name": "warm", "min_score": 20}]'
    )
    scorer_handler.handler(
        kinesis_event(
            [
                custom_event("u-7", "_email.open", 1732300000000),
                custom_event("u-8", "_email.click", 1732300000000),
            ]
        ),
        FakeContext(),
    )
    scorer_handler._runtime = None
    monkeypatch.setenv("AWS_ENDPOINT_URL_CUSTOMER_PROFILES", standin.endpoint_url)
    monkeypatch.setenv("CUSTOMER_PROFILES_DOMAIN", DOMAIN)
    monkeypatch.setenv("EVENT_BUS_NAME", aws.bus_name)
    monkeypatch.delenv("PINPOINT_APPLICATION_ID", raising=False)
    monkeypatch.setattr(sync_handler, "_runtime", None)
    # when the handler builds its clients from the environment and handles the stream batch
    response = sync_handler.handler(aws.stream_event(), FakeContext())
    sync_handler._runtime = None
    # then each user's object holds the score, channels, tier and write time of its DynamoDB item
    assert failed_ids(response) == []
    objects = standin.objects(DOMAIN, TYPE)
    for user_key, item in aws.scores().items():
        assert objects[user_key]["score"] == int(item["score"])
        assert objects[user_key]["tier"] == item["tier"]
        assert objects[user_key]["channels"] == {name: int(value) for name, value in item["channels"].items()}
    assert sorted(objects) == ["u-7", "u-8"] and {o["tier"] for o in objects.values()} == {"cold", "warm"}
    assert len(aws.queue_messages(aws.bus_queue_url)) == 4  # EventBridge still gets its events too


def test_the_documented_segmentation_requests_fit_the_customer_profiles_model() -> None:
    # given the JSON documents docs/scoring.md tells users to send
    section = (ROOT / "docs" / "scoring.md").read_text().split("### Customer Profiles", 1)[1]
    documents = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.DOTALL)]
    operations = {"CalculatedAttributeName": "CreateCalculatedAttributeDefinition"}
    operations["SegmentDefinitionName"] = "CreateSegmentDefinition"
    model = service_model("customer-profiles")
    # then each is a valid request of its operation, for botocore and for the stricter stand-in check
    checked = []
    for document in documents:
        (operation,) = [name for key, name in operations.items() if key in document]
        shape = model.operation_model(operation).input_shape
        validate_parameters(document, shape)
        errors: list[str] = []
        validate(shape, document, operation, errors)
        assert errors == []
        checked.append(operation)
    assert checked == ["CreateCalculatedAttributeDefinition", "CreateSegmentDefinition"]
    # and the calculated attribute reads the NUMBER field the sink's object type defines
    assert documents[0]["AttributeDetails"]["Expression"] == "{EngagementScore.score}"
    assert profile_object_type()["Fields"]["score"]["ContentType"] == "NUMBER"
