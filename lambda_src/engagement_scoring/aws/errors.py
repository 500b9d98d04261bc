"""Classifying AWS errors as transient or not, and jittered backoff, without importing botocore."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "ThrottlingError",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "TooManyRequestsException",
        "TransactionConflictException",
        "TransactionConflict",
        "TransactionInProgressException",
        "InternalServerError",
        "InternalServerErrorException",
        "InternalFailure",
        "InternalException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, None for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def is_aws_error(exc: BaseException) -> bool:
    """A botocore/urllib3 exception (service error, network, timeout), as opposed to a bug in our code."""
    return getattr(exc, "response", None) is not None or type(exc).__module__.startswith(
        ("botocore", "urllib3")
    )


def is_retryable(exc: BaseException) -> bool:
    """Throttling, 5xx, 429 and network errors are transient; other service errors are not."""
    code = error_code(exc)
    if code is None:
        return is_aws_error(exc)
    status = http_status(exc) or 0
    return code in RETRYABLE_CODES or status >= 500 or status == 429


def describe(exc: BaseException) -> str:
    """A log-safe description: the AWS error code or the exception class, never its message."""
    return error_code(exc) or type(exc).__name__


def backoff_delay(
    attempt: int, base_s: float = 0.05, cap_s: float = 2.0, rand: Callable[[], float] = random.random
) -> float:
    """Full-jitter exponential backoff before retry number `attempt` (1-based)."""
    return rand() * min(cap_s, base_s * (2**attempt))


def cancellation_codes(exc: BaseException) -> list[str]:
    """The per-action codes of a TransactionCanceledException ('None' for actions that were fine)."""
    response: Any = getattr(exc, "response", None)
    reasons = response.get("CancellationReasons") if isinstance(response, dict) else None
    if not isinstance(reasons, list):
        return []
    return [str(reason.get("Code", "None")) if isinstance(reason, dict) else "None" for reason in reasons]
