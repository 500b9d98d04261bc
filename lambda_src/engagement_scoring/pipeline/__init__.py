"""Batch processing behind the two handlers: Kinesis batch -> scores, DynamoDB stream batch -> sinks."""
