"""A Kinesis batch in, each event counted exactly once into its user's score (design: docs/scoring.md).

decode every record (envelopes unwrapped, every payload normalized: a record may give several events)
-> classify (rules, in-batch duplicates) -> rounds of:
read user items (eventually consistent; strongly on a retry round) -> drop events whose digest is in
the user's ring -> read the overflow buckets the directory lists for the rest (strongly consistent)
-> select new events -> compute new states -> per user one UpdateItem conditioned on `version` that
sets the state and the ring (a TransactWriteItems with the bucket updates when the ring evicts).
Users whose write failed its condition or was throttled are re-read and retried in the next round;
users still failing after the last round, or when the invocation runs short of time, come back in
batchItemFailures.
"""

from __future__ import annotations

import binascii
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from engagement_scoring.aws.attribution_store import (
    MAX_TRANSACTION_ACTIONS,
    campaign_updates,
    conversion_detail,
    ledger_digest,
    ledger_key,
    ledger_put,
    touches_from_item,
    touches_key,
    touches_put,
)
from engagement_scoring.aws.errors import backoff_delay, describe
from engagement_scoring.aws.failure_queue import RejectedRecord, send_rejected
from engagement_scoring.aws.score_store import (
    CONFLICT,
    NEW_USER,
    OK,
    RETRY,
    CommitOutcome,
    ScoreStore,
    StoredUser,
)
from engagement_scoring.core.aggregation import (
    DUPLICATE,
    FAILED,
    NOT_COUNTED,
    ONCE_PER_MESSAGE,
    PENDING,
    SCORED,
    Candidate,
    UserWrite,
    classify,
    plan_user_writes,
    select_new,
)
from engagement_scoring.core.attribution import (
    Attribution,
    AttributionConfig,
    Touches,
    apply_events,
    conversion_of,
)
from engagement_scoring.core.config import ScorerConfig
from engagement_scoring.core.dedupe import (
    DIGEST_BYTES,
    add_entries,
    buckets_to_read,
    content_entry,
    once_entry,
    ring_digests,
)
from engagement_scoring.core.events import (
    DEFAULT_SETTINGS,
    FormatSettings,
    NormalizedEvent,
    RecordRejected,
    SkippedRecord,
)
from engagement_scoring.core.keys import content_key
from engagement_scoring.core.machine import (
    CLICK,
    MachineCounts,
    RecentClick,
    apply_bursts,
    counts_of,
    encode_recent_clicks,
    judge,
)
from engagement_scoring.core.model import score_view
from engagement_scoring.core.publication import next_publication
from engagement_scoring.core.rules import Rule, rules_from_items
from engagement_scoring.core.timed import (
    NO_TIMED_RULES,
    TimedRules,
    stored_state,
    timed_rules,
    with_measured_types,
)
from engagement_scoring.formats import normalize
from engagement_scoring.formats.envelopes import (
    GZIP_MAGIC,
    Payload,
    canonical_json,
    gunzip,
    is_envelope,
    unwrap,
)
from engagement_scoring.observability import CallCounter, JsonLog, emf_lines, print_emf

