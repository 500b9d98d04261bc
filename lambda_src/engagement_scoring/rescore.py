"""Rescoring from the archive: the rescoring SQL's result as a diff against the live user_scores table, a
dry-run preview, and on request the writes that apply it.

    python -m engagement_scoring.rescore --scores-table T --archive-dir DIR            # DuckDB, dry run
    python -m engagement_scoring.rescore --scores-table T --workgroup WG --database DB # Athena, dry run
    ... --apply [--create-missing]                                                       # write the diff

1. sql/rescoring.sql (archive.render_query) runs on DuckDB over a local archive or on Athena through the
   archive's workgroup: per user the raw score, channel scores, newest counted event (`as_of`) and count.
2. The table is read with a paginated Scan projecting only what the diff and the write need.
3. Per user in both, the two states are compared at the same time t = max(archive as_of, table as_of):
   each is decayed to t (core/model.decay_to; nothing moves without decay), clamped, and given its tier
   (with the item's tier for the hysteresis, as a scorer write does). A user changes when its score or a
   channel score differs by more than `--tolerance` points (default 0.001: the engine quantizes every
   write to 0.000001 and the SQL sums in double precision) or its tier differs.
4. `--apply` writes each changing user with the refresher's update (aws/due_store.refresh_update):
   score, raw score, as_of (t), channels, tier, event count, version + 1, `pub` when the write is a
   publication (core/publication.py, threshold SCORE_PUBLISH_MIN_DELTA), the next due time, `mf`
   removed, in one UpdateItem conditioned on the version read. A concurrent scorer or refresher write
   wins: that user is reported as skipped and a rerun picks it up. The dedupe ring and directory, the
   endpoint ids, the window and limit state (`wr`, `rules`, `lc`) and conversions (`ca`) are not touched.
   The change reaches the sinks through the table stream like any other write.

Users only in the archive are reported; `--create-missing` creates them (conditioned on the item not
existing). Users only in the table are reported and never changed (the archive does not cover them: it
was turned on later, it expired, or their events have no rule now). The SQL applies the machine
engagement policy (MACHINE_ENGAGEMENT, the defaults when unset) as the engine does, with the differences
docs/operations.md lists; IPv6 blocks of the policy are not matched in SQL (the command warns).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from engagement_scoring import archive
from engagement_scoring.aws.due_store import CONFLICT, OK, DueStore, refresh_update
from engagement_scoring.aws.errors import describe
from engagement_scoring.aws.score_store import user_state
from engagement_scoring.core.changes import image
from engagement_scoring.core.config import ConfigError, ScorerConfig
from engagement_scoring.core.due import Refresh, due_at, publish_min_delta
from engagement_scoring.core.model import DECAYED_QUANTUM, ScoringModel, UserState, decay_to, score_view
from engagement_scoring.core.publication import Published, next_publication, published_from_image
from engagement_scoring.core.rules import ORIGINAL_POINTS

CHANNELS = ("email", "sms", "push", "in_app", "custom")
DEFAULT_TOLERANCE = Decimal("0.001")
# What the diff and the write read of an item (`due_at`: the write keeps an earlier due time).
PROJECTION = "#k, #s, #r, #a, #c, #t, #e, #v, #p, #d"
PROJECTION_NAMES = {
    "#k": "user_key",
    "#s": "score",
    "#r": "raw_score",
    "#a": "as_of",
    "#c": "channels",
    "#t": "tier",
    "#e": "events_applied",
    "#v": "version",
    "#p": "pub",
    "#d": "due_at",
}


@dataclass(frozen=True, slots=True)
class Rescored:
    """One row of the rescoring SQL: the user's state from the archive, at its newest counted event."""

    user_key: str
    raw: Decimal
    as_of: int
    events: int
    channels: Mapping[str, Decimal]

    def state(self) -> UserState:
        return UserState(
            raw=self.raw, as_of=self.as_of, channels=dict(self.channels), events_applied=self.events
        )


@dataclass(slots=True)
class Change:
    user_key: str
    old_score: float | None
    new_score: float
    old_tier: str | None
    new_tier: str | None
    delta: float
    channels_changed: tuple[str, ...]
    events_table: int | None
    events_archive: int
    kind: str = "changed"  # changed, only_in_archive
    outcome: str = ""  # with --apply: written, skipped (conflict), failed: <detail>


