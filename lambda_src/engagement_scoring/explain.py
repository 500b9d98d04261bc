"""Why is this user's score what it is: one user's archived events and the points each contributes now.

    python -m engagement_scoring.explain --user KEY --archive-dir DIR          # DuckDB over a local archive
    python -m engagement_scoring.explain --user KEY --workgroup WG --database DB [--table events]   # Athena

The archive's lines that contain the user key are read (DuckDB, or Athena through the archive's workgroup),
decoded with the engine's own decoder (pipeline/scorer.decode_record: every format and envelope), and
judged as the scorer judges them, in archive order: no rule, duplicate content, machine engagement
(core/machine.py; weight 0 is not counted), once per message, counted. A counted event contributes its
rule's points times its machine weight, decayed to the user's newest counted event (core/model.py), so
the contributions sum to the score the table holds; `now` is the same decayed to the current time.

Rules: `--rules-file` (a score_rules JSON list, as the module input) or `--rules-table` (the score_rules
table), else the original point table. The model (half-life, floor, ceiling, tiers, user key mode,
machine engagement): flags, or `--scorer-function NAME` to read them from the deployed scorer.

CloudWatch Logs subscription records (gzip data, possibly holding newline bytes) are read whole from a
local archive (archive.local_records) and inflated to look for the user. Limits: a user key that does not
appear literally in the record (hashed recipient keys) is not found; through Athena, gzip records cannot
be read back (the table's `line` is text; Athena cannot gunzip); burst clicks are judged over all of the
user's archived clicks, where the scorer sees one batch at a time.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from engagement_scoring import archive
from engagement_scoring.core.events import FormatSettings, NormalizedEvent, RecordRejected
from engagement_scoring.core.machine import MachinePolicy, burst_indexes, classify, parse_policy
from engagement_scoring.core.model import (
    Contribution,
    ScoringModel,
    UserState,
    apply_contributions,
    decay_factor,
    parse_tiers,
    score_view,
)
from engagement_scoring.core.rules import Rule, original_rules, rules_from_items
from engagement_scoring.formats.envelopes import gunzip
from engagement_scoring.pipeline.scorer import decode_record

COUNTED = "counted"


@dataclass(slots=True)
class Line:
    event_type: str
    timestamp_ms: int
    status: str  # counted, no_rule, duplicate, machine_not_counted, once_per_message_suppressed
    channel: str | None = None
    points: float = 0.0  # the rule's points times the machine weight
    weight: float = 1.0
    reasons: tuple[str, ...] = ()
    contribution: float = 0.0  # decayed to as_of: these sum to the score's raw value
    now: float = 0.0  # decayed to `now_ms`
    campaign: str | None = None
    partition: str | None = None


@dataclass(slots=True)
class Explanation:
    user_key: str
    lines: list[Line] = field(default_factory=list)
    raw_score: float = 0.0
    score: float = 0.0
    tier: str | None = None
    as_of: int | None = None
    now_ms: int = 0
    score_now: float = 0.0
    records_read: int = 0
    records_unreadable: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def explain(
    records: Iterable[tuple[bytes, str | None]],
    user_key: str,
    rules: Mapping[str, Rule],
    model: ScoringModel,
    policy: MachinePolicy,
    settings: FormatSettings,
    now_ms: int | None = None,
) -> Explanation:
    """`records`: (the record's bytes, its partition) in archive order."""
    result = Explanation(user_key, now_ms=int(time.time() * 1000) if now_ms is None else now_ms)
    events: list[tuple[NormalizedEvent, str | None]] = []
    for data, partition in records:
        result.records_read += 1
        try:
            decoded = decode_record(base64.b64encode(data).decode("ascii"), settings)
        except RecordRejected:
            result.records_unreadable += 1
            continue
        events += [(e, partition) for e in decoded if type(e) is NormalizedEvent and e.user_key == user_key]
    # Burst: over the user's distinct clicks that have a rule.
    distinct: dict[str, NormalizedEvent] = {}
    for event, _ in events:
        if event.event_type in rules:
            distinct.setdefault(event.content_key, event)
    ordered = list(distinct.values())
    bursts = {ordered[i].content_key for i in burst_indexes(ordered, policy)}
    seen: set[str] = set()
    messages: set[tuple[str, str]] = set()
    counted: list[tuple[Line, Contribution]] = []
    for event, partition in events:
        line = Line(
            event.event_type, event.timestamp_ms, "no_rule", campaign=event.campaign, partition=partition
        )
        result.lines.append(line)
        rule = rules.get(event.event_type)
        if rule is None:
            continue
        verdict = classify(event, policy, event.content_key in bursts)
        line.weight, line.reasons = float(verdict.weight), verdict.reasons
        line.channel = rule.channel_for(event.channel)
        if event.content_key in seen:
            line.status = "duplicate"
            continue
        if verdict.weight == 0:  # not a touch: not recorded, a later copy is judged again
            line.status = "machine_not_counted"
            continue
        seen.add(event.content_key)
        if (rule.once_per_message or event.once_per_message) and event.message_id is not None:
            if (event.event_type, event.message_id) in messages:
                line.status = "once_per_message_suppressed"
                continue
            messages.add((event.event_type, event.message_id))
        points = rule.points * verdict.weight if verdict.reasons else rule.points
        line.status, line.points = COUNTED, float(points)
        counted.append((line, Contribution(points, event.timestamp_ms, line.channel, event.endpoint_id)))
    if not counted:
        return result
    state = apply_contributions(UserState(), [c for _, c in counted], model)
    score, tier = score_view(state, model)
    result.raw_score, result.score, result.tier, result.as_of = (
        float(state.raw),
        float(score),
        tier,
        state.as_of,
    )
    as_of = state.as_of or 0
    for line, contribution in counted:
        if model.decays:
            line.contribution = float(contribution.points) * decay_factor(
                as_of - line.timestamp_ms, model.half_life_ms
            )
            line.now = float(contribution.points) * decay_factor(
                result.now_ms - line.timestamp_ms, model.half_life_ms
            )
        else:
            line.contribution = line.now = float(contribution.points)
    decayed_raw = (
        float(state.raw) * decay_factor(result.now_ms - as_of, model.half_life_ms)
        if model.decays
        else float(state.raw)
    )
    result.score_now = float(model.clamp(Decimal(repr(decayed_raw))))
    return result


# ---- reading the archive -------------------------------------------------------------------------------

_CANDIDATES = "SELECT line, dt FROM {source} WHERE strpos(line, ?) > 0"


def local_records(archive_dir: Path, user_key: str) -> list[tuple[bytes, str | None]]:
    """The records of a local archive that name the user key, in archive order (archive.local_records):
    a text record that contains it, a gzip record (CloudWatch Logs subscription data) whose inflated
    content does (bounded as the scorer inflates it; one that cannot be inflated is left out)."""
    needle = user_key.encode("utf-8")
    found: list[tuple[bytes, str | None]] = []
    for data, day in archive.local_records(archive_dir):
        if data.startswith(archive.GZIP_MAGIC):
            try:
                named = needle in gunzip(data)
            except RecordRejected:
                named = False
        else:
            named = needle in data
        if named:
            found.append((data, day))
    return found


def athena_records(
    athena: Any, workgroup: str, database: str, table: str, user_key: str
) -> list[tuple[bytes, str | None]]:
    """The same through Athena, ordered by object path (the order within an object is Athena's)."""
    sql = _CANDIDATES.format(source=f'"{database}"."{table}"') + ' ORDER BY "$path", dt'
    rows = archive.run_athena(athena, sql, workgroup, [user_key])
    return [((row.get("line") or "").encode("utf-8"), row.get("dt")) for row in rows]


# ---- command line --------------------------------------------------------------------------------------


def _rules(args: argparse.Namespace) -> dict[str, Rule]:
    if args.rules_file is not None:
        rules, problems = rules_from_items(json.loads(Path(args.rules_file).read_text()))
    elif args.rules_table is not None:
        import boto3
        from boto3.dynamodb.types import TypeDeserializer

        deserialize = TypeDeserializer().deserialize
        items = []
        for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=args.rules_table):
            items += [{k: deserialize(v) for k, v in item.items()} for item in page["Items"]]
        rules, problems = rules_from_items(items)
    else:
        return original_rules()
    for problem in problems:
        print(f"rules: {problem} (skipped)", file=sys.stderr)
    return rules


