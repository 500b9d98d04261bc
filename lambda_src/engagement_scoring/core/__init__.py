"""The pure scoring core: rules, the score model, event keys and per-user aggregation (no boto3)."""
