"""core/attribution.py (#11, issue item 9): window edges, conversion before any touch, late touch,
several conversions, duplicates of touches, the three models each summing to the conversion value."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engagement_scoring.core.attribution import (
    FIRST_TOUCH,
    LAST_TOUCH,
    LINEAR,
    MODELS,
    NO_TOUCHES,
    UNATTRIBUTED,
    AttributionConfig,
    ConversionRule,
    InvalidAttribution,
    Share,
    Totals,
    add_touch,
    apply_events,
    campaign_totals,
    config_from_env,
    conversion_value,
    parse_conversion_rules,
)
from engagement_scoring.core.events import NormalizedEvent

H = 3_600_000
T0 = 1_764_000_000_000
CONFIG = AttributionConfig()


def touch(
    campaign: str | None, at: int, message_id: str | None = None, kind: str = "_email.click"
) -> NormalizedEvent:
    return NormalizedEvent("u1", kind, at, "email", message_id, None, "e#x", campaign=campaign)


def purchase(at: int, price: float | None = 10, quantity: float | None = None) -> NormalizedEvent:
    metrics: dict[str, int | float] = {}
    if price is not None:
        metrics["_item_price"] = price
    if quantity is not None:
        metrics["_quantity"] = quantity
    return NormalizedEvent(
        "u1", "_monetization.purchase", at, "in_app", None, None, "e#p", metrics=metrics or None
    )


def credit(events: list[NormalizedEvent], config: AttributionConfig = CONFIG) -> list[dict[str, list[Share]]]:
    applied = apply_events(NO_TOUCHES, events, config)
    return [{model: list(a.credit[model]) for model in MODELS} for a in applied.attributions]


def test_value_is_price_times_quantity_and_missing_metrics_follow_the_issue() -> None:
    rule = ConversionRule("buy", "price", "qty")
    assert conversion_value(rule, {"price": 2.5, "qty": 3}) == Decimal("7.5")
    assert conversion_value(rule, {"price": 2.5}) == Decimal("2.5")  # quantity missing: 1
    assert conversion_value(rule, {"qty": 3}) == Decimal(0)  # value missing: 0
    assert conversion_value(rule, None) == Decimal(0)
    assert conversion_value(ConversionRule("buy", "price"), {"price": 4, "qty": 9}) == Decimal(4)
    assert conversion_value(ConversionRule("buy", None, "qty"), {"price": 4, "qty": 9}) == Decimal(0)


def test_window_edges_are_inclusive_both_ends() -> None:
    lookback = CONFIG.lookback_ms
    t = T0 + lookback
    at_start = credit([touch("a", T0), purchase(t)])
    assert at_start[0][LAST_TOUCH] == [Share("a", Decimal(1), Decimal(10))]
    just_outside = credit([touch("a", T0 - 1), purchase(t)])
    assert just_outside[0][LAST_TOUCH] == []
    same_time = credit([touch("a", t), purchase(t)])
    assert same_time[0][FIRST_TOUCH] == [Share("a", Decimal(1), Decimal(10))]
    # A touch later in event time than the conversion (but earlier in the stream) is outside.
    after = credit([touch("a", t + 1), purchase(t)])
    assert after[0][LINEAR] == []


def test_conversion_before_any_touch_is_unattributed() -> None:
    applied = apply_events(NO_TOUCHES, [purchase(T0, 7)], CONFIG)
    assert [a.attributed for a in applied.attributions] == [False]
    totals = campaign_totals(applied.attributions)
    assert totals == {UNATTRIBUTED: {model: Totals(Decimal(1), Decimal(7)) for model in MODELS}}


def test_late_touch_is_never_applied_retroactively() -> None:
    # The touch happened an hour before the purchase but reached the scorer after it.
    applied = apply_events(NO_TOUCHES, [purchase(T0 + H), touch("a", T0)], CONFIG)
    assert [a.attributed for a in applied.attributions] == [False]
    assert [t.campaign for t in applied.touches.touches] == ["a"]
    # A later conversion does see it.
    later = apply_events(applied.touches, [purchase(T0 + 2 * H)], CONFIG)
    assert later.attributions[0].credit[LAST_TOUCH] == (Share("a", Decimal(1), Decimal(10)),)


def test_models_with_several_campaigns_and_ties() -> None:
    events = [
        touch("a", T0),
        touch("b", T0 + H),
        touch("a", T0 + 2 * H),
        touch("c", T0 + 2 * H),
        purchase(T0 + 3 * H, 9),
    ]
    [result] = credit(events)
    # c and a share the latest time: the tie goes to c, later in the stream.
    assert result[LAST_TOUCH] == [Share("c", Decimal(1), Decimal(9))]
    assert result[FIRST_TOUCH] == [Share("a", Decimal(1), Decimal(9))]
    assert result[LINEAR] == [
        Share("a", Decimal("0.5"), Decimal("4.5")),
        Share("b", Decimal("0.25"), Decimal("2.25")),
        Share("c", Decimal("0.25"), Decimal("2.25")),
    ]


def test_first_touch_tie_goes_to_the_later_in_the_stream() -> None:
    [result] = credit([touch("a", T0), touch("b", T0), purchase(T0 + H)])
    assert result[FIRST_TOUCH] == [Share("b", Decimal(1), Decimal(10))]
    assert result[LAST_TOUCH] == [Share("b", Decimal(1), Decimal(10))]


@pytest.mark.parametrize(
    "campaigns", [["a", "b", "c"], ["a", "b", "c", "d", "e", "f", "g"], ["x"] * 5 + ["y"] * 2]
)
@pytest.mark.parametrize("value", [10, 1, 0.07, 1234567.89])
def test_each_model_sums_exactly_to_the_conversion_value(campaigns: list[str], value: float) -> None:
    events = [touch(name, T0 + index) for index, name in enumerate(campaigns)]
    [result] = credit([*events, purchase(T0 + H, value)])
    expected = Decimal(str(value))
    for model in MODELS:
        shares = result[model]
        assert sum(share.value for share in shares) == expected, model
        assert sum(share.conversions for share in shares) == Decimal(1), model
    linear = {share.campaign: share for share in result[LINEAR]}
    assert set(linear) == set(campaigns)
    # Non-latest campaigns get their rounded share; the latest's campaign takes the remainder.
    for name, share in linear.items():
        exact = Decimal(campaigns.count(name)) / len(campaigns)
        assert abs(share.conversions - exact) <= Decimal("1e-9")


def test_several_conversions_each_credited_from_the_touches_known_then() -> None:
    events = [
        touch("a", T0),
        purchase(T0 + H, 5),
        touch("b", T0 + 2 * H),
        purchase(T0 + 3 * H, 7),
        purchase(T0 + 4 * H, 1),
    ]
    applied = apply_events(NO_TOUCHES, events, CONFIG)
    assert [a.credit[LAST_TOUCH][0].campaign for a in applied.attributions] == ["a", "b", "b"]
    totals = campaign_totals(applied.attributions)
    assert totals["a"][LAST_TOUCH] == Totals(Decimal(1), Decimal(5))
    assert totals["b"][LAST_TOUCH] == Totals(Decimal(2), Decimal(8))
    assert totals["a"][FIRST_TOUCH] == Totals(Decimal(3), Decimal(13))
    assert "b" in totals and totals["b"][FIRST_TOUCH] == Totals(Decimal(0), Decimal(0))
    assert totals["a"][LINEAR] == Totals(Decimal(2), Decimal(9))
    assert totals["b"][LINEAR] == Totals(Decimal(1), Decimal(4))


def test_duplicate_touch_per_campaign_message_and_type_counts_once() -> None:
    state, first = add_touch(NO_TOUCHES, touch("a", T0, "m1"), CONFIG)
    state, again = add_touch(state, touch("a", T0 + H, "m1"), CONFIG)
    assert (first, again) == (True, False)
    assert [t.timestamp_ms for t in state.touches] == [T0]  # the first one counts
    state, other_type = add_touch(state, touch("a", T0 + H, "m1", "_email.open"), CONFIG)
    state, other_campaign = add_touch(state, touch("b", T0 + H, "m1"), CONFIG)
    state, no_id_1 = add_touch(state, touch("a", T0 + 2 * H), CONFIG)
    state, no_id_2 = add_touch(state, touch("a", T0 + 2 * H), CONFIG)
    assert (other_type, other_campaign, no_id_1, no_id_2) == (True, True, True, True)
    assert len(state.touches) == 5 and state.next_seq == 5


def test_not_touches() -> None:
    for event in (touch(None, T0), touch(UNATTRIBUTED, T0), touch("a", T0, kind="_email.send")):
        assert add_touch(NO_TOUCHES, event, CONFIG) == (NO_TOUCHES, False)


def test_touches_are_bounded_by_count_and_by_the_lookback_of_the_newest() -> None:
    config = AttributionConfig(max_touches=3, lookback_ms=10 * H)
    state = NO_TOUCHES
    for index in range(5):
        state, _ = add_touch(state, touch(f"c{index}", T0 + index * H), config)
    assert [t.campaign for t in state.touches] == ["c2", "c3", "c4"]
    state, _ = add_touch(state, touch("late", T0 + 3 * H + 1), config)  # older than c4: c2 goes
    assert [t.campaign for t in state.touches] == ["c3", "late", "c4"]
    # Newest at 13 h: the horizon is 3 h, c3 (exactly 3 h) stays, late (3 h + 1 ms) too; c3 is cut by count.
    state, _ = add_touch(state, touch("far", T0 + 13 * H), config)
    assert [t.campaign for t in state.touches] == ["late", "c4", "far"]
    state, _ = add_touch(state, touch("farther", T0 + 14 * H), config)  # horizon 4 h: late goes
    assert [t.campaign for t in state.touches] == ["c4", "far", "farther"]
    state, _ = add_touch(state, touch("farthest", T0 + 24 * H), config)  # horizon 14 h
    assert [t.campaign for t in state.touches] == ["farther", "farthest"]


def test_configuration_from_the_environment() -> None:
    config = config_from_env({})
    assert config == AttributionConfig()
    assert config.event_types == {
        "_email.open",
        "_email.click",
        "_SMS.SUCCESS",
        "_campaign.opened_notification",
        "_monetization.purchase",
    }
    custom = config_from_env(
        {
            "ATTRIBUTION_TOUCH_EVENT_TYPES": '["_email.click"]',
            "ATTRIBUTION_LOOKBACK_HOURS": "24",
            "ATTRIBUTION_MAX_TOUCHES": "5",
            "CONVERSION_RULES": '[{"event_type": "signup"}, {"event_type": "buy", "value_metric": "v"}]',
        }
    )
    assert custom.lookback_ms == 24 * H and custom.max_touches == 5
    assert custom.conversion_rules == {"signup": ConversionRule("signup"), "buy": ConversionRule("buy", "v")}
    for env, message in (
        ({"ATTRIBUTION_MAX_TOUCHES": "51"}, "at most 50"),
        ({"ATTRIBUTION_MAX_TOUCHES": "0"}, ">= 1"),
        ({"ATTRIBUTION_LOOKBACK_HOURS": "1.5"}, "whole number"),
        ({"CONVERSION_RULES": '[{"event_type": "a"}, {"event_type": "a"}]'}, "given twice"),
        ({"CONVERSION_RULES": '[{"event_type": "a", "price": "p"}]'}, "unknown keys"),
        ({"CONVERSION_RULES": "{}"}, "JSON list"),
        ({"ATTRIBUTION_TOUCH_EVENT_TYPES": '["_monetization.purchase"]'}, "both touch and conversion"),
    ):
        with pytest.raises(InvalidAttribution, match=message):
            config_from_env(env)
    assert parse_conversion_rules("[]") == ()
