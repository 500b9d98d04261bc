"""A local stand-in for the Amazon Pinpoint endpoint API, which moto does not implement.

Serves, on 127.0.0.1, the REST operations the score-sync handler uses, as botocore's `pinpoint` client
sends them (rest-json): UpdateEndpointsBatch, UpdateEndpoint, GetEndpoint, GetUserEndpoints and
DeleteEndpoint. Route a client to it with `endpoint_url=` or the SDK setting AWS_ENDPOINT_URL_PINPOINT.

Every request is validated against botocore's `pinpoint` model first (rest_json.py) and refused with the
model's error shapes, as the Customer Profiles stand-in does. Updates merge like Pinpoint's: fields sent
replace the stored ones, `Attributes`, `Metrics`, `User.UserAttributes`, `Demographic` and `Location` are
merged key by key (an attribute sent with an empty list is removed), and a new endpoint gets an
id-derived `CohortId`, `EndpointStatus` ACTIVE and `OptOut` NONE. Unlike Pinpoint, any application id is
accepted (apps live in moto, not here).
Optional fault injection answers a seeded fraction of calls with 429 (TooManyRequestsException) or 500
(InternalServerErrorException), for reliability tests.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from simulator.local_cloud.rest_json import FaultInjection, Handler, RestJsonStandIn, ServiceError

__all__ = ["EndpointStore", "FaultInjection", "PinpointStandIn"]

MAX_BATCH_ITEMS = 100
MERGED_MAPS = ("Attributes", "Metrics", "Demographic", "Location")
NOT_FOUND = "NotFoundException"


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
                raise ServiceError(NOT_FOUND, "Resource not found")
            return copy.deepcopy(endpoint)

    def delete(self, app_id: str, endpoint_id: str) -> dict[str, Any]:
        with self._lock:
            endpoint = self._apps.get(app_id, {}).pop(endpoint_id, None)
            if endpoint is None:
                raise ServiceError(NOT_FOUND, "Resource not found")
            return endpoint

    def user_endpoints(self, app_id: str, user_id: str) -> list[dict[str, Any]]:
        with self._lock:
            found = [
                copy.deepcopy(endpoint)
                for endpoint in self._apps.get(app_id, {}).values()
                if endpoint.get("User", {}).get("UserId") == user_id
            ]
        if not found:
            raise ServiceError(NOT_FOUND, "Resource not found")
        return found

    def snapshot(self, app_id: str | None = None) -> dict[str, dict[str, Any]]:
        with self._lock:
            apps = [self._apps.get(app_id, {})] if app_id is not None else list(self._apps.values())
            return {
                endpoint_id: copy.deepcopy(e) for endpoints in apps for endpoint_id, e in endpoints.items()
            }


class PinpointStandIn(RestJsonStandIn):
    """The HTTP server; a context manager. `endpoints()` and `calls` are for inspection."""

    service_name = "pinpoint"
    thread_name = "pinpoint-standin"
    internal_error = "InternalServerErrorException"
    fault_errors: ClassVar[Mapping[int, str]] = {
        429: "TooManyRequestsException",
        500: "InternalServerErrorException",
    }

    def __init__(self, port: int = 0, faults: FaultInjection | None = None) -> None:
        self.store = EndpointStore()
        super().__init__(port, faults)

    @property
    def faults_injected(self) -> Counter[str]:
        return self.faults.injected

    def endpoints(self, app_id: str | None = None) -> dict[str, dict[str, Any]]:
        """Every stored endpoint, by id (of one application, or of all)."""
        return self.store.snapshot(app_id)

    def handlers(self) -> dict[str, Handler]:
        return {
            "UpdateEndpointsBatch": self._update_endpoints_batch,
            "UpdateEndpoint": self._update_endpoint,
            "GetEndpoint": lambda p: {
                "EndpointResponse": self.store.get(p["ApplicationId"], p["EndpointId"])
            },
            "DeleteEndpoint": lambda p: {
                "EndpointResponse": self.store.delete(p["ApplicationId"], p["EndpointId"])
            },
            "GetUserEndpoints": lambda p: {
                "EndpointsResponse": {"Item": self.store.user_endpoints(p["ApplicationId"], p["UserId"])}
            },
        }

    @staticmethod
    def _accepted(request_id: str) -> dict[str, Any]:
        return {"MessageBody": {"Message": "Accepted", "RequestID": request_id}}

    def _update_endpoints_batch(self, params: dict[str, Any]) -> dict[str, Any]:
        items = params["EndpointBatchRequest"]["Item"]
        if not items or len(items) > MAX_BATCH_ITEMS:
            raise ServiceError("BadRequestException", f"Item must hold 1 to {MAX_BATCH_ITEMS} endpoints")
        if not all(item.get("Id") for item in items):
            raise ServiceError("BadRequestException", "Every item needs an Id")
        request_id = str(uuid.uuid4())
        for item in items:
            request = {**item, "RequestId": item.get("RequestId") or request_id}
            self.store.update(params["ApplicationId"], str(item["Id"]), request)
        return self._accepted(request_id)

    def _update_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        request = params["EndpointRequest"]
        self.store.update(
            params["ApplicationId"],
            params["EndpointId"],
            {**request, "RequestId": request.get("RequestId") or request_id},
        )
        return self._accepted(request_id)
