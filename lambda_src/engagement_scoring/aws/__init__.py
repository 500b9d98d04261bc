"""boto3 adapters: DynamoDB score store, failure queue, Pinpoint and EventBridge sinks, client factory."""
