"""Which AWS API calls each Lambda function's code makes, read from the source (no import, no AWS).

`calls_by_function()` follows each handler's imports inside `engagement_scoring`, finds the boto3 clients
built with `aws/clients.py`'s `make_client("<service>")`, tracks them through assignments, constructor and
function arguments, `self.<attribute>` and pass-through wrappers (a call whose only argument is a client
returns it, e.g. `calls.attach(client)`), and records every `<client>.<method>(...)`. Each call becomes
the IAM action that authorises it: the service's signing name from botocore's model, and the operation
name botocore maps the method to, with the authorisation rules AWS documents for batch and transaction
operations (TransactWriteItems is authorised per item action; SQS batch operations as the single one).

`python tools/aws_calls.py` prints the result.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = ROOT / "lambda_src"
PACKAGE = "engagement_scoring"
HANDLERS = {
    "scorer": "engagement_scoring.handlers.scorer",
    "score_sync": "engagement_scoring.handlers.score_sync",
    "refresher": "engagement_scoring.handlers.refresher",
}
CLIENT_FACTORY = "make_client"

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
# SQS authorises a batch operation as its single-message action (SQS API reference, each *Batch page).
SQS_BATCH = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


@dataclass(frozen=True, order=True)
class Call:
    service: str  # boto3 service name
    method: str  # client method
    where: str  # path:line


def module_path(module: str) -> Path:
    base = PACKAGE_ROOT / Path(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def imported_modules(tree: ast.Module, module: str) -> set[str]:
    """Modules of the package this one imports, anywhere in its body (function-local imports too)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, node.module])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith(PACKAGE) and module_path(name).exists()}


def reachable(handler: str) -> dict[str, ast.Module]:
    trees: dict[str, ast.Module] = {}
    pending = [handler]
    while pending:
        module = pending.pop()
        if module in trees:
            continue
        trees[module] = ast.parse(module_path(module).read_text(), str(module_path(module)))
        pending.extend(imported_modules(trees[module], module) - set(trees))
    return trees


@dataclass
class Scope:
    """A function (or method) and where it lives."""

    module: str
    cls: str | None
    node: ast.FunctionDef | ast.AsyncFunctionDef

    @property
    def key(self) -> str:
        return f"{self.module}:{self.cls or ''}.{self.node.name}"

    def params(self) -> list[str]:
        names = [a.arg for a in (*self.node.args.posonlyargs, *self.node.args.args)]
        return names[1:] if self.cls is not None and names[:1] in (["self"], ["cls"]) else names

    def keyword_params(self) -> set[str]:
        return set(self.params()) | {a.arg for a in self.node.args.kwonlyargs}


def scopes(trees: dict[str, ast.Module]) -> Iterator[Scope]:
    for module, tree in trees.items():
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield Scope(module, None, node)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        yield Scope(module, node.name, item)


