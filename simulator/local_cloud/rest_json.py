"""Stand-ins for AWS rest-json services, held to botocore's own service model.

`RestJsonStandIn` routes a request to the operation whose HTTP method and `requestUri` template match,
rebuilds the operation's input from the URI labels, the query string, the headers and the JSON body, and
validates it against the model: required members, types, string lengths, collection sizes, number
ranges, patterns and enums. Unknown members are refused too (no SDK sends them: botocore checks its
parameters before it signs). An invalid request gets the service's own validation error shape (e.g.
`BadRequestException`, HTTP 400) and never reaches the subclass. Answers are validated against the
output shape before they leave, so a stand-in cannot drift from what botocore parses; a stand-in bug
answers the model's internal error and is kept in `internal_errors` for tests to assert on.

Error answers are what botocore's rest-json parser reads: the status code of the error shape, the
`x-amzn-ErrorType` header and a JSON body with the shape's message member. Messages name members and
constraints, never values (values may be addresses or user keys).

Optional fault injection (`FaultInjection`) answers a seeded fraction of the calls with the operation's
throttling or internal-error shape, for reliability tests.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from simulator.local_cloud.loopback import HttpRequest, HttpResponse, LoopbackServer

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ServiceError(Exception):
    """Raised by an operation handler: answered with the model's error shape `code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidAnswer(Exception):
    """An answer of the stand-in that does not fit the output shape: a bug of the stand-in."""


@dataclass(frozen=True)
class FaultInjection:
    """Answer `rate` of the calls to `operations` (None = all) with a status drawn from `statuses`."""

    rate: float
    statuses: tuple[int, ...] = (429, 500)
    seed: int = 0
    operations: frozenset[str] | None = None


