"""Create the Customer Profiles object type the score sync writes, for deployments that do not let the
function create it (CUSTOMER_PROFILES_CREATE_OBJECT_TYPE=false).

    PYTHONPATH=lambda_src python -m engagement_scoring.profiles_setup --domain my-domain
    PYTHONPATH=lambda_src python -m engagement_scoring.profiles_setup --print > object-type.json

It puts exactly the definition the function would put (`aws.sinks.profile_object_type`), and only when the
type does not exist yet: an existing type is left as it is and reported. `--print` writes the
PutProfileObjectType input as JSON instead (for `aws customer-profiles put-profile-object-type
--cli-input-json file://object-type.json` after adding DomainName), and needs no AWS access. Credentials,
region and endpoint come from the usual AWS SDK settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from engagement_scoring.aws.sinks import profile_object_type
from engagement_scoring.core.config import (
    PROFILES_DOMAIN_PATTERN,
    PROFILES_OBJECT_TYPE_PATTERN,
)

DEFAULT_OBJECT_TYPE = "EngagementScore"


def definition(object_type: str) -> dict[str, Any]:
    return {"ObjectTypeName": object_type, **profile_object_type()}


def ensure(client: Any, domain: str, object_type: str) -> str:
    """ "created" or "exists"; raises the client's error for anything else (e.g. an unknown domain)."""
    try:
        client.get_profile_object_type(DomainName=domain, ObjectTypeName=object_type)
        return "exists"
    except client.exceptions.ResourceNotFoundException:
        pass
    client.put_profile_object_type(DomainName=domain, **definition(object_type))
    return "created"


def main(argv: Sequence[str] | None = None, client: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engagement_scoring.profiles_setup", description=__doc__)
    parser.add_argument("--domain", help="the Customer Profiles domain (CUSTOMER_PROFILES_DOMAIN)")
    parser.add_argument(
        "--object-type",
        default=DEFAULT_OBJECT_TYPE,
        help=f"the object type name (CUSTOMER_PROFILES_OBJECT_TYPE, default {DEFAULT_OBJECT_TYPE})",
    )
    parser.add_argument("--print", action="store_true", help="print the definition as JSON; change nothing")
    args = parser.parse_args(argv)
    if not PROFILES_OBJECT_TYPE_PATTERN.fullmatch(args.object_type):
        parser.error("--object-type: a letter, then up to 254 of A-Z a-z 0-9 _ -")
    if args.print:
        json.dump(definition(args.object_type), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not args.domain or not PROFILES_DOMAIN_PATTERN.fullmatch(args.domain):
        parser.error("--domain is required: 1-64 of A-Z a-z 0-9 _ -")
    if client is None:
        from engagement_scoring.aws.clients import make_client

        client = make_client("customer-profiles")
    try:
        outcome = ensure(client, args.domain, args.object_type)
    except Exception as exc:
        error = getattr(exc, "response", {}).get("Error", {})
        if not error:
            raise
        print(f"error: {error.get('Code')}: {error.get('Message', '')}", file=sys.stderr)
        return 1
    print(json.dumps({"domain": args.domain, "object_type": args.object_type, "outcome": outcome}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