@dataclass(slots=True)
class Diff:
    compared: int = 0
    score_changed: int = 0
    tier_changed: int = 0
    channels_only_changed: int = 0  # score and tier equal, a channel score differs
    only_in_archive: int = 0
    only_in_table: int = 0
    tolerance: float = float(DEFAULT_TOLERANCE)
    changes: list[Change] = field(default_factory=list)  # changed users and users only in the archive
    only_in_table_keys: list[str] = field(default_factory=list)
    written: int = 0
    skipped: int = 0
    failed: int = 0
    applied: bool = False

    @property
    def changing(self) -> int:
        return sum(1 for change in self.changes if change.kind == "changed")

    def largest(self, n: int) -> list[Change]:
        return sorted(self.changes, key=lambda c: (-abs(c.delta), c.user_key))[:n]

    def to_json(self, top: int) -> dict[str, Any]:
        return {
            "compared": self.compared,
            "changing": self.changing,
            "score_changed": self.score_changed,
            "tier_changed": self.tier_changed,
            "channels_only_changed": self.channels_only_changed,
            "only_in_archive": self.only_in_archive,
            "only_in_table": self.only_in_table,
            "tolerance": self.tolerance,
            "applied": self.applied,
            "written": self.written,
            "skipped": self.skipped,
            "failed": self.failed,
            "largest": [asdict(change) for change in self.largest(top)],
            "skipped_users": sorted(c.user_key for c in self.changes if c.outcome.startswith("skipped")),
        }


# ---- reading the two sides ---------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _quantized(value: Decimal) -> Decimal:
    return value.quantize(DECAYED_QUANTUM)


def rescored_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Rescored], list[str]]:
    """The SQL's rows (DuckDB numbers or Athena strings) by user, and the rows that could not be read."""
    found: dict[str, Rescored] = {}
    problems: list[str] = []
    for row in rows:
        user_key = row.get("user_key")
        raw, as_of, events = (
            _decimal(row.get("raw_score")),
            _decimal(row.get("as_of")),
            _decimal(row.get("events")),
        )
        if not isinstance(user_key, str) or not user_key or raw is None or as_of is None or events is None:
            problems.append(f"unreadable rescoring row for {user_key!r}")
            continue
        channels = {
            name: _quantized(value) for name in CHANNELS if (value := _decimal(row.get(name))) is not None
        }
        found[user_key] = Rescored(user_key, _quantized(raw), int(as_of), int(events), channels)
    return found, problems


def scan_table(dynamodb: Any, table: str, page_size: int | None = None) -> Iterator[dict[str, Any]]:
    """Every user item (plain values) of the table, with only the attributes the diff needs, page by page
    (eventually consistent: a stale item fails its write's version condition and is skipped)."""
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": PROJECTION,
        "ExpressionAttributeNames": PROJECTION_NAMES,
    }
    if page_size:
        request["Limit"] = page_size
    while True:
        response = dynamodb.scan(**request)
        for item in response.get("Items", []):
            plain = image(item) or {}
            if isinstance(plain.get("user_key"), str):
                yield plain
        last_key = response.get("LastEvaluatedKey")
        if not last_key:
            return
        request["ExclusiveStartKey"] = last_key


# ---- the diff ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """A user to write: the update the refresher's writer sends, and what the preview shows."""

    change: Change
    update: dict[str, Any]


def _new_state(rescored: Rescored, at_ms: int, model: ScoringModel, version: int) -> UserState:
    state = decay_to(rescored.state(), at_ms, model)
    return UserState(
        raw=state.raw,
        as_of=state.as_of,
        channels=state.channels,
        events_applied=rescored.events,
        version=version + 1,
    )


def _channels_differ(
    old: Mapping[str, Decimal], new: Mapping[str, Decimal], tolerance: Decimal
) -> tuple[str, ...]:
    zero = Decimal(0)
    return tuple(
        sorted(
            name for name in set(old) | set(new) if abs(old.get(name, zero) - new.get(name, zero)) > tolerance
        )
    )


