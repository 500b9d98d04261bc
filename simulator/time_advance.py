"""The time-advance phase of `python -m simulator run` (--now / --advance-hours; issue #10 item 7).

After the stream drained, the clock is set to `now` and the deployed refresher runs with that clock until
nothing is due. Then, per user:

- **as of now**: the engine's state decayed to now (the item's `raw_score` carried from its `as_of`,
  clamped) equals the oracle's (its own sum of the counted events, decayed to now: simulator/oracle.py
  never imports the engine), within `DECAY_TOLERANCE`; the stored `tier` is the oracle's tier as of now
  (a tier edge is always a due time), forgiven within the tolerance of an edge; no item is still due
  (`due_at` absent or later than now);
- **the sinks' last seen values** (Customer Profiles objects, the newest EngagementScoreChanged of each
  user on EventBridge): the tier as of now, and a score within the refresher's publication step of the
  score as of now (step = SCORE_PUBLISH_MIN_DELTA, or 1 point when 0: core/due.py);
- **the refresher's events on EventBridge**: per user, the EngagementTierChanged of the highest item
  version names the tier as of now (a user the refresher moved to another tier must have one), and per
  (user, window rule) the EngagementRuleMatched / EngagementRuleCleared of the highest version says
  matched exactly for the rules matched as of now (a sliding rule the refresher cleared ends Cleared);
- **window rules as of now**: the item's `rules` (the refresher re-evaluated the sliding rules at its
  clock, or nothing changed since the last write) are the oracle's, its own brute-force evaluation of
  WINDOW_RULES over the user's counted events at now (`oracle.matched_rules`).

With --json each user carries `score` and `tier` exact as of now, from the engine's state, and `rules`
(the sorted names matched then, [] when none).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from simulator.oracle import Expectation, Settings, clamp, matched_rules, tier_for
from simulator.verify import (
    DECAY_TOLERANCE,
    SCORE_CHANGED,
    TIER_CHANGED,
    Mismatch,
    SinkCheck,
    _check_rule_events,
    _event_parts,
    _near_boundary,
    plain,
)

MAX_RUNS = 20
ZERO_THRESHOLD_STEP = 1.0


def parse_now(text: str) -> int:
    """--now: ISO 8601 (UTC when no zone is given) -> epoch seconds."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def clock(now: int | None, advance_hours: float | None, newest_event_ms: int | None) -> int | None:
    """The phase's clock in epoch seconds: --now, else --advance-hours after the newest event, else None."""
    if now is not None:
        return now
    if advance_hours is None:
        return None
    if newest_event_ms is None:
        raise ValueError("--advance-hours needs at least one event with a time")
    return int(newest_event_ms // 1000 + advance_hours * 3600)


def decayed(raw: float, as_of_ms: int, now_ms: int, half_life_hours: float) -> float:
    if half_life_hours <= 0 or now_ms <= as_of_ms:
        return raw
    return float(raw * 2.0 ** (-(now_ms - as_of_ms) / (half_life_hours * 3_600_000)))


def engine_as_of(item: Mapping[str, Any], settings: Settings, now_ms: int) -> tuple[float, str | None]:
    """The score and tier of a user item as of now (its raw score decayed from its as_of)."""
    raw = float(item.get("raw_score", item.get("score", 0)) or 0)
    as_of = int(item.get("as_of", 0) or 0)
    score = float(
        clamp(decayed(raw, as_of, now_ms, settings.decay_half_life_hours), settings.floor, settings.ceiling)
    )
    return score, tier_for(score, settings.tiers)


def oracle_as_of(
    expectation: Expectation, settings: Settings, now_ms: int
) -> dict[str, tuple[float, str | None]]:
    """Per user, the oracle's score and tier as of now: its raw sum at its as_of, decayed to now."""
    out: dict[str, tuple[float, str | None]] = {}
    for key, want in expectation.users.items():
        raw = decayed(float(want.raw_score), want.as_of, now_ms, settings.decay_half_life_hours)
        score = float(clamp(raw, settings.floor, settings.ceiling))
        out[key] = (score, tier_for(score, settings.tiers))
    return out


def oracle_rules_as_of(expectation: Expectation, settings: Settings, now_ms: int) -> dict[str, list[str]]:
    """Per user, the oracle's matched window rules as of now (sorted names)."""
    return {
        key: matched_rules(settings.window_rules, want.measured, now_ms)
        for key, want in expectation.users.items()
    }


def stored_rules(item: Mapping[str, Any]) -> list[str]:
    value = item.get("rules")
    return sorted(value) if isinstance(value, set | list | tuple) else []


@dataclass(slots=True)
class AdvanceResult:
    now_s: int
    runs: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # as of now, from the engine
    mismatches: list[Mismatch] = field(default_factory=list)
    customer_profiles: SinkCheck | None = None
    eventbridge: SinkCheck | None = None
    certainly_due: int | None = None  # oracle: users the refresher must have refreshed (`certainly_due`)
    reason: str = ""

    @property
    def mismatch_count(self) -> int:
        sinks = sum(check.mismatches for check in (self.customer_profiles, self.eventbridge) if check)
        return len({m.user_key for m in self.mismatches}) + sinks

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now_s,
            "now_iso": dt.datetime.fromtimestamp(self.now_s, dt.UTC).isoformat().replace("+00:00", "Z"),
            "refresher_runs": self.runs,
            "users_refreshed": sum(int(run.get("users_refreshed", 0)) for run in self.runs),
            "users_certainly_due": self.certainly_due,
            "mismatches": self.mismatch_count,
            "details": [m.to_json() for m in self.mismatches[:200]],
            "customer_profiles": self.customer_profiles.to_json() if self.customer_profiles else None,
            "eventbridge": self.eventbridge.to_json() if self.eventbridge else None,
            "reason": self.reason,
        }


