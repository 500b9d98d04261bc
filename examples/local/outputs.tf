output "aws_endpoint_url" {
  description = "The emulator endpoint every client should use."
  value       = var.aws_endpoint_url
}

output "aws_region" {
  description = "Region of the deployment."
  value       = var.aws_region
}

output "stream_name" {
  description = "Name of the ingest Kinesis stream."
  value       = module.engagement_scoring.stream_name
}

output "stream_arn" {
  description = "ARN of the ingest Kinesis stream."
  value       = module.engagement_scoring.stream_arn
}

output "score_rules_table_name" {
  description = "Name of the score_rules table."
  value       = module.engagement_scoring.score_rules_table_name
}

output "user_scores_table_name" {
  description = "Name of the user_scores table."
  value       = module.engagement_scoring.user_scores_table_name
}

output "user_scores_stream_arn" {
  description = "ARN of the user_scores table's stream."
  value       = module.engagement_scoring.user_scores_stream_arn
}

output "processed_events_table_name" {
  description = "Name of the processed_events table."
  value       = module.engagement_scoring.processed_events_table_name
}

output "campaign_attribution_table_name" {
  description = "Name of the per-campaign attribution table (null when attribution is off)."
  value       = module.engagement_scoring.campaign_attribution_table_name
}

output "campaign_costs" {
  description = "The campaign_costs input (campaign => spend), for the report."
  value       = module.engagement_scoring.campaign_costs
}

output "score_rules" {
  description = "The seeded scoring rules, by event type."
  value       = module.engagement_scoring.score_rules
}

output "refresher_function_name" {
  description = "Name of the refresher function (null without decay and without a sliding window rule); the simulator invokes it with its clock."
  value       = module.engagement_scoring.refresher_function_name
}

output "scorer_function_name" {
  description = "Name of the scorer function."
  value       = module.engagement_scoring.scorer_function_name
}

output "scorer_function_arn" {
  description = "ARN of the scorer function."
  value       = module.engagement_scoring.scorer_function_arn
}

output "score_sync_function_name" {
  description = "Name of the score sync function."
  value       = module.engagement_scoring.score_sync_function_name
}

output "score_sync_function_arn" {
  description = "ARN of the score sync function."
  value       = module.engagement_scoring.score_sync_function_arn
}

output "scorer_event_source_mapping_uuid" {
  description = "UUID of the Kinesis -> scorer event source mapping."
  value       = module.engagement_scoring.scorer_event_source_mapping_uuid
}

output "score_sync_event_source_mapping_uuid" {
  description = "UUID of the user_scores stream -> score sync event source mapping."
  value       = module.engagement_scoring.score_sync_event_source_mapping_uuid
}

output "failure_queue_url" {
  description = "URL of the failure queue."
  value       = module.engagement_scoring.failure_queue_url
}

output "observer_queue_url" {
  description = "URL of the queue that receives every event the score sync publishes, or null without a bus."
  value       = try(aws_sqs_queue.observer[0].url, null)
}

output "event_bus_name" {
  description = "Name of the EventBridge bus, or null."
  value       = try(aws_cloudwatch_event_bus.scores[0].name, null)
}

output "event_bus_arn" {
  description = "ARN of the EventBridge bus, or null."
  value       = try(aws_cloudwatch_event_bus.scores[0].arn, null)
}

output "event_source" {
  description = "Source of the events the score sync publishes."
  value       = local.event_source
}

output "pinpoint_application_id" {
  description = "The Pinpoint application wired to the pipeline, or null."
  value       = module.engagement_scoring.pinpoint_application_id
}

output "lambda_package_path" {
  description = "Path of the Lambda zip."
  value       = module.engagement_scoring.lambda_package_path
}

output "sms_event_log_group_name" {
  description = "The module's SMS event log group (null without SMS wiring)."
  value       = module.engagement_scoring.sms_event_log_group_name
}

output "sms_inbound_topic_arn" {
  description = "The module's inbound SMS topic (null without it)."
  value       = module.engagement_scoring.sms_inbound_topic_arn
}
