"""Where the simulator runs the pipeline: the embedded local cloud, LocalStack, or real AWS.

The interface is the one docs/architecture.md fixes:

    with open_deployment(target, tf_vars={...}, log=print_to_stderr) as deployment:
        deployment.client("kinesis").put_records(...)
        deployment.wait_until_drained(timeout_s=300)
        deployment.pipeline_stats(), deployment.pinpoint_endpoints(), deployment.eventbridge_events()
        deployment.customer_profiles_objects()

- "embedded": moto on 127.0.0.1 (own process), the Pinpoint and Customer Profiles stand-ins, a Terraform
  apply of examples/local onto moto, and the local Lambda runner that runs the deployed zip. Everything is
  stopped on exit, on Ctrl-C and on SIGTERM.
- "localstack": a running LocalStack (detected on LOCALSTACK_HOST, else localhost:4566); examples/local is
  applied with tflocal with Pinpoint off; LocalStack runs the functions. Not runnable on CI (needs Docker).
- "aws": real credentials from the environment; applies examples/complete (or ENGAGEMENT_AWS_ROOT) and
  destroys it on exit unless ENGAGEMENT_AWS_KEEP=1. For load tests; never run by CI.
- "auto": "localstack" when a healthy LocalStack answers, else "embedded".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import boto3

from simulator.local_cloud import localstack
from simulator.local_cloud.customer_profiles_standin import CustomerProfilesStandIn
from simulator.local_cloud.moto_server import EmbeddedMoto
from simulator.local_cloud.pinpoint_standin import PinpointStandIn
from simulator.local_cloud.pipes_service import wait_for_pipe_sources
from simulator.local_cloud.runner import LocalLambdaRunner, RunnerSettings
from simulator.local_cloud.stats import stats_from_cloudwatch_logs
from simulator.local_cloud.terraform import (
    ROOT,
    TerraformRunner,
    copy_module,
    plugin_cache_env,
    resolve_output_path,
    write_var_file,
)
from tools.tf_toolchain import terraform_env

TARGETS = ("auto", "embedded", "localstack", "aws")
LogFn = Callable[[str], None]
DEFAULT_REGION = "us-east-1"
SIMULATE_BUILD = ROOT / "build" / "simulate"
PROFILES_DOMAIN_VARIABLE = "customer_profiles_domain_name"


def declares_variable(working_dir: Path, name: str) -> bool:
    """Whether the root module in `working_dir` declares input `name` (passing an undeclared one warns)."""
    pattern = re.compile(rf'^\s*variable\s+"{re.escape(name)}"', re.MULTILINE)
    return any(pattern.search(path.read_text()) for path in working_dir.glob("*.tf"))


def new_run_dir(base: Path = SIMULATE_BUILD) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = base / f"{stamp}-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


class Deployment:
    """What the simulator sees of a deployed pipeline (docs/architecture.md)."""

    name = ""
    # Whether run_refresher can run the deployed refresher with the simulator's clock.
    can_run_refresher = False

    def __init__(self, log: LogFn) -> None:
        self.log = log
        self.outputs: dict[str, Any] = {}
        self.region = DEFAULT_REGION
        self._observed_events: list[dict[str, Any]] = []
        self._observer_lock = threading.Lock()
        self._observer_sqs: Any = None

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def client(self, service: str) -> Any:
        raise NotImplementedError

    def wait_until_drained(self, timeout_s: float) -> None:
        raise NotImplementedError

    def pipeline_stats(self) -> dict[str, Any] | None:
        return None

    def pinpoint_endpoints(self) -> dict[str, dict[str, Any]] | None:
        return None

    def customer_profiles_objects(self) -> dict[str, dict[str, Any]] | None:
        """{user_key: object} the score sync put into Customer Profiles, or None where not observable."""
        return None

    def run_refresher(self, now_s: int) -> dict[str, Any] | None:
        """One run of the deployed refresher with its clock at `now_s` (its summary), or None when the
        deployment has no refresher (decay off, no sliding window rule) or this target cannot invoke it."""
        return None

    def eventbridge_events(self) -> list[dict[str, Any]] | None:
        """Every event the observer queue of examples/local received so far (cumulative), or None."""
        queue_url = self.outputs.get("observer_queue_url")
        if not queue_url:
            return None
        with self._observer_lock:
            if self._observer_sqs is None:
                self._observer_sqs = self.client("sqs")
            sqs = self._observer_sqs
            while True:
                received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                messages = received.get("Messages", [])
                if not messages:
                    return list(self._observed_events)
                for message in messages:
                    self._observed_events.append(json.loads(message["Body"]))
                sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                    ],
                )


def _close_quietly(log: LogFn, label: str, action: Callable[[], None]) -> None:
    """Teardown goes on after a failing step, so one failure never leaves the other processes running."""
    try:
        action()
    except Exception as exc:
        log(f"teardown: stopping {label} failed: {type(exc).__name__}: {exc}")


class EmbeddedDeployment(Deployment):
    """moto + Pinpoint and Customer Profiles stand-ins + Terraform apply of examples/local + the local
    Lambda runner."""

    name = "embedded"
    can_run_refresher = True

    def __init__(
        self,
        tf_vars: dict[str, Any],
        log: LogFn,
        run_dir: Path | None = None,
        runner_settings: RunnerSettings | None = None,
        example: str = "examples/local",
        *,
        moto_factory: Callable[[], EmbeddedMoto] = EmbeddedMoto,
    ) -> None:
        """`moto_factory` makes the (not yet started) moto server, e.g. a subclass that starts differently."""
        super().__init__(log)
        self.moto_factory = moto_factory
        self.tf_vars = dict(tf_vars)
        self.region = str(self.tf_vars.get("aws_region", DEFAULT_REGION))
        self.run_dir = run_dir or new_run_dir()
        self.example = example
        self.runner_settings = runner_settings
        self.moto: EmbeddedMoto | None = None
        self.pinpoint: PinpointStandIn | None = None
        self.customer_profiles: CustomerProfilesStandIn | None = None
        self._profiles_target: tuple[str, str] | None = None  # (domain, object type) the sync writes
        self.runner: LocalLambdaRunner | None = None
        self.pinpoint_app_id: str | None = None
        self.timings: dict[str, float] = {}
        self._log_lock = threading.Lock()
        self._observer_stop = threading.Event()
        self._observer_thread: threading.Thread | None = None

    def start(self) -> None:
        started = time.monotonic()
        self.moto = self.moto_factory().start()
        self.pinpoint = PinpointStandIn().start()
        self.customer_profiles = CustomerProfilesStandIn(region=self.region).start()
        self.timings["moto_s"] = time.monotonic() - started
        self.log(
            f"embedded cloud: moto ({self.moto.endpoint_url}), the Pinpoint stand-in "
            f"({self.pinpoint.endpoint_url}) and the Customer Profiles stand-in "
            f"({self.customer_profiles.endpoint_url}) are up ({self.timings['moto_s']:.1f}s)"
        )
        if "pinpoint_application_id" not in self.tf_vars:
            app = self.client("pinpoint_apps").create_app(
                CreateApplicationRequest={"Name": str(self.tf_vars.get("name_prefix", "engagement-local"))}
            )
            self.tf_vars["pinpoint_application_id"] = app["ApplicationResponse"]["Id"]
        self.pinpoint_app_id = self.tf_vars.get("pinpoint_application_id")

        module_copy = copy_module(self.run_dir / "module")
        working_dir = module_copy / self.example
        self._prepare_customer_profiles_domain(working_dir)
        variables = {**self.tf_vars, "aws_endpoint_url": self.moto.endpoint_url, "aws_region": self.region}
        terraform = TerraformRunner(working_dir, plugin_cache_env(terraform_env()), self.run_dir)
        applied = time.monotonic()
        self.log("embedded cloud: terraform init + apply of examples/local ...")
        terraform.init()
        terraform.apply(write_var_file(working_dir, variables))
        self.outputs = terraform.outputs()
        self.timings["terraform_s"] = time.monotonic() - applied
        self.log(f"embedded cloud: applied ({self.timings['terraform_s']:.1f}s; log {terraform.log_path})")

        package = resolve_output_path(working_dir, str(self.outputs["lambda_package_path"]))
        code_zips = {
            str(self.outputs[key]): package
            for key in ("scorer_function_name", "score_sync_function_name", "refresher_function_name")
            if self.outputs.get(key)
        }
        self.runner = LocalLambdaRunner(
            self.moto.endpoint_url,
            code_zips,
            region=self.region,
            pinpoint_endpoint_url=self.pinpoint.endpoint_url,
            customer_profiles_endpoint_url=self.customer_profiles.endpoint_url,
            settings=self.runner_settings,
            log=self.log,
            log_sink=self._write_function_logs,
            function_names=set(code_zips),
        ).start()
        if self.outputs.get("observer_queue_url"):
            # Read the observer queue as a consumer would, all along: moto's SQS scans every message of
            # a queue on each send, so a queue left to fill up makes EventBridge's deliveries quadratic.
            self._observer_thread = threading.Thread(
                target=self._read_observer_queue, name="observer-queue", daemon=True
            )
            self._observer_thread.start()
        self.timings["startup_s"] = time.monotonic() - started
        self.log(f"embedded cloud: ready ({self.timings['startup_s']:.1f}s)")

    def _write_function_logs(self, function_name: str, logs: str) -> None:
        directory = self.run_dir / "lambda-logs"
        with self._log_lock:
            directory.mkdir(exist_ok=True)
            with (directory / f"{function_name}.log").open("a") as handle:
                handle.write(logs if logs.endswith("\n") else logs + "\n")

    def _read_observer_queue(self, interval_s: float = 0.5) -> None:
        while not self._observer_stop.wait(interval_s):
            try:
                self.eventbridge_events()
            except Exception as exc:  # a failing read is retried on the next tick and at verification
                self.log(f"observer queue: read failed ({type(exc).__name__}); retrying")

    def close(self) -> None:
        self._observer_stop.set()
        if self._observer_thread is not None:
            self._observer_thread.join(timeout=10)
            self._observer_thread = None
        if self.runner is not None:
            _close_quietly(self.log, "the Lambda runner", self.runner.stop)
            self.runner = None
        if self.pinpoint is not None:
            _close_quietly(self.log, "the Pinpoint stand-in", self.pinpoint.stop)
            self.pinpoint = None
        if self.customer_profiles is not None:
            _close_quietly(self.log, "the Customer Profiles stand-in", self.customer_profiles.stop)
            self.customer_profiles = None
        if self.moto is not None:
            _close_quietly(self.log, "moto", self.moto.stop)
            self.moto = None
        # Provider links only; state, logs and the zip stay for inspection.
        shutil.rmtree(self.run_dir / "module" / self.example / ".terraform", ignore_errors=True)

    def client(self, service: str) -> Any:
        """A boto3 client on moto; "pinpoint" goes to the stand-in (endpoint API), "pinpoint_apps" to moto,
        "customer-profiles" to its stand-in."""
        if self.moto is None:
            raise RuntimeError("the embedded cloud is not running")
        endpoint = self.moto.endpoint_url
        if service == "pinpoint" and self.pinpoint is not None:
            endpoint = self.pinpoint.endpoint_url
        if service == "customer-profiles" and self.customer_profiles is not None:
            endpoint = self.customer_profiles.endpoint_url
        return boto3.client(
            "pinpoint" if service == "pinpoint_apps" else service,
            endpoint_url=endpoint,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def wait_until_drained(self, timeout_s: float) -> None:
        """Pipe source queues empty first (the Pipes service feeds the stream), then the runner drained."""
        if self.runner is None:
            raise RuntimeError("the embedded cloud is not running")
        deadline = time.monotonic() + timeout_s
        wait_for_pipe_sources(self.client("pipes"), self.client("sqs"), deadline)
        self.runner.wait_until_drained(max(0.0, deadline - time.monotonic()), progress=self.log)

    def pipeline_stats(self) -> dict[str, Any] | None:
        return self.runner.pipeline_stats() if self.runner is not None else None

    def run_refresher(self, now_s: int) -> dict[str, Any] | None:
        name = self.outputs.get("refresher_function_name")
        if not name or self.runner is None:
            return None
        invocation = self.runner.invoke_by_name(str(name), {"now": now_s})
        if not invocation.ok:
            error = invocation.error or {}
            raise RuntimeError(f"the refresher failed: {error.get('errorType')}: {error.get('errorMessage')}")
        return dict(invocation.result) if isinstance(invocation.result, dict) else {}

    def pinpoint_endpoints(self) -> dict[str, dict[str, Any]] | None:
        if self.pinpoint is None or not self.pinpoint_app_id:
            return None
        return self.pinpoint.endpoints(self.pinpoint_app_id)

    def _prepare_customer_profiles_domain(self, working_dir: Path) -> None:
        """Create in the stand-in the domain the example passes to the module, when it declares the input.

        The domain is created here rather than by Terraform: the provider would send CreateDomain to moto,
        which has no Customer Profiles. An example without the input deploys no Customer Profiles sink.
        """
        assert self.customer_profiles is not None
        if not declares_variable(working_dir, PROFILES_DOMAIN_VARIABLE):
            return
        domain = str(
            self.tf_vars.setdefault(
                PROFILES_DOMAIN_VARIABLE, f"{self.tf_vars.get('name_prefix', 'engagement-local')}-profiles"
            )
        )
        if domain not in self.customer_profiles.domain_names():
            self.client("customer-profiles").create_domain(DomainName=domain, DefaultExpirationDays=366)

    def customer_profiles_objects(self) -> dict[str, dict[str, Any]] | None:
        """The stand-in's objects of the domain and object type the deployed score sync writes to."""
        if self.customer_profiles is None or not self.outputs.get("score_sync_function_name"):
            return None
        if self._profiles_target is None:
            variables = (
                self.client("lambda")
                .get_function_configuration(FunctionName=str(self.outputs["score_sync_function_name"]))
                .get("Environment", {})
                .get("Variables", {})
            )
            domain = variables.get("CUSTOMER_PROFILES_DOMAIN", "")
            if not domain:
                return None
            self._profiles_target = (
                domain,
                variables.get("CUSTOMER_PROFILES_OBJECT_TYPE") or "EngagementScore",
            )
        domain, object_type = self._profiles_target
        if domain not in self.customer_profiles.domain_names():
            return {}
        return self.customer_profiles.objects(domain, object_type)


