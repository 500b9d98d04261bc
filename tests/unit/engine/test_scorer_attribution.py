"""Campaign attribution through the scorer (#11, moto): touches in `t#<user>`, each conversion credited
exactly once (ledger item `c#<user>#<digest>` + campaign-table ADDs in the user's transaction), replays,
lost responses and split transactions never double-credit, and users without touches or conversions
cost what they cost before."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from engagement_scoring.core.changes import image
from engagement_scoring.pipeline import scorer
from engagement_scoring.pipeline.scorer import ScorerRuntime, process_batch
from engine_support import (
    LEDGER_TABLE,
    SCORES_TABLE,
    AwsResources,
    FlakyDynamoDB,
    batch_line,
    client_error,
    custom_event,
    kinesis_event,
)

CAMPAIGN_TABLE = "es-campaign-attribution"
H = 3_600_000
T0 = 1_732_300_000_000
MODELS = ("last_touch", "first_touch", "linear")


@pytest.fixture
def campaigns(aws: AwsResources) -> AwsResources:
    aws.dynamodb.create_table(
        TableName=CAMPAIGN_TABLE,
        KeySchema=[{"AttributeName": "campaign", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "campaign", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return aws


def runtime(aws: AwsResources, client: Any = None, **env: str) -> ScorerRuntime:
    from engagement_scoring.core.config import ScorerConfig

    config = ScorerConfig.from_env(aws.env(CAMPAIGN_ATTRIBUTION_TABLE=CAMPAIGN_TABLE, **env))
    return ScorerRuntime(config, client or aws.dynamodb, aws.sqs, sleep=lambda _: None)


def click(user: str, campaign: str, at: int, message_id: str | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {"campaign": campaign, "channel": "email"}
    if message_id is not None:
        extra["message_id"] = message_id
    return custom_event(user, "_email.click", at, **extra)


def purchase(user: str, at: int, price: float, quantity: int = 1) -> dict[str, Any]:
    return custom_event(
        user, "_monetization.purchase", at, metrics={"_item_price": price, "_quantity": quantity}
    )


def table(aws: AwsResources) -> dict[str, dict[str, Any]]:
    items = aws.dynamodb.scan(TableName=CAMPAIGN_TABLE, ConsistentRead=True)["Items"]
    result = {}
    for item in items:
        plain = image(item) or {}
        result[plain["campaign"]] = {
            model: (plain[f"{model}_conversions"], plain[f"{model}_value"]) for model in MODELS
        }
    return result


def side_items(aws: AwsResources, prefix: str) -> dict[str, dict[str, Any]]:
    items = aws.dynamodb.scan(TableName=LEDGER_TABLE, ConsistentRead=True)["Items"]
    plain = [image(item) or {} for item in items]
    return {item["event_key"]: item for item in plain if item["event_key"].startswith(prefix)}


def run(runtime: ScorerRuntime, payloads: list[dict[str, Any]], capsys: Any) -> dict[str, Any]:
    response = process_batch(kinesis_event(payloads), runtime)
    line = batch_line(capsys.readouterr().out)
    line["response"] = response
    return line


BATCH = [
    click("u1", "spring", T0, "m1"),
    click("u1", "summer", T0 + H, "m2"),
    click("u1", "spring", T0 + H, "m1"),  # the same (campaign, message, type): not a second touch
    purchase("u1", T0 + 2 * H, 10.5, 2),
    click("u2", "summer", T0, "m3"),
    purchase("u2", T0 + 200 * H, 4),  # outside the 168 h window: unattributed
    custom_event("u3", "_email.open", T0),  # no campaign: no touch, no attribution write
]
EXPECTED = {
    "spring": {
        "last_touch": (0, 0),
        "first_touch": (1, Decimal(21)),
        "linear": (Decimal("0.5"), Decimal("10.5")),
    },
    "summer": {
        "last_touch": (1, Decimal(21)),
        "first_touch": (0, 0),
        "linear": (Decimal("0.5"), Decimal("10.5")),
    },
    "(unattributed)": {model: (1, 4) for model in MODELS},
}


def test_conversions_are_credited_to_the_campaign_table_once(campaigns: AwsResources, capsys: Any) -> None:
    scorer_runtime = runtime(campaigns)
    line = run(scorer_runtime, BATCH, capsys)
    assert line["response"] == {"batchItemFailures": []}
    assert (line["touches_recorded"], line["conversions_attributed"], line["conversions_unattributed"]) == (
        3,
        1,
        1,
    )
    assert table(campaigns) == EXPECTED
    touches = side_items(campaigns, "t#")
    assert set(touches) == {"t#u1", "t#u2"}
    assert [entry[0] for entry in touches["t#u1"]["t"]] == ["spring", "summer"]
    assert touches["t#u1"]["n"] == 2
    ledger = side_items(campaigns, "c#")
    assert len(ledger) == 2
    credit = {key.split("#")[1]: json.loads(item["credit"]) for key, item in ledger.items()}
    assert credit["u1"]["last_touch"] == {"summer": ["1", "21.0"]}
    assert credit["u2"] == {model: {} for model in MODELS}
    # Attribution types are counted even with 0 points: the purchase has a rule, touches score as usual.
    scores = campaigns.scores()
    assert scores["u1"]["events_applied"] == 4  # two distinct clicks + the duplicate-touch click + purchase
    assert "t#u3" not in touches

    # The same batch again (a Lambda retry, a producer re-send): every event a duplicate, nothing credited.
    again = run(scorer_runtime, BATCH, capsys)
    assert again["duplicates_suppressed"] == len(BATCH)
    assert (
        again["touches_recorded"],
        again["conversions_attributed"],
        again["conversions_unattributed"],
    ) == (0, 0, 0)
    assert table(campaigns) == EXPECTED


def test_a_later_batch_credits_from_the_stored_touches_and_late_touches_are_not_retroactive(
    campaigns: AwsResources, capsys: Any
) -> None:
    scorer_runtime = runtime(campaigns)
    run(scorer_runtime, [click("u1", "spring", T0)], capsys)
    # The purchase at 3 h reaches the scorer before a click of 2 h: only spring is credited.
    run(scorer_runtime, [purchase("u1", T0 + 3 * H, 6), click("u1", "summer", T0 + 2 * H)], capsys)
    assert table(campaigns) == {"spring": {model: (1, 6) for model in MODELS}}
    run(scorer_runtime, [purchase("u1", T0 + 4 * H, 2)], capsys)
    assert table(campaigns)["summer"] == {
        "last_touch": (1, 2),
        "first_touch": (0, 0),
        "linear": (Decimal("0.5"), 1),
    }
    assert table(campaigns)["spring"] == {
        "last_touch": (1, 6),
        "first_touch": (2, 8),
        "linear": (Decimal("1.5"), 7),
    }


def test_lost_response_then_redelivery_never_double_credits(campaigns: AwsResources, capsys: Any) -> None:
    def lose_first_response(actions: list[dict[str, Any]], attempt: int) -> None:
        if attempt == 1:  # the transaction committed, its response is lost (a killed worker looks the same)
            raise client_error("RequestTimeout", "TransactWriteItems", 500)

    flaky = FlakyDynamoDB(campaigns.dynamodb, after_transact=lose_first_response)
    scorer_runtime = runtime(campaigns, flaky)
    payloads = [click("u1", "spring", T0), purchase("u1", T0 + H, 5)]
    line = run(scorer_runtime, payloads, capsys)
    assert line["response"] == {"batchItemFailures": []}
    # Retry round: strongly consistent read, both events already in the ring.
    assert line["duplicates_suppressed"] == 2
    assert table(campaigns) == {"spring": {model: (1, 5) for model in MODELS}}
    run(runtime(campaigns), payloads, capsys)  # the whole batch redelivered to a new execution environment
    assert table(campaigns) == {"spring": {model: (1, 5) for model in MODELS}}


def test_failed_transaction_credits_nothing_and_the_retry_credits_once(
    campaigns: AwsResources, capsys: Any
) -> None:
    def cancel_first(actions: list[dict[str, Any]], attempt: int) -> None:
        if attempt == 1:
            raise client_error(
                "TransactionCanceledException",
                "TransactWriteItems",
                CancellationReasons=[{"Code": "ThrottlingError"}] + [{"Code": "None"}] * (len(actions) - 1),
            )

    flaky = FlakyDynamoDB(campaigns.dynamodb, on_transact=cancel_first)
    line = run(runtime(campaigns, flaky), [click("u1", "spring", T0), purchase("u1", T0 + H, 5)], capsys)
    assert line["response"] == {"batchItemFailures": []}
    assert line["transaction_retries"] == 1 and line["conversions_attributed"] == 1
    assert table(campaigns) == {"spring": {model: (1, 5) for model in MODELS}}


def test_split_transaction_credits_first_and_a_retry_finds_the_ledger(
    campaigns: AwsResources, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Force the split path: the credit (ledger + campaign ADDs) commits alone, then the user write fails
    # for good in this invocation; the redelivered batch finds the ledger item and credits nothing again.
    monkeypatch.setattr(scorer, "MAX_TRANSACTION_ACTIONS", 2)
    writes: list[list[str]] = []

    def fail_user_writes(actions: list[dict[str, Any]], attempt: int) -> None:
        tables = [next(iter(action.values()))["TableName"] for action in actions]
        writes.append(tables)
        if SCORES_TABLE in tables:
            raise client_error("ValidationException", "TransactWriteItems")

    payloads = [click("u1", "spring", T0), purchase("u1", T0 + H, 5)]
    line = run(
        runtime(campaigns, FlakyDynamoDB(campaigns.dynamodb, on_transact=fail_user_writes)), payloads, capsys
    )
    assert line["response"]["batchItemFailures"]  # the records come back to Lambda
    assert writes[0] == [LEDGER_TABLE, CAMPAIGN_TABLE]
    assert table(campaigns) == {"spring": {model: (1, 5) for model in MODELS}}
    assert campaigns.scores() == {}

    retry = run(runtime(campaigns), payloads, capsys)
    assert retry["response"] == {"batchItemFailures": []}
    assert retry["conversions_already_credited"] == 1 and retry["conversions_attributed"] == 0
    assert table(campaigns) == {"spring": {model: (1, 5) for model in MODELS}}
    assert campaigns.scores()["u1"]["events_applied"] == 2
    assert set(side_items(campaigns, "t#")) == {"t#u1"}


def _published_conversions(campaigns: AwsResources, sync_runtime: Any) -> list[dict[str, Any]]:
    """The sync over the scores stream so far: the ConversionAttributed details it publishes."""
    from engagement_scoring.pipeline.score_sync import process_stream_batch

    assert process_stream_batch(campaigns.stream_event(), sync_runtime()) == {"batchItemFailures": []}
    return [
        m["detail"]
        for m in campaigns.queue_messages(campaigns.bus_queue_url)
        if m["detail-type"] == "ConversionAttributed"
    ]


@pytest.mark.parametrize("failure", ["for_good", "once"])
def test_a_split_credit_whose_user_write_failed_is_still_published_once_with_its_id(
    campaigns: AwsResources, capsys: Any, monkeypatch: pytest.MonkeyPatch, sync_runtime: Any, failure: str
) -> None:
    # #11 doubt (a): on the split path the credit commits before the user write; when that write fails
    # (for good: the batch is redelivered; once: a conflict retried in the same invocation), the retry
    # credits nothing again and must still set `ca`, or the conversion is credited but never published.
    monkeypatch.setattr(scorer, "MAX_TRANSACTION_ACTIONS", 2)

    def fail_user_writes(actions: list[dict[str, Any]], attempt: int) -> None:
        tables = [next(iter(action.values()))["TableName"] for action in actions]
        if SCORES_TABLE in tables and (failure == "for_good" or attempt <= 2):
            code = "ValidationException" if failure == "for_good" else "TransactionConflict"
            raise client_error(code, "TransactWriteItems")

    payloads = [click("u1", "spring", T0), purchase("u1", T0 + H, 5)]
    flaky = runtime(campaigns, FlakyDynamoDB(campaigns.dynamodb, on_transact=fail_user_writes))
    first = run(flaky, payloads, capsys)
    if failure == "for_good":
        assert first["response"]["batchItemFailures"]
        retry = run(runtime(campaigns), payloads, capsys)
        assert retry["conversions_already_credited"] == 1 and retry["conversions_attributed"] == 0
    else:
        retry = first
        assert retry["transaction_retries"] >= 1 and retry["conversions_attributed"] == 1
    assert retry["response"] == {"batchItemFailures": []}
    assert table(campaigns) == {"spring": {model: (1, 5) for model in MODELS}}
    # then the user item holds the conversion's detail, and the sync publishes it once
    published = _published_conversions(campaigns, sync_runtime)
    assert len(published) == 1 and len(published[0]["event_id"]) == 32
    assert published[0]["value"] == 5 and published[0]["attributed"] is True
    assert published[0]["models"]["last_touch"] == [{"campaign": "spring", "conversions": 1, "value": 5}]


def test_an_existing_ledger_item_in_the_one_transaction_is_not_credited_again(
    campaigns: AwsResources, capsys: Any
) -> None:
    payloads = [click("u1", "spring", T0), purchase("u1", T0 + H, 5)]
    run(runtime(campaigns), payloads, capsys)
    # Lose the user's exactly-once state (as if its digests had expired), keep the ledger item.
    campaigns.dynamodb.delete_item(TableName=SCORES_TABLE, Key={"user_key": {"S": "u1"}})
    line = run(runtime(campaigns), payloads, capsys)
    assert line["response"] == {"batchItemFailures": []}
    assert line["conversions_already_credited"] == 1 and line["conversions_attributed"] == 0
    assert table(campaigns) == {"spring": {model: (1, 5) for model in MODELS}}


def test_touch_types_without_a_score_rule_are_counted_at_zero_points(
    campaigns: AwsResources, capsys: Any
) -> None:
    scorer_runtime = runtime(
        campaigns,
        ATTRIBUTION_TOUCH_EVENT_TYPES='["newsletter_read"]',
        CONVERSION_RULES='[{"event_type": "signup"}]',
    )
    payloads = [
        custom_event("u1", "newsletter_read", T0, campaign="weekly"),
        custom_event("u1", "newsletter_read", T0, campaign="weekly"),  # exact duplicate
        custom_event("u1", "signup", T0 + H),
    ]
    line = run(scorer_runtime, payloads, capsys)
    assert line["skipped"] == {} and line["duplicates_suppressed"] == 1
    assert table(campaigns) == {"weekly": {model: (1, 0) for model in MODELS}}
    assert campaigns.scores()["u1"]["score"] == 0


def test_users_without_touches_or_conversions_cost_the_same_calls(
    campaigns: AwsResources, capsys: Any
) -> None:
    payloads = [custom_event("u9", "_email.open", T0), custom_event("u9", "_email.send", T0 + 1)]
    on = run(runtime(campaigns), payloads, capsys)
    boto3.client("dynamodb").delete_item(TableName=SCORES_TABLE, Key={"user_key": {"S": "u9"}})
    off = run(campaigns.scorer(), payloads, capsys)
    assert on["aws_calls"] == off["aws_calls"] == {"Scan": 1, "BatchGetItem": 1, "UpdateItem": 1}
    assert side_items(campaigns, "t#") == {}


def test_the_sync_publishes_one_conversion_attributed_per_credited_conversion(
    campaigns: AwsResources, capsys: Any, sync_runtime: Any
) -> None:
    from engagement_scoring.pipeline.score_sync import process_stream_batch

    scorer_runtime = runtime(campaigns)
    run(scorer_runtime, BATCH, capsys)
    first = campaigns.stream_event()
    assert process_stream_batch(first, sync_runtime()) == {"batchItemFailures": []}
    events = [
        m
        for m in campaigns.queue_messages(campaigns.bus_queue_url)
        if m["detail-type"] == "ConversionAttributed"
    ]
    by_user = {event["detail"]["user_key"]: event["detail"] for event in events}
    assert len(events) == 2 and set(by_user) == {"u1", "u2"}
    u1 = dict(by_user["u1"])
    event_id = u1.pop("event_id")
    assert len(event_id) == 32
    assert u1 == {
        "user_key": "u1",
        "conversion_type": "_monetization.purchase",
        "at": T0 + 2 * H,
        "value": 21,
        "attributed": True,
        "models": {
            "first_touch": [{"campaign": "spring", "conversions": 1, "value": 21}],
            "last_touch": [{"campaign": "summer", "conversions": 1, "value": 21}],
            "linear": [
                {"campaign": "spring", "conversions": 0.5, "value": 10.5},
                {"campaign": "summer", "conversions": 0.5, "value": 10.5},
            ],
        },
    }
    assert by_user["u2"]["attributed"] is False and by_user["u2"]["value"] == 4
    assert by_user["u2"]["models"] == {model: [] for model in MODELS}

    # A redelivered stream batch publishes the same ids; a later write removes `ca` and publishes none.
    capsys.readouterr()
    process_stream_batch(first, sync_runtime())
    again = [
        m
        for m in campaigns.queue_messages(campaigns.bus_queue_url)
        if m["detail-type"] == "ConversionAttributed"
    ]
    assert sorted(m["detail"]["event_id"] for m in again) == sorted(e["detail"]["event_id"] for e in events)
    run(scorer_runtime, [click("u1", "autumn", T0 + 3 * H)], capsys)
    assert "ca" not in campaigns.scores()["u1"] and "ca" in campaigns.scores()["u2"]  # u2 not written again
    later = [
        r
        for r in campaigns.stream_event()["Records"]
        if r["eventID"] not in {x["eventID"] for x in first["Records"]}
    ]
    capsys.readouterr()
    process_stream_batch({"Records": later}, sync_runtime())
    assert [
        m
        for m in campaigns.queue_messages(campaigns.bus_queue_url)
        if m["detail-type"] == "ConversionAttributed"
    ] == []


def test_the_report_reads_the_table_as_json_csv_and_a_table(campaigns: AwsResources, capsys: Any) -> None:
    from engagement_scoring import report

    run(runtime(campaigns), BATCH, capsys)
    assert report.main(["--table", CAMPAIGN_TABLE, "--json"], dynamodb=campaigns.dynamodb) == 0
    assert json.loads(capsys.readouterr().out) == {
        "campaigns": {
            "spring": {
                "last_touch": {"conversions": 0, "value": 0},
                "first_touch": {"conversions": 1, "value": 21},
                "linear": {"conversions": 0.5, "value": 10.5},
            },
            "summer": {
                "last_touch": {"conversions": 1, "value": 21},
                "first_touch": {"conversions": 0, "value": 0},
                "linear": {"conversions": 0.5, "value": 10.5},
            },
        },
        "unattributed": {"conversions": 1, "value": 4},
    }
    costs = '{"spring": 42, "autumn": 5}'
    assert (
        report.main(["--table", CAMPAIGN_TABLE, "--csv", "--costs-json", costs], dynamodb=campaigns.dynamodb)
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(",")[:6] == [
        "campaign",
        "cost",
        "last_touch conversions",
        "last_touch value",
        "last_touch cost/conversion",
        "last_touch return",
    ]
    # spring: last_touch no conversion (no cost per conversion), first_touch 42/1 and 21/42, linear 42/0.5.
    assert lines[1].split(",") == [
        "spring",
        "42",
        "0",
        "0",
        "",
        "0.00",
        "1",
        "21",
        "42.00",
        "0.50",
        "0.5",
        "10.5",
        "84.00",
        "0.25",
    ]
    assert lines[2].split(",")[:2] == ["summer", ""] and len(lines) == 3
    assert report.main(["--table", CAMPAIGN_TABLE], dynamodb=campaigns.dynamodb) == 0
    out = capsys.readouterr().out
    assert "spring" in out and "unattributed: 1 conversions, value 4" in out


def test_zero_valued_linear_shares_add_up_again(campaigns: AwsResources, capsys: Any) -> None:
    # A purchase without a price splits value 0 over two campaigns: each rounded share is 0E-10, sent
    # normalized as "0"; the second purchase ADDs to those items again (moto failed on "0.0000000000").
    scorer_runtime = runtime(campaigns)
    payloads = [
        click("u1", "a", T0),
        click("u1", "b", T0 + 1),
        custom_event("u1", "_monetization.purchase", T0 + H),
    ]
    first = run(scorer_runtime, payloads, capsys)
    second = run(scorer_runtime, [custom_event("u1", "_monetization.purchase", T0 + 2 * H)], capsys)
    assert first["response"] == second["response"] == {"batchItemFailures": []}
    assert table(campaigns)["a"]["linear"] == (1, 0) and table(campaigns)["b"]["linear"] == (1, 0)


def test_the_report_takes_the_deployed_campaign_costs_unless_costs_json_overrides(
    campaigns: AwsResources, capsys: Any
) -> None:
    from engagement_scoring import report

    # given the credits of BATCH and the module's campaign_costs as attribution.tf writes them
    run(runtime(campaigns), BATCH, capsys)
    costs_item: dict[str, Any] = {
        "campaign": {"S": "(costs)"},
        "costs": {"M": {"spring": {"N": "42"}, "autumn": {"N": "5"}}},
    }
    campaigns.dynamodb.put_item(TableName=CAMPAIGN_TABLE, Item=costs_item)
    # when the report runs on the table alone, then it shows those costs, and the item is no campaign
    assert report.main(["--table", CAMPAIGN_TABLE, "--json"], dynamodb=campaigns.dynamodb) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["costs"] == {"autumn": 5, "spring": 42}
    assert set(shown["campaigns"]) == {"spring", "summer"}
    assert report.main(["--table", CAMPAIGN_TABLE, "--csv"], dynamodb=campaigns.dynamodb) == 0
    spring = capsys.readouterr().out.splitlines()[1].split(",")
    assert spring[:2] == ["spring", "42"] and spring[8:10] == ["42.00", "0.50"]  # first_touch: 42/1, 21/42
    # and --costs-json still overrides them
    override = ["--table", CAMPAIGN_TABLE, "--json", "--costs-json", '{"summer": 7}']
    assert report.main(override, dynamodb=campaigns.dynamodb) == 0
    assert json.loads(capsys.readouterr().out)["costs"] == {"summer": 7}
    # and a malformed costs item is a clear error, not a wrong ratio
    costs_item["costs"]["M"]["spring"] = {"S": "a lot"}
    campaigns.dynamodb.put_item(TableName=CAMPAIGN_TABLE, Item=costs_item)
    assert report.main(["--table", CAMPAIGN_TABLE, "--json"], dynamodb=campaigns.dynamodb) == 2
    assert "(costs) item must map campaign -> number >= 0" in capsys.readouterr().err


def test_a_touch_naming_the_reserved_costs_campaign_credits_nothing(
    campaigns: AwsResources, capsys: Any
) -> None:
    run(runtime(campaigns), [click("u1", "(costs)", T0), purchase("u1", T0 + H, 5)], capsys)
    assert table(campaigns) == {"(unattributed)": {model: (1, 5) for model in MODELS}}