def _update(
    user_key: str,
    state: UserState,
    expected_version: int,
    model: ScoringModel,
    stored_pub: Published | None,
    stored_tier: str | None,
    stored_due: int | None,
    min_delta: Decimal,
    now_ms: int,
    create: bool,
) -> tuple[dict[str, Any], Decimal, str | None]:
    score, tier = score_view(state, model, stored_tier)
    publish = next_publication(stored_pub, score, tier, min_delta=min_delta)
    seen = publish or stored_pub
    if model.decays:
        due = due_at(model, state.raw, state.as_of or now_ms, None if seen is None else seen.score, min_delta)
        # A sliding window rule may be due earlier: keep that time (an early refresher visit is harmless).
        if stored_due is not None:
            due = stored_due if due is None else min(due, stored_due)
    else:
        due = stored_due  # nothing decays: the due time is the window rules', left as it is
    change = Refresh(state, score, tier, publish, due)
    update = refresh_update(
        user_key, expected_version, change, now_ms, events_applied=state.events_applied, create=create
    )
    return update, score, tier


def diff(
    rescored: Mapping[str, Rescored],
    items: Iterable[Mapping[str, Any]],
    model: ScoringModel,
    min_delta: Decimal = Decimal(0),
    tolerance: Decimal = DEFAULT_TOLERANCE,
    now_ms: int | None = None,
    create_missing: bool = False,
) -> tuple[Diff, list[Planned]]:
    """The preview and the writes that would apply it (users only in the archive: with `create_missing`)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    result = Diff(tolerance=float(tolerance))
    planned: list[Planned] = []
    seen: set[str] = set()
    for item in items:
        user_key = str(item["user_key"])
        seen.add(user_key)
        new = rescored.get(user_key)
        if new is None:
            result.only_in_table += 1
            result.only_in_table_keys.append(user_key)
            continue
        result.compared += 1
        stored = user_state(dict(item))
        stored_tier = item.get("tier") if isinstance(item.get("tier"), str) else None
        at_ms = max(new.as_of, stored.as_of or new.as_of)
        old_state = decay_to(stored, at_ms, model)
        old_score, old_tier = score_view(old_state, model, stored_tier)
        new_state = _new_state(new, at_ms, model, stored.version)
        stored_due = _decimal(item.get("due_at"))
        update, new_score, new_tier = _update(
            user_key,
            new_state,
            stored.version,
            model,
            published_from_image(item.get("pub")),
            stored_tier,
            None if stored_due is None else int(stored_due),
            min_delta,
            now,
            create=False,
        )
        score_moved = abs(new_score - old_score) > tolerance
        tier_moved = new_tier != old_tier
        channels = _channels_differ(old_state.channels, new_state.channels, tolerance)
        if not (score_moved or tier_moved or channels):
            continue
        result.score_changed += score_moved
        result.tier_changed += tier_moved
        result.channels_only_changed += not (score_moved or tier_moved)
        change = Change(
            user_key,
            float(old_score),
            float(new_score),
            old_tier,
            new_tier,
            float(new_score - old_score),
            channels,
            stored.events_applied,
            new.events,
        )
        result.changes.append(change)
        planned.append(Planned(change, update))
    for user_key in sorted(set(rescored) - seen):
        new = rescored[user_key]
        result.only_in_archive += 1
        new_state = _new_state(new, new.as_of, model, 0)
        update, new_score, new_tier = _update(
            user_key, new_state, 0, model, None, None, None, min_delta, now, create=True
        )
        change = Change(
            user_key,
            None,
            float(new_score),
            None,
            new_tier,
            float(new_score),
            (),
            None,
            new.events,
            "only_in_archive",
        )
        result.changes.append(change)
        if create_missing:
            planned.append(Planned(change, update))
    return result, planned


def apply(store: DueStore, result: Diff, planned: Sequence[Planned]) -> Diff:
    """Write the planned users, each conditioned on the version read (or on not existing)."""
    result.applied = True
    for plan in planned:
        outcome = store.write(plan.update)
        if outcome.status == OK:
            plan.change.outcome = "written"
            result.written += 1
        elif outcome.status == CONFLICT:
            plan.change.outcome = "skipped (changed since read)"
            result.skipped += 1
        else:
            plan.change.outcome = f"failed: {outcome.detail}"
            result.failed += 1
    return result


# ---- command line ------------------------------------------------------------------------------------


def _rule_items(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.rules_file is not None:
        items = json.loads(Path(args.rules_file).read_text())
        if not isinstance(items, list):
            raise ValueError("--rules-file must hold a JSON list of score_rules items")
        return [dict(item) for item in items if isinstance(item, dict)]
    if args.rules_table is not None:
        from engagement_scoring.aws.clients import make_client

        client = make_client("dynamodb")
        found: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=args.rules_table):
            found += [image(item) or {} for item in page["Items"]]
        return found
    return [{"event_type": name, "points": points} for name, points in ORIGINAL_POINTS.items()]


def _environment(args: argparse.Namespace) -> dict[str, str]:
    env: dict[str, str] = {}
    if args.scorer_function:
        from engagement_scoring.aws.clients import make_client

        configuration = make_client("lambda").get_function_configuration(FunctionName=args.scorer_function)
        env.update(configuration.get("Environment", {}).get("Variables", {}))
    for name, value in (
        ("DECAY_HALF_LIFE_HOURS", args.half_life_hours),
        ("SCORE_FLOOR", args.floor),
        ("SCORE_CEILING", args.ceiling),
        ("TIERS", args.tiers),
        ("TIER_HYSTERESIS_POINTS", args.tier_hysteresis),
        ("USER_KEY_MODE", args.user_key_mode),
        ("SCORE_PUBLISH_MIN_DELTA", args.publish_min_delta),
        ("MACHINE_ENGAGEMENT", args.machine_engagement),
    ):
        if value is not None:
            env[name] = str(value)
    return env


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engagement_scoring.rescore", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--scores-table", required=True, help="the user_scores table (output user_scores_table_name)"
    )
    source = parser.add_argument_group("archive (one of)")
    source.add_argument("--archive-dir", type=Path, help="a local archive (the simulator's --archive-dir)")
    source.add_argument("--workgroup", help="Athena workgroup (output archive_athena_workgroup_name)")
    source.add_argument("--database", help="Glue database (output archive_glue_database_name)")
    source.add_argument("--table", default="events", help="Glue table (default events)")
    model = parser.add_argument_group("rules and model (as the scorer has them)")
    model.add_argument("--rules-file", type=Path, help="score_rules as a JSON list")
    model.add_argument("--rules-table", help="the score_rules DynamoDB table")
    model.add_argument("--scorer-function", help="read the model from this scorer function's environment")
    model.add_argument("--half-life-hours", type=float)
    model.add_argument("--floor", type=float)
    model.add_argument("--ceiling", type=float)
    model.add_argument("--tiers", help="TIERS JSON")
    model.add_argument("--tier-hysteresis", type=float)
    model.add_argument("--user-key-mode", choices=("auto", "endpoint_id", "user_id"))
    model.add_argument("--publish-min-delta", type=float, help="SCORE_PUBLISH_MIN_DELTA (points)")
    model.add_argument(
        "--machine-engagement",
        help="MACHINE_ENGAGEMENT JSON (the scorer's machine engagement policy; default: its defaults)",
    )
    parser.add_argument("--tolerance", type=Decimal, default=DEFAULT_TOLERANCE, help="points (default 0.001)")
    parser.add_argument("--top", type=int, default=20, help="largest changes shown (default 20)")
    parser.add_argument("--apply", action="store_true", help="write the changes (default: dry run)")
    parser.add_argument(
        "--create-missing", action="store_true", help="with --apply: create users only in the archive"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parser


def _print(result: Diff, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table(title="rescoring " + ("applied" if result.applied else "preview (dry run)"))
    summary.add_column("users")
    summary.add_column("count", justify="right")
    rows = [
        ("compared (in archive and table)", result.compared),
        ("changing score", result.score_changed),
        ("changing tier", result.tier_changed),
        ("changing channel scores only", result.channels_only_changed),
        ("only in archive", result.only_in_archive),
        ("only in table (left as they are)", result.only_in_table),
    ]
    if result.applied:
        rows += [
            ("written", result.written),
            ("skipped: changed since read", result.skipped),
            ("failed", result.failed),
        ]
    for name, count in rows:
        summary.add_row(name, str(count))
    console.print(summary)
    largest = Table(title=f"largest changes (tolerance {result.tolerance:g} points)")
    for column in (
        "user",
        "score",
        "new score",
        "delta",
        "tier",
        "new tier",
        "channels",
        "events table/archive",
        "outcome",
    ):
        largest.add_column(column)
    for change in result.largest(top):
        largest.add_row(
            change.user_key,
            "-" if change.old_score is None else f"{change.old_score:.6g}",
            f"{change.new_score:.6g}",
            f"{change.delta:+.6g}",
            change.old_tier or "-",
            change.new_tier or "-",
            ", ".join(change.channels_changed),
            f"{'-' if change.events_table is None else change.events_table}/{change.events_archive}",
            change.outcome or change.kind,
            style=None,
        )
    console.print(largest)


def rescoring_sql(config: ScorerConfig, rules: Sequence[Mapping[str, Any]], source: str) -> str:
    """sql/rescoring.sql rendered with the scorer's model and format settings, reading `source`."""
    model, settings = config.model, config.format_settings(None)
    query = archive.QuerySettings(
        source=source,
        rules=tuple(rules),
        half_life_hours=float(model.half_life_hours),
        score_floor=None if model.floor is None else float(model.floor),
        score_ceiling=None if model.ceiling is None else float(model.ceiling),
        tiers=tuple({"name": tier.name, "min_score": tier.min_score} for tier in model.tiers),
        user_key_mode=settings.user_key_mode,
        user_key_tag=settings.user_key_tag,
        campaign_tag=settings.campaign_tag,
        machine=config.machine,
    )
    return archive.render_query("rescoring", query)


