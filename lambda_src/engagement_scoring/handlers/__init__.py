"""Lambda entry points: `scorer.handler` (Kinesis) and `score_sync.handler` (DynamoDB stream)."""
