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

output "refresher_function_name" {
  description = "Name of the refresher Lambda function (null without decay and without a sliding window rule)."
  value       = try(aws_lambda_function.this["refresher"].function_name, null)
}

output "scorer_function_name" {
  description = "Name of the scorer Lambda function."
  value       = try(aws_lambda_function.this["scorer"].function_name, null)
}

output "scorer_function_arn" {
  description = "ARN of the scorer Lambda function."
  value       = try(aws_lambda_function.this["scorer"].arn, null)
}

output "score_sync_function_name" {
  description = "Name of the score sync Lambda function."
  value       = try(aws_lambda_function.this["score_sync"].function_name, null)
}

output "score_sync_function_arn" {
  description = "ARN of the score sync Lambda function."
  value       = try(aws_lambda_function.this["score_sync"].arn, null)
}

output "scorer_event_source_mapping_uuid" {
  description = "UUID of the event source mapping Kinesis stream -> scorer."
  value       = try(aws_lambda_event_source_mapping.this["scorer"].uuid, null)
}

output "score_sync_event_source_mapping_uuid" {
  description = "UUID of the event source mapping user_scores stream -> score sync."
  value       = try(aws_lambda_event_source_mapping.this["score_sync"].uuid, null)
}

output "scorer_log_group_name" {
  description = "CloudWatch log group of the scorer."
  value       = try(aws_cloudwatch_log_group.function["scorer"].name, null)
}

output "score_sync_log_group_name" {
  description = "CloudWatch log group of the score sync."
  value       = try(aws_cloudwatch_log_group.function["score_sync"].name, null)
}

output "scorer_role_name" {
  description = "Name of the scorer's IAM role."
  value       = try(aws_iam_role.function["scorer"].name, null)
}

output "scorer_role_arn" {
  description = "ARN of the scorer's IAM role."
  value       = try(aws_iam_role.function["scorer"].arn, null)
}

output "score_sync_role_name" {
  description = "Name of the score sync's IAM role."
  value       = try(aws_iam_role.function["score_sync"].name, null)
}

