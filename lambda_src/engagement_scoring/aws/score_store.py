"""DynamoDB access of the scorer, layout v2 (docs/architecture.md): rules Scan; user items read with
BatchGetItem (eventually consistent, strongly on a retry round); overflow buckets read strongly
consistent; one conditional UpdateItem per user write, a TransactWriteItems only when the write moves
evicted ring entries into `processed_events` buckets."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engagement_scoring.aws.errors import (
    backoff_delay,
    cancellation_codes,
    describe,
    error_code,
    is_retryable,
)
from engagement_scoring.core.aggregation import UserWrite
from engagement_scoring.core.changes import attribute_value, image
from engagement_scoring.core.dedupe import Directory, RingUpdate, directory
from engagement_scoring.core.due import due_at, due_shard, publish_min_delta
from engagement_scoring.core.machine import RecentClick, decode_recent_clicks
from engagement_scoring.core.model import ZERO, ScoringModel, UserState, score_view
from engagement_scoring.core.publication import Published, published_from_image
from engagement_scoring.core.timed import encode_write
from engagement_scoring.core.windows import WindowRule

BATCH_GET_KEYS = 100
UNPROCESSED_ATTEMPTS = 5

# Names used in the user update; only those an expression uses may be sent.
_NAMES = {
    "#score": "score",
    "#raw": "raw_score",
    "#as_of": "as_of",
    "#channels": "channels",
    "#events": "events_applied",
    "#version": "version",
    "#updated": "updated_at",
    "#tier": "tier",
    "#endpoints": "endpoint_ids",
    "#dk": "dk",
    "#dd": "dd",
    "#mf": "mf",
    "#pub": "pub",
    "#wr": "wr",
    "#lc": "lc",
    "#rules": "rules",
}
_TIMED_NAMES = {"#wr": "wr", "#lc": "lc", "#rules": "rules"}
# The user update's SET clause (the tier is appended: set, or removed when there are no tiers) and
# the names it uses, with and without the endpoint ids.
_SET = (
    "SET #score = :score, #raw = :raw, #as_of = :as_of, #channels = :channels, #events = :events, "
    "#version = :version, #updated = :updated, #dk = :dk"
)
_SET_WITH_ENDPOINTS = _SET + ", #endpoints = :endpoints"
_NAMES_WITHOUT_ENDPOINTS = {
    name: _NAMES[name]
    for name in (
        "#score",
        "#raw",
        "#as_of",
        "#channels",
        "#events",
        "#version",
        "#updated",
        "#tier",
        "#dk",
        "#mf",
    )
}
_NAMES_WITH_ENDPOINTS = {**_NAMES_WITHOUT_ENDPOINTS, "#endpoints": _NAMES["#endpoints"]}
_BUCKET_UPDATE = "ADD d :d SET expires_at = :e"

OK = "ok"
CONFLICT = "conflict"  # a condition failed: re-read and recompute
RETRY = "retry"  # throttling, transaction conflict, 5xx, network: retry after backoff
INVALID = "invalid"  # the request itself is wrong (a bug): do not retry within this invocation


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    status: str
    detail: str = ""
    # A cancelled TransactWriteItems: each action's cancellation code ("None" for the fine ones).
    codes: tuple[str, ...] = ()


def number(value: Decimal | int) -> dict[str, str]:
    return {"N": format(value, "f") if isinstance(value, Decimal) else str(value)}


def _finite(value: Any, fallback: Decimal = ZERO) -> Decimal:
    """`value` if it is a finite Decimal, else `fallback` (a module function, not a closure per user)."""
    return value if isinstance(value, Decimal) and value.is_finite() else fallback


@dataclass(frozen=True, slots=True)
class StoredUser:
    """A user item as read: the score state and the dedupe ring and directory."""

    state: UserState
    ring: bytes = b""
    directory: Directory | None = None
    published: Published | None = None  # `pub`: what the sinks last saw (None: never, or written before pub)
    tier: str | None = None  # the tier the item holds (tier hysteresis)
    # `wr`, `lc`, `rules` as read (plain values; None when absent): window rules and limits (#10).
    windows: Any = None
    limits: Any = None
    rules: Any = None
    # The item holds `ca` (conversions a write credited, #11): the next write removes it.
    has_conversions: bool = False
    # `rc` (#13): the user's recent clicks for burst detection, as decoded; `has_recent_clicks`: the item
    # holds the attribute (a write that leaves no entries removes it).
    recent_clicks: tuple[RecentClick, ...] = ()
    has_recent_clicks: bool = False

    @property
    def has_timed(self) -> bool:
        return self.windows is not None or self.limits is not None or self.rules is not None


NEW_USER = StoredUser(UserState())


def stored_user(item: dict[str, Any]) -> StoredUser:
    ring = item.get("dk")
    stored_directory = item.get("dd")
    return StoredUser(
        user_state(item),
        bytes(ring) if isinstance(ring, bytes | bytearray) else b"",
        directory(stored_directory) if stored_directory is not None else None,
        published=published_from_image(item.get("pub")),
        tier=tier if isinstance(tier := item.get("tier"), str) else None,
        windows=item.get("wr"),
        limits=item.get("lc"),
        rules=item.get("rules"),
        has_conversions="ca" in item,
        recent_clicks=decode_recent_clicks(item.get("rc")),
        has_recent_clicks="rc" in item,
    )


_ABSENT: Any = object()
# The attributes the fast path below reads by name; any other is decoded as the image decodes it.
_FAST_ATTRIBUTES = frozenset(
    {
        "user_key",
        "raw_score",
        "score",
        "as_of",
        "events_applied",
        "version",
        "updated_at",
        "channels",
        "endpoint_ids",
        "dk",
        "tier",
        "pub",
        "rc",
    }
)


def _fast_stored_user(attributes: dict[Any, Any]) -> tuple[Any, StoredUser] | None:
    """What `user_entry` returns, for an item whose attributes have the kinds the scorer writes, read
    from the DynamoDB JSON by name (no plain image in between, no loop over the item's attributes for
    those: benchmark B2); None for anything else, which the caller then decodes the long way. The
    attributes it does not read by name are decoded as the image would, so a malformed one raises as
    before (through the long way: an exception here means None)."""
    get = attributes.get
    read = 0  # attributes read by name
    user_key: Any = None
    value = get("user_key", _ABSENT)
    if value is not _ABSENT:
        if type(value) is not dict or len(value) != 1 or type(user_key := value.get("S")) is not str:
            return None
        read += 1
    # as_of, events_applied, version (and updated_at, read for its validity only): plain unsigned
    # integers, which int() reads as int(Decimal()) would, all finite
    integers: list[int | None] = []
    for name in ("as_of", "events_applied", "version", "updated_at"):
        value = get(name, _ABSENT)
        if value is _ABSENT:
            integers.append(None)
            continue
        if type(value) is not dict or len(value) != 1:
            return None
        digits = value.get("N")
        if type(digits) is not str or not digits.isdigit() or not digits.isascii():
            return None
        integers.append(int(digits))
        read += 1
    as_of, events_applied, version, _ = integers
    raw = score = ZERO
    value = get("score", _ABSENT)
    if value is not _ABSENT:
        if type(value) is not dict or len(value) != 1 or type(digits := value.get("N")) is not str:
            return None
        number = Decimal(digits)
        if number.is_finite():
            raw = score = number
        read += 1
    value = get("raw_score", _ABSENT)
    if value is not _ABSENT:
        if type(value) is not dict or len(value) != 1 or type(digits := value.get("N")) is not str:
            return None
        number = Decimal(digits)
        raw = number if number.is_finite() else score
        read += 1
    channels: dict[str, Decimal] = {}
    value = get("channels", _ABSENT)
    if value is not _ABSENT:
        if type(value) is not dict or len(value) != 1 or type(content := value.get("M")) is not dict:
            return None
        for channel, amount in content.items():
            if type(channel) is not str or type(amount) is not dict or len(amount) != 1:
                return None
            if type(digits := amount.get("N")) is not str:
                return None
            number = Decimal(digits)
            if number.is_finite():
                channels[channel] = number
        read += 1
    endpoint_ids: tuple[str, ...] = ()
    value = get("endpoint_ids", _ABSENT)
    if value is not _ABSENT:
        if type(value) is not dict or len(value) != 1 or type(content := value.get("SS")) is not list:
            return None
        for endpoint_id in content:
            if type(endpoint_id) is not str:
                return None
        endpoint_ids = tuple(sorted(set(content)))
        read += 1
    ring: Any = b""
    value = get("dk", _ABSENT)
    if value is not _ABSENT:
        if type(value) is not dict or len(value) != 1 or type(ring := value.get("B")) is not bytes:
            return None
        read += 1
    tier: str | None = None
    value = get("tier", _ABSENT)
    if value is not _ABSENT:
        if type(value) is not dict or len(value) != 1 or type(tier := value.get("S")) is not str:
            return None
        read += 1
    published: Published | None = None
    value = get("pub", _ABSENT)
    if value is not _ABSENT:  # {"s": N, "t": S} as the scorer writes it; else as the image reads it
        pub: Any = value.get("M") if type(value) is dict and len(value) == 1 else None
        published_score = pub.get("s") if type(pub) is dict else None
        published_tier = pub.get("t", _ABSENT) if type(pub) is dict else None
        if (
            type(published_score) is dict
            and len(published_score) == 1
            and type(digits := published_score.get("N")) is str
            and len(pub) == (1 if published_tier is _ABSENT else 2)
            and (
                published_tier is _ABSENT
                or (
                    type(published_tier) is dict
                    and len(published_tier) == 1
                    and type(published_tier.get("S")) is str
                )
            )
        ):
            number = Decimal(digits)
            if number.is_finite():
                published = Published(number, None if published_tier is _ABSENT else published_tier["S"])
        else:
            published = published_from_image(attribute_value(value))
        read += 1
    recent_clicks: tuple[RecentClick, ...] = ()
    value = get("rc", _ABSENT)
    if value is not _ABSENT:
        if type(value) is not dict or len(value) != 1 or type(content := value.get("B")) is not bytes:
            return None
        recent_clicks = decode_recent_clicks(content)
        read += 1
    listed: Directory | None = None
    windows = limits = rules = None
    has_conversions = False
    if read != len(attributes):  # every other attribute as the image decodes it
        for name, value in attributes.items():
            if name in _FAST_ATTRIBUTES:
                continue
            if type(name) is not str:
                return None
            plain = attribute_value(value)
            if name == "dd":
                listed = directory(plain) if plain is not None else None
            elif name == "wr":
                windows = plain
            elif name == "lc":
                limits = plain
            elif name == "rules":
                rules = plain
            elif name == "ca":
                has_conversions = True
    return user_key, StoredUser(
        UserState(raw, as_of, channels, events_applied or 0, endpoint_ids, version or 0),
        ring,
        listed,
        published,
        tier,
        windows,
        limits,
        rules,
        has_conversions,
        recent_clicks,
        "rc" in attributes,
    )


def user_entry(attributes: Any) -> tuple[Any, StoredUser | None]:
    """(the `user_key` value, the StoredUser) of a user item as BatchGetItem returns it: what
    `stored_user(image(attributes))` gives (None for no item), raising where image raises."""
    if type(attributes) is dict:
        try:
            fast = _fast_stored_user(attributes)
        except Exception:  # the long way below says what is wrong, as it always did
            fast = None
        if fast is not None:
            return fast
    plain = image(attributes) or {}
    return plain.get("user_key"), stored_user(plain)


def user_state(item: dict[str, Any]) -> UserState:
    """The stored state of a user from a plain (deserialized) user item."""
    as_of = item.get("as_of")
    channels = item.get("channels")
    endpoint_ids = item.get("endpoint_ids")
    return UserState(
        raw=_finite(item.get("raw_score"), _finite(item.get("score"))),
        as_of=int(as_of) if isinstance(as_of, Decimal) and as_of.is_finite() else None,
        channels={
            str(name): value
            for name, value in (channels.items() if isinstance(channels, dict) else ())
            if isinstance(value, Decimal) and value.is_finite()
        },
        events_applied=int(_finite(item.get("events_applied"))),
        endpoint_ids=tuple(sorted(endpoint_ids)) if isinstance(endpoint_ids, set) else (),
        version=int(_finite(item.get("version"))),
    )


class ScoreStore:
    def __init__(
        self,
        client: Any,
        rules_table: str,
        scores_table: str,
        ledger_table: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.rules_table = rules_table
        self.scores_table = scores_table
        self.ledger_table = ledger_table
        self.sleep = sleep
        # The publication threshold the due time aims at (core/due.py); read here until ScorerConfig
        # carries score_publish_min_delta.
        self.publish_min_delta = publish_min_delta(os.environ)

    def scan_rules(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": self.rules_table}
        while True:
            response = self.client.scan(**request)
            items.extend(image(item) or {} for item in response.get("Items", []))
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return items
            request["ExclusiveStartKey"] = last_key

    def _batch_get(
        self,
        table: str,
        key_name: str,
        keys: Sequence[str],
        projection: str | None,
        consistent: bool,
        decode: Callable[[Any], Any] = lambda item: image(item) or {},
    ) -> tuple[list[Any], set[str]]:
        """Items found for `keys` (each as `decode` gives it: by default its plain image) and the keys
        that could not be read."""
        found: list[Any] = []
        unresolved: set[str] = set()
        for start in range(0, len(keys), BATCH_GET_KEYS):
            chunk = keys[start : start + BATCH_GET_KEYS]
            request: dict[str, Any] = {
                "Keys": [{key_name: {"S": key}} for key in chunk],
                "ConsistentRead": consistent,
            }
            if projection:
                request["ProjectionExpression"] = projection
            pending: dict[str, Any] = {table: request}
            for attempt in range(UNPROCESSED_ATTEMPTS):
                if attempt:
                    self.sleep(backoff_delay(attempt))
                try:
                    response = self.client.batch_get_item(RequestItems=pending)
                except Exception as exc:
                    if not is_retryable(exc):
                        raise
                    continue
                found.extend(map(decode, response.get("Responses", {}).get(table, [])))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
            if pending:
                unresolved.update(key[key_name]["S"] for key in pending[table]["Keys"])
        return found, unresolved

    def load_users(
        self, user_keys: Sequence[str], consistent: bool = False
    ) -> tuple[dict[str, StoredUser], set[str]]:
        """Stored items of these users (absent users are new), and the users that could not be read.

        Eventually consistent by default: a stale item makes the version-conditioned write fail, and
        the retry round reads strongly consistent."""
        entries, unresolved = self._batch_get(
            self.scores_table, "user_key", user_keys, None, consistent, user_entry
        )
        users = {user_key: user for user_key, user in entries if isinstance(user_key, str)}
        return users, unresolved

    def bucket_key(self, user_key: str, suffix: str) -> str:
        return f"b#{user_key}#{suffix}"

    def read_buckets(self, bucket_keys: Sequence[str]) -> tuple[dict[str, set[bytes]], set[str]]:
        """Digests held by these overflow buckets (strongly consistent), and the keys not read."""
        items, unresolved = self._batch_get(self.ledger_table, "event_key", bucket_keys, "event_key, d", True)
        found: dict[str, set[bytes]] = {}
        for item in items:
            key, digests = item.get("event_key"), item.get("d")
            if isinstance(key, str):
                found[key] = {bytes(d) for d in digests} if isinstance(digests, list | set) else set()
        return found, unresolved

    def read_side_items(
        self, bucket_keys: Sequence[str], touch_keys: Sequence[str]
    ) -> tuple[dict[str, set[bytes]], dict[str, dict[str, Any]], set[str]]:
        """Overflow buckets and attribution touches items (#11), strongly consistent, in one read: the
        digests per bucket, the touches items found, and the keys not read."""
        if not touch_keys:
            found, unresolved = self.read_buckets(bucket_keys)
            return found, {}, unresolved
        items, unresolved = self._batch_get(
            self.ledger_table, "event_key", [*bucket_keys, *touch_keys], None, True
        )
        wanted = set(bucket_keys)
        buckets: dict[str, set[bytes]] = {}
        touches: dict[str, dict[str, Any]] = {}
        for item in items:
            key, digests = item.get("event_key"), item.get("d")
            if not isinstance(key, str):
                continue
            if key in wanted:
                buckets[key] = {bytes(d) for d in digests} if isinstance(digests, list | set) else set()
            else:
                touches[key] = item
        return buckets, touches, unresolved

    def _user_update(
        self,
        write: UserWrite,
        ring: RingUpdate,
        had_directory: bool,
        model: ScoringModel,
        now_ms: int,
        publish: Published | None = None,
        previous_tier: str | None = None,
        sinks_see: Published | None = None,
        window_rules: Sequence[WindowRule] = (),
        conversions: dict[str, str] | None = None,
        recent_clicks: bytes | None = None,
        had_recent_clicks: bool = False,
    ) -> dict[str, Any]:
        # One per user write (benchmark B2): the expression and names come from the constants above,
        # and the integers of the state (typed int) are written with str() rather than number().
        state = write.state
        score, tier = score_view(state, model, previous_tier)
        values: dict[str, Any] = {
            ":score": {"N": format(score, "f")},
            ":raw": {"N": format(state.raw, "f")},
            ":as_of": {"N": str(state.as_of or 0)},
            ":channels": {"M": {name: number(value) for name, value in state.channels.items()}},
            ":events": {"N": str(state.events_applied)},
            ":version": {"N": str(state.version)},
            ":updated": {"N": str(now_ms)},
            ":dk": {"B": ring.ring},
        }
        if state.endpoint_ids:
            values[":endpoints"] = {"SS": list(state.endpoint_ids)}
            expression, names = _SET_WITH_ENDPOINTS, _NAMES_WITH_ENDPOINTS
        else:
            expression, names = _SET, _NAMES_WITHOUT_ENDPOINTS
        removed = []
        if tier is None:
            removed.append("#tier")
        else:
            expression += ", #tier = :tier"
            values[":tier"] = {"S": tier}
        if ring.directory:
            expression += ", #dd = :dd"
            values[":dd"] = {
                "M": {
                    suffix: {"L": [{"N": str(entry.count)}, {"N": str(entry.expires_at)}]}
                    for suffix, entry in ring.directory.items()
                }
            }
        elif had_directory:
            removed.append("#dd")
        # `mf`: the machine-flagged events this write counts, by reason (the sync sums the images' maps);
        # removed when there are none, so a later image never repeats an earlier write's counts.
        flagged: dict[str, int] = {}
        for candidate in write.candidates:
            for reason in candidate.reasons:
                flagged[reason] = flagged.get(reason, 0) + 1
        if flagged:
            expression += ", #mf = :mf"
            values[":mf"] = {"M": {reason: {"N": str(count)} for reason, count in sorted(flagged.items())}}
        else:
            removed.append("#mf")
        # `pub`: set only by a write that is a publication (core/publication.py), in this same UpdateItem;
        # every other write leaves it, so the sync sees it move only when the sinks must hear of it.
        if publish is not None:
            expression += ", #pub = :pub"
            published: dict[str, Any] = {"s": {"N": format(publish.score, "f")}}
            if publish.tier is not None:
                published["t"] = {"S": publish.tier}
            values[":pub"] = {"M": published}
            names = {**names, "#pub": "pub"}
        # A write without candidates only carries `rc` (#13, burst): the score state is the stored one, so
        # the due time stays as it is (the write has no window state to compute it from).
        if write.candidates and (model.decays or write.timed is not None):
            # The refresher's index (core/due.py): when the decayed score or a sliding window rule next
            # matters, or nothing. Without decay and window rules the item has no due time to keep.
            names = {**names, "#due_at": "due_at", "#due_sh": "due_sh"}
            seen = publish or sinks_see
            due = due_at(
                model,
                state.raw,
                state.as_of or 0,
                None if seen is None else seen.score,
                self.publish_min_delta,
                window_rules,
                None if write.timed is None else write.timed.state.windows,
            )
            if due is None:
                removed.extend(("#due_at", "#due_sh"))
            else:
                expression += ", #due_at = :due_at, #due_sh = :due_sh"
                values[":due_at"] = {"N": str(due)}
                values[":due_sh"] = {"S": due_shard(write.user_key)}
        if write.timed is not None:  # window rules and limits (#10): wr, lc, rules, each absent when empty
            timed_values, timed_removed = encode_write(write.timed)
            for name in (":wr", ":lc", ":rules"):
                if name in timed_values:
                    expression += f", #{name[1:]} = {name}"
            values.update(timed_values)
            removed.extend(timed_removed)
            names = {**names, **_TIMED_NAMES}
        # `ca` (#11): the conversions this write credits, ledger digest -> detail JSON (the sync publishes
        # one ConversionAttributed each); removed by the next write; None: attribution leaves it alone.
        if conversions is not None:
            names = {**names, "#ca": "ca"}
            if conversions:
                expression += ", #ca = :ca"
                values[":ca"] = {"M": {key: {"S": detail} for key, detail in sorted(conversions.items())}}
            else:
                removed.append("#ca")
        # `rc` (#13): the recent clicks after this batch; None: the batch had no click, leave it alone.
        if recent_clicks is not None:
            if recent_clicks:
                expression += ", #rc = :rc"
                values[":rc"] = {"B": recent_clicks}
                names = {**names, "#rc": "rc"}
            elif had_recent_clicks:
                removed.append("#rc")
                names = {**names, "#rc": "rc"}
        if removed:
            expression += " REMOVE " + ", ".join(removed)
        if ring.directory or had_directory:
            names = {**names, "#dd": "dd"}
        if write.expected_version:
            condition = "#version = :expected"
            values[":expected"] = {"N": str(write.expected_version)}
        else:
            condition = "attribute_not_exists(#version)"
        return {
            "TableName": self.scores_table,
            "Key": {"user_key": {"S": write.user_key}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": dict(names),
            "ExpressionAttributeValues": values,
        }

    def write_actions(
        self,
        write: UserWrite,
        ring: RingUpdate,
        had_directory: bool,
        model: ScoringModel,
        now_ms: int,
        publish: Published | None = None,
        previous_tier: str | None = None,
        sinks_see: Published | None = None,
        window_rules: Sequence[WindowRule] = (),
        conversions: dict[str, str] | None = None,
        recent_clicks: bytes | None = None,
        had_recent_clicks: bool = False,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The user update, and the bucket updates that must commit with it (empty: no eviction).

        `publish`: the `pub` this write sets (`core.publication.next_publication`), None to leave it;
        `previous_tier`: the tier the item holds before this write (tier hysteresis); `sinks_see`: the
        item's `pub` before this write (with `publish`, what the refresher's next due time starts from);
        `window_rules`: the configured window rules, whose sliding ones join the due time."""
        update = self._user_update(
            write,
            ring,
            had_directory,
            model,
            now_ms,
            publish,
            previous_tier,
            sinks_see,
            window_rules,
            conversions,
            recent_clicks,
            had_recent_clicks,
        )
        buckets = [
            {
                "Update": {
                    "TableName": self.ledger_table,
                    "Key": {"event_key": {"S": self.bucket_key(write.user_key, suffix)}},
                    "UpdateExpression": _BUCKET_UPDATE,
                    "ExpressionAttributeValues": {
                        ":d": {"BS": list(dict.fromkeys(digests))},
                        ":e": {"N": str(expires_at)},
                    },
                }
            }
            for suffix, (digests, expires_at) in ring.evicted.items()
        ]
        return update, buckets

    def write_user(self, update: dict[str, Any], buckets: list[dict[str, Any]]) -> CommitOutcome:
        """One conditional UpdateItem, or with evictions one TransactWriteItems; the result classified."""
        if buckets:
            return self.commit([{"Update": update}, *buckets])
        try:
            self.client.update_item(**update)
        except Exception as exc:
            code = error_code(exc)
            if code == "ConditionalCheckFailedException":
                return CommitOutcome(CONFLICT, code)
            return CommitOutcome(RETRY if is_retryable(exc) else INVALID, describe(exc))
        return CommitOutcome(OK)

    def commit(self, actions: list[dict[str, Any]]) -> CommitOutcome:
        """Run one TransactWriteItems and classify the result."""
        try:
            self.client.transact_write_items(TransactItems=actions)
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException":
                codes = cancellation_codes(exc)
                detail = ",".join(sorted(set(codes) - {"None"})) or "TransactionCanceledException"
                if "ConditionalCheckFailed" in codes:
                    return CommitOutcome(CONFLICT, detail, tuple(codes))
                if "ValidationError" in codes:
                    return CommitOutcome(INVALID, detail)
                return CommitOutcome(RETRY, detail)
            return CommitOutcome(RETRY if is_retryable(exc) else INVALID, describe(exc))
        return CommitOutcome(OK)
