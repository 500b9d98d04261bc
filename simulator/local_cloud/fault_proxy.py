"""A fault-injecting HTTP proxy in front of the emulator, for reliability tests.

Serves on 127.0.0.1 and forwards every request unchanged to the upstream emulator (moto). For the
JSON-protocol services the functions call (DynamoDB, EventBridge, SQS, Kinesis), the operation is the
`X-Amz-Target` header, e.g. `DynamoDB_20120810.TransactWriteItems` or `AWSEvents.PutEvents`. Each
`FaultRule` answers a seeded fraction of the calls whose target starts with its prefix with an AWS-shaped
error instead, as botocore expects it (status, `x-amzn-ErrorType` header and a JSON body with `__type`
and `message`), for example:

- DynamoDB throttling: HTTP 400, `com.amazonaws.dynamodb.v20120810#ThrottlingException` or
  `...#ProvisionedThroughputExceededException`;
- EventBridge overload: HTTP 429 `ThrottlingException`, HTTP 500 `InternalException`, HTTP 503
  `ServiceUnavailableException`;
- a lost response (`Fault.after_forward`): the call is forwarded and takes effect, then the client gets the
  error anyway, as after a timeout or a 500 on the way back;
- failed entries (`Fault.failed_entries`): PutEvents answered HTTP 200 with every entry failed and nothing
  forwarded (EventBridge's partial failure).

Hooks (`on_request`, `on_response`) see every operation before it is forwarded and after the upstream
answered, e.g. to kill the calling Lambda worker in the middle of a batch. Route the functions through the
proxy with `RunnerSettings(function_endpoint_url=proxy.endpoint_url)`; the runner's own calls stay direct.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.local_cloud.loopback import HOST, HttpRequest, HttpResponse, LoopbackServer

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
)
Hook = Callable[[str], None]


@dataclass(frozen=True)
class Fault:
    """One kind of injected answer."""

    status: int
    error_type: str
    message: str = "Injected fault"
    after_forward: bool = False  # forward first (the call takes effect), then answer the error
    failed_entries: bool = False  # PutEvents only: HTTP 200 with every entry failed (error_type as code)

    def body(self, request_body: bytes) -> bytes:
        if self.failed_entries:
            try:
                entries = json.loads(request_body or b"{}").get("Entries") or []
            except (ValueError, AttributeError):
                entries = []
            failed = [{"ErrorCode": self.error_type, "ErrorMessage": self.message} for _ in entries]
            return json.dumps({"FailedEntryCount": len(failed), "Entries": failed}).encode()
        return json.dumps({"__type": self.error_type, "message": self.message}).encode()


DYNAMODB_THROTTLING = (
    Fault(400, "com.amazonaws.dynamodb.v20120810#ThrottlingException", "Rate of requests exceeds the limit"),
    Fault(
        400,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded",
    ),
)
EVENTBRIDGE_OVERLOAD = (
    Fault(429, "ThrottlingException", "Rate exceeded"),
    Fault(500, "InternalException", "Internal failure"),
    Fault(503, "ServiceUnavailableException", "Service unavailable"),
    Fault(200, "ThrottlingException", "Rate exceeded", failed_entries=True),
)


@dataclass(frozen=True)
class FaultRule:
    """Answer `rate` of the calls whose X-Amz-Target starts with `target_prefix` with one of `faults`."""

    target_prefix: str
    rate: float
    faults: tuple[Fault, ...]
    # False: each call fails with probability `rate` (seeded; bursts happen). True: exactly every
    # 1/rate-th call fails, from a seeded offset (the same count whatever the thread interleaving).
    even: bool = False
    # Only calls whose request body contains these bytes match (e.g. one user's key: a write DynamoDB
    # refuses for that user alone); None = every call of the target.
    body_contains: bytes | None = None


@dataclass
class ProxyCounters:
    calls: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)  # by "<operation> <status> <error type>"


def operation_of(headers: Any, path: str) -> str:
    """`X-Amz-Target` of a JSON-protocol call, else `<METHOD-less path>` (REST and query calls)."""
    target = headers.get("X-Amz-Target")
    return str(target) if target else urllib.parse.urlsplit(path).path


class FaultProxy(LoopbackServer):
    """The proxy server; a context manager. `upstream` may be a callable, resolved at each request."""

    thread_name = "fault-proxy"

    def __init__(self, upstream: str | Callable[[], str], *, seed: int = 0, port: int = 0) -> None:
        self._upstream = upstream
        self._rules: tuple[FaultRule, ...] = ()
        self._random = random.Random(seed)
        self._matched: Counter[int] = Counter()  # calls per rule (by index), for even spacing
        self._injected: Counter[int] = Counter()  # faults per rule, for the rotation of its kinds
        self._offsets: dict[int, float] = {}
        self._lock = threading.Lock()
        self.counters = ProxyCounters()
        self.on_request: Hook | None = None
        self.on_response: Hook | None = None
        super().__init__(port)

    def upstream(self) -> str:
        return self._upstream() if callable(self._upstream) else self._upstream

    def set_rules(self, *rules: FaultRule, seed: int | None = None) -> None:
        """Replace the fault rules (none = a transparent proxy); optionally reseed."""
        with self._lock:
            self._rules = tuple(rules)
            if seed is not None:
                self._random = random.Random(seed)
            self._matched, self._injected = Counter(), Counter()
            self._offsets = {i: self._random.random() for i in range(len(self._rules))}

    def reset_counters(self) -> None:
        with self._lock:
            self.counters = ProxyCounters()

    def snapshot(self) -> ProxyCounters:
        with self._lock:
            return ProxyCounters(Counter(self.counters.calls), Counter(self.counters.faults))

    # request handling ------------------------------------------------------------------------------------
    def choose_fault(self, operation: str, body: bytes = b"") -> Fault | None:
        with self._lock:
            self.counters.calls[operation] += 1
            for index, rule in enumerate(self._rules):
                if not operation.startswith(rule.target_prefix):
                    continue
                if rule.body_contains is not None and rule.body_contains not in body:
                    continue
                self._matched[index] += 1
                if rule.even:
                    position = self._matched[index] * rule.rate + self._offsets[index]
                    hit = int(position) > int(position - rule.rate)
                else:
                    hit = self._random.random() < rule.rate
                if not hit:
                    return None
                # The kinds take turns, so every kind of a rule shows up once enough faults were injected.
                fault = rule.faults[self._injected[index] % len(rule.faults)]
                self._injected[index] += 1
                self.counters.faults[f"{operation} {fault.status} {fault.error_type}"] += 1
                return fault
        return None

    def forward(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        parts = urllib.parse.urlsplit(self.upstream())
        connection = http.client.HTTPConnection(parts.hostname or HOST, parts.port or 80, timeout=60)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            forwarded["Content-Length"] = str(len(body))
            connection.request(method, path, body=body, headers=forwarded)
            response = connection.getresponse()
            payload = response.read()
            answer_headers = [
                (k, v)
                for k, v in response.getheaders()
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
            ]
            return response.status, answer_headers, payload
        finally:
            connection.close()

    def respond(self, request: HttpRequest) -> HttpResponse:
        operation = operation_of(request.headers, request.path)
        if self.on_request is not None:
            self.on_request(operation)
        fault = self.choose_fault(operation, request.body)
        if fault is None or fault.after_forward:
            try:
                status, headers, payload = self.forward(
                    request.method, request.path, request.headers, request.body
                )
            except OSError:
                status, headers = 502, []
                payload = json.dumps({"__type": "BadGateway", "message": "upstream"}).encode()
            if self.on_response is not None:
                self.on_response(operation)
        if fault is not None:
            status, payload = fault.status, fault.body(request.body)
            headers = [("Content-Type", "application/x-amz-json-1.0")]
            if not fault.failed_entries:
                headers.append(("x-amzn-ErrorType", fault.error_type.rsplit("#", 1)[-1]))
            headers.append(("x-amzn-RequestId", "injected-fault"))
        return HttpResponse(status, payload, headers)
