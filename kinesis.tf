resource "aws_kinesis_stream" "this" {
  count = local.create_stream ? 1 : 0

  name             = local.names.stream
  retention_period = var.stream_retention_hours
  shard_count      = var.stream_mode == "PROVISIONED" ? var.stream_shard_count : null
  encryption_type  = "KMS"
  kms_key_id       = coalesce(var.kms_key_arn, "alias/aws/kinesis")

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  tags = var.tags
}
