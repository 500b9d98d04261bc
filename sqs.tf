# Receives the metadata of stream batches that exhausted their retries (both event source mappings) and
# the records the scorer can never score, with the reason.
resource "aws_sqs_queue" "this" {
  count = local.create ? 1 : 0

  name                      = local.names.failure_queue
  message_retention_seconds = var.failure_queue_retention_seconds

  sqs_managed_sse_enabled = var.kms_key_arn == null ? true : null
  kms_master_key_id       = var.kms_key_arn

  tags = var.tags
}