def run_until_idle(deployment: Any, now_s: int, max_runs: int = MAX_RUNS) -> list[dict[str, Any]] | None:
    """Run the refresher at `now_s` until a run finds nothing due; None without a refresher."""
    runs: list[dict[str, Any]] = []
    while len(runs) < max_runs:
        summary = deployment.run_refresher(now_s)
        if summary is None:
            return None
        runs.append(summary)
        if not summary.get("users_due") and not summary.get("retryable_failures"):
            return runs
    raise RuntimeError(f"the refresher still found users due after {max_runs} runs at {now_s}")


def check_items(
    expectation: Expectation | None, items: Mapping[str, Mapping[str, Any]], settings: Settings, now_s: int
) -> tuple[dict[str, dict[str, Any]], list[Mismatch]]:
    now_ms = now_s * 1000
    users: dict[str, dict[str, Any]] = {}
    mismatches: list[Mismatch] = []
    for key, item in items.items():
        score, tier = engine_as_of(item, settings, now_ms)
        users[key] = {
            "score": round(score, 6),
            "tier": tier if settings.tiers else None,
            "rules": stored_rules(item),
        }
        due_at = item.get("due_at")
        if due_at is not None and int(due_at) <= now_s:
            mismatches.append(Mismatch(key, "due_at", f"> {now_s}", plain(due_at)))
    if expectation is None:
        return users, mismatches
    wanted = oracle_as_of(expectation, settings, now_ms)
    rules_now = oracle_rules_as_of(expectation, settings, now_ms) if settings.window_rules else {}
    for key, (score, tier) in wanted.items():
        stored = items.get(key)
        if stored is None:
            mismatches.append(Mismatch(key, "item", "present", None))
            continue
        if abs(users[key]["score"] - score) > DECAY_TOLERANCE:
            mismatches.append(Mismatch(key, "score as of now", round(score, 6), users[key]["score"]))
        if settings.tiers and stored.get("tier") != tier and not _near_boundary(score, settings):
            mismatches.append(Mismatch(key, "tier as of now", tier, stored.get("tier")))
        if rules_now and users[key]["rules"] != rules_now[key]:
            mismatches.append(Mismatch(key, "rules as of now", rules_now[key], users[key]["rules"]))
    return users, mismatches


def _check_seen(
    check: SinkCheck,
    key: str,
    want: tuple[float, str | None],
    seen: tuple[Any, Any] | None,
    settings: Settings,
    step: float,
) -> None:
    score, tier = want
    if seen is None:
        if abs(score) < step:  # never published, and never needed to be
            check.notes["users_near_zero_unpublished"] = check.notes.get("users_near_zero_unpublished", 0) + 1
            return
        check.expected += 1
        check.fail("missing", user_key=key, expected_score=round(score, 6))
        return
    check.expected += 1
    seen_score, seen_tier = seen
    try:
        off = abs(float(seen_score) - score)
    except (TypeError, ValueError):
        off = float("inf")
    tier_ok = not settings.tiers or seen_tier == tier or _near_boundary(score, settings)
    if off < step + DECAY_TOLERANCE and tier_ok:
        check.ok += 1
    else:
        check.fail(
            "wrong",
            user_key=key,
            expected_score=round(score, 6),
            expected_tier=tier,
            seen=[plain(seen_score), seen_tier],
        )