class SeededFaults:
    """Counts the calls per operation and draws the injected faults, reproducibly for one seed."""

    def __init__(self, faults: FaultInjection | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._faults = faults
        self._random = random.Random(faults.seed if faults else 0)

    def set(self, faults: FaultInjection | None) -> None:
        with self._lock:
            self._faults = faults
            self._random = random.Random(faults.seed if faults else 0)

    def draw(self, operation: str) -> int | None:
        """Count a call; the HTTP status to answer instead of serving it, or None."""
        with self._lock:
            self.calls[operation] += 1
            faults = self._faults
            if faults is None or (faults.operations is not None and operation not in faults.operations):
                return None
            if self._random.random() >= faults.rate:
                return None
            self.injected[operation] += 1
            return self._random.choice(faults.statuses)


@functools.cache
def service_model(service_name: str) -> ServiceModel:
    """The model of the botocore version the project pins (the one the Lambda code is tested with)."""
    return botocore.session.get_session().get_service_model(service_name)


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    labels: tuple[str, ...]  # locationName of each group, in order
    fixed_query: tuple[str, ...]  # query keys the requestUri itself carries, e.g. "?tagging"
    literal_length: int  # more literal characters = a more specific route

    def match(self, method: str, path: str, query: Mapping[str, list[str]]) -> dict[str, str] | None:
        if method != self.method or any(key not in query for key in self.fixed_query):
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {label: unquote(found.group(i + 1)) for i, label in enumerate(self.labels)}


def build_route(operation: OperationModel) -> Route:
    path, _, query = str(operation.http["requestUri"]).partition("?")
    regex, labels, literal = "", [], 0
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            greedy = name.endswith("+")
            labels.append(name.rstrip("+"))
            regex += "(.+)" if greedy else "([^/]+)"
        else:
            regex += re.escape(part)
            literal += len(part)
    fixed = tuple(item.split("=", 1)[0] for item in query.split("&") if item)
    return Route(
        operation,
        str(operation.http["method"]),
        re.compile(regex),
        tuple(labels),
        fixed,
        literal + len(fixed),
    )


@functools.cache
def service_routes(service_name: str) -> tuple[Route, ...]:
    model = service_model(service_name)
    routes = [build_route(model.operation_model(name)) for name in model.operation_names]
    return tuple(sorted(routes, key=lambda route: -route.literal_length))


# validation ----------------------------------------------------------------------------------------------
@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _check_bounds(shape: Shape, size: float, what: str, path: str, errors: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        errors.append(f"{path}: {what} must be at least {low}")
    if high is not None and size > high:
        errors.append(f"{path}: {what} must be at most {high}")


def validate(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    """Append to `errors` what makes `value` (JSON types, as sent on the wire) break `shape`."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            errors.append(f"{path}: must be an object")
            return
        errors.extend(
            f"{path}.{name}: is required" for name in shape.required_members if value.get(name) is None
        )
        for name, item in value.items():
            member = shape.members.get(name)
            if member is None:
                errors.append(f"{path}.{name}: is not a member of {shape.name}")
            elif item is None:
                errors.append(f"{path}.{name}: must not be null")
            else:
                validate(member, item, f"{path}.{name}", errors)
        if shape.metadata.get("union") and len(value) != 1:
            errors.append(f"{path}: exactly one member must be set")
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{path}: must be a list")
            return
        _check_bounds(shape, len(value), "length", path, errors)
        for index, item in enumerate(value):
            validate(shape.member, item, f"{path}[{index}]", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{path}: must be a map")
            return
        _check_bounds(shape, len(value), "size", path, errors)
        for key, item in value.items():
            validate(shape.key, key, f"{path} key", errors)
            validate(shape.value, item, f"{path}[]", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: must be a string")
            return
        _check_bounds(shape, len(value), "length", path, errors)
        pattern = shape.metadata.get("pattern")
        if pattern is not None and not _compiled(pattern).search(value):
            errors.append(f"{path}: must match the pattern {pattern}")
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            errors.append(f"{path}: must be one of {', '.join(enum)}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{path}: must be an integer")
            return
        _check_bounds(shape, value, "value", path, errors)
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f"{path}: must be a number")
            return
        _check_bounds(shape, value, "value", path, errors)
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: must be a boolean")
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            errors.append(f"{path}: must be a timestamp")
    elif kind == "blob" and not isinstance(value, str):
        errors.append(f"{path}: must be base64 text")


def _from_text(shape: Shape, text: str, path: str, errors: list[str]) -> Any:
    """A URI label, query or header value as its shape's JSON type."""
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            errors.append(f"{path}: must be an integer")
            return None
    if kind in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            errors.append(f"{path}: must be a number")
            return None
    if kind == "boolean":
        if text not in ("true", "false"):
            errors.append(f"{path}: must be true or false")
            return None
        return text == "true"
    return text


def parse_input(
    operation: OperationModel,
    labels: Mapping[str, str],
    query: Mapping[str, list[str]],
    headers: Any,
    body: bytes,
) -> tuple[dict[str, Any], list[str]]:
    """The operation's input members from the HTTP request, and the errors met while reading them."""
    shape = operation.input_shape
    errors: list[str] = []
    params: dict[str, Any] = {}
    if shape is None:
        return params, errors
    in_body: dict[str, str] = {}  # serialized name -> member name
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in labels:
                params[name] = _from_text(member, labels[wire_name], name, errors)
        elif location == "querystring":
            values = query.get(wire_name)
            if values and member.type_name == "list":
                params[name] = [_from_text(member.member, v, name, errors) for v in values]
            elif values:
                params[name] = _from_text(member, values[0], name, errors)
        elif location == "header":
            text = headers.get(wire_name)
            if text is not None:
                params[name] = _from_text(member, text, name, errors)
        elif location == "headers":
            found = {
                k[len(wire_name) :]: v for k, v in headers.items() if k.lower().startswith(wire_name.lower())
            }
            if found:
                params[name] = found
        elif location is None:
            in_body[wire_name] = name
    payload = shape.serialization.get("payload")
    if payload is not None:
        if body:
            params[payload] = (
                _json_body(body, errors) if shape.members[payload].type_name == "structure" else body
            )
        return params, errors
    document = _json_body(body, errors) if body else {}
    if not isinstance(document, dict):
        errors.append("request body: must be a JSON object")
        return params, errors
    for wire_name, value in document.items():
        member_name = in_body.get(wire_name)
        if member_name is None:
            errors.append(f"{wire_name}: is not a member of {shape.name}")
        else:
            params[member_name] = value
    return params, errors


def _json_body(body: bytes, errors: list[str]) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        errors.append("request body: is not JSON")
        return {}


def _wire_value(shape: Shape, value: Any) -> Any:
    """A handler's answer value in JSON types: timestamps become epoch seconds (rest-json's default)."""
    kind = shape.type_name
    if kind == "timestamp" and isinstance(value, dt.datetime):
        return value.timestamp()
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: _wire_value(members[k], v) if k in members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_wire_value(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _wire_value(shape.value, v) for k, v in value.items()}
    return value


def serialize_output(operation: OperationModel, result: Mapping[str, Any]) -> HttpResponse:
    """The HTTP answer of a handler's result; raises InvalidAnswer when it does not fit the output shape."""
    shape = operation.output_shape
    status = int(operation.http.get("responseCode", 200))
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4()))]
    if shape is None:
        return HttpResponse(status, b"{}", headers)
    wire = _wire_value(shape, dict(result))
    errors: list[str] = []
    validate(shape, wire, shape.name, errors)
    if errors:
        raise InvalidAnswer("; ".join(errors))
    body: Any = {}
    for name, value in wire.items():
        member = shape.members[name]
        location = member.serialization.get("location")
        if location == "header":
            headers.append((member.serialization.get("name", name), str(value)))
        elif location == "statusCode":
            status = int(value)
        else:
            body[member.serialization.get("name", name)] = value
    payload = shape.serialization.get("payload")
    if payload is not None:
        body = wire.get(payload, {})
    return HttpResponse(status, json.dumps(body).encode(), headers)