def main(argv: Sequence[str] | None = None, dynamodb: Any = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        env = _environment(args)
        config = ScorerConfig.from_env(env)
        min_delta = publish_min_delta(env)
        rules = tuple(_rule_items(args))
    except (ConfigError, ValueError, OSError) as exc:
        print(f"rescore: {exc}", file=sys.stderr)
        return 2
    if any("max_points" in rule for rule in rules):
        print(
            "rescore: warning: the rescoring SQL does not apply point limits (max_points); users who "
            "reached a limit will differ from the engine",
            file=sys.stderr,
        )
    if any(n.version == 6 for n in (*config.machine.proxy_networks, *config.machine.scanner_networks)):
        print(
            "rescore: warning: the rescoring SQL does not match IPv6 blocks of MACHINE_ENGAGEMENT "
            "(privacy_proxy_cidrs, scanner_cidrs); users with events from those addresses will differ",
            file=sys.stderr,
        )
    if args.archive_dir is not None:
        if not args.archive_dir.is_dir():
            print(f"rescore: --archive-dir {args.archive_dir}: no such directory", file=sys.stderr)
            return 2
        source = archive.LOCAL_SOURCE
    elif args.workgroup and args.database:
        source = f'"{args.database}"."{args.table}"'
    else:
        print("rescore: give --archive-dir, or --workgroup and --database", file=sys.stderr)
        return 2
    try:
        sql = rescoring_sql(config, rules, source)
    except (ConfigError, ValueError, KeyError) as exc:  # e.g. hashed recipient keys, a bad tag name or rule
        print(f"rescore: {exc}", file=sys.stderr)
        return 2
    try:
        if args.archive_dir is not None:
            rows = archive.run_duckdb(archive.duckdb_connect(args.archive_dir), sql)
        else:
            from engagement_scoring.aws.clients import make_client

            rows = archive.run_athena(make_client("athena"), sql, args.workgroup)
    except Exception as exc:  # Athena failed or refused, DuckDB could not read the archive
        reason = str(exc) if isinstance(exc, archive.AthenaQueryFailed) else describe(exc)
        print(f"rescore: the rescoring query failed: {reason}", file=sys.stderr)
        return 1
    rescored, problems = rescored_rows(rows)
    for problem in problems:
        print(f"rescore: {problem} (skipped)", file=sys.stderr)
    if dynamodb is None:
        from engagement_scoring.aws.clients import make_client

        dynamodb = make_client("dynamodb")
    try:
        result, planned = diff(
            rescored,
            scan_table(dynamodb, args.scores_table),
            config.model,
            min_delta,
            args.tolerance,
            create_missing=args.create_missing,
        )
    except Exception as exc:  # the table cannot be read (name, rights, throttling past the retries)
        print(f"rescore: reading {args.scores_table} failed: {describe(exc)}", file=sys.stderr)
        return 1
    if args.apply:
        apply(DueStore(dynamodb, args.scores_table), result, planned)
    if args.json:
        print(json.dumps(result.to_json(args.top), indent=2, default=str))
    else:
        _print(result, args.top)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