def check_sinks(
    result: AdvanceResult,
    expectation: Expectation,
    settings: Settings,
    step: float,
    objects: Mapping[str, Mapping[str, Any]] | None,
    events: Sequence[Mapping[str, Any]] | None,
) -> None:
    wanted = oracle_as_of(expectation, settings, result.now_s * 1000)
    rules_now = (
        oracle_rules_as_of(expectation, settings, result.now_s * 1000) if settings.window_rules else {}
    )
    if objects is not None:
        result.customer_profiles = check = SinkCheck(checked=True, observed=len(objects))
        for key, want in wanted.items():
            obj = objects.get(key)
            _check_seen(
                check, key, want, None if obj is None else (obj.get("score"), obj.get("tier")), settings, step
            )
            # a change of the matched rules is a publication: the object carries the rules as of now
            if obj is not None and rules_now and stored_rules(obj) != rules_now[key]:
                check.fail("wrong", user_key=key, expected_rules=rules_now[key], seen_rules=stored_rules(obj))
    if events is not None:
        newest: dict[str, tuple[int, Any, Any]] = {}
        for event in events:
            detail_type, detail = _event_parts(event)
            user_key = detail.get("user_key")
            if detail_type != SCORE_CHANGED or not isinstance(user_key, str):
                continue
            version = int(detail.get("version") or 0)
            if user_key not in newest or version >= newest[user_key][0]:
                newest[user_key] = (version, detail.get("score"), detail.get("tier"))
        result.eventbridge = check = SinkCheck(checked=True, observed=len(events))
        for key, want in wanted.items():
            seen = newest.get(key)
            _check_seen(check, key, want, None if seen is None else seen[1:], settings, step)
        if settings.tiers:
            _check_tier_events(check, expectation, settings, wanted, events)
        if settings.window_rules:
            _check_rule_events(expectation, events, check, rules_now)


def _check_tier_events(
    check: SinkCheck,
    expectation: Expectation,
    settings: Settings,
    wanted: Mapping[str, tuple[float, str | None]],
    events: Sequence[Mapping[str, Any]],
) -> None:
    """EngagementTierChanged as of now: per user, the one of the highest item version names the tier as
    of now; a user whose tier as of now is not its tier at the end of the stream (the refresher moved it)
    must have one. Forgiven within the tolerance of a tier edge, like the items."""
    by_hash = {hashlib.sha256(key.encode()).hexdigest(): key for key in expectation.users}
    newest: dict[str, tuple[int, Any]] = {}
    for event in events:
        detail_type, detail = _event_parts(event)
        if detail_type != TIER_CHANGED:
            continue
        key = detail.get("user_key")
        if not isinstance(key, str):
            key = by_hash.get(str(detail.get("user_key_sha256")))
        if key is None:
            continue
        version = int(detail.get("version") or 0)
        if key not in newest or version >= newest[key][0]:
            newest[key] = (version, detail.get("tier"))
    moved = 0
    for key, (score, tier) in wanted.items():
        seen = newest.get(key)
        must = tier != expectation.users[key].tier and not _near_boundary(score, settings)
        moved += must
        if seen is None and not must:
            continue
        check.expected += 1
        if seen is not None and (seen[1] == tier or _near_boundary(score, settings)):
            check.ok += 1
        elif seen is None:
            check.fail("missing", user_key=key, expected_tier_event=tier)
        else:
            check.fail("wrong", user_key=key, expected_tier_event=tier, seen_tier_event=seen[1])
    check.notes["tier_moved_by_the_refresher"] = moved


def certainly_due(expectation: Expectation, settings: Settings, now_s: int, step: float) -> int:
    """How many users the refresher must refresh by `now_s`, from the oracle alone (a lower bound).

    After a user's last scorer write, what the sinks last saw (`pub.s`) is within one step of the final
    score (else that write would have published). So a user whose score as of now is at least two steps
    from its final score has moved at least one step from `pub.s`, and is due. Without hysteresis a
    user whose tier as of now differs from its final tier is due as well (a tier edge is always a due
    time). Which other users are due depends on the batching, which the oracle does not know.
    """
    wanted = oracle_as_of(expectation, settings, now_s * 1000)
    count = 0
    for key, want in expectation.users.items():
        score, tier = wanted[key]
        moved = abs(float(want.score) - score) >= 2 * step + DECAY_TOLERANCE
        tier_left = settings.tier_hysteresis <= 0 and settings.tiers and tier != want.tier
        if moved or (
            tier_left and not _near_boundary(score, settings) and not _near_boundary(want.score, settings)
        ):
            count += 1
    return count


def publication_step(env: Mapping[str, str]) -> float:
    value = float(Decimal(env.get("SCORE_PUBLISH_MIN_DELTA", "").strip() or "0"))
    return value if value > 0 else ZERO_THRESHOLD_STEP
