"""Compare what the pipeline produced with what the oracle expects.

**user_scores** (always): every user the oracle expects must have an item, and no other item may
exist. Per user, `score`, `raw_score`, every channel of `channels` (a missing channel counts as 0),
`events_applied` and `as_of` must equal the oracle's; `tier` must too (absent when no tiers are
configured). Numbers are compared exactly without decay; with decay within `DECAY_TOLERANCE`
(absolute), and a tier difference is forgiven when the score lies within the tolerance of a tier
boundary. Each mismatching user counts once in `mismatches`, whatever the number of fields.

**Pinpoint endpoints** (when the score sync's `PINPOINT_APPLICATION_ID` is set and the target
can show the endpoints): the endpoint ids of a user's *counted* campaign, journey and app events
(with `USER_KEY_MODE=endpoint_id`: the user key itself) must exist with `Metrics.<metric>` equal
to the user's score and, with tiers, `Attributes.<attribute>` = `[tier]`. Any other endpoint
that carries the metric must belong to an expected user (the population knows every endpoint's
owner) and carry that user's score. Each failing endpoint counts as one mismatch.

**Publication threshold** (`SCORE_PUBLISH_MIN_DELTA` T > 0): the sinks show a user's last
publication, not its final state, so a sink's score must lie within T of the oracle's final score
(strictly; with decay plus the tolerance) with the final tier exactly (a tier change always publishes),
and the channels of a Customer Profiles object must add up to its score (they are the publication's,
not the final ones). With T = 0 every check is exact as described here.

**Tier hysteresis** (`TIER_HYSTERESIS_POINTS` H > 0): a tier (stored or in a sink) may also be a
tier above the plain one whose min_score - H <= the final score (oracle `tiers_possible`): the user
may have reached it before and kept it, depending on the scores its writes passed through.

**EventBridge** (when the score sync's `EVENT_BUS_NAME` is set and the target can show the
events): every expected user whose final score is not 0 must have at least one
`EngagementScoreChanged` event whose `detail.score` equals the final score (the last change
that produced the final score published it; a score of 0 may never have been a *change*, so
those users are not required). Each user without one counts as one mismatch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from simulator.oracle import Expectation, Number, Settings, clamp, sinks_may_show, tiers_possible

DECAY_TOLERANCE = 1e-3
SCORE_CHANGED = "EngagementScoreChanged"
MAX_EXAMPLES = 20
TIER_CHANGED = "EngagementTierChanged"


@dataclass(slots=True)
class Mismatch:
    user_key: str
    field: str
    expected: Any
    actual: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "user_key": self.user_key,
            "field": self.field,
            "expected": self.expected,
            "actual": self.actual,
        }


@dataclass(slots=True)
class SinkCheck:
    checked: bool = False
    expected: int = 0
    ok: int = 0
    missing: int = 0
    wrong: int = 0
    unexpected: int = 0
    observed: int = 0
    notes: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)  # the first few failures

    def fail(self, kind: str, **example: Any) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"problem": kind, **example})

    @property
    def mismatches(self) -> int:
        return self.missing + self.wrong + self.unexpected

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "expected": self.expected,
            "ok": self.ok,
            "missing": self.missing,
            "wrong": self.wrong,
            "unexpected": self.unexpected,
            "observed": self.observed,
            **self.notes,
            "examples": self.examples,
        }


def plain(value: Any) -> Any:
    """DynamoDB Decimals and sets as JSON-friendly values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    return value


def numbers_equal(expected: Number, actual: Any, decays: bool) -> bool:
    if actual is None or isinstance(actual, bool):
        return False
    try:
        if decays:
            return abs(float(expected) - float(actual)) <= DECAY_TOLERANCE
        return Decimal(str(expected)) == Decimal(str(actual))
    except (ValueError, ArithmeticError):
        return False


def sink_score_ok(expected: Number, actual: Any, settings: Settings) -> bool:
    """A sink's score against the oracle's final score, under the publication threshold (oracle)."""
    if actual is None or isinstance(actual, bool):
        return False
    return sinks_may_show(expected, actual, settings, DECAY_TOLERANCE if settings.decays else 0.0)


def channels_consistent(score: Any, channels: Mapping[str, Any], settings: Settings) -> bool:
    """With a publication threshold a sink's channels are those of the last publication, not the final
    ones: they must still add up to its score (score = the clamped sum of the channels)."""
    try:
        if settings.decays:
            raw: Number = sum(float(value) for value in channels.values())
        else:
            raw = sum((Decimal(str(value)) for value in channels.values()), Decimal(0))
        return numbers_equal(clamp(raw, settings.floor, settings.ceiling), score, settings.decays)
    except (ValueError, ArithmeticError, TypeError):
        return False