FUNCTION = "scorer"
MAX_RECORD_BYTES = 1024 * 1024
_MAX_BASE64_CHARS = 4 * ((MAX_RECORD_BYTES + 2) // 3)
MAX_ROUNDS = 5
# Stop starting new write rounds when less than this is left of the invocation.
TIME_RESERVE_MS = 3000
MAX_LOGGED_REJECTIONS = 50
# json.loads(text) is the decode(text) of a default JSONDecoder behind a wrapper, skipped here as it
# runs once per record (benchmark B2); a leading BOM is "not_json" either way.
_JSON = json.JSONDecoder()
# raw_decode(text) is scan_once(text, 0) (the C scanner) behind a frame that turns StopIteration into a
# JSONDecodeError: called directly, any failure takes decode(text), which raises json.loads' own error.
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = _JSON.scan_once  # type: ignore[attr-defined]


@dataclass(slots=True)
class BatchStats:
    records: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    in_batch_duplicates: int = 0
    users_updated: int = 0
    transaction_retries: int = 0
    internal_errors: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    machine: MachineCounts = field(default_factory=MachineCounts)
    # Point limits (#10): events that earned less than their points, and the points held back.
    limit_capped_events: int = 0
    points_not_counted: Decimal = Decimal(0)
    # Campaign attribution (#11): touches recorded, conversions credited (attributed or not), and
    # conversions found already credited by their ledger item (never credited twice).
    touches_recorded: int = 0
    conversions_attributed: int = 0
    conversions_unattributed: int = 0
    conversions_already_credited: int = 0


class ScorerRuntime:
    """What the scorer keeps between invocations: configuration, clients, rules cache, call counter."""

    def __init__(
        self,
        config: ScorerConfig,
        dynamodb: Any,
        sqs: Any,
        calls: CallCounter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        ssm: Any = None,
    ) -> None:
        self.config = config
        self.calls = calls or CallCounter()
        self.dynamodb = self.calls.attach(dynamodb)
        self.sqs = self.calls.attach(sqs)
        # The HMAC key is read once per execution environment (a failed read fails this construction,
        # so the next invocation tries again).
        hash_key = None
        if config.recipient_user_key == "hashed_address":
            if ssm is None:
                from engagement_scoring.aws.clients import make_client

                ssm = make_client("ssm")
            hash_key = read_hash_key(ssm, config.recipient_hash_key_parameter)
        self.format_settings = config.format_settings(hash_key)
        self.store = ScoreStore(
            self.dynamodb, config.rules_table, config.scores_table, config.processed_events_table, sleep
        )
        self.sleep = sleep
        self.clock = clock
        self.log = JsonLog(FUNCTION, config.log_level)
        self._rules: dict[str, Rule] | None = None
        self._rules_loaded_at = 0.0
        self.timed: TimedRules | None = None  # window rules and limits of the cached rules (#10)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ScorerRuntime:
        from engagement_scoring.aws.clients import make_client

        config = ScorerConfig.from_env(os.environ if env is None else env)
        return cls(config, make_client("dynamodb"), make_client("sqs"))

    def rules(self) -> dict[str, Rule]:
        """The rules, re-read with one Scan at most every RULES_CACHE_TTL_SECONDS; stale rules beat none."""
        now = self.clock()
        if self._rules is not None and now - self._rules_loaded_at < self.config.rules_cache_ttl_seconds:
            return self._rules
        try:
            rules, problems = rules_from_items(self.store.scan_rules())
        except Exception as exc:
            if self._rules is None:
                raise
            self.log.emit("WARNING", "rules reload failed, using cached rules", error=describe(exc))
            return self._rules
        if problems:
            self.log.emit("WARNING", "invalid rules skipped", problems=problems[:20])
        windows = self.config.window_rules
        self.timed = timed_rules(rules, windows)
        rules = with_measured_types(rules, windows)
        rules = with_attribution_types(rules, self.config.attribution)
        self._rules, self._rules_loaded_at = rules, now
        return rules


def with_attribution_types(rules: dict[str, Rule], attribution: AttributionConfig | None) -> dict[str, Rule]:
    """The rules plus a 0-point rule for each touch or conversion type without one (#11): such events
    are counted and deduplicated like scored events, so attribution sees each exactly once."""
    if attribution is None:
        return rules
    missing = attribution.event_types - rules.keys()
    if not missing:
        return rules
    return {**rules, **{event_type: Rule(event_type, Decimal(0)) for event_type in sorted(missing)}}


@dataclass(slots=True)
class _SideWrite:
    """The attribution part of one user write: actions for its transaction and what they record."""

    actions: list[dict[str, Any]]
    touches: Touches
    touches_version: int | None
    touches_added: int
    # (ledger key, attribution) of each conversion this write credits
    credits: list[tuple[str, Attribution]]
    expires_at: int  # of the ledger items (epoch seconds)
    # (ledger key, attribution) of every conversion this write counts, `credits` and those credited
    # before (a split-path credit whose user write failed, or a ledger item outliving its ring digest):
    # the write's `ca`, so each credited conversion's ConversionAttributed is published (same id)
    counted: list[tuple[str, Attribution]] = field(default_factory=list)


def _attribution_write(
    runtime: ScorerRuntime,
    write_candidates: tuple[Candidate, ...],
    user_key: str,
    touches: Touches,
    touches_version: int | None,
    credited: set[str],
    now_ms: int,
) -> _SideWrite | None:
    """The touches item, conversion ledger items and campaign updates of a write (None: it has none)."""
    config = runtime.config
    attribution = config.attribution
    if attribution is None:
        return None
    # Machine-flagged events (privacy proxies, scanners) are no touches; conversions are never flagged.
    events = [
        candidate.event
        for candidate in write_candidates
        if attribution.is_relevant(candidate.event)
        and not (candidate.reasons and candidate.event.event_type in attribution.touch_event_types)
    ]
    if not events:
        return None
    applied = apply_events(touches, events, attribution)
    conversions = [
        candidate
        for candidate in write_candidates
        if candidate.event.event_type in attribution.conversion_rules
        and conversion_of(candidate.event, attribution) is not None
    ]
    credits = [
        (ledger_key(user_key, candidate.event.content_key), attributed)
        for candidate, attributed in zip(conversions, applied.attributions, strict=True)
    ]
    counted = credits
    credits = [(key, attributed) for key, attributed in credits if key not in credited]
    table = runtime.store.ledger_table
    actions: list[dict[str, Any]] = []
    if applied.touches_added:
        actions.append(
            touches_put(table, user_key, applied.touches, touches_version, attribution.lookback_ms)
        )
    expires_at = now_ms // 1000 + int(config.dedupe_ttl_hours * 3600)
    for key, attributed in credits:
        actions.append(ledger_put(table, key, attributed, expires_at))
    if credits:
        actions.extend(campaign_updates(config.campaign_table, [a for _, a in credits], now_ms))
    if not actions and not counted:
        return None
    return _SideWrite(
        actions, applied.touches, touches_version, applied.touches_added, credits, expires_at, counted
    )


def _count_credit(stats: BatchStats, attribution: Attribution) -> None:
    if attribution.attributed:
        stats.conversions_attributed += 1
    else:
        stats.conversions_unattributed += 1


def _commit_with_side(
    runtime: ScorerRuntime,
    update: dict[str, Any],
    bucket_updates: list[dict[str, Any]],
    side: _SideWrite,
    credited: set[str],
    stats: BatchStats,
    now_ms: int,
) -> CommitOutcome:
    """A user write with attribution: one TransactWriteItems of the user update, its buckets, the
    touches item, the conversions' ledger items and the campaign ADDs. A ledger item that already
    exists (the conversion was credited before) cancels it: that conversion is remembered as credited
    and the write retried without it. When the actions exceed one transaction, each conversion's credit
    (ledger item + campaign ADDs) commits first in its own transaction, then the rest."""
    store = runtime.store
    actions = [{"Update": update}, *bucket_updates, *side.actions]
    if len(actions) <= MAX_TRANSACTION_ACTIONS:
        outcome = store.commit(actions)
        if outcome.status == OK:
            for key, attribution in side.credits:
                credited.add(key)
                _count_credit(stats, attribution)
        elif outcome.status == CONFLICT and outcome.codes:
            first = 1 + len(bucket_updates) + (1 if side.touches_added else 0)
            failed = [i for i, code in enumerate(outcome.codes) if code == "ConditionalCheckFailed"]
            ledgers = [i for i in failed if first <= i < first + len(side.credits)]
            if ledgers and len(ledgers) == len(failed):
                for index in ledgers:
                    credited.add(side.credits[index - first][0])
                    stats.conversions_already_credited += 1
        return outcome
    for key, attribution in side.credits:
        outcome = store.commit(
            [
                ledger_put(store.ledger_table, key, attribution, side.expires_at),
                *campaign_updates(runtime.config.campaign_table, [attribution], now_ms),
            ]
        )
        if outcome.status == CONFLICT:  # only the ledger item has a condition: credited before
            stats.conversions_already_credited += 1
        elif outcome.status != OK:
            return outcome
        else:
            _count_credit(stats, attribution)
        credited.add(key)
    rest = [{"Update": update}, *bucket_updates, *(side.actions[:1] if side.touches_added else [])]
    return store.commit(rest) if len(rest) > 1 else store.write_user(update, [])


def read_hash_key(ssm: Any, parameter: str) -> str:
    """The SecureString value of the HMAC key parameter (decrypted); never logged."""
    value = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    return value if isinstance(value, str) else ""


def parse_record(data: Any) -> tuple[bytes, Any]:
    """Kinesis `data` (base64) -> (the record's bytes, its JSON value); raises RecordRejected.

    Gzip data (CloudWatch Logs subscription records) is inflated first, within a bound."""
    if not isinstance(data, str) or not data:
        raise RecordRejected("missing_data")
    if len(data) > _MAX_BASE64_CHARS:
        raise RecordRejected("oversized")
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise RecordRejected("not_base64") from exc
    if len(raw) > MAX_RECORD_BYTES:
        raise RecordRejected("oversized")
    if raw[:1] == b"\x1f" and raw[:2] == GZIP_MAGIC:  # never valid UTF-8: no JSON record starts so
        raw = gunzip(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordRejected("not_utf8") from exc
    try:
        # The scanner parses a record with no surrounding whitespace (every producer's) without
        # decode's two whitespace regexes; anything else takes decode, json.loads' own path.
        value, end = _SCAN_ONCE(text, 0)
        if end != len(text):
            value = _JSON.decode(text)
    except (StopIteration, ValueError, RecursionError):
        try:
            value = _JSON.decode(text)
        except (ValueError, RecursionError) as exc:
            raise RecordRejected("not_json") from exc
    return raw, value


# One outcome of a record: (the log event's index in a CloudWatch Logs record, else None; the event,
# skip or rejection; what the event's content key hashes when it has no identity: bytes, or an
# EventBridge detail whose canonical JSON it hashes).
Decoded = tuple[int | None, NormalizedEvent | SkippedRecord | RecordRejected, Any]


def _reject_future(results: list[NormalizedEvent | SkippedRecord], not_after_ms: int | None) -> None:
    if not_after_ms is not None:
        for result in results:
            if type(result) is NormalizedEvent and result.timestamp_ms > not_after_ms:
                raise RecordRejected("future_timestamp")


def _decode_payloads(
    payloads: list[Payload], settings: FormatSettings, not_after_ms: int | None
) -> list[Decoded]:
    single = len(payloads) == 1 and payloads[0].part is None
    decoded: list[Decoded] = []
    for payload in payloads:
        outcome = payload.outcome
        if outcome is None:
            try:
                results = normalize(payload.value, settings, payload.received_ms)
                _reject_future(results, not_after_ms)
            except RecordRejected as rejection:
                outcome = rejection
            else:
                source = payload.data if payload.data is not None else payload.value
                decoded.extend([(payload.part, result, source) for result in results])
                continue
        if single and type(outcome) is RecordRejected:
            raise outcome
        decoded.append((payload.part, outcome, None))
    return decoded


def decode(data: Any, settings: FormatSettings, not_after_ms: int | None = None) -> list[Decoded]:
    """Kinesis `data` -> the outcome of every payload it carries, content keys not yet set.

    Raises RecordRejected when the record, or its only payload, cannot be scored; the log events of a
    CloudWatch Logs record are rejected one by one (their part index tells which). An event later than
    `not_after_ms` rejects its payload as `future_timestamp`."""
    raw, value = parse_record(data)
    if is_envelope(value):
        payloads = unwrap(value)
        if payloads is not None:
            return _decode_payloads(payloads, settings, not_after_ms)
    results = normalize(value, settings)
    if len(results) == 1:  # every Pinpoint and custom record: no loop, no comprehension (benchmark B2)
        result = results[0]
        if (
            not_after_ms is not None
            and type(result) is NormalizedEvent
            and result.timestamp_ms > not_after_ms
        ):
            raise RecordRejected("future_timestamp")
        return [(None, result, raw)]
    _reject_future(results, not_after_ms)
    return [(None, result, raw) for result in results]


def event_content_key(event: NormalizedEvent, source: Any) -> str:
    """`e#` + blake2b-128 of the event's identity, else of its payload's bytes (docs/architecture.md)."""
    if event.identity is not None:
        return content_key(event.identity.encode("utf-8", "surrogatepass"))
    return content_key(source if type(source) is bytes else canonical_json(source))


def decode_record(
    data: Any, settings: FormatSettings | str = DEFAULT_SETTINGS, not_after_ms: int | None = None
) -> list[NormalizedEvent | SkippedRecord | RecordRejected]:
    """Kinesis `data` -> every event (with its content key), skip and rejected part it carries.

    `settings` may be a USER_KEY_MODE name, for the default format settings in that mode. Raises
    RecordRejected as `decode` does."""
    if isinstance(settings, str):
        settings = FormatSettings(user_key_mode=settings)
    results = []
    for _, result, source in decode(data, settings, not_after_ms):
        if type(result) is NormalizedEvent:
            result.content_key = event_content_key(result, source)
        results.append(result)
    return results


def _sequence_number_and_data(record: Any) -> tuple[str | None, Any]:
    """(sequence number, data) of a Lambda Kinesis record, None where absent."""
    kinesis = record.get("kinesis") if isinstance(record, dict) else None
    if not isinstance(kinesis, dict):
        return None, None
    sequence_number = kinesis.get("sequenceNumber")
    return (
        sequence_number if isinstance(sequence_number, str) and sequence_number else None,
        kinesis.get("data"),
    )


def _shard_id(record: Any) -> str | None:
    """The shard id of a Lambda Kinesis record (the part of its eventID before the colon), if any."""
    event_id = record.get("eventID") if isinstance(record, dict) else None
    return event_id.partition(":")[0] if isinstance(event_id, str) and event_id else None


def sequence_numbers(event: Any) -> list[str]:
    """Every sequence number in a Kinesis Lambda event (for reporting a whole batch as failed)."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        return []
    return [seq for seq in (_sequence_number_and_data(record)[0] for record in records) if seq is not None]


def _remaining_ms(context: Any) -> Callable[[], int] | None:
    method = getattr(context, "get_remaining_time_in_millis", None)
    return method if callable(method) else None


def _entries(candidate: Candidate) -> tuple[bytes, bytes | None]:
    """The ring entries of a candidate: its content digest, and its once-per-message digest if any."""
    event = candidate.event
    once_key = candidate.once_key
    return (
        content_entry(event.content_key, event.timestamp_ms),
        once_entry(once_key) if once_key is not None else None,
    )


def _applied_keys(
    candidates: list[Candidate],
    entries: Mapping[int, tuple[bytes, bytes | None]],
    stored: StoredUser,
    store: ScoreStore,
    now_s: int,
) -> tuple[set[str], list[str]]:
    """Keys (content, once) whose digest is in the user's ring, and the buckets to read for the rest."""
    digests = ring_digests(stored.ring) if stored.ring else set()
    applied: set[str] = set()
    unresolved: list[bytes] = []
    for candidate in candidates:
        if candidate.status == SCORED:
            continue
        content, once = entries[id(candidate)]
        if content[:DIGEST_BYTES] in digests:
            applied.add(candidate.event.content_key)
        else:
            unresolved.append(content)
        if once is not None and candidate.once_key is not None:
            if once[:DIGEST_BYTES] in digests:
                applied.add(candidate.once_key)
            else:
                unresolved.append(once)
    if not unresolved or not stored.directory:
        return applied, []
    user_key = candidates[0].event.user_key
    suffixes = buckets_to_read(unresolved, stored.directory, now_s)
    return applied, [store.bucket_key(user_key, suffix) for suffix in suffixes]


def _score_events(
    normalized: list[tuple[str | None, NormalizedEvent]],
    rules: Mapping[str, Rule],
    runtime: ScorerRuntime,
    stats: BatchStats,
    context: Any,
) -> list[Candidate]:
    """Count the events of the batch; returns all candidates with their final status."""
    config, store = runtime.config, runtime.store
    classified = classify(normalized, rules)
    stats.skipped.update(classified.skipped)
    stats.in_batch_duplicates += classified.in_batch_duplicates
    policy = config.machine
    stats.machine = judge(classified.candidates, policy)
    by_user: dict[str, list[Candidate]] = {}
    entries: dict[int, tuple[bytes, bytes | None]] = {}
    # Users to read and write: those with a candidate that counts, and (burst, #13) those with a click,
    # whose `rc` must learn it even when it weighs 0. A weight-0 candidate is neither scored nor a
    # once-per-message touch; it stays in its user's group only for the burst verdict of later clicks.
    clicking: set[str] = set()
    for candidate in classified.candidates:
        user_key = candidate.event.user_key
        if candidate.status == NOT_COUNTED:
            if policy.burst_window_ms <= 0 or candidate.event.event_type != CLICK:
                continue
            clicking.add(user_key)
        elif candidate.event.event_type == CLICK and candidate.event.details is not None:
            clicking.add(user_key)
        entries[id(candidate)] = _entries(candidate)
        group = by_user.get(user_key)
        if group is None:
            by_user[user_key] = [candidate]
        else:
            group.append(candidate)
    recent_clicks: dict[str, tuple[RecentClick, ...]] = {}
    pending = list(by_user)
    # Campaign attribution (#11): only users with a touch or conversion in the batch read and write
    # their touches item; every other user's write stays one UpdateItem.
    attribution = config.attribution
    with_touches: set[str] = set()
    if attribution is not None:
        with_touches = {
            user_key
            for user_key, group in by_user.items()
            if any(
                candidate.status != NOT_COUNTED and attribution.is_relevant(candidate.event)
                for candidate in group
            )
        }
    credited: dict[str, set[str]] = {user_key: set() for user_key in with_touches}
    given_up: set[str] = set()
    updated: set[str] = set()
    remaining = _remaining_ms(context)
    dedupe_ttl_s = int(config.dedupe_ttl_hours * 3600)
    once_ttl_s = int(config.once_per_message_ttl_hours * 3600)

    for round_number in range(MAX_ROUNDS):
        if round_number:
            if remaining is not None and remaining() < TIME_RESERVE_MS:
                break
            runtime.sleep(backoff_delay(round_number))
        retry: set[str] = set()
        now_ms = int(runtime.clock() * 1000)
        now_s = now_ms // 1000
        try:
            # The first round reads eventually consistent (half the read units): the version condition
            # catches a stale item. Every later round retries users whose write failed: strongly.
            users, unread = store.load_users(pending, consistent=round_number > 0)
            applied: dict[str, set[str]] = {}
            wanted: dict[str, list[str]] = {}
            for user_key in pending:
                if user_key in unread:
                    continue
                stored = users.get(user_key, NEW_USER)
                if user_key in clicking:  # the burst verdict from this read of `rc` (#13)
                    recent_clicks[user_key] = apply_bursts(by_user[user_key], stored.recent_clicks, policy)
                keys, buckets = _applied_keys(
                    [c for c in by_user[user_key] if c.status != NOT_COUNTED], entries, stored, store, now_s
                )
                applied[user_key] = keys
                if buckets:
                    wanted[user_key] = buckets
            found: dict[str, set[bytes]] = {}
            touch_items: dict[str, dict[str, Any]] = {}
            unchecked: set[str] = set()
            touch_keys = [
                touches_key(user_key)
                for user_key in pending
                if user_key in with_touches and user_key not in unread
            ]
            if wanted or touch_keys:
                found, touch_items, unchecked = store.read_side_items(
                    [key for keys in wanted.values() for key in keys], touch_keys
                )
        except Exception as exc:
            stats.errors[describe(exc)] += 1
            pending = [user_key for user_key in pending if user_key not in given_up]
            continue
        retry |= unread
        for user_key in pending:
            if user_key in unread:
                continue
            buckets = wanted.get(user_key, [])
            keys = applied[user_key]
            candidates = [c for c in by_user[user_key] if c.status != NOT_COUNTED]
            if user_key in with_touches and touches_key(user_key) in unchecked:
                retry.add(user_key)
                continue
            if buckets:
                if any(key in unchecked for key in buckets):
                    retry.add(user_key)
                    continue
                held = set().union(*(found.get(key, set()) for key in buckets))
                for candidate in candidates:
                    content, once = entries[id(candidate)]
                    if content[:DIGEST_BYTES] in held:
                        keys.add(candidate.event.content_key)
                    if once is not None and candidate.once_key is not None and once[:DIGEST_BYTES] in held:
                        keys.add(candidate.once_key)
            new = select_new(candidates, keys)
            stored = users.get(user_key, NEW_USER)
            rc_after = recent_clicks.get(user_key, stored.recent_clicks)
            rc_changed = rc_after != stored.recent_clicks
            if not new and not (rc_changed and stored.state.version):
                # Nothing counts; an `rc` that learnt only weight-0 clicks is written when the item
                # exists (one write, no score change); no item is created for it (docs/scoring.md).
                continue
            try:
                # Window rules and limits (#10): only when configured, or to clear what an item still holds.
                timed = runtime.timed
                if timed is None and stored.has_timed:
                    timed = NO_TIMED_RULES
                writes = plan_user_writes(
                    user_key,
                    stored.state,
                    new,
                    config.model,
                    timed=None
                    if timed is None
                    else (timed, stored_state(stored.windows, stored.limits, stored.rules, timed)),
                )
                if not writes:  # only `rc` changed: the item as it is, one version on
                    state = stored.state
                    writes = [
                        UserWrite(user_key, state.version, replace(state, version=state.version + 1), ())
                    ]
            except Exception as exc:  # a bug for one user must not fail the others
                stats.internal_errors += 1
                stats.errors[type(exc).__name__] += 1
                given_up.add(user_key)
                continue
            ring, listed = stored.ring, stored.directory
            holds_conversions = stored.has_conversions
            touches, touches_version = (
                touches_from_item(touch_items.get(touches_key(user_key)))
                if user_key in with_touches
                else (Touches(), None)
            )
            published, endpoints, held_tier = stored.published, stored.state.endpoint_ids, stored.tier
            for write in writes:
                try:
                    new_entries = []
                    for candidate in write.candidates:
                        content, once = entries[id(candidate)]
                        new_entries.append(content)
                        if once is not None:
                            new_entries.append(once)
                    ring_update = add_entries(
                        ring, listed or {}, new_entries, now_s, dedupe_ttl_s, once_ttl_s
                    )
                    score, tier = score_view(write.state, config.model, held_tier)
                    publish = next_publication(
                        published,
                        score,
                        tier,
                        min_delta=config.publish_min_delta,
                        endpoints_added=write.state.endpoint_ids != endpoints,  # ids only grow
                        # a change of the matched window rules is a publication (docs/architecture.md)
                        rules_changed=write.timed is not None and write.timed.rules_changed,
                    )
                    side = (
                        _attribution_write(
                            runtime,
                            write.candidates,
                            user_key,
                            touches,
                            touches_version,
                            credited[user_key],
                            now_ms,
                        )
                        if user_key in with_touches
                        else None
                    )
                    # `ca`: set by a write that credits conversions, removed by the next one.
                    conversions: dict[str, str] | None = None
                    if side is not None and side.counted:
                        conversions = {
                            ledger_digest(key): conversion_detail(credit) for key, credit in side.counted
                        }
                    elif holds_conversions:
                        conversions = {}
                    update, bucket_updates = store.write_actions(
                        write,
                        ring_update,
                        listed is not None,
                        config.model,
                        now_ms,
                        publish,
                        held_tier,
                        published,
                        timed.windows if timed is not None else (),
                        conversions,
                        encode_recent_clicks(rc_after) if user_key in clicking else None,
                        stored.has_recent_clicks,
                    )
                    if side is None or not side.actions:
                        outcome = store.write_user(update, bucket_updates)
                    else:
                        outcome = _commit_with_side(
                            runtime, update, bucket_updates, side, credited[user_key], stats, now_ms
                        )
                except Exception as exc:
                    stats.internal_errors += 1
                    stats.errors[type(exc).__name__] += 1
                    given_up.add(user_key)
                    break
                if outcome.status == OK:
                    for candidate in write.candidates:
                        candidate.status = SCORED
                    if write.timed is not None:
                        stats.limit_capped_events += write.timed.capped_events
                        stats.points_not_counted += write.timed.points_not_counted
                    updated.add(user_key)
                    if side is not None and side.touches_added:
                        stats.touches_recorded += side.touches_added
                        touches, touches_version = side.touches, side.touches.next_seq
                    if conversions is not None:
                        holds_conversions = bool(conversions)
                    ring, listed = ring_update.ring, ring_update.directory
                    if publish is not None:
                        published = publish
                    endpoints, held_tier = write.state.endpoint_ids, tier
                    continue
                stats.errors[outcome.detail] += 1
                if outcome.status in (CONFLICT, RETRY):
                    stats.transaction_retries += 1
                    retry.add(user_key)
                else:
                    given_up.add(user_key)
                break
        pending = [user_key for user_key in pending if user_key in retry and user_key not in given_up]
        if not pending:
            break

    for user_key in set(pending) | given_up:
        for candidate in by_user[user_key]:
            if candidate.status == PENDING:
                candidate.status = FAILED
    stats.users_updated = len(updated)
    stats.machine = counts_of(classified.candidates)  # with the burst verdicts of the users read
    return classified.candidates


def process_batch(event: Any, runtime: ScorerRuntime, context: Any = None) -> dict[str, Any]:
    """Score one Kinesis batch; returns the partial batch response."""
    runtime.calls.reset()
    stats = BatchStats()
    records = event.get("Records") if isinstance(event, dict) else None
    records = records if isinstance(records, list) else []
    stats.records = len(records)
    failures: dict[str, None] = {}
    normalized: list[tuple[str | None, NormalizedEvent]] = []
    sources: list[Any] = []  # per normalized event, what its content key hashes without an identity
    rejected: list[RejectedRecord] = []
    settings = runtime.format_settings
    not_after_ms = int((runtime.clock() + runtime.config.max_clock_skew_seconds) * 1000)

    for record in records:
        # _sequence_number_and_data(record), written out: once per record (benchmark B2)
        kinesis = record.get("kinesis") if isinstance(record, dict) else None
        if isinstance(kinesis, dict):
            sequence_number = kinesis.get("sequenceNumber")
            if not isinstance(sequence_number, str) or not sequence_number:
                sequence_number = None
            data = kinesis.get("data")
        else:
            sequence_number = data = None
        try:
            decoded = decode(data, settings, not_after_ms)
        except RecordRejected as rejection:
            decoded = [(None, rejection, None)]
        except Exception as exc:  # a bug in a normalizer: retry the record, then the on-failure queue
            stats.internal_errors += 1
            stats.errors[type(exc).__name__] += 1
            if sequence_number is not None:
                failures[sequence_number] = None
            continue
        for part, result, source in decoded:
            if isinstance(result, NormalizedEvent):
                normalized.append((sequence_number, result))
                sources.append(source)
            elif isinstance(result, SkippedRecord):
                stats.skipped[result.reason] += 1
            else:
                stats.rejected[result.reason] += 1
                rejected.append(
                    RejectedRecord(
                        result.reason,
                        _shard_id(record),
                        sequence_number,
                        data if isinstance(data, str) else "",
                        part,
                    )
                )

    candidates: list[Candidate] = []
    if normalized:
        try:
            rules = runtime.rules()
        except Exception as exc:
            stats.errors[describe(exc)] += 1
            failures.update((seq, None) for seq, _ in normalized if seq is not None)
        else:
            # The content key (a hash of the payload's bytes or the event's identity) is only read for
            # events that have a rule (classify and after): computed here, it is skipped for the others
            # (benchmark B2).
            for (_, normalized_event), source in zip(normalized, sources, strict=True):
                if normalized_event.event_type in rules:
                    normalized_event.content_key = (
                        content_key(source)
                        if normalized_event.identity is None and type(source) is bytes
                        else event_content_key(normalized_event, source)
                    )
            candidates = _score_events(normalized, rules, runtime, stats, context)
    statuses = Counter([candidate.status for candidate in candidates])
    if statuses[FAILED]:
        for candidate in candidates:
            if candidate.status == FAILED:
                failures.update((seq, None) for seq in candidate.sequence_numbers)

    undelivered = send_rejected(runtime.sqs, runtime.config.failure_queue_url, rejected, runtime.sleep)
    for record in undelivered:
        stats.errors["failure_queue_unavailable"] += 1
        if record.sequence_number is not None:
            failures[record.sequence_number] = None

    duplicates = stats.in_batch_duplicates + statuses[DUPLICATE]
    summary = {
        "records": stats.records,
        "scored": statuses[SCORED],
        "duplicates_suppressed": duplicates,
        "once_per_message_suppressed": statuses[ONCE_PER_MESSAGE],
        "machine_flagged": dict(stats.machine.flagged),
        "machine_not_counted": statuses[NOT_COUNTED],
        "skipped": dict(stats.skipped),
        "rejected": dict(stats.rejected),
        "users_updated": stats.users_updated,
        "retryable_failures": len(failures),
    }
    if runtime.config.attribution is not None:  # campaign attribution on (#11)
        summary["touches_recorded"] = stats.touches_recorded
        summary["conversions_attributed"] = stats.conversions_attributed
        summary["conversions_unattributed"] = stats.conversions_unattributed
        summary["conversions_already_credited"] = stats.conversions_already_credited
    if runtime.timed is not None and runtime.timed.limits:  # point limits configured (#10)
        summary["limit_capped_events"] = stats.limit_capped_events
        summary["points_not_counted"] = _json_number(stats.points_not_counted)
    runtime.log.emit(
        "INFO",
        "batch scored",
        **summary,
        aws_calls=runtime.calls.snapshot(),
        transaction_retries=stats.transaction_retries,
        internal_errors=stats.internal_errors,
        errors=dict(stats.errors),
        rejected_records=[
            {"reason": r.reason, "shard_id": r.shard_id, "sequence_number": r.sequence_number}
            | ({} if r.part is None else {"part": r.part})
            for r in rejected[:MAX_LOGGED_REJECTIONS]
        ],
    )
    totals: dict[str, float] = {
        "EventsScored": statuses[SCORED],
        "EventsSkipped": sum(stats.skipped.values()),
        "DuplicatesSuppressed": duplicates,
        "OncePerMessageSuppressed": statuses[ONCE_PER_MESSAGE],
        "MachineNotCounted": statuses[NOT_COUNTED],
        "RecordsRejected": sum(stats.rejected.values()),
        "UsersUpdated": stats.users_updated,
        "SinkCalls": runtime.calls.total,
        "RetryableFailures": len(failures),
    }
    if "limit_capped_events" in summary:
        totals["LimitCappedEvents"] = stats.limit_capped_events
        totals["PointsNotCounted"] = _json_number(stats.points_not_counted)
    print_emf(
        emf_lines(
            runtime.config.metrics_namespace,
            FUNCTION,
            totals,
            {
                "EventsSkipped": stats.skipped,
                "RecordsRejected": stats.rejected,
                "MachineFlagged": stats.machine.flagged,
            },
        )
    )
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failures]}


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