output "score_sync_role_arn" {
  description = "ARN of the score sync's IAM role."
  value       = try(aws_iam_role.function["score_sync"].arn, null)
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

output "ses_configuration_set_names" {
  description = "SES configuration sets whose events flow into the stream (each has the module's EventBridge event destination), or null without SES wiring."
  value       = local.ses_enabled ? var.ses_configuration_set_names : null
}

output "ses_event_rule_arns" {
  description = "ARNs of the default-bus rules that put SES events into the stream ({keyed, unkeyed}: with and without the user-key tag), or null without SES wiring."
  value       = local.ses_enabled ? { keyed = aws_cloudwatch_event_rule.ses_keyed[0].arn, unkeyed = aws_cloudwatch_event_rule.ses_unkeyed[0].arn } : null
}

output "ses_event_partition_key_path" {
  description = "JSON path of the partition key of SES events that carry the user-key tag (the others use the event id), or null without SES wiring."
  value       = local.ses_enabled ? local.ses_partition_key_path : null
}

output "sms_event_log_group_name" {
  description = "Log group End User Messaging SMS writes event records to (subscribed into the stream), or null without SMS wiring."
  value       = try(aws_cloudwatch_log_group.sms_events[0].name, null)
}

output "sms_event_log_group_arn" {
  description = "ARN of the SMS event log group (LogGroupArn of the event destination), or null without SMS wiring."
  value       = try(aws_cloudwatch_log_group.sms_events[0].arn, null)
}

output "sms_event_destination_role_arn" {
  description = "ARN of the role End User Messaging SMS writes event records with (IamRoleArn of the event destination), or null without SMS wiring."
  value       = try(aws_iam_role.sms_log_writer[0].arn, null)
}

output "sms_event_destination_commands" {
  description = "Per SMS configuration set, the AWS CLI command that attaches the module's CloudWatch Logs event destination (provider 5.x has no resource for it); run each once after the apply. Empty without SMS wiring."
  value = {
    for name in(local.sms_events_enabled ? var.sms_configuration_set_names : []) : name => join(" ", [
      "aws pinpoint-sms-voice-v2 create-event-destination",
      "--region ${local.region}",
      "--configuration-set-name ${name}",
      "--event-destination-name ${var.name_prefix}-scoring",
      "--matching-event-types ${join(" ", var.sms_event_types)}",
      "--cloud-watch-logs-destination IamRoleArn=${local.sms_log_writer_role_arn},LogGroupArn=${local.sms_event_log_group_arn}",
    ])
  }
}

output "sms_inbound_topic_arn" {
  description = "SNS topic for two-way SMS (STOP replies) that flows into the stream: set it as the phone number's two-way channel destination. Null without inbound wiring."
  value       = local.sms_inbound_enabled ? local.sms_inbound_topic_arn : null
}

output "sms_inbound_queue_url" {
  description = "URL of the SQS queue between the inbound SNS topic and the pipe, or null without inbound wiring."
  value       = try(aws_sqs_queue.sms_inbound[0].url, null)
}

output "sms_inbound_dead_letter_queue_url" {
  description = "URL of the dead-letter queue of inbound SMS the pipe could not put into the stream, or null without inbound wiring."
  value       = try(aws_sqs_queue.sms_inbound_dlq[0].url, null)
}

output "sms_inbound_pipe_arn" {
  description = "ARN of the EventBridge pipe that moves inbound SMS into the stream, or null without inbound wiring."
  value       = try(aws_pipes_pipe.sms_inbound[0].arn, null)
}

output "customer_profiles_domain_name" {
  description = "Customer Profiles domain the score sync writes score objects to, or null when that sink is off."
  value       = local.customer_profiles_enabled ? local.customer_profiles_environment.CUSTOMER_PROFILES_DOMAIN : null
}

output "customer_profiles_object_type_name" {
  description = "Object type of the score objects in Customer Profiles, or null when that sink is off."
  value       = local.customer_profiles_enabled ? var.customer_profiles_object_type_name : null
}

output "alarm_sns_topic_arn" {
  description = "SNS topic the alarms notify (created or given); null without alarms."
  value       = local.alarm_topic_arn
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms, each with a section in docs/operations.md; empty without alarms."
  value       = local.alarms_enabled ? local.all_alarm_names : []
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard; null without it."
  value       = try(aws_cloudwatch_dashboard.this[0].dashboard_name, null)
}

output "archive_bucket_name" {
  description = "S3 bucket of the events archive (created or given); null without the archive."
  value       = local.archive_enabled ? local.archive_bucket_name : null
}

output "archive_firehose_stream_name" {
  description = "Firehose delivery stream that writes the archive; null without the archive."
  value       = try(aws_kinesis_firehose_delivery_stream.archive[0].name, null)
}

output "archive_sms_firehose_stream_name" {
  description = "Firehose delivery stream that writes the SMS event-log route's messages, decoded, into the archive (a second subscription on the SMS event log group); null without both the archive and sms_configuration_set_names."
  value       = try(aws_kinesis_firehose_delivery_stream.archive_sms_logs[0].name, null)
}

output "archive_glue_database_name" {
  description = "Glue database of the archive's table (`events`); null without the archive."
  value       = try(aws_glue_catalog_database.archive[0].name, null)
}

output "archive_glue_table_name" {
  description = "Glue table over the archive (column `line`, partition `dt`); null without the archive."
  value       = try(aws_glue_catalog_table.archive[0].name, null)
}

output "archive_athena_workgroup_name" {
  description = "Athena workgroup for the archive's queries (its result location and encryption are enforced); null without the archive."
  value       = try(aws_athena_workgroup.archive[0].name, null)
}

output "archive_named_query_ids" {
  description = "Ids of the archive's Athena named queries by name (user_history, top_users, campaign_engagement, rescoring); empty without the archive."
  value       = { for name, query in aws_athena_named_query.archive : name => query.id }
}

output "campaign_attribution_table_name" {
  description = "Name of the per-campaign attribution DynamoDB table (null when attribution_enabled is false)."
  value       = try(aws_dynamodb_table.campaign_attribution[0].name, null)
}

output "campaign_attribution_table_arn" {
  description = "ARN of the per-campaign attribution DynamoDB table (null when attribution_enabled is false)."
  value       = try(aws_dynamodb_table.campaign_attribution[0].arn, null)
}

output "campaign_costs" {
  description = "The campaign_costs input, for the report (campaign => spend)."
  value       = var.campaign_costs
}