def tier_ok(score: Number, expected: str | None, actual: Any, settings: Settings) -> bool:
    """A stored or published tier against the oracle's: equal, forgiven near a boundary with decay, and
    with tier hysteresis any tier the final score may hold (oracle `tiers_possible`)."""
    if actual == expected or _near_boundary(score, settings):
        return True
    tolerance = DECAY_TOLERANCE if settings.decays else 0.0
    return settings.tier_hysteresis > 0 and actual in tiers_possible(score, settings, tolerance)


def _near_boundary(score: Number, settings: Settings) -> bool:
    return settings.decays and any(
        abs(float(score) - float(t.min_score)) <= DECAY_TOLERANCE for t in settings.tiers
    )


def compare_scores(
    expectation: Expectation, items: Mapping[str, Mapping[str, Any]], settings: Settings
) -> list[Mismatch]:
    """Field-level differences between the oracle and the user_scores items (deserialized)."""
    out: list[Mismatch] = []
    decays = settings.decays
    for key, want in expectation.users.items():
        item = items.get(key)
        if item is None:
            out.append(Mismatch(key, "item", "present", None))
            continue
        for name, expected in (("score", want.score), ("raw_score", want.raw_score)):
            if not numbers_equal(expected, item.get(name), decays):
                out.append(Mismatch(key, name, plain(expected), plain(item.get(name))))
        channels = item.get("channels") if isinstance(item.get("channels"), Mapping) else {}
        assert isinstance(channels, Mapping)
        for channel in sorted(set(want.channels) | set(channels)):
            expected_channel = want.channels.get(channel, Decimal(0))
            if not numbers_equal(expected_channel, channels.get(channel, 0), decays):
                out.append(
                    Mismatch(
                        key, f"channels.{channel}", plain(expected_channel), plain(channels.get(channel))
                    )
                )
        if not tier_ok(want.score, want.tier, item.get("tier"), settings):
            out.append(Mismatch(key, "tier", want.tier, item.get("tier")))
        rules = item.get("rules")
        found_rules = sorted(rules) if isinstance(rules, set | list) else []
        if found_rules != want.rules:  # window rules (#10): `rules` absent when none are matched
            out.append(Mismatch(key, "rules", want.rules, found_rules))
        for name, expected_int in (("events_applied", want.events_applied), ("as_of", want.as_of)):
            if not numbers_equal(Decimal(expected_int), item.get(name), False):
                out.append(Mismatch(key, name, expected_int, plain(item.get(name))))
    for key in sorted(set(items) - set(expectation.users)):
        out.append(Mismatch(key, "item", None, "present"))
    return out


def check_pinpoint(
    expectation: Expectation,
    endpoints: Mapping[str, Mapping[str, Any]],
    settings: Settings,
    endpoint_owner: Mapping[str, str],
    metric: str = "EngagementScore",
    attribute: str = "EngagementTier",
) -> SinkCheck:
    """Check the Pinpoint stand-in's endpoints; `endpoint_owner` maps endpoint id -> user key."""
    check = SinkCheck(checked=True, observed=len(endpoints))
    required: dict[str, str] = {}
    for key, want in expectation.users.items():
        ids = {key} if settings.user_key_mode == "endpoint_id" else want.endpoint_ids
        for endpoint_id in ids:
            required[endpoint_id] = key

    def example(endpoint_id: str, user_key: str, endpoint: Mapping[str, Any] | None) -> dict[str, Any]:
        want = expectation.users[user_key]
        return {
            "endpoint_id": endpoint_id,
            "user_key": user_key,
            "expected_score": plain(want.score),
            "expected_tier": want.tier,
            "metric": plain((endpoint or {}).get("Metrics", {}).get(metric)),
            "tier_attribute": (endpoint or {}).get("Attributes", {}).get(attribute),
        }

    def correct(endpoint: Mapping[str, Any], user_key: str) -> bool:
        want = expectation.users[user_key]
        metrics = endpoint.get("Metrics") or {}
        if not sink_score_ok(want.score, metrics.get(metric), settings):
            return False
        if want.tier is None:
            return True
        shown = (endpoint.get("Attributes") or {}).get(attribute)
        return (
            isinstance(shown, list) and len(shown) == 1 and tier_ok(want.score, want.tier, shown[0], settings)
        )

    for endpoint_id, user_key in required.items():
        check.expected += 1
        endpoint = endpoints.get(endpoint_id)
        if endpoint is None or metric not in (endpoint.get("Metrics") or {}):
            check.fail("missing", **example(endpoint_id, user_key, endpoint))
        elif correct(endpoint, user_key):
            check.ok += 1
        else:
            check.fail("wrong", **example(endpoint_id, user_key, endpoint))
    for endpoint_id, endpoint in endpoints.items():
        if endpoint_id in required or metric not in (endpoint.get("Metrics") or {}):
            continue
        owner = endpoint_id if settings.user_key_mode == "endpoint_id" else endpoint_owner.get(endpoint_id)
        if owner is None or owner not in expectation.users:
            check.fail("unexpected", endpoint_id=endpoint_id, metric=plain(endpoint["Metrics"][metric]))
        elif correct(endpoint, owner):
            check.notes["extra_endpoints_ok"] = check.notes.get("extra_endpoints_ok", 0) + 1
        else:
            check.fail("wrong", **example(endpoint_id, owner, endpoint))
    return check


