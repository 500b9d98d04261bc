"""Duplicate and malformed records: how many, which kinds, where, and that they never score."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from simulator.injection import DUPLICATE, EVENT, MALFORMED, MALFORMED_KINDS, inject, malformed
from simulator.oracle import Rejected, Settings, expect, parse, rules_from_items
from simulator.workload import WorkloadConfig, generate

PINPOINT = ("pinpoint",)  # these tests check the Pinpoint funnels


def test_rates_give_the_number_of_injected_records_and_every_malformed_kind() -> None:
    workload = generate(
        WorkloadConfig(
            formats=PINPOINT, users=300, events=4000, seed=4, duplicate_rate=0.05, malformed_rate=0.025
        )
    )
    kinds = Counter(r.kind for r in workload.records)
    assert kinds == {EVENT: 4000, DUPLICATE: 200, MALFORMED: 100}
    per_kind = Counter(r.malformed_kind for r in workload.records if r.kind == MALFORMED)
    assert set(per_kind) == set(MALFORMED_KINDS)
    assert max(per_kind.values()) - min(per_kind.values()) <= 1


def test_injection_leaves_the_events_and_their_order_alone() -> None:
    plain = generate(WorkloadConfig(formats=PINPOINT, users=200, events=2000, seed=8)).records
    mixed = generate(
        WorkloadConfig(
            formats=PINPOINT, users=200, events=2000, seed=8, duplicate_rate=0.1, malformed_rate=0.1
        )
    ).records
    assert [r for r in mixed if r.kind == EVENT] == plain


def test_duplicates_repeat_an_earlier_event_byte_for_byte_right_after_or_later() -> None:
    records = generate(
        WorkloadConfig(formats=PINPOINT, users=200, events=3000, seed=5, duplicate_rate=0.1)
    ).records
    first_seen: dict[bytes, int] = {}
    gaps = []
    for position, record in enumerate(records):
        if record.kind == EVENT:
            first_seen[record.data] = position
        elif record.kind == DUPLICATE:
            assert record.data in first_seen  # the original came before
            gaps.append(position - first_seen[record.data])
    assert len(gaps) == 300
    assert min(gaps) == 1  # some right after the original (a producer retry)
    assert max(gaps) > 500  # some much later (a replay)


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_each_malformed_kind_is_rejected_and_has_no_line_break(kind: str) -> None:
    base = generate(WorkloadConfig(formats=PINPOINT, users=20, events=50, seed=1)).records
    rng = random.Random(kind)
    for record in base:
        data = malformed(kind, record.data, rng)
        assert b"\n" not in data and b"\r" not in data
        for mode in ("auto", "endpoint_id", "user_id"):
            with pytest.raises(Rejected):
                parse(data, mode)


def test_injected_records_do_not_change_the_expected_scores() -> None:
    rules = rules_from_items(
        [{"event_type": "_email.open", "points": 10}, {"event_type": "_email.click", "points": 50}]
    )
    clean = generate(WorkloadConfig(formats=PINPOINT, users=200, events=3000, seed=6))
    noisy = generate(
        WorkloadConfig(
            formats=PINPOINT, users=200, events=3000, seed=6, duplicate_rate=0.2, malformed_rate=0.1
        )
    )
    expected = expect([r.data for r in clean.records], rules, Settings())
    got = expect([r.data for r in noisy.records], rules, Settings())
    assert {k: u.score for k, u in got.users.items()} == {k: u.score for k, u in expected.users.items()}
    assert got.counted == expected.counted
    assert sum(got.rejected.values()) >= 200  # 300 malformed, less repeats of constant ones (empty, 42, ...)


def test_rates_outside_zero_to_one_are_refused() -> None:
    with pytest.raises(ValueError):
        inject([], duplicate_rate=1.5, malformed_rate=0, seed=1)
