"""Per-batch aggregation: which events count, and one conditional write per user carrying them.

The steps are pure so the scorer can repeat them after re-reading DynamoDB:
classify (rules, in-batch duplicates) -> select_new (drop events whose keys the user's dedupe state
already holds, once-per-message suppression) -> plan_user_writes (new state per user, split when a
user has more new ring entries than one write adds).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from decimal import Decimal

from engagement_scoring.core import limits as limits_core
from engagement_scoring.core import windows as windows_core
from engagement_scoring.core.dedupe import MAX_ENTRIES_PER_WRITE
from engagement_scoring.core.events import NormalizedEvent
from engagement_scoring.core.keys import once_per_message_key
from engagement_scoring.core.model import (
    Contribution,
    ScoringModel,
    UserState,
    add_exactly,
    apply_contributions,
)
from engagement_scoring.core.rules import Rule
from engagement_scoring.core.timed import TimedRules, TimedState, TimedWrite

PENDING = "pending"
SCORED = "scored"
DUPLICATE = "duplicate"
ONCE_PER_MESSAGE = "once_per_message"
FAILED = "failed"
# A machine-flagged event whose policy weight is 0: not written, so it neither scores nor takes the
# once-per-message slot (docs/scoring.md, "Machine engagement").
NOT_COUNTED = "machine_not_counted"
_ONE = Decimal(1)


@dataclass(slots=True)
class Candidate:
    """An event with a rule, not yet known to be new; `sequence_numbers` lists every record with its bytes."""

    event: NormalizedEvent
    rule: Rule
    sequence_numbers: list[str] = field(default_factory=list)
    once_key: str | None = None
    status: str = PENDING
    # The machine-engagement verdict (core/machine.py): the points are multiplied by `weight`.
    weight: Decimal = _ONE
    reasons: tuple[str, ...] = ()

    @property
    def points(self) -> Decimal:
        return self.rule.points * self.weight if self.reasons else self.rule.points

    @property
    def key_count(self) -> int:
        return 1 if self.once_key is None else 2


@dataclass(slots=True)
class Classified:
    candidates: list[Candidate]
    skipped: Counter[str]
    in_batch_duplicates: int


def classify(events: Iterable[tuple[str | None, NormalizedEvent]], rules: Mapping[str, Rule]) -> Classified:
    """Keep events that have a rule, once per content key (stream order), with all their sequence numbers.

    A record may carry several events: each is classified on its own and names the record's sequence
    number, so a failure of any of them returns the record (the others are duplicates on the retry)."""
    by_content: dict[str, Candidate] = {}
    skipped: Counter[str] = Counter()
    duplicates = no_rule = 0
    for sequence_number, event in events:
        rule = rules.get(event.event_type)
        if rule is None:
            no_rule += 1
            continue
        candidate = by_content.get(event.content_key)
        if candidate is not None:
            duplicates += 1
        else:
            # The rule, or the format itself (SMS: a message reported successful, then delivered).
            once_key = (
                once_per_message_key(event.user_key, event.event_type, event.message_id)
                if (rule.once_per_message or event.once_per_message) and event.message_id is not None
                else None
            )
            candidate = Candidate(event, rule, [], once_key)  # positional: cheaper, once per event
            by_content[event.content_key] = candidate
        if sequence_number is not None:
            candidate.sequence_numbers.append(sequence_number)
    if no_rule:
        skipped["no_rule"] = no_rule
    return Classified(list(by_content.values()), skipped, duplicates)


def select_new(candidates: Sequence[Candidate], applied: Set[str]) -> list[Candidate]:
    """Mark duplicates and once-per-message repeats; return the candidates that count, in stream order.

    Candidates already SCORED by this invocation (an earlier write of a split user) are left alone.
    """
    counted_once: set[str] = set()
    accepted = []
    for candidate in candidates:
        if candidate.status == SCORED:
            if candidate.once_key is not None:
                counted_once.add(candidate.once_key)
            continue
        if candidate.event.content_key in applied:
            candidate.status = DUPLICATE
            continue
        once_key = candidate.once_key
        if once_key is not None:
            if once_key in applied or once_key in counted_once:
                candidate.status = ONCE_PER_MESSAGE
                continue
            counted_once.add(once_key)
        candidate.status = PENDING
        accepted.append(candidate)
    return accepted


@dataclass(frozen=True, slots=True)
class UserWrite:
    """One conditional write of a user item and the events it counts."""

    user_key: str
    expected_version: int  # 0: the user item must not exist yet
    state: UserState
    candidates: tuple[Candidate, ...]
    # Window rules and limits (#10): set only when some are configured or the item holds their state.
    timed: TimedWrite | None = None

    @property
    def entry_count(self) -> int:
        """Ring entries the write adds: a content digest per event, plus a once-per-message digest."""
        return sum(candidate.key_count for candidate in self.candidates)


def contribution(candidate: Candidate) -> Contribution:
    event, rule = candidate.event, candidate.rule
    return Contribution(
        candidate.points, event.timestamp_ms, rule.channel_for(event.channel), event.endpoint_id
    )


def plan_user_writes(
    user_key: str,
    state: UserState,
    accepted: Sequence[Candidate],
    model: ScoringModel,
    max_entries: int = MAX_ENTRIES_PER_WRITE,
    timed: tuple[TimedRules, TimedState] | None = None,
) -> list[UserWrite]:
    """The writes that count `accepted` for one user: one, or several in sequence when they add more
    than `max_entries` ring entries. With `timed` (the window rules and limits, and the user's stored
    state of them), points are capped by the limits in stream order and every write carries the new
    window state and matched rules."""
    chunks: list[Sequence[Candidate]] = []
    if accepted and 2 * len(accepted) <= max_entries:
        # The common case: up to two entries per candidate fit in one write.
        chunks.append(accepted)
    else:
        entries = max_entries
        for candidate in accepted:
            if entries + candidate.key_count > max_entries:
                current: list[Candidate] = []
                chunks.append(current)
                entries = 0
            current.append(candidate)
            entries += candidate.key_count
    writes = []
    decays = model.decays
    if timed is not None:
        rules, timed_state = timed
        for chunk in chunks:
            new_state, timed_write = _timed_chunk(state, chunk, model, rules, timed_state)
            writes.append(UserWrite(user_key, state.version, new_state, tuple(chunk), timed_write))
            state, timed_state = new_state, timed_write.state
        return writes
    for chunk in chunks:
        if decays:
            new_state = apply_contributions(state, [contribution(candidate) for candidate in chunk], model)
        else:  # the same sums from plain tuples: no Contribution object per event (benchmark B2)
            new_state = add_exactly(
                state,
                [
                    (
                        candidate.rule.points * candidate.weight
                        if candidate.reasons
                        else candidate.rule.points,
                        candidate.event.timestamp_ms,
                        candidate.rule.channel_for(candidate.event.channel),
                        candidate.event.endpoint_id,
                    )
                    for candidate in chunk
                ],
            )
        writes.append(UserWrite(user_key, state.version, new_state, tuple(chunk)))
        state = new_state
    return writes


def _timed_chunk(
    state: UserState,
    chunk: Sequence[Candidate],
    model: ScoringModel,
    rules: TimedRules,
    timed: TimedState,
) -> tuple[UserState, TimedWrite]:
    """One write's new score state (points capped by the limits, in stream order) and window state."""
    capped = limits_core.apply(
        rules.limits,
        timed.limits,
        [(c.rule.event_type, c.event.timestamp_ms, c.points) for c in chunk],
    )
    channels = [c.rule.channel_for(c.event.channel) for c in chunk]
    new_state = apply_contributions(
        state,
        [
            Contribution(earned, c.event.timestamp_ms, channel, c.event.endpoint_id)
            for c, earned, channel in zip(chunk, capped.earned, channels, strict=True)
        ],
        model,
    )
    as_of = new_state.as_of if new_state.as_of is not None else 0
    window_state = windows_core.apply(
        rules.windows,
        timed.windows,
        [
            (c.event.timestamp_ms, c.event.event_type, channel, c.event.metrics)
            for c, channel in zip(chunk, channels, strict=True)
        ],
        as_of,
    )
    matched = windows_core.evaluate(rules.windows, window_state, as_of // 1000)
    return new_state, TimedWrite(
        TimedState(window_state, capped.state, matched),
        timed.matched,
        capped.capped_events,
        capped.points_not_counted,
    )
