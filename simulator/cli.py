"""`python -m simulator`: simulate engagement events, run them through a deployment, verify.

    python -m simulator run [--target auto|embedded|localstack|aws] [--users N] [--events N]
                            [--seed N] [--rate R] [--duplicate-rate F] [--malformed-rate F]
                            [--events-file FILE.jsonl] [--json] [--report-dir DIR] [--timeout S]
                            [--decay-half-life-hours H] [--score-floor X] [--score-ceiling X]
                            [--tiers JSON] [--user-key-mode MODE] [--score-rules FILE.json]
                            [--tf-var NAME=JSON ...] [--funnel NAME=RATE ...]
                            [--formats successor|pinpoint|successor,pinpoint]
    python -m simulator generate --output FILE.jsonl [--users N] [--events N] [--seed N] ...
    python -m simulator deploy [--target ...] [module settings]

The default workload is the successor mix (simulator/successor.py: SES e-mail, End User Messaging SMS
and custom app events, in the envelopes AWS delivers them in); `--formats pinpoint` generates the
Pinpoint event-stream funnels (simulator/funnels.py), `--formats successor,pinpoint` half of each.

`run` opens the deployment (simulator/targets.py: the embedded local cloud, LocalStack or AWS),
reads the rules (Scan of the rules table) and the settings (the scorer's environment), generates
the workload, sends it, waits until the pipeline is drained, reads every user's score, compares
with the oracle and the sinks (see simulator/verify.py), prints a one-screen summary on stderr,
writes `report.json` and `scores_by_tier.png` under --report-dir, and exits 1 on any mismatch
(2 on an error). With --json, stdout carries exactly one JSON object:
`{"users": {"<user key>": {"score": n, "tier": s|null, "rules": [s]}}, "events_sent": n, "mismatches": n,
...}` (`rules`: the window rules matched, sorted; [] when none).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from simulator import routes, time_advance
from simulator.funnels import FunnelRates
from simulator.injection import DUPLICATE, MALFORMED, StreamRecord
from simulator.oracle import Expectation, Rule, Settings
from simulator.producer import KinesisProducer, ProducerError, ProducerStats
from simulator.readback import function_environment, output, read_rules, read_scores, scan_items
from simulator.replay import read_events_file, write_events_file
from simulator.report import print_summary, tier_counts, top_users, user_states, write_histogram, write_report
from simulator.routes import ROUTE_TF_VARS
from simulator.successor import SuccessorRates
from simulator.verify import (
    SinkCheck,
    check_counters,
    check_customer_profiles,
    check_eventbridge,
    check_pinpoint,
    compare_campaigns,
    compare_scores,
    table_campaigns_json,
)
from simulator.workload import DEFAULT_PERIOD_END_MS, FORMATS, Workload, WorkloadConfig, generate

TARGETS = ("auto", "embedded", "localstack", "aws")
DEFAULT_REPORT_DIR = Path("build/simulate")
MAX_REPORTED_MISMATCHES = 200
# What `run` deploys unless told otherwise: decay on, a sliding and a date-range window rule, so the
# default run exercises the refresher and its time-advance phase (issue #10 item 8), and campaign
# attribution, so it compares the per-campaign table too (issue #11 item 8; examples/local keeps it off
# for the other runs built on it). `--decay-half-life-hours 0`, `--tf-var window_rules=[]` and
# `--tf-var attribution_enabled=false` turn them off; any --tf-var of the same name replaces its default.
DEFAULT_RUN_TF_VARS: dict[str, Any] = {
    "attribution_enabled": True,
    "decay_half_life_hours": 720,  # a month: after the 30-day stream and 30 more days, about half is left
    "window_rules": [
        {"name": "three_opens_week", "event_types": ["_email.open"], "threshold": 3, "window_hours": 168},
        {
            "name": "clicked_in_october",
            "event_types": ["_email.click"],
            "threshold": 1,
            "from": "2025-10-01",
            "to": "2025-10-31",
        },
    ],
}
# And the workload `run` generates: campaign purchases after a share of the campaign clicks, some of those
# clicks reaching the stream after the purchase (late touches), so the per-campaign table has conversions
# with a value to compare (docs/attribution.md). `--funnel campaign_purchase=0` turns them off.
DEFAULT_RUN_FUNNELS = ("campaign_purchase=0.5", "late_touch=0.3")
# With a refresher deployed and no --now / --advance-hours / --no-advance, `run` advances this far.
DEFAULT_ADVANCE_HOURS = 720.0


# ---- arguments ----------------------------------------------------------------------------------


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _period_end(text: str) -> int:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _formats(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names or set(names) - set(FORMATS) or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"distinct names out of {', '.join(FORMATS)}")
    return names


def _add_workload_options(parser: argparse.ArgumentParser, funnels: Sequence[str] = ()) -> None:
    group = parser.add_argument_group("workload")
    group.add_argument("--users", type=_positive_int, default=2000, help="population size (default 2000)")
    group.add_argument(
        "--events", type=int, default=20000, help="distinct events to generate (default 20000)"
    )
    group.add_argument("--seed", type=int, default=1, help="the same seed gives the same records (default 1)")
    group.add_argument(
        "--duplicate-rate", type=_rate, default=0.02, help="re-sent duplicates per event (default 0.02)"
    )
    group.add_argument(
        "--malformed-rate", type=_rate, default=0.005, help="malformed records per event (default 0.005)"
    )
    group.add_argument("--period-days", type=_positive_int, default=30, help="simulated period (default 30)")
    group.add_argument(
        "--period-end",
        type=_period_end,
        default=DEFAULT_PERIOD_END_MS,
        help="end of the simulated period, ISO 8601 (default 2025-11-01T00:00Z, fixed for reproducibility)",
    )
    group.add_argument(
        "--formats",
        type=_formats,
        default=("successor",),
        metavar="NAME[,NAME]",
        help="what to generate: successor (SES, End User Messaging SMS and custom app events; the default), "
        "pinpoint (the Pinpoint event-stream funnels), or successor,pinpoint (half the records each)",
    )
    group.add_argument(
        "--funnel",
        action="append",
        default=list(funnels),  # appended to, so a rate given on the command line wins
        metavar="NAME=RATE",
        help=f"override a funnel rate; successor: {', '.join(SuccessorRates.names())}; "
        f"pinpoint: {', '.join(FunnelRates.names())}"
        + (f" (default {' '.join(funnels)})" if funnels else ""),
    )


def _add_module_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("module settings (Terraform variables of examples/local)")
    group.add_argument("--target", choices=TARGETS, default="auto", help="where to run (default auto)")
    group.add_argument("--decay-half-life-hours", type=float, help="score decay half-life; 0 = no decay")
    group.add_argument("--score-floor", type=float, help="lowest score users see")
    group.add_argument("--score-ceiling", type=float, help="highest score users see")
    group.add_argument("--tiers", help='JSON list, e.g. \'[{"name": "cold", "min_score": 0}]\'')
    group.add_argument("--user-key-mode", choices=("auto", "endpoint_id", "user_id"))
    group.add_argument("--score-rules", type=Path, help="JSON file with the score_rules list")
    group.add_argument(
        "--tf-var", action="append", default=[], metavar="NAME=JSON", help="any other variable"
    )


ARCHIVE_DIR_HELP = (
    "also write the records sent into this local events archive, in the layout Firehose writes on AWS "
    "(events/dt=YYYY-MM-DD/*.gz, one record a line; a stand-in: Firehose does not run here). Read it with "
    "python -m engagement_scoring.explain --archive-dir DIR"
)


def write_archive(directory: Path | None, records: list[bytes], routed: Sequence[bytes] = ()) -> None:
    """The local archive stand-in (engagement_scoring/archive.py): records as sent, received now; of the
    records sent through the module's SMS routes, the SMS event-log ones (gzip) as the archive's SMS log
    delivery stream writes them (each log event's message, decoded). Inbound replies that took the SNS
    route are not written (their SQS and SNS envelope is AWS's); their copies on the Kinesis route neither
    (re-wrapped by CloudWatch Logs; gzip, no row in SQL)."""
    if directory is not None and (records or routed):
        from engagement_scoring.archive import write_local_archive

        write_local_archive(directory, records, [data for data in routed if data[:2] == routes.GZIP_MAGIC])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate, send, wait, verify, report")
    _add_module_options(run)
    _add_workload_options(run, DEFAULT_RUN_FUNNELS)
    run.add_argument("--rate", type=float, help="limit to this many records per second")
    run.add_argument(
        "--route-share",
        type=_rate,
        default=0.0,
        metavar="F",
        help="send this share of the SMS records through the module's real routes (PutLogEvents into its "
        "SMS log group, SNS Publish to its inbound topic) instead of straight into the stream; turns those "
        "routes on in examples/local; those are sent first and drained, then the direct records, the order "
        "the oracle reads them in (default 0; simulator/routes.py)",
    )
    run.add_argument(
        "--events-file", type=Path, help="replay this JSONL file instead of generating (no oracle)"
    )
    run.add_argument("--json", action="store_true", help="print only the final state as JSON on stdout")
    clock = run.add_mutually_exclusive_group()
    clock.add_argument(
        "--now",
        type=time_advance.parse_now,
        metavar="TIMESTAMP",
        help="after the stream drains, set the clock to this ISO 8601 time (UTC) and run the decay refresher "
        "until nothing is due; then check scores, tiers and sinks as of then (simulator/time_advance.py)",
    )
    clock.add_argument(
        "--advance-hours",
        type=float,
        metavar="H",
        help="as --now, at H hours after the newest event time (default: "
        f"{DEFAULT_ADVANCE_HOURS:g} on the embedded cloud with a refresher deployed: decay on or a "
        "sliding window rule)",
    )
    clock.add_argument("--no-advance", action="store_true", help="no time-advance phase")
    run.add_argument("--archive-dir", type=Path, help=ARCHIVE_DIR_HELP)
    run.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR, help="default build/simulate")
    run.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the pipeline to drain")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    gen = sub.add_parser("generate", help="write the generated records to a JSONL file (no AWS)")
    _add_workload_options(gen)
    gen.add_argument("--output", type=Path, required=True, help="JSONL file to write")
    gen.add_argument("--app-id", help="Pinpoint application id the records carry (default: from the seed)")
    gen.add_argument("--archive-dir", type=Path, help=ARCHIVE_DIR_HELP)
    deploy = sub.add_parser("deploy", help="apply the module to the target and print its outputs")
    _add_module_options(deploy)
    return parser


def run_tf_vars(args: argparse.Namespace, target: str) -> dict[str, Any]:
    """`run`'s Terraform variables on `target`: on the embedded cloud DEFAULT_RUN_TF_VARS, each replaced by
    the option or --tf-var naming it; elsewhere only the options. On LocalStack and AWS the refresher's
    schedule fires with the real clock, long after the simulated period, and the simulator cannot run it
    with its own, so decay and sliding rules there are for those who ask for them."""
    return {**(DEFAULT_RUN_TF_VARS if target == "embedded" else {}), **tf_vars_from(args)}


def advance_hours(args: argparse.Namespace, outputs: dict[str, Any], can_run_refresher: bool) -> float | None:
    """--advance-hours, else DEFAULT_ADVANCE_HOURS when there is a refresher the simulator can run (and
    no --now, --no-advance)."""
    if getattr(args, "advance_hours", None) is not None:
        return float(args.advance_hours)
    if getattr(args, "now", None) is not None or getattr(args, "no_advance", False):
        return None
    return DEFAULT_ADVANCE_HOURS if can_run_refresher and outputs.get("refresher_function_name") else None


def tf_vars_from(args: argparse.Namespace) -> dict[str, Any]:
    tf_vars: dict[str, Any] = dict(ROUTE_TF_VARS) if getattr(args, "route_share", 0) else {}
    if args.decay_half_life_hours is not None:
        tf_vars["decay_half_life_hours"] = args.decay_half_life_hours
    if args.score_floor is not None:
        tf_vars["score_floor"] = args.score_floor
    if args.score_ceiling is not None:
        tf_vars["score_ceiling"] = args.score_ceiling
    if args.tiers is not None:
        tf_vars["tiers"] = json.loads(args.tiers)
    if args.user_key_mode is not None:
        tf_vars["user_key_mode"] = args.user_key_mode
    if args.score_rules is not None:
        tf_vars["score_rules"] = json.loads(args.score_rules.read_text())
    for assignment in args.tf_var:
        name, sep, value = assignment.partition("=")
        if not sep or not name:
            raise ValueError(f"--tf-var needs NAME=JSON, got {assignment!r}")
        try:
            tf_vars[name] = json.loads(value)
        except ValueError:
            tf_vars[name] = value  # a bare string
    return tf_vars


def workload_config(args: argparse.Namespace, app_id: str | None = None) -> WorkloadConfig:
    overrides: dict[str, float] = {}
    successor_overrides: dict[str, float] = {}
    for assignment in args.funnel:
        name, sep, value = assignment.partition("=")
        if sep and name in SuccessorRates.names():
            successor_overrides[name] = _rate(value)
        elif sep and name in FunnelRates.names():
            overrides[name] = _rate(value)
        else:
            names = ", ".join(SuccessorRates.names() + FunnelRates.names())
            raise ValueError(f"--funnel needs NAME=RATE with NAME one of {names}")
    return WorkloadConfig(
        users=args.users,
        events=args.events,
        seed=args.seed,
        duplicate_rate=args.duplicate_rate,
        malformed_rate=args.malformed_rate,
        period_days=args.period_days,
        period_end_ms=args.period_end,
        rates=dataclasses.replace(FunnelRates(), **overrides),
        app_id=app_id,
        formats=args.formats,
        successor_rates=dataclasses.replace(SuccessorRates(), **successor_overrides),
    )


# ---- targets ------------------------------------------------------------------------------------


def resolve_target(target: str) -> str:
    """auto: LocalStack when a healthy one answers (LOCALSTACK_HOST, else localhost:4566), else the embedded
    cloud."""
    from simulator import targets

    return str(targets.resolve_target(target))


def open_deployment(target: str, tf_vars: dict[str, Any], log: Callable[[str], None]) -> Any:
    """The deployment context manager of simulator/targets.py (imported late: it starts clouds)."""
    from simulator import targets

    return targets.open_deployment(target, tf_vars=tf_vars, log=log)


# ---- commands -----------------------------------------------------------------------------------


def command_generate(args: argparse.Namespace, console: Console) -> int:
    started = time.monotonic()
    workload = generate(workload_config(args, app_id=args.app_id))
    write_events_file(args.output, workload.records)
    write_archive(args.archive_dir, [r.data for r in workload.records])
    kinds = Counter(r.kind for r in workload.records)
    elapsed = time.monotonic() - started
    console.print(
        f"wrote {len(workload.records)} records ({kinds['event']} events, {kinds[DUPLICATE]} duplicates, "
        f"{kinds[MALFORMED]} malformed) for {len(workload.population.users)} users to {args.output} "
        f"in {elapsed:.2f}s",
        markup=False,
    )
    return 0


def command_deploy(args: argparse.Namespace, console: Console) -> int:
    """Apply the module and leave it running (LocalStack or AWS; the embedded cloud dies with the process)."""
    from simulator import targets

    target = resolve_target(args.target)
    factories = {"localstack": targets.LocalStackDeployment, "aws": targets.AwsDeployment}
    if target not in factories:
        console.print(
            "error: deploy needs a cloud that outlives this process: --target localstack or aws "
            "(the embedded cloud is started by `run`)",
            markup=False,
        )
        return 2
    deployment = factories[target](tf_vars_from(args), _logger(console))
    deployment.start()
    console.print(f"{target}: deployed; outputs:", markup=False)
    console.print_json(json.dumps(deployment.outputs, default=str))
    return 0


def _logger(console: Console) -> Callable[[str], None]:
    def log(message: str) -> None:
        console.print(message, markup=False, highlight=False)

    return log


@dataclasses.dataclass(slots=True)
class RunResult:
    records: list[StreamRecord]
    producer: ProducerStats
    items: dict[str, dict[str, Any]]
    pipeline: dict[str, Any] | None
    workload: Workload | None = None
    rules: dict[str, Rule] | None = None
    settings: Settings | None = None
    expectation: Expectation | None = None
    pinpoint: SinkCheck | None = None
    eventbridge: SinkCheck | None = None
    counters: SinkCheck | None = None
    customer_profiles: SinkCheck | None = None
    pinpoint_reason: str = ""
    eventbridge_reason: str = ""
    counters_reason: str = ""
    customer_profiles_reason: str = ""
    route_stats: routes.RouteStats | None = None
    advance: time_advance.AdvanceResult | None = None
    # Campaign attribution (#11): the campaign table as read, and its differences from the oracle's.
    campaign_items: list[dict[str, Any]] | None = None
    campaign_mismatches: list[dict[str, Any]] | None = None
    phases: Phases = dataclasses.field(default_factory=lambda: Phases())


class Phases:
    """Wall time per phase of a run (seconds, in order): where `make simulate`'s time goes."""

    def __init__(self, started: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last = clock() if started is None else started
        self.seconds: dict[str, float] = {}

    def mark(self, name: str) -> None:
        """The time since the previous mark (or the start) counts to `name`; a name marked again adds up."""
        now = self.clock()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self.last, 2)
        self.last = now


def execute_run(
    args: argparse.Namespace, deployment: Any, console: Console, phases: Phases | None = None
) -> RunResult:
    """The part of `run` inside an open deployment."""
    phases = Phases() if phases is None else phases
    outputs = deployment.outputs
    kinesis, dynamodb = deployment.client("kinesis"), deployment.client("dynamodb")
    workload = rules = settings = None
    if args.events_file is not None:
        records = read_events_file(args.events_file)
    else:
        lambda_client = deployment.client("lambda")
        rules = read_rules(dynamodb, output(outputs, "score_rules_table_name"))
        settings = Settings.from_environment(
            function_environment(lambda_client, output(outputs, "scorer_function_name"))
        )
        workload = generate(workload_config(args, app_id=outputs.get("pinpoint_application_id") or None))
        records = workload.records
    phases.mark("generate")
    producer = KinesisProducer(
        kinesis,
        output(outputs, "stream_name"),
        rate=args.rate,
        console=console,
        progress=not args.no_progress,
    )
    route_plan = routes.RoutePlan(direct=records, routed=[])
    if args.route_share and workload is not None and settings is not None:
        route_plan = routes.plan(records, args.route_share, settings.recipient_user_key == "none")
    route_stats = routes.send(deployment, [r.data for r in route_plan.routed])
    if route_plan.routed:
        # The routed records reach the stream on other shards than a user's direct ones: only a drain in
        # between makes the order the scorer sees them in the one the oracle reads (routes.RoutePlan).
        console.print(
            f"sent {len(route_plan.routed)} records through the module's SMS routes first; waiting for the "
            "pipeline to drain them before the direct records ...",
            markup=False,
        )
        phases.mark("route_send")
        deployment.wait_until_drained(timeout_s=args.timeout)
        route_stats.drained_before_direct = True
        phases.mark("route_drain")
    stats = producer.send([(r.partition_key, r.data) for r in route_plan.direct])
    # Routed SMS event-log records reach the archive decoded, through its second delivery stream (archive.tf).
    write_archive(
        getattr(args, "archive_dir", None),
        [r.data for r in route_plan.direct],
        [r.data for r in route_plan.routed],
    )
    console.print(
        f"sent {stats.records_sent} records"
        + (" straight into the stream, after the routed ones had drained" if route_plan.routed else "")
        + "; waiting for the pipeline to drain ...",
        markup=False,
    )
    phases.mark("send")
    deployment.wait_until_drained(timeout_s=args.timeout)
    phases.mark("drain")
    items = read_scores(dynamodb, output(outputs, "user_scores_table_name"))
    result = RunResult(records, stats, items, deployment.pipeline_stats(), workload, rules, settings)
    result.phases = phases
    result.route_stats = route_stats
    campaign_table = outputs.get("campaign_attribution_table_name")
    if campaign_table:
        result.campaign_items = scan_items(dynamodb, campaign_table)
    phases.mark("readback")
    if workload is not None and rules is not None and settings is not None:
        result.expectation = expectation = _expect(route_plan.stream_order, rules, settings)
        phases.mark("oracle")
        if outputs.get("sms_event_log_group_name"):
            # CloudWatch Logs checks a new Kinesis destination with one CONTROL_MESSAGE record (as on AWS).
            expectation.skipped["control_message"] = expectation.skipped.get("control_message", 0) + 1
        sync_env = function_environment(
            deployment.client("lambda"), output(outputs, "score_sync_function_name")
        )
        owners = {e.endpoint_id: u.user_key for u in workload.population.users for e in u.endpoints}
        if not sync_env.get("PINPOINT_APPLICATION_ID"):
            result.pinpoint_reason = "Pinpoint sink off"
        elif "pinpoint" not in workload.config.formats:
            result.pinpoint_reason = "no Pinpoint records in this workload"
        elif (endpoints := deployment.pinpoint_endpoints()) is None:
            result.pinpoint_reason = "endpoints not observable on this target"
        else:
            result.pinpoint = check_pinpoint(
                expectation,
                endpoints,
                settings,
                owners,
                metric=sync_env.get("PINPOINT_SCORE_METRIC") or "EngagementScore",
                attribute=sync_env.get("PINPOINT_TIER_ATTRIBUTE") or "EngagementTier",
            )
        if not sync_env.get("EVENT_BUS_NAME"):
            result.eventbridge_reason = "EventBridge sink off"
        elif (events := deployment.eventbridge_events()) is None:
            result.eventbridge_reason = "events not observable on this target"
        else:
            result.eventbridge = check_eventbridge(expectation, events, settings)
        if not sync_env.get("CUSTOMER_PROFILES_DOMAIN"):
            result.customer_profiles_reason = "Customer Profiles sink off"
        elif (objects := deployment.customer_profiles_objects()) is None:
            result.customer_profiles_reason = "objects not observable on this target"
        else:
            result.customer_profiles = check_customer_profiles(expectation, objects, settings)
        if result.campaign_items is not None and settings.attribution is not None:
            result.campaign_mismatches = compare_campaigns(expectation, result.campaign_items)
        scorer = (result.pipeline or {}).get("scorer")
        runner = (result.pipeline or {}).get("runner") or {}
        if not scorer:
            result.counters_reason = "batch statistics not observable on this target"
        elif scorer.get("retryable_failures") or runner.get("function_errors"):
            result.counters_reason = "batches were retried, so they were counted more than once"
        else:
            result.counters = check_counters(expectation, scorer)
        phases.mark("checks")
    now_s = time_advance.clock(
        getattr(args, "now", None),
        advance_hours(args, outputs, getattr(deployment, "can_run_refresher", False)),
        max((int(item.get("as_of") or 0) for item in items.values()), default=None),
    )
    if now_s is not None:
        result.advance = advance_time(deployment, result, now_s, args.timeout, console)
    return result


def advance_time(
    deployment: Any, result: RunResult, now_s: int, timeout_s: float, console: Console
) -> time_advance.AdvanceResult:
    """The time-advance phase (simulator/time_advance.py): refresher runs at `now_s`, then the checks."""
    outputs = deployment.outputs
    advance = time_advance.AdvanceResult(now_s)
    settings = result.settings
    if settings is None:
        settings = Settings.from_environment(
            function_environment(deployment.client("lambda"), output(outputs, "scorer_function_name"))
        )
    phases = result.phases
    runs = time_advance.run_until_idle(deployment, now_s)
    phases.mark("refresher")
    if runs is None:
        advance.reason = (
            "no refresher on this deployment (decay off and no sliding window rule) "
            "or not invocable on this target"
        )
    else:
        advance.runs = runs
        console.print(
            f"time advanced to {now_s}: {len(runs)} refresher runs, "
            f"{sum(int(r.get('users_refreshed', 0)) for r in runs)} users refreshed; draining ...",
            markup=False,
        )
        deployment.wait_until_drained(timeout_s=timeout_s)
        phases.mark("advance_drain")
    items = read_scores(deployment.client("dynamodb"), output(outputs, "user_scores_table_name"))
    advance.users, advance.mismatches = time_advance.check_items(result.expectation, items, settings, now_s)
    if result.expectation is not None and runs is not None:
        refresher_env = function_environment(
            deployment.client("lambda"), output(outputs, "refresher_function_name")
        )
        step = time_advance.publication_step(refresher_env)
        advance.certainly_due = time_advance.certainly_due(result.expectation, settings, now_s, step)
        sync_env = function_environment(
            deployment.client("lambda"), output(outputs, "score_sync_function_name")
        )
        objects = deployment.customer_profiles_objects() if sync_env.get("CUSTOMER_PROFILES_DOMAIN") else None
        events = deployment.eventbridge_events() if sync_env.get("EVENT_BUS_NAME") else None
        time_advance.check_sinks(advance, result.expectation, settings, step, objects, events)
    phases.mark("advance_checks")
    return advance


def _expect(records: list[StreamRecord], rules: dict[str, Rule], settings: Settings) -> Expectation:
    """The oracle over the generated records in the order the scorer sees each user's records in (with
    --route-share: the routed ones first, routes.RoutePlan.stream_order)."""
    from simulator.oracle import expect

    truths = [r.truth if r.truth is None else (r.truth.actor, r.truth.reasons) for r in records]
    return expect((r.data for r in records), rules, settings, truths)


def machine_report(expectation: Expectation, scorer: dict[str, Any] | None) -> dict[str, Any]:
    """Per machine-engagement reason: distinct machine events the generator meant to carry it, how many of
    them the policy caught, human events it flagged, the oracle's flagged events, and the scorer's count
    (once per batch an event arrives in; burst only within a batch)."""
    truth = expectation.machine_truth
    flagged = (scorer or {}).get("machine_flagged") or {}
    reasons = sorted(set(truth.generated) | set(truth.human_flagged) | set(expectation.machine_flagged))
    return {
        "machine_events": truth.machine_events,
        "human_events": truth.human_events,
        "machine_missed": truth.machine_missed,
        "reasons": {
            reason: {
                "machine_generated": truth.generated.get(reason, 0),
                "caught": truth.caught.get(reason, 0),
                "machine_flagged": truth.machine_flagged.get(reason, 0),
                "human_flagged": truth.human_flagged.get(reason, 0),
                "oracle_flagged": expectation.machine_flagged.get(reason, 0),
                "scorer_flagged": flagged.get(reason) if scorer else None,
            }
            for reason in reasons
        },
    }


def build_report(
    args: argparse.Namespace, target: str, result: RunResult, wall_time_s: float
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    users = user_states(result.items)
    if result.advance is not None:
        users = {key: result.advance.users.get(key, user) for key, user in users.items()}
    tier_order = (
        [t.name for t in sorted(result.settings.tiers, key=lambda t: t.min_score)] if result.settings else []
    )
    kinds = Counter(r.kind for r in result.records)
    malformed_kinds = Counter(r.malformed_kind for r in result.records if r.kind == MALFORMED)
    verification: dict[str, Any] = {"oracle": result.expectation is not None, "mismatches": 0}
    if result.expectation is not None and result.settings is not None:
        details = compare_scores(result.expectation, result.items, result.settings)
        score_mismatches = len({m.user_key for m in details})
        pinpoint = result.pinpoint.mismatches if result.pinpoint else 0
        eventbridge = result.eventbridge.mismatches if result.eventbridge else 0
        counters = result.counters.mismatches if result.counters else 0
        profiles = result.customer_profiles.mismatches if result.customer_profiles else 0
        verification.update(
            mismatches=score_mismatches + pinpoint + eventbridge + counters + profiles,
            score_mismatches=score_mismatches,
            counter_mismatches=counters,
            pinpoint_mismatches=pinpoint,
            eventbridge_mismatches=eventbridge,
            customer_profiles_mismatches=profiles,
            counters=result.counters.to_json()
            if result.counters
            else {"checked": False, "reason": result.counters_reason},
            customer_profiles=result.customer_profiles.to_json()
            if result.customer_profiles
            else {"checked": False, "reason": result.customer_profiles_reason},
            details=[m.to_json() for m in details[:MAX_REPORTED_MISMATCHES]],
            pinpoint=result.pinpoint.to_json()
            if result.pinpoint
            else {"checked": False, "reason": result.pinpoint_reason},
            eventbridge=(
                result.eventbridge.to_json()
                if result.eventbridge
                else {"checked": False, "reason": result.eventbridge_reason}
            ),
        )
    if result.advance is not None:
        verification["advance"] = result.advance.to_json()
        verification["mismatches"] += result.advance.mismatch_count
    if result.campaign_mismatches is not None:
        verification["campaign_mismatches"] = len(result.campaign_mismatches)
        verification["campaigns_compared"] = len(result.expectation.campaigns) if result.expectation else 0
        verification["campaign_details"] = result.campaign_mismatches[:MAX_REPORTED_MISMATCHES]
        verification["mismatches"] += len(result.campaign_mismatches)
    oracle = None
    if result.expectation is not None:
        e = result.expectation
        oracle = {
            "users": len(e.users),
            "counted": e.counted,
            "duplicates": e.duplicates,
            "once_per_message_suppressed": e.once_per_message_suppressed,
            "skipped": e.skipped,
            "rejected": e.rejected,
            "machine_not_counted": e.machine_not_counted,
            "machine_engagement": machine_report(e, (result.pipeline or {}).get("scorer")),
        }
    report: dict[str, Any] = {
        "run": {
            "target": target,
            "events_file": str(args.events_file) if args.events_file else None,
            "seed": None if args.events_file else args.seed,
            "users": None if args.events_file else args.users,
            "events": None if args.events_file else args.events,
            "duplicate_rate": args.duplicate_rate,
            "malformed_rate": args.malformed_rate,
            "rate_limit": args.rate,
            "wall_time_s": round(wall_time_s, 2),
            "phases_s": result.phases.seconds,
        },
        "settings": result.settings.to_json() if result.settings else None,
        "machine_engagement_policy": result.settings.machine.to_json() if result.settings else None,
        "rules": (
            [dataclasses.asdict(r) | {"points": float(r.points)} for r in result.rules.values()]
            if result.rules
            else None
        ),
        "stream": {
            "records": len(result.records),
            "events": kinds["event"],
            "duplicates": kinds[DUPLICATE],
            "malformed": kinds[MALFORMED],
            "malformed_kinds": dict(sorted(malformed_kinds.items())),
        },
        "producer": result.producer.to_json(),
        "routes": result.route_stats.to_json() if result.route_stats else None,
        "pipeline": result.pipeline,
        "oracle": oracle,
        "users": {"count": len(users), "per_tier": tier_counts(users, tier_order), "top": top_users(users)},
        "verification": verification,
        "scores": users,
    }
    return report, users


def print_campaigns(items: list[dict[str, Any]], console: Console) -> None:
    """The per-campaign attribution table after a run (#11), the figures `make report` prints."""
    from rich.table import Table

    shown = table_campaigns_json(items)
    unattributed = shown["unattributed"]
    table = Table(
        title="campaign attribution",
        caption=f"unattributed: {unattributed['conversions']:g} conversions, value {unattributed['value']:g}",
    )
    models = ("last_touch", "first_touch", "linear")
    table.add_column("campaign")
    for model in models:
        table.add_column(f"{model} conversions", justify="right")
        table.add_column(f"{model} value", justify="right")
    for name, totals in shown["campaigns"].items():
        cells = [name]
        for model in models:
            cells += [f"{totals[model]['conversions']:g}", f"{totals[model]['value']:g}"]
        table.add_row(*cells)
    console.print(table)


def command_run(args: argparse.Namespace, console: Console) -> int:
    started = time.monotonic()
    target = resolve_target(args.target)
    console.print(f"target: {target}", markup=False)
    phases = Phases(started)
    with open_deployment(target, run_tf_vars(args, target), _logger(console)) as deployment:
        phases.mark("start_and_apply")
        result = execute_run(args, deployment, console, phases)
        phases.last = time.monotonic()
    phases.mark("teardown")
    report, users = build_report(args, target, result, time.monotonic() - started)
    tier_order = list(report["users"]["per_tier"])
    report["files"] = {
        "report": str(args.report_dir / "report.json"),
        "histogram": str(write_histogram(users, tier_order, args.report_dir)),
    }
    report["run"]["wall_time_s"] = round(time.monotonic() - started, 2)
    write_report(report, args.report_dir)
    print_summary(report, console)
    if result.campaign_items is not None:
        print_campaigns(result.campaign_items, console)
    mismatches = int(report["verification"]["mismatches"])
    if args.json:
        print(
            json.dumps(
                {
                    "users": users,
                    "events_sent": result.producer.records_sent,
                    "mismatches": mismatches,
                    "target": target,
                    "events": report["stream"]["events"],
                    "duplicates": report["stream"]["duplicates"],
                    "malformed": report["stream"]["malformed"],
                    "pipeline": result.pipeline,
                    "report": report["files"]["report"],
                    # campaign attribution (#11), from the campaign table (also with --events-file)
                    **(
                        table_campaigns_json(result.campaign_items)
                        if result.campaign_items is not None
                        else {}
                    ),
                }
            )
        )
    return 1 if mismatches else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Piped or captured (CI, `make simulate ARGS=--json`), rich would wrap at 80 columns.
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 110)
    commands = {"run": command_run, "generate": command_generate, "deploy": command_deploy}
    try:
        return commands[args.command](args, console)
    except (ProducerError, TimeoutError, KeyError, ValueError, OSError) as error:
        console.print(f"error: {type(error).__name__}: {error}", markup=False)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted", markup=False)
        return 130


if __name__ == "__main__":
    sys.exit(main())
