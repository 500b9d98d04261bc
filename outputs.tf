output "stream_name" {
  description = "Name of the ingest Kinesis stream (created or existing)."
  value       = local.stream_name
}

output "stream_arn" {
  description = "ARN of the ingest Kinesis stream (created or existing)."
  value       = local.ingest_stream_arn
}

output "stream_created" {
  description = "Whether the module created the ingest stream (false with existing_kinesis_stream_arn)."
  value       = local.create_stream
}

output "score_rules_table_name" {
  description = "Name of the score_rules DynamoDB table."
  value       = aws_dynamodb_table.score_rules.name
}

output "score_rules_table_arn" {
  description = "ARN of the score_rules DynamoDB table."
  value       = aws_dynamodb_table.score_rules.arn
}

output "user_scores_table_name" {
  description = "Name of the user_scores DynamoDB table."
  value       = aws_dynamodb_table.user_scores.name
}

output "user_scores_table_arn" {
  description = "ARN of the user_scores DynamoDB table."
  value       = aws_dynamodb_table.user_scores.arn
}

output "user_scores_stream_arn" {
  description = "ARN of the user_scores table's stream (NEW_AND_OLD_IMAGES), read by the score sync."
  value       = aws_dynamodb_table.user_scores.stream_arn
}

output "processed_events_table_name" {
  description = "Name of the processed_events (exactly-once ledger) DynamoDB table."
  value       = aws_dynamodb_table.processed_events.name
}

output "processed_events_table_arn" {
  description = "ARN of the processed_events (exactly-once ledger) DynamoDB table."
  value       = aws_dynamodb_table.processed_events.arn
}

output "score_rules" {
  description = "The scoring rules seeded into the score_rules table, by event type."
  value       = local.score_rules_by_event_type
}

output "scorer_function_name" {
  description = "Name of the scorer Lambda function."
  value       = aws_lambda_function.scorer.function_name
}

output "scorer_function_arn" {
  description = "ARN of the scorer Lambda function."
  value       = aws_lambda_function.scorer.arn
}

output "score_sync_function_name" {
  description = "Name of the score sync Lambda function."
  value       = aws_lambda_function.score_sync.function_name
}

output "score_sync_function_arn" {
  description = "ARN of the score sync Lambda function."
  value       = aws_lambda_function.score_sync.arn
}

output "scorer_event_source_mapping_uuid" {
  description = "UUID of the event source mapping Kinesis stream -> scorer."
  value       = aws_lambda_event_source_mapping.scorer.uuid
}

output "score_sync_event_source_mapping_uuid" {
  description = "UUID of the event source mapping user_scores stream -> score sync."
  value       = aws_lambda_event_source_mapping.score_sync.uuid
}

output "scorer_log_group_name" {
  description = "CloudWatch log group of the scorer."
  value       = aws_cloudwatch_log_group.scorer.name
}

output "score_sync_log_group_name" {
  description = "CloudWatch log group of the score sync."
  value       = aws_cloudwatch_log_group.score_sync.name
}

output "scorer_role_name" {
  description = "Name of the scorer's IAM role."
  value       = aws_iam_role.scorer.name
}

output "scorer_role_arn" {
  description = "ARN of the scorer's IAM role."
  value       = aws_iam_role.scorer.arn
}

output "score_sync_role_name" {
  description = "Name of the score sync's IAM role."
  value       = aws_iam_role.score_sync.name
}

output "score_sync_role_arn" {
  description = "ARN of the score sync's IAM role."
  value       = aws_iam_role.score_sync.arn
}

output "failure_queue_name" {
  description = "Name of the SQS failure queue (failed batches and unscorable records)."
  value       = aws_sqs_queue.this.name
}

output "failure_queue_arn" {
  description = "ARN of the SQS failure queue."
  value       = aws_sqs_queue.this.arn
}

output "failure_queue_url" {
  description = "URL of the SQS failure queue."
  value       = aws_sqs_queue.this.url
}

output "pinpoint_application_id" {
  description = "The Pinpoint application the pipeline is wired to, or null."
  value       = var.pinpoint_application_id
}

output "pinpoint_event_stream_role_arn" {
  description = "ARN of the role Pinpoint uses to write events into the stream, or null when the module created no event stream."
  value       = try(aws_iam_role.pinpoint_stream[0].arn, null)
}

output "event_bus_arn" {
  description = "The EventBridge bus the score sync publishes to, or null."
  value       = var.event_bus_arn
}

output "lambda_package_path" {
  description = "Path of the Lambda zip built from lambda_src/."
  value       = data.archive_file.this.output_path
}

output "lambda_package_base64sha256" {
  description = "Base64 SHA-256 of the Lambda zip (the functions' source_code_hash)."
  value       = data.archive_file.this.output_base64sha256
}

output "alarm_sns_topic_arn" {
  description = "SNS topic the alarms notify (created or given); null without alarms."
  value       = local.alarm_topic_arn
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms, each with a section in docs/operations.md; empty without alarms."
  value       = var.create_alarms ? local.all_alarm_names : []
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard; null without it."
  value       = try(aws_cloudwatch_dashboard.this[0].dashboard_name, null)
}