def _event_parts(event: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    detail_type = event.get("detail-type", event.get("DetailType"))
    detail = event.get("detail", event.get("Detail"))
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            detail = None
    return (detail_type if isinstance(detail_type, str) else None), (
        detail if isinstance(detail, dict) else {}
    )


def check_eventbridge(
    expectation: Expectation, events: Sequence[Mapping[str, Any]], settings: Settings
) -> SinkCheck:
    check = SinkCheck(checked=True, observed=len(events))
    scores_seen: dict[str, list[Any]] = {}
    tier_changes = 0
    for event in events:
        detail_type, detail = _event_parts(event)
        if detail_type == TIER_CHANGED:
            tier_changes += 1
        if detail_type == SCORE_CHANGED and isinstance(detail.get("user_key"), str):
            scores_seen.setdefault(detail["user_key"], []).append(detail.get("score"))
    check.notes["score_changed_events"] = sum(len(v) for v in scores_seen.values())
    check.notes["tier_changed_events"] = tier_changes
    for key, want in expectation.users.items():
        if numbers_equal(want.score, 0, False):
            continue
        check.expected += 1
        seen = scores_seen.get(key)
        if not seen:
            check.fail("missing", user_key=key, expected_score=plain(want.score))
        elif any(sink_score_ok(want.score, s, settings) for s in seen):
            check.ok += 1
        else:
            check.fail("wrong", user_key=key, expected_score=plain(want.score), published=seen[-5:])
    check.notes["users_with_events_not_expected"] = len(set(scores_seen) - set(expectation.users))
    _check_rule_events(expectation, events, check)
    return check


RULE_MATCHED = "EngagementRuleMatched"
RULE_CLEARED = "EngagementRuleCleared"


def _check_rule_events(
    expectation: Expectation,
    events: Sequence[Mapping[str, Any]],
    check: SinkCheck,
    wanted_rules: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Window rules (#10): per (user, rule), the rule event of the highest item version says whether it
    is matched; that must be the oracle's final state (a matched pair needs an EngagementRuleMatched, a
    pair last seen EngagementRuleMatched must be matched), or `wanted_rules` (per user, the rules matched
    as of the time-advance clock: a rule the refresher cleared must be last seen EngagementRuleCleared).
    Address-keyed users are found by their `user_key_sha256`."""
    by_hash = {hashlib.sha256(key.encode()).hexdigest(): key for key in expectation.users}
    latest: dict[tuple[str, str], tuple[int, bool]] = {}
    for event in events:
        detail_type, detail = _event_parts(event)
        if detail_type not in (RULE_MATCHED, RULE_CLEARED):
            continue
        key = detail.get("user_key")
        if not isinstance(key, str):
            key = by_hash.get(str(detail.get("user_key_sha256")), str(detail.get("user_key_sha256")))
        found_version = detail.get("version")
        version = found_version if isinstance(found_version, int) else 0
        pair = (key, str(detail.get("rule")))
        if pair not in latest or version >= latest[pair][0]:
            latest[pair] = (version, detail_type == RULE_MATCHED)
    check.notes["rule_events"] = sum(1 for e in events if _event_parts(e)[0] in (RULE_MATCHED, RULE_CLEARED))
    rules_of = (
        {key: user.rules for key, user in expectation.users.items()} if wanted_rules is None else wanted_rules
    )
    wanted = {(key, rule) for key, rules in rules_of.items() for rule in rules}
    for pair in sorted(wanted):
        check.expected += 1
        if latest.get(pair, (0, False))[1]:
            check.ok += 1
        else:
            check.fail("missing", user_key=pair[0], rule_matched=pair[1])
    for pair, (_, matched) in sorted(latest.items()):
        if matched and pair not in wanted:
            check.fail("unexpected", user_key=pair[0], rule_matched=pair[1])


def check_counters(expectation: Expectation, scorer: Mapping[str, Any]) -> SinkCheck:
    """The scorer's summed batch lines against the oracle: events counted, repeats suppressed (duplicates
    and once-per-message together), every skip reason (`no_user_key`, `no_rule`, `control_message`, ...)
    and the number of rejected payloads (the oracle names its own rejection reasons, so only their total
    is compared). Each counter that differs is one mismatch. Only meaningful when no batch was retried
    (a retried batch is counted again), which the caller checks."""
    check = SinkCheck(checked=True)
    skipped = scorer.get("skipped") if isinstance(scorer.get("skipped"), Mapping) else {}
    rejected = scorer.get("rejected") if isinstance(scorer.get("rejected"), Mapping) else {}
    assert isinstance(skipped, Mapping) and isinstance(rejected, Mapping)
    # A re-sent copy of an event that was itself suppressed once-per-message (the second SMS status) is a
    # duplicate for the engine within one batch and a once-per-message repeat across batches: only the sum
    # of both is independent of how the stream was cut into batches.
    # Likewise a machine event weighted 0 is never recorded: re-sent in the same batch it is a duplicate, in
    # a later one it is not counted again. So the three are compared as one sum.
    suppressed = (
        expectation.duplicates + expectation.once_per_message_suppressed + expectation.machine_not_counted
    )
    pairs: list[tuple[str, float, Any]] = [
        ("scored", expectation.counted, scorer.get("scored", 0)),
        (
            "suppressed (duplicates + once per message + machine weight 0)",
            suppressed,
            scorer.get("duplicates_suppressed", 0)
            + scorer.get("once_per_message_suppressed", 0)
            + scorer.get("machine_not_counted", 0),
        ),
        ("rejected", sum(expectation.rejected.values()), sum(rejected.values())),
    ]
    for reason in sorted(set(expectation.skipped) | set(skipped)):
        pairs.append((f"skipped.{reason}", expectation.skipped.get(reason, 0), skipped.get(reason, 0)))
    if "limit_capped_events" in scorer:  # point limits configured (#10)
        pairs.append(("limit_capped_events", expectation.limit_capped_events, scorer["limit_capped_events"]))
        pairs.append(
            (
                "points_not_counted",
                round(float(expectation.points_not_counted), 6),
                round(float(scorer.get("points_not_counted", 0)), 6),
            )
        )
    check.observed = len(pairs)
    for name, expected, actual in pairs:
        check.expected += 1
        if expected == actual:
            check.ok += 1
        else:
            check.fail("wrong", counter=name, expected=expected, actual=actual)
    # The scorer counts a reason once per batch an event arrives in (after that batch's duplicates are
    # removed): its count lies between the oracle's distinct events and arrivals with the reason. Burst
    # too, since the user item's `rc` carries it across batch cuts (docs/scoring.md, "Burst").
    flagged = scorer.get("machine_flagged") if isinstance(scorer.get("machine_flagged"), Mapping) else {}
    assert isinstance(flagged, Mapping)
    for reason in sorted(set(expectation.machine_flagged_arrivals) | set(flagged)):
        low = expectation.machine_flagged.get(reason, 0)
        high = expectation.machine_flagged_arrivals.get(reason, 0)
        actual = flagged.get(reason, 0)
        check.expected += 1
        check.observed += 1
        if low <= actual <= high:
            check.ok += 1
        else:
            check.fail("wrong", counter=f"machine_flagged.{reason}", expected=[low, high], actual=actual)
    return check


def check_customer_profiles(
    expectation: Expectation, objects: Mapping[str, Mapping[str, Any]], settings: Settings
) -> SinkCheck:
    """The Customer Profiles stand-in's score objects (by user key): every expected user whose score is not 0
    has one with the user's `score`, every channel of `channels` (a missing channel counts as 0) and, with
    tiers, its `tier`; an object of a user the oracle does not know is unexpected. A user at 0 may never
    have changed its score, so it is not required (but must be right when present)."""
    check = SinkCheck(checked=True, observed=len(objects))
    decays = settings.decays

    def problems(obj: Mapping[str, Any], user_key: str) -> list[str]:
        want = expectation.users[user_key]
        found: list[str] = []
        if obj.get("user_key") != user_key:
            found.append("user_key")
        if not sink_score_ok(want.score, obj.get("score"), settings):
            found.append("score")
        channels = obj.get("channels") if isinstance(obj.get("channels"), Mapping) else {}
        assert isinstance(channels, Mapping)
        if settings.publish_min_delta > 0:
            if not channels_consistent(obj.get("score"), channels, settings):
                found.append("channels")
        else:
            for channel in sorted(set(want.channels) | set(channels)):
                if not numbers_equal(
                    want.channels.get(channel, Decimal(0)), channels.get(channel, 0), decays
                ):
                    found.append(f"channels.{channel}")
        if want.tier is not None and not tier_ok(want.score, want.tier, obj.get("tier"), settings):
            found.append("tier")
        rules = obj.get("rules")
        if "rules" in obj and (sorted(rules) if isinstance(rules, list) else rules) != want.rules:
            found.append("rules")  # window rules matched (#10)
        return found

    for user_key, want in expectation.users.items():
        obj = objects.get(user_key)
        if obj is None:
            if numbers_equal(want.score, 0, False):
                check.notes["zero_users_without_object"] = check.notes.get("zero_users_without_object", 0) + 1
                continue
            check.expected += 1
            check.fail("missing", user_key=user_key, expected_score=plain(want.score))
            continue
        check.expected += 1
        wrong = problems(obj, user_key)
        if wrong:
            score = plain(obj.get("score"))
            check.fail(
                "wrong", user_key=user_key, fields=wrong, expected_score=plain(want.score), score=score
            )
        else:
            check.ok += 1
    for user_key in sorted(set(objects) - set(expectation.users)):
        check.fail("unexpected", user_key=user_key)
    return check


def campaigns_json(expectation: Expectation) -> dict[str, Any]:
    """The oracle's attribution in the shape of the report's and the simulator's --json (#11):
    {"campaigns": {campaign: {model: {"conversions", "value"}}}, "unattributed": {"conversions", "value"}}."""
    return {
        "campaigns": {
            name: {
                model: {"conversions": float(totals[0]), "value": float(totals[1])}
                for model, totals in models.items()
            }
            for name, models in sorted(expectation.campaigns.items())
            if any(totals[0] or totals[1] for totals in models.values())
        },
        "unattributed": {
            "conversions": float(expectation.unattributed[0]),
            "value": float(expectation.unattributed[1]),
        },
    }


def compare_campaigns(
    expectation: Expectation, items: Iterable[Mapping[str, Any]], tolerance: float = 1e-6
) -> list[dict[str, Any]]:
    """Differences between the oracle's per-campaign attribution and the campaign table's items (plain
    values). The engine rounds each linear share to 1e-10 (docs/attribution.md), hence the tolerance."""
    from fractions import Fraction

    models = ("last_touch", "first_touch", "linear")
    seen: dict[str, dict[str, tuple[Fraction, Fraction]]] = {}
    for item in items:
        name = item.get("campaign")
        if isinstance(name, str):
            seen[name] = {
                model: (
                    Fraction(item.get(f"{model}_conversions") or 0),
                    Fraction(item.get(f"{model}_value") or 0),
                )
                for model in models
            }
    want: dict[str, dict[str, tuple[Fraction, Fraction]]] = {
        name: {model: (totals[model][0], totals[model][1]) for model in models}
        for name, totals in expectation.campaigns.items()
    }
    if expectation.unattributed[0]:
        want["(unattributed)"] = {
            model: (expectation.unattributed[0], expectation.unattributed[1]) for model in models
        }
    mismatches = []
    for name in sorted(set(want) | set(seen)):
        zero = {model: (Fraction(0), Fraction(0)) for model in models}
        expected, got = want.get(name, zero), seen.get(name, zero)
        for model in models:
            if any(abs(float(a - b)) > tolerance for a, b in zip(expected[model], got[model], strict=True)):
                mismatches.append(
                    {
                        "campaign": name,
                        "model": model,
                        "expected": [float(x) for x in expected[model]],
                        "table": [float(x) for x in got[model]],
                    }
                )
    return mismatches


def table_campaigns_json(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The campaign table's items (plain values) as the simulator's --json shows them (#11): unrounded
    numbers; a campaign with no credit in any model is left out, a model with none shows 0."""
    models = ("last_touch", "first_touch", "linear")
    campaigns: dict[str, Any] = {}
    unattributed = {"conversions": 0.0, "value": 0.0}
    for item in items:
        name = item.get("campaign")
        if not isinstance(name, str):
            continue
        totals = {
            model: {
                "conversions": float(item.get(f"{model}_conversions") or 0),
                "value": float(item.get(f"{model}_value") or 0),
            }
            for model in models
        }
        if name == "(unattributed)":
            unattributed = totals["last_touch"]
        elif any(t["conversions"] or t["value"] for t in totals.values()):
            campaigns[name] = totals
    return {"campaigns": dict(sorted(campaigns.items())), "unattributed": unattributed}