class Flow:
    """Fixed point of 'which variables hold a client of which service' over the reachable code."""

    def __init__(self, trees: dict[str, ast.Module]) -> None:
        self.trees = trees
        self.scopes = list(scopes(trees))
        # Callables by name: functions by their name, classes by their name (their __init__).
        self.callables: dict[str, Scope] = {}
        for scope in self.scopes:
            if scope.cls is None:
                self.callables.setdefault(scope.node.name, scope)
            elif scope.node.name == "__init__":
                self.callables.setdefault(scope.cls, scope)
        self.holders: dict[tuple[str, str], str] = {}  # (scope key or class, name) -> service
        self.calls: set[Call] = set()

    def service(self, expr: ast.expr | None, scope: Scope) -> str | None:
        if expr is None:
            return None
        if isinstance(expr, ast.Call):
            func = expr.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name == CLIENT_FACTORY and expr.args and isinstance(expr.args[0], ast.Constant):
                return str(expr.args[0].value)
            if len(expr.args) == 1 and not expr.keywords and isinstance(func, ast.Attribute):
                return self.service(expr.args[0], scope)
            return None
        if isinstance(expr, ast.IfExp):
            return self.service(expr.body, scope) or self.service(expr.orelse, scope)
        if isinstance(expr, ast.Name):
            return self.holders.get((scope.key, expr.id))
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            if expr.value.id == "self":
                return self.holders.get((f"{scope.module}:{scope.cls}", expr.attr))
            # `runtime.sqs` on another object: the attribute of that name, if one service holds it.
            services = {
                service
                for (owner, name), service in self.holders.items()
                if name == expr.attr and "." not in owner.split(":", 1)[1]  # class attributes only
            }
            return services.pop() if len(services) == 1 else None
        return None

    def bind(self, key: tuple[str, str], service: str | None) -> bool:
        if service is None or self.holders.get(key) == service:
            return False
        self.holders[key] = service
        return True

    def target(self, call: ast.Call, scope: Scope) -> Scope | None:
        func = call.func
        if isinstance(func, ast.Name):
            name = scope.cls if func.id == "cls" and scope.cls else func.id
            return self.callables.get(name)
        return None

    def step(self) -> bool:
        changed = False
        for scope in self.scopes:
            for node in ast.walk(scope.node):
                if isinstance(node, ast.Assign | ast.AnnAssign):
                    value = node.value
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        if isinstance(target, ast.Name):
                            changed |= self.bind((scope.key, target.id), self.service(value, scope))
                        elif (
                            isinstance(target, ast.Attribute)
                            and isinstance(target.value, ast.Name)
                            and target.value.id == "self"
                        ):
                            key = (f"{scope.module}:{scope.cls}", target.attr)
                            changed |= self.bind(key, self.service(value, scope))
                elif isinstance(node, ast.Call):
                    callee = self.target(node, scope)
                    if callee is not None:
                        params = callee.params()
                        for index, argument in enumerate(node.args):
                            if index < len(params):
                                changed |= self.bind(
                                    (callee.key, params[index]), self.service(argument, scope)
                                )
                        for keyword in node.keywords:
                            if keyword.arg in callee.keyword_params():
                                key = (callee.key, keyword.arg)
                                changed |= self.bind(key, self.service(keyword.value, scope))
                    if isinstance(node.func, ast.Attribute):
                        service = self.service(node.func.value, scope)
                        if service is not None:
                            where = f"{module_path(scope.module).relative_to(ROOT)}:{node.lineno}"
                            self.calls.add(Call(service, node.func.attr, where))
        return changed

    def run(self) -> set[Call]:
        while self.step():
            pass
        return self.calls


def transact_item_kinds(tree: ast.Module) -> set[str]:
    """Keys of dict literals in a module that are transaction item kinds (Put, Update, ...)."""
    return {
        key.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant) and key.value in TRANSACT_ITEM_ACTIONS
    }


def iam_actions(calls: set[Call], trees: dict[str, ast.Module]) -> dict[str, set[str]]:
    """IAM action -> where it is called, for these calls."""
    import botocore.session

    session = botocore.session.get_session()
    by_path = {str(module_path(module).relative_to(ROOT)): tree for module, tree in trees.items()}
    actions: dict[str, set[str]] = {}
    for call in calls:
        model = session.get_service_model(call.service)
        operations = {botocore.xform_name(name): name for name in model.operation_names}
        if call.method not in operations:
            continue  # not an API call (e.g. client.meta, get_paginator, exceptions)
        operation = operations[call.method]
        names = [SQS_BATCH.get(operation, operation)] if call.service == "sqs" else [operation]
        if call.service == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
            # The actions may be built in any module the function reaches (the scorer's attribution
            # items come from aws/attribution_store.py), so every reachable module is read.
            kinds = set().union(*(transact_item_kinds(tree) for tree in by_path.values()))
            names = sorted(TRANSACT_ITEM_ACTIONS[kind] for kind in kinds)
        for name in names:
            actions.setdefault(f"{model.signing_name}:{name}", set()).add(call.where)
    return actions


def calls_by_function() -> dict[str, dict[str, dict[str, set[str]]]]:
    """function -> boto3 service -> IAM action -> call sites."""
    result: dict[str, dict[str, dict[str, set[str]]]] = {}
    for function, handler in HANDLERS.items():
        trees = reachable(handler)
        calls = Flow(trees).run()
        per_service: dict[str, dict[str, set[str]]] = {}
        for service in {call.service for call in calls}:
            mine = {call for call in calls if call.service == service}
            per_service[service] = iam_actions(mine, trees)
        result[function] = per_service
    return result


if __name__ == "__main__":
    report = {
        function: {
            service: {a: sorted(w) for a, w in actions.items()} for service, actions in services.items()
        }
        for function, services in calls_by_function().items()
    }
    json.dump(report, sys.stdout, indent=2, sort_keys=True)
    print()
