"""Window rules (core/windows.py) and point limits (core/limits.py): pure semantics, edges, bounded state."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from engagement_scoring.core import limits, windows
from engagement_scoring.core.changes import image
from engagement_scoring.core.limits import Limit
from engagement_scoring.core.rules import InvalidRule, rule_from_item
from engagement_scoring.core.windows import HOUR_MS, InvalidWindowRules, parse_window_rules

H = HOUR_MS
T0 = 1_700_006_400_000  # 2023-11-15 00:00:00 UTC, an hour boundary


def rules(*entries: dict) -> tuple[windows.WindowRule, ...]:
    return parse_window_rules(json.dumps(list(entries)))


def clicks(*times_ms: int, event_type: str = "_email.click", channel: str = "email") -> list:
    return [(t, event_type, channel, None) for t in times_ms]


def run(rule_set, events, state=None):
    """Apply `events` one write each (stream order), returning the matched set after every write."""
    state = state or {}
    as_of = 0
    seen = []
    for event in events:
        as_of = max(as_of, event[0])
        state = windows.apply(rule_set, state, [event], as_of)
        seen.append(windows.evaluate(rule_set, state, as_of // 1000))
    return state, seen


THREE_CLICKS = {"name": "three_clicks", "event_types": ["_email.click"], "threshold": 3, "window_hours": 24}


def test_sliding_count_matched_cleared_and_matched_again() -> None:
    rule_set = rules(THREE_CLICKS)
    state, seen = run(rule_set, clicks(T0, T0 + H, T0 + 2 * H))
    assert seen == [frozenset(), frozenset(), {"three_clicks"}]
    # 30 hours later one more click: the first three left the window, the rule clears on this write.
    state, seen = run(rule_set, clicks(T0 + 32 * H), state)
    assert seen == [frozenset()]
    state, seen = run(rule_set, clicks(T0 + 33 * H, T0 + 34 * H), state)
    assert seen == [frozenset(), {"three_clicks"}]
    # Bounded: a sliding count keeps exactly k = threshold hours, whatever the event rate.
    state, _ = run(rule_set, clicks(*(T0 + 34 * H + i * 1000 for i in range(500))), state)
    assert len(state["three_clicks"]) == 3


def test_window_edge_is_rounded_out_to_the_hour() -> None:
    rule_set = rules({"name": "two", "event_types": ["_email.click"], "threshold": 2, "window_hours": 2})
    # Events at 00:59:59 and 01:00 (hours 0 and 1 after T0); the first leaves at hour 0 + 2 + 1 = 03:00.
    state = windows.apply(rule_set, {}, clicks(T0 + H - 1000, T0 + H), T0 + H)
    assert windows.evaluate(rule_set, state, (T0 + 3 * H) // 1000 - 1) == {"two"}  # 02:59:59: 2h00m01s old
    assert windows.evaluate(rule_set, state, (T0 + 3 * H) // 1000) == frozenset()
    assert windows.next_change(rule_set, state, (T0 + H) // 1000) == (T0 + 3 * H) // 1000


def test_events_out_of_order_across_a_window_edge() -> None:
    rule_set = rules({"name": "two", "event_types": ["_email.click"], "threshold": 2, "window_hours": 24})
    state, seen = run(rule_set, clicks(T0, T0 + 30 * H))
    assert seen[-1] == frozenset()  # T0 left the window at T0 + 25 h
    # A late event from inside the window (10 h) matches; one from before the edge (4 h) does not.
    late_outside = windows.apply(rule_set, state, clicks(T0 + 4 * H), T0 + 30 * H)
    assert windows.evaluate(rule_set, late_outside, (T0 + 30 * H) // 1000) == frozenset()
    assert late_outside == state  # pruned: it can never count again
    late_inside = windows.apply(rule_set, state, clicks(T0 + 10 * H), T0 + 30 * H)
    assert windows.evaluate(rule_set, late_inside, (T0 + 30 * H) // 1000) == {"two"}
    # The same events in another order give the same state.
    reordered, _ = run(rule_set, clicks(T0 + 10 * H, T0 + 30 * H, T0, T0 + 4 * H))
    assert reordered == late_inside


def test_sliding_sum_uses_hourly_buckets_and_next_change() -> None:
    rule_set = rules(
        {
            "name": "big_spender",
            "event_types": ["purchase"],
            "measure": "sum",
            "metric": "amount",
            "threshold": 100,
            "window_hours": 48,
        }
    )
    events: list[windows.Measured] = [
        (T0 + 60_000, "purchase", "custom", {"amount": 30}),
        (T0 + 120_000, "purchase", "custom", {"amount": 20.5}),
        (T0 + 5 * H, "purchase", "custom", {"amount": 60}),
        (T0 + 6 * H, "purchase", "custom", None),  # no metric: adds nothing
    ]
    state = windows.apply(rule_set, {}, events, T0 + 6 * H)
    assert state["big_spender"] == {T0 // H: Decimal("50.5"), T0 // H + 5: Decimal(60)}
    assert windows.evaluate(rule_set, state, (T0 + 6 * H) // 1000) == {"big_spender"}
    # Hour 0 leaves at hour 49: 60 < 100 from then on.
    assert windows.next_change(rule_set, state, (T0 + 6 * H) // 1000) == (T0 + 49 * H) // 1000
    assert windows.evaluate(rule_set, state, (T0 + 49 * H) // 1000) == frozenset()


def test_date_range_boundaries_and_matched_after_to() -> None:
    rule_set = rules(
        {
            "name": "november_buyer",
            "event_types": ["purchase"],
            "measure": "sum",
            "metric": "amount",
            "threshold": 100,
            "from": "2023-11-01",
            "to": "2023-11-30",
        }
    )
    start = int(dt.datetime(2023, 11, 1, tzinfo=dt.UTC).timestamp() * 1000)
    end = int(dt.datetime(2023, 12, 1, tzinfo=dt.UTC).timestamp() * 1000)
    events = [
        (start - 1, "purchase", "custom", {"amount": 500}),  # Oct 31 23:59:59.999: before from
        (end, "purchase", "custom", {"amount": 500}),  # Dec 1 00:00: after to
        (start, "purchase", "custom", {"amount": 60}),  # from is inclusive
    ]
    state = windows.apply(rule_set, {}, events, end)
    assert state == {"november_buyer": Decimal(60)}
    assert windows.evaluate(rule_set, state, end // 1000) == frozenset()
    state = windows.apply(rule_set, state, [(end - 1, "purchase", "custom", {"amount": 40})], end)
    assert windows.evaluate(rule_set, state, end // 1000) == {"november_buyer"}  # to is inclusive
    # Stays matched long after `to`, and never changes by time alone.
    assert windows.evaluate(rule_set, state, end // 1000 + 400 * 86400) == {"november_buyer"}
    assert windows.next_change(rule_set, state, end // 1000) is None


def test_all_time_count_and_channel_filter() -> None:
    rule_set = rules(
        {"name": "sms_fan", "event_types": ["_SMS.SUCCESS", "reply"], "threshold": 2, "channel": "sms"}
    )
    state = windows.apply(
        rule_set, {}, [(T0, "reply", "custom", None), (T0, "_SMS.SUCCESS", "sms", None)], T0
    )
    assert windows.evaluate(rule_set, state, T0 // 1000) == frozenset()
    state = windows.apply(rule_set, state, [(T0 - 900 * H, "reply", "sms", None)], T0)
    assert windows.evaluate(rule_set, state, T0 // 1000 + 10**8) == {"sms_fan"}


def test_state_round_trips_through_dynamodb_json() -> None:
    rule_set = rules(
        THREE_CLICKS,
        {
            "name": "spend",
            "event_types": ["p"],
            "measure": "sum",
            "metric": "m",
            "threshold": 5,
            "window_hours": 3,
        },
        {"name": "ever", "event_types": ["p"], "threshold": 7},
    )
    state = windows.apply(
        rule_set,
        {},
        [*clicks(T0, T0 + H), (T0, "p", "custom", {"m": 1.25}), (T0 + H, "p", "custom", {"m": -0.5})],
        T0 + H,
    )
    stored = image({"wr": {"M": windows.encode(state)}})
    assert stored is not None
    assert windows.decode(stored["wr"], rule_set) == state
    # A rule redefined with another shape starts afresh rather than misreading the old state.
    redefined = rules({**THREE_CLICKS, "window_hours": None})
    assert windows.decode(stored["wr"], redefined) == {}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "a b", "event_types": ["x"], "threshold": 1}, "name"),
        ({"name": "a", "event_types": [], "threshold": 1}, "event_types"),
        ({"name": "a", "event_types": ["x"], "threshold": 0}, "threshold"),
        ({"name": "a", "event_types": ["x"], "threshold": 1, "measure": "avg"}, "measure"),
        ({"name": "a", "event_types": ["x"], "threshold": 1, "measure": "sum"}, "metric"),
        ({"name": "a", "event_types": ["x"], "threshold": 1, "metric": "m"}, "metric"),
        (
            {"name": "a", "event_types": ["x"], "threshold": 1, "window_hours": 5, "from": "2024-01-01"},
            "not both",
        ),
        ({"name": "a", "event_types": ["x"], "threshold": 1, "window_hours": 0}, "window_hours"),
        ({"name": "a", "event_types": ["x"], "threshold": 1.5, "window_hours": 5}, "whole number"),
        ({"name": "a", "event_types": ["x"], "threshold": 1, "from": "2024-02-30"}, "calendar date"),
        (
            {"name": "a", "event_types": ["x"], "threshold": 1, "from": "2024-02-02", "to": "2024-02-01"},
            "before",
        ),
        ({"name": "a", "event_types": ["x"], "threshold": 1, "channel": "fax"}, "channel"),
    ],
)
def test_invalid_rules_are_refused_with_the_reason(entry: dict, message: str) -> None:
    with pytest.raises(InvalidWindowRules, match=message):
        rules(entry)


def test_names_must_be_unique_and_nulls_are_absent() -> None:
    with pytest.raises(InvalidWindowRules, match="unique"):
        rules(
            {"name": "a", "event_types": ["x"], "threshold": 1},
            {"name": "a", "event_types": ["y"], "threshold": 1},
        )
    # Terraform's jsonencode of an object with optional attributes writes nulls.
    (rule,) = rules(
        {
            "name": "a",
            "event_types": ["x"],
            "threshold": 1,
            "measure": "count",
            "metric": None,
            "window_hours": None,
            "from": None,
            "to": None,
            "channel": None,
        }
    )
    assert not rule.sliding and rule.start_ms is None


# ---- limits ----------------------------------------------------------------------------------------


def test_limit_caps_points_in_stream_order_per_epoch_period() -> None:
    day = 24 * H
    capped = limits.apply(
        {"_email.open": Limit(Decimal(25), 24)},
        {},
        [
            ("_email.open", T0 + 5 * H, Decimal(10)),
            (
                "_email.open",
                T0 + 1 * H,
                Decimal(10),
            ),  # earlier in time, later in stream: order is stream order
            ("_email.click", T0, Decimal(50)),  # no limit
            ("_email.open", T0 + 2 * H, Decimal(10)),  # reaches the limit: earns what is left
            ("_email.open", T0 + 3 * H, Decimal(10)),
            ("_email.open", T0 + day - 1, Decimal(10)),  # 23:59:59.999, same UTC day
            ("_email.open", T0 + day, Decimal(10)),  # next UTC day: a new period
        ],
    )
    assert capped.earned == tuple(Decimal(v) for v in (10, 10, 50, 5, 0, 0, 10))
    assert capped.capped_events == 3 and capped.points_not_counted == Decimal(25)
    assert capped.state == {"_email.open": ((T0 + day) // day, Decimal(10))}
    # A late event of the closed period earns nothing (its total is no longer known).
    late = limits.apply(
        {"_email.open": Limit(Decimal(25), 24)}, capped.state, [("_email.open", T0, Decimal(10))]
    )
    assert late.earned == (Decimal(0),) and late.points_not_counted == Decimal(10)


def test_limit_periods_are_aligned_to_the_epoch() -> None:
    limit = Limit(Decimal(1), 6)
    assert limit.period(0) == 0 and limit.period(6 * H - 1) == 0 and limit.period(6 * H) == 1
    assert Limit(Decimal(1), 24).period(T0) == T0 // (24 * H)


def test_limit_state_round_trips_and_drops_unlimited_rules() -> None:
    state = {"_email.open": (19676, Decimal("12.5")), "gone": (1, Decimal(1))}
    stored = image({"lc": {"M": limits.encode(state)}})
    assert stored is not None
    assert limits.decode(stored["lc"], {"_email.open": Limit(Decimal(20))}) == {
        "_email.open": (19676, Decimal("12.5"))
    }


def test_rule_items_carry_limits() -> None:
    rule = rule_from_item({"event_type": "_email.open", "points": Decimal(10), "max_points": Decimal(30)})
    assert (rule.max_points, rule.limit_period_hours) == (Decimal(30), 24)
    rule = rule_from_item({"event_type": "x", "points": 1, "max_points": 3, "limit_period_hours": Decimal(6)})
    assert rule.limit_period_hours == 6
    for bad in (
        {"max_points": 0},
        {"max_points": 5, "limit_period_hours": 0},
        {"max_points": 5, "limit_period_hours": Decimal("1.5")},
        {"limit_period_hours": 24},
    ):
        with pytest.raises(InvalidRule):
            rule_from_item({"event_type": "x", "points": 1, **bad})
    with pytest.raises(InvalidRule, match="positive points"):
        rule_from_item({"event_type": "x", "points": -5, "max_points": 5})


def test_a_refresher_clears_a_sliding_rule_at_the_time_next_change_gives() -> None:
    from engagement_scoring.core.timed import TimedRules, TimedState, refreshed, windows_due_at

    timed = TimedRules(rules(THREE_CLICKS), {})
    state = windows.apply(timed.windows, {}, clicks(T0, T0 + H, T0 + 2 * H), T0 + 2 * H)
    user = TimedState(state, {}, windows.evaluate(timed.windows, state, (T0 + 2 * H) // 1000))
    due = windows_due_at(timed, user, (T0 + 2 * H) // 1000)
    assert due == (T0 + 25 * H) // 1000  # the first click's hour + 24 + 1
    assert refreshed(timed, user, due * 1000 - 1).matched == {"three_clicks"}
    cleared = refreshed(timed, user, due * 1000)
    assert cleared.matched == frozenset() and cleared.windows["three_clicks"] == (T0 // H + 1, T0 // H + 2)
    assert windows_due_at(timed, cleared, due) is None  # not matched: nothing changes by time alone
