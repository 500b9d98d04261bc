"""A local stand-in for the Amazon Pinpoint endpoint API, which moto does not implement.

Serves, on 127.0.0.1, the REST operations the score-sync handler uses, as botocore's `pinpoint` client
sends them (rest-json): UpdateEndpointsBatch, UpdateEndpoint, GetEndpoint, GetUserEndpoints and
DeleteEndpoint. Route a client to it with `endpoint_url=` or the SDK setting AWS_ENDPOINT_URL_PINPOINT.

Updates merge like Pinpoint's: fields sent replace the stored ones, `Attributes`, `Metrics`,
`User.UserAttributes`, `Demographic` and `Location` are merged key by key (an attribute sent with an
empty list is removed), and a new endpoint gets an id-derived `CohortId`, `EndpointStatus` ACTIVE and
`OptOut` NONE. Unlike Pinpoint, any application id is accepted (apps live in moto, not here).
Optional fault injection answers a seeded fraction of calls with 429 or 500, for reliability tests.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import re
import threading
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from simulator.local_cloud.loopback import HttpRequest, HttpResponse, LoopbackServer

MAX_BATCH_ITEMS = 100
ERROR_TYPES = {
    400: "BadRequestException",
    404: "NotFoundException",
    405: "MethodNotAllowedException",
    429: "TooManyRequestsException",
    500: "InternalServerErrorException",
}
MERGED_MAPS = ("Attributes", "Metrics", "Demographic", "Location")
ROUTES = [
    ("PUT", re.compile(r"^/v1/apps/(?P<app>[^/]+)/endpoints$"), "UpdateEndpointsBatch"),
    ("PUT", re.compile(r"^/v1/apps/(?P<app>[^/]+)/endpoints/(?P<endpoint>[^/]+)$"), "UpdateEndpoint"),
    ("GET", re.compile(r"^/v1/apps/(?P<app>[^/]+)/endpoints/(?P<endpoint>[^/]+)$"), "GetEndpoint"),
    ("DELETE", re.compile(r"^/v1/apps/(?P<app>[^/]+)/endpoints/(?P<endpoint>[^/]+)$"), "DeleteEndpoint"),
    ("GET", re.compile(r"^/v1/apps/(?P<app>[^/]+)/users/(?P<user>[^/]+)$"), "GetUserEndpoints"),
]


class PinpointError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class FaultInjection:
    """Answer `rate` of the calls to `operations` (None = all) with a status drawn from `statuses`."""

    rate: float
    statuses: tuple[int, ...] = (429, 500)
    seed: int = 0
    operations: frozenset[str] | None = None


def _now_iso() -> str:
    return dt.datetime.now(tz=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EndpointStore:
    """Thread-safe in-memory endpoints per application, with Pinpoint's merge rules."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._apps: dict[str, dict[str, dict[str, Any]]] = {}

    def update(self, app_id: str, endpoint_id: str, request: dict[str, Any]) -> None:
        with self._lock:
            endpoints = self._apps.setdefault(app_id, {})
            current = endpoints.get(endpoint_id)
            if current is None:
                current = {
                    "ApplicationId": app_id,
                    "Id": endpoint_id,
                    "CohortId": str(zlib.crc32(endpoint_id.encode()) % 100),
                    "CreationDate": _now_iso(),
                    "EndpointStatus": "ACTIVE",
                    "OptOut": "NONE",
                    "Attributes": {},
                    "Metrics": {},
                    "User": {},
                }
                endpoints[endpoint_id] = current
            for key, value in request.items():
                if key in ("Id", "ApplicationId", "CohortId", "CreationDate"):
                    continue
                if key in MERGED_MAPS and isinstance(value, dict):
                    merged = current.setdefault(key, {})
                    merged.update(value)
                    if key == "Attributes":
                        for name in [name for name, values in merged.items() if values == []]:
                            del merged[name]
                elif key == "User" and isinstance(value, dict):
                    user = current.setdefault("User", {})
                    if "UserId" in value:
                        user["UserId"] = value["UserId"]
                    if isinstance(value.get("UserAttributes"), dict):
                        attributes = user.setdefault("UserAttributes", {})
                        attributes.update(value["UserAttributes"])
                        for name in [name for name, values in attributes.items() if values == []]:
                            del attributes[name]
                else:
                    current[key] = copy.deepcopy(value)
            current["EffectiveDate"] = request.get("EffectiveDate") or _now_iso()

    def get(self, app_id: str, endpoint_id: str) -> dict[str, Any]:
        with self._lock:
            endpoint = self._apps.get(app_id, {}).get(endpoint_id)
            if endpoint is None:
                raise PinpointError(404, "Resource not found")
            return copy.deepcopy(endpoint)

    def delete(self, app_id: str, endpoint_id: str) -> dict[str, Any]:
        with self._lock:
            endpoint = self._apps.get(app_id, {}).pop(endpoint_id, None)
            if endpoint is None:
                raise PinpointError(404, "Resource not found")
            return endpoint

    def user_endpoints(self, app_id: str, user_id: str) -> list[dict[str, Any]]:
        with self._lock:
            found = [
                copy.deepcopy(endpoint)
                for endpoint in self._apps.get(app_id, {}).values()
                if endpoint.get("User", {}).get("UserId") == user_id
            ]
        if not found:
            raise PinpointError(404, "Resource not found")
        return found

    def snapshot(self, app_id: str | None = None) -> dict[str, dict[str, Any]]:
        with self._lock:
            apps = [self._apps.get(app_id, {})] if app_id is not None else list(self._apps.values())
            return {
                endpoint_id: copy.deepcopy(e) for endpoints in apps for endpoint_id, e in endpoints.items()
            }


