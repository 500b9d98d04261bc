# All tables: on demand, point-in-time recovery, and encryption with the customer key when kms_key_arn is
# set (without it DynamoDB uses its AWS owned key: no server_side_encryption block, no KMS charges).

resource "aws_dynamodb_table" "score_rules" {
  name         = local.names.score_rules_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "event_type"

  attribute {
    name = "event_type"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  dynamic "server_side_encryption" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      enabled     = true
      kms_key_arn = server_side_encryption.value
    }
  }

  tags = var.tags
}

resource "aws_dynamodb_table" "user_scores" {
  name             = local.names.user_scores_table
  billing_mode     = "PAY_PER_REQUEST"
  hash_key         = "user_key"
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  attribute {
    name = "user_key"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  dynamic "server_side_encryption" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      enabled     = true
      kms_key_arn = server_side_encryption.value
    }
  }

  tags = var.tags
}

resource "aws_dynamodb_table" "processed_events" {
  name         = local.names.processed_events_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "event_key"

  attribute {
    name = "event_key"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  dynamic "server_side_encryption" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      enabled     = true
      kms_key_arn = server_side_encryption.value
    }
  }

  tags = var.tags
}

# Only the attributes a rule sets are written, so the items stay minimal and re-plans show no diff.
resource "aws_dynamodb_table_item" "score_rule" {
  for_each = local.score_rules_by_event_type

  table_name = aws_dynamodb_table.score_rules.name
  hash_key   = aws_dynamodb_table.score_rules.hash_key
  item = jsonencode(merge(
    {
      event_type = { S = each.value.event_type }
      points     = { N = tostring(each.value.points) }
    },
    each.value.channel == null ? {} : { channel = { S = each.value.channel } },
    each.value.once_per_message ? { once_per_message = { BOOL = true } } : {},
  ))
}
