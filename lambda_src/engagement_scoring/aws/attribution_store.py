"""DynamoDB shapes of campaign attribution (#11, docs/attribution.md "Storage"): the `t#<user_key>` touches
item and the `c#<user_key>#<digest>` conversion ledger items of `processed_events`, and the ADD updates
of the per-campaign table. The scorer puts them in the TransactWriteItems of the user's write."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from engagement_scoring.core.attribution import (
    MODELS,
    Attribution,
    Touch,
    Touches,
    campaign_totals,
)

# Per model: the campaign table's attributes of conversions and value (`last_touch_conversions`, ...).
ATTRIBUTES = tuple((model, f"{model}_conversions", f"{model}_value") for model in MODELS)
_CAMPAIGN_UPDATE = (
    "ADD "
    + ", ".join(f"#{model}_c :{model}_c, #{model}_v :{model}_v" for model, _, _ in ATTRIBUTES)
    + " SET #updated = :updated"
)
_CAMPAIGN_NAMES = {
    **{f"#{model}_c": conversions for model, conversions, _ in ATTRIBUTES},
    **{f"#{model}_v": value for model, _, value in ATTRIBUTES},
    "#updated": "updated_at",
}
# Actions one TransactWriteItems holds.
MAX_TRANSACTION_ACTIONS = 100
DAY_S = 86_400


def touches_key(user_key: str) -> str:
    return f"t#{user_key}"


def ledger_key(user_key: str, content_key: str) -> str:
    """The conversion ledger key: the conversion's content key (`e#` + 32 hex) without its prefix."""
    return f"c#{user_key}#{content_key.removeprefix('e#')}"


def _number(value: Decimal | int) -> dict[str, str]:
    """A DynamoDB number, normalized: a rounded share of 0 is sent as "0", not "0.0000000000" (which
    moto stores and later fails to ADD to, as "0E-10")."""
    return {"N": format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)}


def touches_from_item(item: Mapping[str, Any] | None) -> tuple[Touches, int | None]:
    """The touches of a plain (deserialized) `t#` item, and its `n` (None: no item)."""
    if not item:
        return Touches(), None
    raw = item.get("t")
    touches: list[Touch] = []
    for entry in raw if isinstance(raw, list) else ():
        if isinstance(entry, list) and len(entry) == 5:
            campaign, event_type, message_id, at, seq = entry
            if isinstance(campaign, str) and isinstance(event_type, str) and isinstance(at, Decimal):
                touches.append(
                    Touch(
                        campaign,
                        event_type,
                        message_id if isinstance(message_id, str) else None,
                        int(at),
                        int(seq) if isinstance(seq, Decimal) else 0,
                    )
                )
    next_seq = item.get("n")
    count = int(next_seq) if isinstance(next_seq, Decimal) else len(touches)
    touches.sort(key=lambda t: t.order)
    return Touches(tuple(touches), count), count


def touches_put(
    table: str, user_key: str, touches: Touches, expected: int | None, lookback_ms: int
) -> dict[str, Any]:
    """Put of the whole `t#` item, conditioned on the `n` read (or on no item when none was read)."""
    newest_s = touches.touches[-1].timestamp_ms // 1000 if touches.touches else 0
    put: dict[str, Any] = {
        "TableName": table,
        "Item": {
            "event_key": {"S": touches_key(user_key)},
            "n": _number(touches.next_seq),
            "t": {
                "L": [
                    {
                        "L": [
                            {"S": t.campaign},
                            {"S": t.event_type},
                            {"NULL": True} if t.message_id is None else {"S": t.message_id},
                            _number(t.timestamp_ms),
                            _number(t.seq),
                        ]
                    }
                    for t in touches.touches
                ]
            },
            # Useful while a conversion can still be in the newest touch's window (a day of margin).
            "expires_at": _number(newest_s + lookback_ms // 1000 + DAY_S),
        },
    }
    if expected is None:
        put["ConditionExpression"] = "attribute_not_exists(event_key)"
    else:
        put["ConditionExpression"] = "#n = :n"
        put["ExpressionAttributeNames"] = {"#n": "n"}
        put["ExpressionAttributeValues"] = {":n": _number(expected)}
    return {"Put": put}


def _json_number(value: Decimal) -> str:
    return format(value, "f")


def credit_detail(attribution: Attribution) -> str:
    """One conversion's credit as JSON (kept on its ledger item): per model campaign -> [share, value]."""
    return json.dumps(
        {
            model: {
                share.campaign: [_json_number(share.conversions), _json_number(share.value)]
                for share in attribution.credit[model]
            }
            for model in MODELS
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def conversion_detail(attribution: Attribution) -> str:
    """What the user item's `ca` keeps of one credited conversion for its ConversionAttributed event."""
    conversion = attribution.conversion
    return json.dumps(
        {
            "conversion_type": conversion.event_type,
            "at": conversion.timestamp_ms,
            "value": _json_number(conversion.value),
            "attributed": attribution.attributed,
            "credit": json.loads(credit_detail(attribution)),
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def ledger_digest(key: str) -> str:
    """The 32 hex digits of a ledger key `c#<user_key>#<digest>`."""
    return key.rpartition("#")[2]


def ledger_put(table: str, key: str, attribution: Attribution, expires_at: int) -> dict[str, Any]:
    """The conversion ledger item: its condition (no such item yet) makes the credit exactly once."""
    conversion = attribution.conversion
    return {
        "Put": {
            "TableName": table,
            "Item": {
                "event_key": {"S": key},
                "conversion_type": {"S": conversion.event_type},
                "at": _number(conversion.timestamp_ms),
                "value": _number(conversion.value),
                "attributed": {"BOOL": attribution.attributed},
                "credit": {"S": credit_detail(attribution)},
                "expires_at": _number(expires_at),
            },
            "ConditionExpression": "attribute_not_exists(event_key)",
        }
    }


def campaign_updates(table: str, attributions: Sequence[Attribution], now_ms: int) -> list[dict[str, Any]]:
    """One ADD update per campaign credited (the unattributed under its reserved key), every model's
    conversions and value added (zeros included, so a model with no credit reads 0)."""
    updates = []
    for campaign, models in sorted(campaign_totals(attributions).items()):
        values: dict[str, Any] = {":updated": _number(now_ms)}
        for model, _, _ in ATTRIBUTES:
            values[f":{model}_c"] = _number(models[model].conversions)
            values[f":{model}_v"] = _number(models[model].value)
        updates.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": {"campaign": {"S": campaign}},
                    "UpdateExpression": _CAMPAIGN_UPDATE,
                    "ExpressionAttributeNames": dict(_CAMPAIGN_NAMES),
                    "ExpressionAttributeValues": values,
                }
            }
        )
    return updates