class _QuietPipelineWatch:
    """Drain detection where the functions run elsewhere (LocalStack, AWS) and only their effects show.

    Drained = the scorer's batch log lines account for every record in the stream (when its logs are
    readable) and the user_scores table has not changed for `stable_for_s`, polled every `interval_s`.
    """

    def __init__(self, deployment: Deployment, stable_for_s: float, interval_s: float = 1.0) -> None:
        self.deployment = deployment
        self.stable_for_s = stable_for_s
        self.interval_s = interval_s
        self._iterators: dict[str, str | None] = {}
        self._stream_records = 0

    def stream_records(self) -> int:
        """Records in the ingest stream so far, counted by reading every shard forward."""
        kinesis = self.deployment.client("kinesis")
        stream = str(self.deployment.outputs["stream_name"])
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = kinesis.get_shard_iterator(
                    StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            while self._iterators[shard_id]:
                page = kinesis.get_records(ShardIterator=self._iterators[shard_id], Limit=10_000)
                self._iterators[shard_id] = page.get("NextShardIterator")
                self._stream_records += len(page["Records"])
                if not page["Records"]:
                    break
        return self._stream_records

    def scores_fingerprint(self) -> str:
        dynamodb = self.deployment.client("dynamodb")
        digest = hashlib.blake2b(digest_size=16)
        paginator = dynamodb.get_paginator("scan")
        pages = paginator.paginate(
            TableName=str(self.deployment.outputs["user_scores_table_name"]),
            ProjectionExpression="#k, #v",
            ExpressionAttributeNames={"#k": "user_key", "#v": "version"},
        )
        for item in sorted(json.dumps(i, sort_keys=True) for page in pages for i in page["Items"]):
            digest.update(item.encode())
        return digest.hexdigest()

    def wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last: tuple[Any, ...] | None = None
        stable_since = time.monotonic()
        last_report = time.monotonic()
        while True:
            total = self.stream_records()
            stats = self.deployment.pipeline_stats() or {}
            scorer_records = int((stats.get("scorer") or {}).get("records", 0))
            logs_visible = "scorer" in stats
            snapshot = (total, scorer_records, self.scores_fingerprint())
            now = time.monotonic()
            if snapshot != last:
                last, stable_since = snapshot, now
            elif (scorer_records >= total or not logs_visible) and now - stable_since >= self.stable_for_s:
                return
            if now >= deadline:
                raise TimeoutError(
                    f"pipeline not drained after {timeout_s:.0f}s: {scorer_records}/{total} records scored"
                )
            if now - last_report >= 5:
                last_report = now
                self.deployment.log(f"draining: {scorer_records}/{total} stream records seen by the scorer")
            time.sleep(self.interval_s)


class LocalStackDeployment(Deployment):
    """examples/local applied to LocalStack with tflocal; LocalStack runs the functions. Pinpoint off."""

    name = "localstack"

    def __init__(
        self,
        tf_vars: dict[str, Any],
        log: LogFn,
        url: str | None = None,
        run_dir: Path | None = None,
        stable_for_s: float = 5.0,
    ) -> None:
        super().__init__(log)
        self.url = url = url or localstack.endpoint_url()
        self.region = str(tf_vars.get("aws_region", DEFAULT_REGION))
        self.tf_vars = localstack.localstack_tf_vars(tf_vars, url)
        self.run_dir = run_dir or new_run_dir()
        self.stable_for_s = stable_for_s
        self.started_ms = 0
        self._terraform: TerraformRunner | None = None
        self._var_file: Path | None = None

    def terraform_runner(self) -> TerraformRunner:
        working_dir = self.run_dir / "module" / "examples" / "local"
        env = localstack.tflocal_env(plugin_cache_env(terraform_env()), self.url, self.region)
        return TerraformRunner(working_dir, env, self.run_dir, command=localstack.tflocal_command())

    def start(self) -> None:
        if not localstack.localstack_available(self.url):
            raise RuntimeError(f"no healthy LocalStack at {self.url} (kinesis, dynamodb, lambda, sqs)")
        self.started_ms = int(time.time() * 1000)
        copy_module(self.run_dir / "module")
        self._terraform = self.terraform_runner()
        self._var_file = write_var_file(self._terraform.working_dir, self.tf_vars)
        self.log("localstack: tflocal init + apply of examples/local ...")
        self._terraform.init()
        self._terraform.apply(self._var_file)
        self.outputs = self._terraform.outputs()

    def close(self) -> None:
        if self._terraform is not None and self._var_file is not None:
            _close_quietly(self.log, "the LocalStack stack", lambda: self._destroy())

    def _destroy(self) -> None:
        assert self._terraform is not None and self._var_file is not None
        self._terraform.destroy(self._var_file)

    def client(self, service: str) -> Any:
        from localstack_client.session import Session

        return Session(region_name=self.region, localstack_host=self.url.split("://", 1)[-1]).client(service)

    def wait_until_drained(self, timeout_s: float) -> None:
        _QuietPipelineWatch(self, self.stable_for_s).wait(timeout_s)

    def pipeline_stats(self) -> dict[str, Any] | None:
        groups = [
            f"/aws/lambda/{self.outputs[k]}" for k in ("scorer_function_name", "score_sync_function_name")
        ]
        return stats_from_cloudwatch_logs(self.client("logs"), groups, self.started_ms)


class AwsDeployment(Deployment):
    """A root module applied to real AWS with the caller's credentials; destroyed on exit unless kept."""

    name = "aws"

    def __init__(
        self,
        tf_vars: dict[str, Any],
        log: LogFn,
        root: Path | None = None,
        run_dir: Path | None = None,
        keep: bool | None = None,
        stable_for_s: float = 15.0,
    ) -> None:
        super().__init__(log)
        self.tf_vars = dict(tf_vars)
        self.root = root or Path(os.environ.get("ENGAGEMENT_AWS_ROOT") or ROOT / "examples" / "complete")
        self.keep = keep if keep is not None else os.environ.get("ENGAGEMENT_AWS_KEEP") == "1"
        if not self.keep:
            # A stack this target destroys on exit: its tables must be deletable (the module protects them).
            self.tf_vars.setdefault("deletion_protection_enabled", False)
        self.run_dir = run_dir or new_run_dir()
        self.stable_for_s = stable_for_s
        self.session = boto3.session.Session()
        self.region = self.session.region_name or DEFAULT_REGION
        self.started_ms = 0
        self._terraform: TerraformRunner | None = None
        self._var_file: Path | None = None

    def working_dir(self) -> Path:
        """In this checkout the module is copied (examples use ../../); elsewhere the root is used as is."""
        if self.root.resolve().is_relative_to(ROOT):
            return self.run_dir / "module" / self.root.resolve().relative_to(ROOT)
        return self.root

    def terraform_runner(self) -> TerraformRunner:
        return TerraformRunner(self.working_dir(), plugin_cache_env(terraform_env()), self.run_dir)

    def start(self) -> None:
        self.started_ms = int(time.time() * 1000)
        if self.root.resolve().is_relative_to(ROOT):
            copy_module(self.run_dir / "module")
        self._terraform = self.terraform_runner()
        self._var_file = write_var_file(self._terraform.working_dir, self.tf_vars)
        self.log(f"aws: terraform init + apply of {self.root} in {self.region} ...")
        self._terraform.init()
        self._terraform.apply(self._var_file)
        self.outputs = self._terraform.outputs()

    def close(self) -> None:
        if self._terraform is None or self._var_file is None:
            return
        if self.keep:
            self.log(f"aws: stack kept (ENGAGEMENT_AWS_KEEP=1); state in {self._terraform.working_dir}")
            return
        terraform, var_file = self._terraform, self._var_file
        _close_quietly(self.log, "the AWS stack", lambda: terraform.destroy(var_file))

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def wait_until_drained(self, timeout_s: float) -> None:
        _QuietPipelineWatch(self, self.stable_for_s, interval_s=2.0).wait(timeout_s)

    def pipeline_stats(self) -> dict[str, Any] | None:
        groups = [
            f"/aws/lambda/{self.outputs[k]}" for k in ("scorer_function_name", "score_sync_function_name")
        ]
        return stats_from_cloudwatch_logs(self.client("logs"), groups, self.started_ms)


def resolve_target(target: str, localstack_url: str | None = None) -> str:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    if target == "auto":
        url = localstack_url or localstack.endpoint_url()
        return "localstack" if localstack.localstack_available(url) else "embedded"
    return target


@contextlib.contextmanager
def _sigterm_as_keyboard_interrupt() -> Iterator[None]:
    """Make SIGTERM unwind like Ctrl-C, so the teardown in `finally` runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def open_deployment(target: str, tf_vars: dict[str, Any], log: LogFn) -> Iterator[Deployment]:
    """Deploy the pipeline on `target` ("auto", "embedded", "localstack", "aws"); tear it down on exit."""
    name = resolve_target(target)
    factories: dict[str, Callable[[], Deployment]] = {
        "embedded": lambda: EmbeddedDeployment(tf_vars, log),
        "localstack": lambda: LocalStackDeployment(tf_vars, log),
        "aws": lambda: AwsDeployment(tf_vars, log),
    }
    deployment = factories[name]()
    with _sigterm_as_keyboard_interrupt():
        try:
            deployment.start()
            yield deployment
        finally:
            deployment.close()
            log(f"{name}: torn down")