class RestJsonStandIn(LoopbackServer):
    """A rest-json service on 127.0.0.1; subclasses set `service_name` and return `handlers()`."""

    service_name: ClassVar[str]
    validation_error: ClassVar[str] = "BadRequestException"
    internal_error: ClassVar[str] = "InternalServerException"
    fault_errors: ClassVar[Mapping[int, str]] = {429: "ThrottlingException", 500: "InternalServerException"}

    def __init__(self, port: int = 0, faults: FaultInjection | None = None) -> None:
        self.model = service_model(self.service_name)
        self.routes = service_routes(self.service_name)
        self.faults = SeededFaults(faults)
        self.rejected: Counter[str] = Counter()  # requests refused by the model validation, per operation
        self.internal_errors: list[str] = []
        self._handlers = self.handlers()
        super().__init__(port)

    @property
    def calls(self) -> Counter[str]:
        return self.faults.calls

    def handlers(self) -> dict[str, Handler]:
        raise NotImplementedError

    def set_faults(self, faults: FaultInjection | None) -> None:
        self.faults.set(faults)

    def error_response(self, code: str, message: str) -> HttpResponse:
        shape = self.model.shape_for(code)
        status = int(shape.metadata["error"]["httpStatusCode"])
        members = shape.members
        request_id = str(uuid.uuid4())
        body = {name: message for name in members if name.lower() == "message"}
        body.update({name: request_id for name in members if name.lower() == "requestid"})
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", request_id),
        ]
        return HttpResponse(status, json.dumps(body).encode(), headers)

    def respond(self, request: HttpRequest) -> HttpResponse:
        path, _, query_string = request.path.partition("?")
        query = parse_qs(query_string, keep_blank_values=True)
        for route in self.routes:
            labels = route.match(request.method, path, query)
            if labels is not None:
                break
        else:
            return self.error_response(
                self.validation_error, "No operation of the service matches the request"
            )
        operation = route.operation
        fault = self.faults.draw(operation.name)
        if fault is not None:
            return self.error_response(self.fault_errors[fault], "Injected fault")
        handler = self._handlers.get(operation.name)
        if handler is None:
            return self.error_response(
                self.validation_error, f"{operation.name} is not served by the local stand-in"
            )
        params, errors = parse_input(operation, labels, query, request.headers, request.body)
        if operation.input_shape is not None and not errors:
            validate(operation.input_shape, params, operation.name, errors)
        if errors:
            self.rejected[operation.name] += 1
            count = len(errors)
            return self.error_response(
                self.validation_error,
                f"{count} validation error{'s' if count > 1 else ''} detected: {'; '.join(errors)}",
            )
        try:
            return serialize_output(operation, handler(params))
        except ServiceError as error:
            return self.error_response(error.code, error.message)
        except Exception as error:  # a bug of the stand-in: answered as the service's internal error
            self.internal_errors.append(f"{operation.name}: {type(error).__name__}: {error}")
            return self.error_response(self.internal_error, "The stand-in failed to answer")
