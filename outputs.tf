output "stream_name" {
  description = "Name of the ingest Kinesis stream (created or existing)."
  value       = local.create ? local.stream_name : null
}

output "stream_arn" {
  description = "ARN of the ingest Kinesis stream (created or existing)."
  value       = local.create ? local.ingest_stream_arn : null
}

output "stream_created" {
  description = "Whether the module created the ingest stream (false with existing_kinesis_stream_arn)."
  value       = local.create_stream
}

output "score_rules_table_name" {
  description = "Name of the score_rules DynamoDB table."
  value       = try(aws_dynamodb_table.score_rules[0].name, null)
}

output "score_rules_table_arn" {
  description = "ARN of the score_rules DynamoDB table."
  value       = try(aws_dynamodb_table.score_rules[0].arn, null)
}

output "user_scores_table_name" {
  description = "Name of the user_scores DynamoDB table."
  value       = try(aws_dynamodb_table.user_scores[0].name, null)
}

output "user_scores_table_arn" {
  description = "ARN of the user_scores DynamoDB table."
  value       = try(aws_dynamodb_table.user_scores[0].arn, null)
}

output "user_scores_stream_arn" {
  description = "ARN of the user_scores table's stream (NEW_AND_OLD_IMAGES), read by the score sync."
  value       = try(aws_dynamodb_table.user_scores[0].stream_arn, null)
}

output "processed_events_table_name" {
  description = "Name of the processed_events (exactly-once overflow buckets) DynamoDB table."
  value       = try(aws_dynamodb_table.processed_events[0].name, null)
}

output "processed_events_table_arn" {
  description = "ARN of the processed_events (exactly-once overflow buckets) DynamoDB table."
  value       = try(aws_dynamodb_table.processed_events[0].arn, null)
}

output "score_rules" {
  description = "The scoring rules seeded into the score_rules table, by event type."
  value       = local.create ? local.score_rules_by_event_type : {}
}

output "scorer_function_name" {
  description = "Name of the scorer Lambda function."
  value       = try(aws_lambda_function.scorer[0].function_name, null)
}

output "scorer_function_arn" {
  description = "ARN of the scorer Lambda function."
  value       = try(aws_lambda_function.scorer[0].arn, null)
}

output "score_sync_function_name" {
  description = "Name of the score sync Lambda function."
  value       = try(aws_lambda_function.score_sync[0].function_name, null)
}

output "score_sync_function_arn" {
  description = "ARN of the score sync Lambda function."
  value       = try(aws_lambda_function.score_sync[0].arn, null)
}

output "scorer_event_source_mapping_uuid" {
  description = "UUID of the event source mapping Kinesis stream -> scorer."
  value       = try(aws_lambda_event_source_mapping.scorer[0].uuid, null)
}

output "score_sync_event_source_mapping_uuid" {
  description = "UUID of the event source mapping user_scores stream -> score sync."
  value       = try(aws_lambda_event_source_mapping.score_sync[0].uuid, null)
}

output "scorer_log_group_name" {
  description = "CloudWatch log group of the scorer."
  value       = try(aws_cloudwatch_log_group.scorer[0].name, null)
}

output "score_sync_log_group_name" {
  description = "CloudWatch log group of the score sync."
  value       = try(aws_cloudwatch_log_group.score_sync[0].name, null)
}

output "scorer_role_name" {
  description = "Name of the scorer's IAM role."
  value       = try(aws_iam_role.scorer[0].name, null)
}

output "scorer_role_arn" {
  description = "ARN of the scorer's IAM role."
  value       = try(aws_iam_role.scorer[0].arn, null)
}

output "score_sync_role_name" {
  description = "Name of the score sync's IAM role."
  value       = try(aws_iam_role.score_sync[0].name, null)
}

output "score_sync_role_arn" {
  description = "ARN of the score sync's IAM role."
  value       = try(aws_iam_role.score_sync[0].arn, null)
}

output "failure_queue_name" {
  description = "Name of the SQS failure queue (failed batches and unscorable records)."
  value       = try(aws_sqs_queue.this[0].name, null)
}

output "failure_queue_arn" {
  description = "ARN of the SQS failure queue."
  value       = try(aws_sqs_queue.this[0].arn, null)
}

output "failure_queue_url" {
  description = "URL of the SQS failure queue."
  value       = try(aws_sqs_queue.this[0].url, null)
}

output "pinpoint_application_id" {
  description = "The Pinpoint application the pipeline is wired to, or null."
  value       = local.create ? var.pinpoint_application_id : null
}

output "pinpoint_event_stream_role_arn" {
  description = "ARN of the role Pinpoint uses to write events into the stream, or null when the module created no event stream."
  value       = try(aws_iam_role.pinpoint_stream[0].arn, null)
}

output "event_bus_arn" {
  description = "The EventBridge bus the score sync publishes to, or null."
  value       = local.create ? var.event_bus_arn : null
}

output "lambda_package_path" {
  description = "Path of the Lambda zip built from lambda_src/."
  value       = try(data.archive_file.this[0].output_path, null)
}

output "lambda_package_base64sha256" {
  description = "Base64 SHA-256 of the Lambda zip (the functions' source_code_hash)."
  value       = try(data.archive_file.this[0].output_base64sha256, null)
}