def _environment(args: argparse.Namespace) -> dict[str, str]:
    env: dict[str, str] = {}
    if args.scorer_function:
        import boto3

        configuration = boto3.client("lambda").get_function_configuration(FunctionName=args.scorer_function)
        env.update(configuration.get("Environment", {}).get("Variables", {}))
    for name, value in (
        ("DECAY_HALF_LIFE_HOURS", args.half_life_hours),
        ("SCORE_FLOOR", args.floor),
        ("SCORE_CEILING", args.ceiling),
        ("TIERS", args.tiers),
        ("USER_KEY_MODE", args.user_key_mode),
        ("MACHINE_ENGAGEMENT", args.machine_engagement),
    ):
        if value is not None:
            env[name] = str(value)
    return env


def model_from_environment(env: Mapping[str, str]) -> tuple[ScoringModel, MachinePolicy, FormatSettings]:
    def number(name: str) -> Decimal | None:
        value = env.get(name, "")
        return Decimal(value) if value else None

    model = ScoringModel(
        half_life_hours=number("DECAY_HALF_LIFE_HOURS") or Decimal(0),
        floor=number("SCORE_FLOOR"),
        ceiling=number("SCORE_CEILING"),
        tiers=parse_tiers(env.get("TIERS", "[]")),
    )
    settings = FormatSettings(
        user_key_mode=env.get("USER_KEY_MODE") or "auto",
        user_key_tag=env.get("USER_KEY_TAG") or "user_key",
        campaign_tag=env.get("CAMPAIGN_TAG") or "campaign",
    )
    return model, parse_policy(env.get("MACHINE_ENGAGEMENT", "")), settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engagement_scoring.explain", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--user", required=True, help="the user key")
    source = parser.add_argument_group("archive (one of)")
    source.add_argument("--archive-dir", type=Path, help="a local archive (the simulator's --archive-dir)")
    source.add_argument("--workgroup", help="Athena workgroup (output archive_athena_workgroup_name)")
    source.add_argument("--database", help="Glue database (output archive_glue_database_name)")
    source.add_argument("--table", default="events", help="Glue table (default events)")
    model = parser.add_argument_group("rules and model")
    model.add_argument("--rules-file", type=Path, help="score_rules as a JSON list")
    model.add_argument("--rules-table", help="the score_rules DynamoDB table")
    model.add_argument("--scorer-function", help="read the model from this scorer function's environment")
    model.add_argument("--half-life-hours", type=float)
    model.add_argument("--floor", type=float)
    model.add_argument("--ceiling", type=float)
    model.add_argument("--tiers", help="TIERS JSON")
    model.add_argument("--user-key-mode", choices=("auto", "endpoint_id", "user_id"))
    model.add_argument("--machine-engagement", help="MACHINE_ENGAGEMENT JSON")
    parser.add_argument("--now", type=int, help="epoch ms to decay to (default: now)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _print_table(result: Explanation) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{result.user_key}: score {result.score:g} (tier {result.tier or '-'}), "
        f"{result.score_now:g} now"
    )
    for column in (
        "time (UTC)",
        "event",
        "status",
        "channel",
        "points",
        "weight",
        "at as_of",
        "now",
        "campaign",
    ):
        table.add_column(column)
    for line in result.lines:
        table.add_row(
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(line.timestamp_ms / 1000)),
            line.event_type,
            line.status + (f" ({', '.join(line.reasons)})" if line.reasons else ""),
            line.channel or "",
            f"{line.points:g}" if line.status == COUNTED else "",
            f"{line.weight:g}",
            f"{line.contribution:.6g}" if line.status == COUNTED else "",
            f"{line.now:.6g}" if line.status == COUNTED else "",
            line.campaign or "",
        )
    console = Console()
    console.print(table)
    console.print(
        f"{result.records_read} archived records name the user; {result.records_unreadable} unreadable.",
        markup=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.user:
        parser.error("--user needs a user key")
    model, policy, settings = model_from_environment(_environment(args))
    rules = _rules(args)
    if args.archive_dir is not None:
        records = local_records(args.archive_dir, args.user)
    elif args.workgroup and args.database:
        import boto3

        records = athena_records(boto3.client("athena"), args.workgroup, args.database, args.table, args.user)
    else:
        print("give --archive-dir, or --workgroup and --database", file=sys.stderr)
        return 2
    result = explain(records, args.user, rules, model, policy, settings, args.now)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        _print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
