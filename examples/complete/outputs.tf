output "stream_name" {
  description = "Kinesis stream that receives the events."
  value       = module.engagement_scoring.stream_name
}

output "user_scores_table_name" {
  description = "DynamoDB table with one score item per user."
  value       = module.engagement_scoring.user_scores_table_name
}

output "failure_queue_url" {
  description = "SQS queue of failed batches and unscorable records."
  value       = module.engagement_scoring.failure_queue_url
}

output "pinpoint_application_id" {
  description = "The Pinpoint application wired to the pipeline, or null."
  value       = module.engagement_scoring.pinpoint_application_id
}

output "event_bus_name" {
  description = "EventBridge bus that receives EngagementScoreChanged and EngagementTierChanged events."
  value       = aws_cloudwatch_event_bus.scores.name
}

output "kms_key_arn" {
  description = "The customer managed key that encrypts the deployment."
  value       = aws_kms_key.this.arn
}

output "ses_configuration_set_names" {
  description = "SES configuration sets whose events are scored."
  value       = module.engagement_scoring.ses_configuration_set_names
}

output "sms_event_destination_commands" {
  description = "Run each once after the apply: attaches the SMS event log group to its configuration set (no Terraform resource exists for it)."
  value       = module.engagement_scoring.sms_event_destination_commands
}

output "sms_inbound_topic_arn" {
  description = "SNS topic to set as the phone number's two-way channel (STOP replies)."
  value       = module.engagement_scoring.sms_inbound_topic_arn
}

output "customer_profiles_domain_name" {
  description = "Customer Profiles domain that receives the EngagementScore objects."
  value       = module.engagement_scoring.customer_profiles_domain_name
}
