"""Ledger keys, in-batch deduplication, once-per-message and the splitting of a user's writes."""

from __future__ import annotations

from decimal import Decimal

from engagement_scoring.core.aggregation import (
    DUPLICATE,
    ONCE_PER_MESSAGE,
    PENDING,
    SCORED,
    classify,
    plan_user_writes,
    select_new,
)
from engagement_scoring.core.events import NormalizedEvent
from engagement_scoring.core.keys import content_key, once_per_message_key
from engagement_scoring.core.model import ScoringModel, UserState
from engagement_scoring.core.rules import Rule, original_rules

RULES = {**original_rules(), "_email.open": Rule("_email.open", Decimal(10), once_per_message=True)}


def event(
    user: str, event_type: str, at: int, message: str | None = None, body: str | None = None
) -> NormalizedEvent:
    data = (body or f"{user}/{event_type}/{at}/{message}").encode()
    return NormalizedEvent(user, event_type, at, None, message, None, content_key(data))


def test_content_key_is_blake2b_128_of_the_bytes() -> None:
    # The digests are pinned (computed with coreutils: printf '...' | b2sum -l 128), so swapping the
    # algorithm (md5 gives 4efd6166...) or the digest size changes every ledger key and fails here.
    key = content_key(b'{"event_type": "_email.open"}')
    assert key == "e#f8d68dd30c621b347d184711c47f6904"
    assert content_key(b"") == "e#cae66941d9efbd404e4d88758ea67670"
    assert key != content_key(b'{"event_type":"_email.open"}')  # bytes, not meaning


def test_once_per_message_key_names_user_type_and_message() -> None:
    assert once_per_message_key("u-1", "_email.open", "m-9") == "m#u-1#_email.open#m-9"


def test_classify_skips_types_without_rule_and_folds_in_batch_duplicates() -> None:
    # given a batch with a duplicate record (same bytes, two sequence numbers) and an unknown type
    open_event = event("u1", "_email.open", 1, "m1")
    batch = [("1", open_event), ("2", event("u1", "no_such_type", 2)), ("3", open_event)]
    # when
    classified = classify(batch, RULES)
    # then
    assert classified.skipped == {"no_rule": 1}
    assert classified.in_batch_duplicates == 1
    assert len(classified.candidates) == 1
    assert classified.candidates[0].sequence_numbers == ["1", "3"]
    assert classified.candidates[0].once_key == "m#u1#_email.open#m1"


def test_once_per_message_counts_the_first_open_of_a_message_only() -> None:
    # given three opens of message m1 and one of m2, and an open without message id
    batch = [
        ("1", event("u1", "_email.open", 1, "m1")),
        ("2", event("u1", "_email.open", 2, "m1")),
        ("3", event("u1", "_email.open", 3, "m2")),
        ("4", event("u1", "_email.open", 4, None)),
        ("5", event("u1", "_email.open", 5, "m1")),
    ]
    candidates = classify(batch, RULES).candidates
    # when nothing is in the ledger yet
    accepted = select_new(candidates, set())
    # then the first m1 open, the m2 open and the open without message id count
    assert [c.sequence_numbers[0] for c in accepted] == ["1", "3", "4"]
    assert [c.status for c in candidates] == [PENDING, ONCE_PER_MESSAGE, PENDING, PENDING, ONCE_PER_MESSAGE]


def test_once_per_message_key_in_the_ledger_suppresses_later_batches() -> None:
    candidates = classify([("1", event("u1", "_email.open", 9, "m1"))], RULES).candidates
    assert select_new(candidates, {"m#u1#_email.open#m1"}) == []
    assert candidates[0].status == ONCE_PER_MESSAGE


def test_once_per_message_is_per_user() -> None:
    batch = [("1", event("u1", "_email.open", 1, "m1")), ("2", event("u2", "_email.open", 1, "m1"))]
    assert len(select_new(classify(batch, RULES).candidates, set())) == 2


def test_rules_without_the_flag_count_every_event_of_a_message() -> None:
    batch = [("1", event("u1", "_email.click", 1, "m1")), ("2", event("u1", "_email.click", 2, "m1"))]
    candidates = classify(batch, RULES).candidates
    assert all(c.once_key is None for c in candidates)
    assert len(select_new(candidates, set())) == 2


def test_content_keys_in_the_ledger_are_duplicates_and_scored_candidates_stay_scored() -> None:
    batch = [("1", event("u1", "_email.click", 1)), ("2", event("u1", "_email.click", 2))]
    candidates = classify(batch, RULES).candidates
    candidates[0].status = SCORED
    applied = {candidates[0].event.content_key, candidates[1].event.content_key}
    assert select_new(candidates, applied) == []
    assert [c.status for c in candidates] == [SCORED, DUPLICATE]


def test_a_user_with_more_entries_than_one_write_adds_gets_sequential_writes() -> None:
    # given 150 once-per-message opens of distinct messages: 2 ring entries each
    batch = [(str(i), event("u1", "_email.open", i, f"m{i}")) for i in range(150)]
    accepted = select_new(classify(batch, RULES).candidates, set())
    # when
    writes = plan_user_writes("u1", UserState(version=7, raw=Decimal(5)), accepted, ScoringModel())
    # then each write adds at most MAX_ENTRIES_PER_WRITE (40) entries, versions chain and the final
    # state counts everything once
    assert [w.entry_count for w in writes] == [40] * 7 + [20]
    assert [w.expected_version for w in writes] == list(range(7, 15))
    assert writes[-1].state.version == 15
    assert writes[-1].state.raw == Decimal(5 + 150 * 10)
    assert sum(len(w.candidates) for w in writes) == 150


def test_the_formats_once_per_message_flag_counts_once_whatever_the_rule_says() -> None:
    # given two SMS events of one message (successful, then delivered): the rule has no flag, the
    # format sets it
    successful = event("u1", "_SMS.SUCCESS", 1, "m1", body="successful")
    delivered = event("u1", "_SMS.SUCCESS", 2, "m1", body="delivered")
    successful.once_per_message = delivered.once_per_message = True
    assert not RULES["_SMS.SUCCESS"].once_per_message
    # when
    classified = classify([("1", successful), ("1", delivered)], RULES)
    accepted = select_new(classified.candidates, set())
    # then one counts, the other is a once-per-message repeat; without the flag both would count
    assert [candidate.event.timestamp_ms for candidate in accepted] == [1]
    assert classified.candidates[1].status == ONCE_PER_MESSAGE
    assert classified.candidates[0].once_key == "m#u1#_SMS.SUCCESS#m1"
    plain = classify(
        [("1", event("u1", "_SMS.SUCCESS", 1, "m1", "a")), ("1", event("u1", "_SMS.SUCCESS", 2, "m1", "b"))],
        RULES,
    )
    assert len(select_new(plain.candidates, set())) == 2
