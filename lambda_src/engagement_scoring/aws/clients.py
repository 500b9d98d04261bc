"""boto3 clients for the handlers; boto3 is imported here, on first use, to keep handler imports fast.

botocore honours the standard endpoint variables itself: AWS_ENDPOINT_URL and the service-specific
AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_PINPOINT, ... (the local Pinpoint stand-in).
"""

from __future__ import annotations

from typing import Any


def make_client(service: str, max_attempts: int = 3) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=3,
        read_timeout=10,
    )
    return boto3.client(service, config=config)
