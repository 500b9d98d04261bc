"""The Customer Profiles stand-in, driven by a real botocore customer-profiles client over HTTP.

Malformed requests are sent with botocore's own parameter validation off (`parameter_validation=False`),
so they reach the stand-in serialized exactly as botocore would send them; only the stand-in's model
validation stands between them and the store.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from simulator.local_cloud.customer_profiles_standin import CustomerProfilesStandIn
from simulator.local_cloud.rest_json import FaultInjection

DOMAIN = "engagement-test"
TYPE = "EngagementScore"
FIELDS = {
    "user_key": {"Source": "_source.user_key", "ContentType": "STRING"},
    "score": {"Source": "_source.score", "ContentType": "NUMBER"},
    "tier": {"Source": "_source.tier", "Target": "_profile.Attributes.EngagementTier"},
    "email": {"Source": "_source.email", "ContentType": "EMAIL_ADDRESS", "Target": "_profile.EmailAddress"},
}
KEYS = {
    "engagement_user_key": [{"StandardIdentifiers": ["PROFILE", "UNIQUE"], "FieldNames": ["user_key"]}],
    "_email": [{"StandardIdentifiers": ["PROFILE", "SECONDARY"], "FieldNames": ["email"]}],
}


def client(standin: CustomerProfilesStandIn, *, validate: bool = True, attempts: int = 1) -> Any:
    return boto3.client(
        "customer-profiles",
        endpoint_url=standin.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"total_max_attempts": attempts, "mode": "standard"}, parameter_validation=validate
        ),
    )


@pytest.fixture
def standin() -> Iterator[CustomerProfilesStandIn]:
    with CustomerProfilesStandIn() as server:
        yield server
    assert server.internal_errors == []


@pytest.fixture
def profiles(standin: CustomerProfilesStandIn) -> Any:
    profiles = client(standin)
    profiles.create_domain(DomainName=DOMAIN, DefaultExpirationDays=366)
    profiles.put_profile_object_type(
        DomainName=DOMAIN,
        ObjectTypeName=TYPE,
        Description="scores",
        AllowProfileCreation=True,
        Fields=FIELDS,
        Keys=KEYS,
    )
    return profiles


def put(profiles: Any, document: dict[str, Any], object_type: str = TYPE, domain: str = DOMAIN) -> str:
    answer = profiles.put_profile_object(
        DomainName=domain, ObjectTypeName=object_type, Object=json.dumps(document)
    )
    return str(answer["ProfileObjectUniqueKey"])


def profile_of(profiles: Any, key: str, value: str) -> dict[str, Any]:
    (found,) = profiles.search_profiles(DomainName=DOMAIN, KeyName=key, Values=[value])["Items"]
    return dict(found)


def error_code(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_put_object_creates_the_profile_and_a_second_put_replaces_the_object(
    standin: CustomerProfilesStandIn, profiles: Any
) -> None:
    first = put(profiles, {"user_key": "u-1", "score": 10, "tier": "cold"})
    again = put(profiles, {"user_key": "u-1", "score": 62.5, "tier": "warm"})

    assert first == again
    profile = profile_of(profiles, "engagement_user_key", "u-1")
    assert profile["Attributes"] == {"EngagementTier": "warm"}
    listed = profiles.list_profile_objects(
        DomainName=DOMAIN, ObjectTypeName=TYPE, ProfileId=profile["ProfileId"]
    )
    assert [json.loads(item["Object"]) for item in listed["Items"]] == [
        {"user_key": "u-1", "score": 62.5, "tier": "warm"}
    ]
    assert standin.objects(DOMAIN, TYPE) == {"u-1": {"user_key": "u-1", "score": 62.5, "tier": "warm"}}
    assert len(standin.profiles(DOMAIN)) == 1


def test_an_existing_profile_is_found_by_its_email_after_the_user_key(
    standin: CustomerProfilesStandIn, profiles: Any
) -> None:
    # given a profile someone created with the documented example address
    existing = profiles.create_profile(DomainName=DOMAIN, EmailAddress="Recipient@example.com")["ProfileId"]
    # when an object keyed by a user key no profile has carries that address
    put(profiles, {"user_key": "email:recipient@example.com", "score": 3, "email": "recipient@example.com"})
    # then it lands on the existing profile, which now also holds the user key
    assert profile_of(profiles, "engagement_user_key", "email:recipient@example.com")["ProfileId"] == existing
    assert len(standin.profiles(DOMAIN)) == 1
    # and the user key wins over the (secondary) e-mail key: another user's object with the same address
    put(profiles, {"user_key": "u-2", "score": 1})
    other = profile_of(profiles, "engagement_user_key", "u-2")["ProfileId"]
    put(profiles, {"user_key": "u-2", "score": 2, "email": "recipient@example.com"})
    assert profile_of(profiles, "engagement_user_key", "u-2")["ProfileId"] == other != existing


def test_unknown_domain_type_and_profile_are_resource_not_found(profiles: Any) -> None:
    for call in (
        lambda: profiles.get_domain(DomainName="missing"),
        lambda: profiles.get_profile_object_type(DomainName=DOMAIN, ObjectTypeName="Missing"),
        lambda: profiles.put_profile_object_type(
            DomainName="missing", ObjectTypeName=TYPE, Description="x", Fields=FIELDS, Keys=KEYS
        ),
        lambda: put(profiles, {"user_key": "u"}, domain="missing"),
        lambda: put(profiles, {"user_key": "u"}, object_type="Missing"),
        lambda: profiles.list_profile_objects(DomainName=DOMAIN, ObjectTypeName=TYPE, ProfileId="f" * 32),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert error_code(raised) == ("ResourceNotFoundException", 404)


@pytest.mark.parametrize(
    "document",
    ["not json", "[1, 2]", {"score": 1}, {"user_key": "", "score": 1}, {"user_key": "u", "score": "many"}],
    ids=["not-json", "not-an-object", "no-unique-field", "empty-unique-field", "text-in-a-number-field"],
)
def test_objects_the_type_cannot_hold_are_bad_requests(
    standin: CustomerProfilesStandIn, profiles: Any, document: Any
) -> None:
    body = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(ClientError) as raised:
        profiles.put_profile_object(DomainName=DOMAIN, ObjectTypeName=TYPE, Object=body)
    assert error_code(raised) == ("BadRequestException", 400)
    assert standin.objects(DOMAIN) == {}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"ObjectTypeName": "_Reserved"}, "reserved"),
        ({"Keys": {}}, "no key"),
        ({"Keys": {"a": KEYS["engagement_user_key"], "b": KEYS["engagement_user_key"]}}, "two UNIQUE keys"),
        (
            {"Keys": {"a": [{"StandardIdentifiers": ["PROFILE"], "FieldNames": ["user_key"]}]}},
            "no UNIQUE key",
        ),
        ({"Keys": {"a": [{"StandardIdentifiers": ["UNIQUE"], "FieldNames": ["nope"]}]}}, "undefined field"),
        ({"Fields": {**FIELDS, "x": {"Source": "user_key"}}}, "source without _source"),
        ({"Fields": {**FIELDS, "x": {"Source": "_source.x", "Target": "_profile.Score"}}}, "unknown target"),
        ({"TemplateId": "Salesforce-Account"}, "template with fields and keys"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_object_types_the_service_refuses_are_bad_requests(
    profiles: Any, change: dict[str, Any], why: str
) -> None:
    request = {
        "DomainName": DOMAIN,
        "ObjectTypeName": "Other",
        "Description": "x",
        "Fields": FIELDS,
        "Keys": KEYS,
    }
    with pytest.raises(ClientError) as raised:
        profiles.put_profile_object_type(**{**request, **change})
    assert error_code(raised) == ("BadRequestException", 400), why


@pytest.mark.parametrize(
    ("operation", "params", "member"),
    [
        ("put_profile_object", {"ObjectTypeName": TYPE, "Object": ""}, "Object: length must be at least 1"),
        ("put_profile_object", {"ObjectTypeName": "1bad", "Object": "{}"}, "ObjectTypeName: must match"),
        ("put_profile_object", {"ObjectTypeName": TYPE}, "Object: is required"),
        ("put_profile_object", {"ObjectTypeName": TYPE, "Object": 5}, "Object: must be a string"),
        ("put_profile_object", {"ObjectTypeName": "x" * 256, "Object": "{}"}, "length must be at most 255"),
        (
            "put_profile_object_type",
            {"ObjectTypeName": "T", "Description": ""},
            "Description: length must be",
        ),
        (
            "put_profile_object_type",
            {"ObjectTypeName": "T", "Description": "d", "ExpirationDays": 1099},
            "ExpirationDays: value must be at most 1098",
        ),
        (
            "put_profile_object_type",
            {
                "ObjectTypeName": "T",
                "Description": "d",
                "Fields": {"f": {"Source": "_source.f", "ContentType": "INT"}},
            },
            "ContentType: must be one of STRING",
        ),
        (
            "put_profile_object_type",
            {
                "ObjectTypeName": "T",
                "Description": "d",
                "Keys": {"k": [{"StandardIdentifiers": ["PRIMARY"]}]},
            },
            "StandardIdentifiers[0]: must be one of",
        ),
        (
            "put_profile_object_type",
            {"ObjectTypeName": "T", "Description": "d", "AllowProfileCreation": "yes"},
            "AllowProfileCreation: must be a boolean",
        ),
        ("get_profile_object_type", {"ObjectTypeName": "has space"}, "ObjectTypeName: must match"),
    ],
)
def test_requests_that_break_the_model_are_refused_with_its_validation_error(
    standin: CustomerProfilesStandIn, profiles: Any, operation: str, params: dict[str, Any], member: str
) -> None:
    unchecked = client(standin, validate=False)
    with pytest.raises(ClientError) as raised:
        getattr(unchecked, operation)(DomainName=DOMAIN, **params)
    assert error_code(raised) == ("BadRequestException", 400)
    assert member in raised.value.response["Error"]["Message"]
    assert sum(standin.rejected.values()) == 1
    assert standin.objects(DOMAIN) == {}
    assert profiles.get_profile_object_type(DomainName=DOMAIN, ObjectTypeName=TYPE)["Description"] == "scores"


def test_unknown_members_and_bodies_that_are_not_json_are_refused(standin: CustomerProfilesStandIn) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=5)
    answers = []
    for body in (b'{"ObjectTypeName": "T", "Object": "{}", "Extra": 1}', b"{not json"):
        connection.request("PUT", f"/domains/{DOMAIN}/profiles/objects", body=body)
        response = connection.getresponse()
        answers.append((response.status, response.getheader("x-amzn-ErrorType"), json.loads(response.read())))
    connection.request("GET", "/nowhere")
    unrouted = connection.getresponse()
    unrouted_body = json.loads(unrouted.read())
    connection.close()

    assert [(status, kind) for status, kind, _ in answers] == [(400, "BadRequestException")] * 2
    assert "Extra: is not a member" in answers[0][2]["Message"]
    assert "not JSON" in answers[1][2]["Message"]
    assert (unrouted.status, unrouted.getheader("x-amzn-ErrorType")) == (400, "BadRequestException")
    assert unrouted_body == {"Message": "No operation of the service matches the request"}
    assert standin.rejected == {"PutProfileObject": 2}


def test_domains_serve_what_the_terraform_provider_reads(standin: CustomerProfilesStandIn) -> None:
    profiles = client(standin)
    created = profiles.create_domain(
        DomainName=DOMAIN,
        DefaultExpirationDays=30,
        DeadLetterQueueUrl="https://sqs.example/q",
        Tags={"a": "1"},
    )
    arn = f"arn:aws:profile:us-east-1:123456789012:domains/{DOMAIN}"
    profiles.tag_resource(resourceArn=arn, tags={"b": "2"})
    profiles.untag_resource(resourceArn=arn, tagKeys=["a"])
    profiles.update_domain(DomainName=DOMAIN, DefaultExpirationDays=60)

    domain = profiles.get_domain(DomainName=DOMAIN)
    assert (domain["DefaultExpirationDays"], domain["DeadLetterQueueUrl"], domain["Tags"]) == (
        60,
        "https://sqs.example/q",
        {"b": "2"},
    )
    assert domain["CreatedAt"] == created["CreatedAt"] <= domain["LastUpdatedAt"]
    assert profiles.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    with pytest.raises(ClientError) as raised:
        profiles.create_domain(DomainName=DOMAIN, DefaultExpirationDays=30)
    assert error_code(raised) == ("BadRequestException", 400)
    profiles.delete_domain(DomainName=DOMAIN)
    assert standin.domain_names() == []


def test_list_profile_objects_pages_and_filters(standin: CustomerProfilesStandIn, profiles: Any) -> None:
    profiles.put_profile_object_type(
        DomainName=DOMAIN,
        ObjectTypeName="Visit",
        Description="visits",
        Fields={"visit": {"Source": "_source.visit"}, "user_key": {"Source": "_source.user_key"}},
        Keys={
            "visit": [{"StandardIdentifiers": ["UNIQUE"], "FieldNames": ["visit"]}],
            "engagement_user_key": [{"StandardIdentifiers": ["PROFILE"], "FieldNames": ["user_key"]}],
        },
    )
    put(profiles, {"user_key": "u-1", "score": 1})
    for visit in range(5):
        put(profiles, {"visit": f"v{visit}", "user_key": "u-1"}, object_type="Visit")
    profile_id = profile_of(profiles, "engagement_user_key", "u-1")["ProfileId"]

    pages, token = [], None
    while True:
        extra: dict[str, str] = {"NextToken": token} if token else {}
        page = profiles.list_profile_objects(
            DomainName=DOMAIN, ObjectTypeName="Visit", ProfileId=profile_id, MaxResults=2, **extra
        )
        pages.append([json.loads(item["Object"])["visit"] for item in page["Items"]])
        token = page.get("NextToken")
        if not token:
            break
    filtered = profiles.list_profile_objects(
        DomainName=DOMAIN,
        ObjectTypeName="Visit",
        ProfileId=profile_id,
        ObjectFilter={"KeyName": "visit", "Values": ["v3"]},
    )

    assert pages == [["v0", "v1"], ["v2", "v3"], ["v4"]]
    assert [json.loads(item["Object"])["visit"] for item in filtered["Items"]] == ["v3"]
    assert sorted(standin.objects(DOMAIN, "Visit")) == [f"v{i}" for i in range(5)]


def test_a_type_that_forbids_profile_creation_keeps_unmatched_objects_unattached(
    standin: CustomerProfilesStandIn, profiles: Any
) -> None:
    profiles.put_profile_object_type(
        DomainName=DOMAIN, ObjectTypeName="Strict", Description="x", Fields=FIELDS, Keys=KEYS
    )
    put(profiles, {"user_key": "u-9", "score": 1}, object_type="Strict")

    assert standin.objects(DOMAIN, "Strict") == {"u-9": {"user_key": "u-9", "score": 1}}
    assert standin.profiles(DOMAIN) == {}
    assert (
        profiles.get_profile_object_type(DomainName=DOMAIN, ObjectTypeName="Strict")["AllowProfileCreation"]
        is False
    )


def test_an_answer_that_breaks_the_output_shape_is_an_internal_error_and_recorded(
    standin: CustomerProfilesStandIn, profiles: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(standin._handlers, "GetDomain", lambda params: {"DomainName": params["DomainName"]})
    with pytest.raises(ClientError) as raised:
        profiles.get_domain(DomainName=DOMAIN)
    assert error_code(raised) == ("InternalServerException", 500)
    assert standin.internal_errors == [
        "GetDomain: InvalidAnswer: GetDomainResponse.CreatedAt: is required; "
        "GetDomainResponse.LastUpdatedAt: is required"
    ]
    standin.internal_errors.clear()


def test_fault_injection_is_seeded_answers_the_models_shapes_and_is_retried_by_the_sdk() -> None:
    faults = FaultInjection(rate=0.5, statuses=(429, 500), seed=7, operations=frozenset({"GetDomain"}))
    with CustomerProfilesStandIn(faults=faults) as standin:
        once = client(standin)
        once.create_domain(DomainName=DOMAIN, DefaultExpirationDays=1)

        def outcomes() -> list[str]:
            seen = []
            for _ in range(30):
                try:
                    once.get_domain(DomainName=DOMAIN)
                    seen.append("ok")
                except ClientError as error:
                    seen.append(error.response["Error"]["Code"])
            return seen

        first = outcomes()
        injected = standin.faults.injected["GetDomain"]
        standin.set_faults(faults)
        again = outcomes()
        standin.set_faults(FaultInjection(rate=0.3, seed=3))
        retrying = client(standin, attempts=10)
        for _ in range(5):
            retrying.get_domain(DomainName=DOMAIN)

    assert set(first) == {"ok", "ThrottlingException", "InternalServerException"}
    assert again == first
    assert injected == len(first) - first.count("ok")
    assert standin.calls["CreateDomain"] == 1


def test_stop_closes_the_port() -> None:
    standin = CustomerProfilesStandIn().start()
    port = standin.port
    standin.stop()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