class PinpointStandIn(LoopbackServer):
    """The HTTP server; a context manager. `endpoints()` and `calls` are for inspection."""

    thread_name = "pinpoint-standin"

    def __init__(self, port: int = 0, faults: FaultInjection | None = None) -> None:
        self.store = EndpointStore()
        self.calls: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self._faults = faults
        self._random = random.Random(faults.seed if faults else 0)
        self._lock = threading.Lock()
        super().__init__(port)

    def set_faults(self, faults: FaultInjection | None) -> None:
        with self._lock:
            self._faults = faults
            self._random = random.Random(faults.seed if faults else 0)

    def endpoints(self, app_id: str | None = None) -> dict[str, dict[str, Any]]:
        """Every stored endpoint, by id (of one application, or of all)."""
        return self.store.snapshot(app_id)

    # request handling ------------------------------------------------------------------------------------
    def _injected_fault(self, operation: str) -> int | None:
        with self._lock:
            self.calls[operation] += 1
            faults = self._faults
            if faults is None or (faults.operations is not None and operation not in faults.operations):
                return None
            if self._random.random() >= faults.rate:
                return None
            status = self._random.choice(faults.statuses)
            self.faults_injected[operation] += 1
            return status

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Dispatch one request; returns (status, JSON body)."""
        path = path.split("?", 1)[0]
        for route_method, pattern, route_operation in ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                operation = route_operation
                break
        else:
            raise PinpointError(404 if method in ("GET", "PUT", "DELETE") else 405, "Resource not found")
        fault = self._injected_fault(operation)
        if fault is not None:
            raise PinpointError(fault, "Injected fault" if fault != 429 else "Too many requests")
        app = unquote(match["app"])
        request_id = str(uuid.uuid4())
        accepted = {"Message": "Accepted", "RequestID": request_id}
        if operation == "UpdateEndpointsBatch":
            items = self._json(body).get("Item")
            if not isinstance(items, list) or not items or len(items) > MAX_BATCH_ITEMS:
                raise PinpointError(400, f"Item must hold 1 to {MAX_BATCH_ITEMS} endpoints")
            if not all(isinstance(item, dict) and item.get("Id") for item in items):
                raise PinpointError(400, "Every item needs an Id")
            for item in items:
                self.store.update(
                    app, str(item["Id"]), {**item, "RequestId": item.get("RequestId") or request_id}
                )
            return 202, accepted
        endpoint = unquote(match.groupdict().get("endpoint") or "")
        if operation == "UpdateEndpoint":
            request = self._json(body)
            self.store.update(app, endpoint, {**request, "RequestId": request.get("RequestId") or request_id})
            return 202, accepted
        if operation == "GetEndpoint":
            return 200, self.store.get(app, endpoint)
        if operation == "DeleteEndpoint":
            return 202, self.store.delete(app, endpoint)
        return 200, {"Item": self.store.user_endpoints(app, unquote(match["user"]))}

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            parsed = json.loads(body or b"{}")
        except ValueError as exc:
            raise PinpointError(400, "Request body is not valid JSON") from exc
        if not isinstance(parsed, dict):
            raise PinpointError(400, "Request body must be a JSON object")
        return parsed

    def respond(self, request: HttpRequest) -> HttpResponse:
        headers: list[tuple[str, str]] = [("Content-Type", "application/json")]
        try:
            status, payload = self.handle(request.method, request.path, request.body)
        except PinpointError as error:
            status = error.status
            payload = {"Message": error.message, "RequestID": str(uuid.uuid4())}
            headers.append(("x-amzn-ErrorType", ERROR_TYPES.get(status, "BadRequestException")))
        headers.append(("x-amzn-RequestId", payload.get("RequestID", str(uuid.uuid4()))))
        return HttpResponse(status, json.dumps(payload).encode(), headers)
