# All tables: on demand, deletion protection and point-in-time recovery (both inputs, default on), and
# encryption with the customer key when kms_key_arn is set (without it DynamoDB uses its AWS owned key: no
# server_side_encryption block, no KMS charges). The ledger shares the scores' recovery setting, so that a
# restore of both tables to one time keeps the exactly-once bookkeeping consistent with the scores.

resource "aws_dynamodb_table" "score_rules" {
  count = local.create ? 1 : 0

  name                        = local.names.score_rules_table
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = var.deletion_protection_enabled
  hash_key                    = "event_type"

  attribute {
    name = "event_type"
    type = "S"
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
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
  count = local.create ? 1 : 0

  name                        = local.names.user_scores_table
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = var.deletion_protection_enabled
  hash_key                    = "user_key"
  stream_enabled              = true
  stream_view_type            = "NEW_AND_OLD_IMAGES"

  attribute {
    name = "user_key"
    type = "S"
  }

  # The refresher's sparse index (refresher.tf, docs/scoring.md): only items with a due time are in it,
  # write-sharded by due_sh so that no index partition takes every user's writes. Keys only: the refresher
  # reads each due item strongly consistent from the table anyway.
  dynamic "attribute" {
    for_each = local.refresher_enabled ? { due_sh = "S", due_at = "N" } : {}
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = local.refresher_enabled ? [1] : []
    content {
      name            = "due"
      hash_key        = "due_sh"
      range_key       = "due_at"
      projection_type = "KEYS_ONLY"
    }
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
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
  count = local.create ? 1 : 0

  name                        = local.names.processed_events_table
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = var.deletion_protection_enabled
  hash_key                    = "event_key"

  attribute {
    name = "event_key"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
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

# Only the attributes a rule sets are written (local.score_rule_items, window_rules.tf), so the items stay
# minimal and re-plans show no diff.
resource "aws_dynamodb_table_item" "score_rule" {
  for_each = local.create ? local.score_rules_by_event_type : {}

  table_name = aws_dynamodb_table.score_rules[0].name
  hash_key   = aws_dynamodb_table.score_rules[0].hash_key
  item       = local.score_rule_items[each.key]
}
