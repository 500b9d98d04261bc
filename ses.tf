# SES event publishing into the ingest stream: configuration set -> EventBridge destination (the default bus, the
# only bus SES v2 publishes to) -> two rules on the default bus -> the Kinesis stream.
#
# Why two rules: a target's PartitionKeyPath keeps one user's events on one shard, but AWS documents only the
# case without KinesisParameters (the partition key is then the event id), not what EventBridge does when the
# path does not resolve. So the keyed rule matches only events whose user-key tag exists, and its path always
# resolves; the unkeyed rule matches the rest and uses the documented event-id default. An event matches
# exactly one of them, and none is lost or doubled (docs/formats.md, "Wiring").

locals {
  ses_enabled = local.create && length(var.ses_configuration_set_names) > 0

  names_ses = {
    keyed_rule   = "${var.name_prefix}-ses-keyed"
    unkeyed_rule = "${var.name_prefix}-ses-unkeyed"
    target_role  = "${var.name_prefix}-ses-events"
  }

  default_event_bus_arn = "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/default"

  # SES tag values are lists; the first value of the user-key tag is the partition key.
  ses_partition_key_path = "$.detail.mail.tags.${var.user_key_tag}[0]"

  # An event matches exactly one rule: its user-key tag exists, or it does not.
  ses_event_patterns = {
    for kind, exists in { keyed = true, unkeyed = false } : kind => {
      source                    = ["aws.ses"]
      detail = { mail = { tags = {
        "ses:configuration-set" = var.ses_configuration_set_names
        (var.user_key_tag)      = [{ exists = exists }]
      } } }
    }
  }
}

resource "aws_sesv2_configuration_set" "this" {
  for_each = local.create && var.create_ses_configuration_sets ? toset(var.ses_configuration_set_names) : toset([])

  configuration_set_name = each.value

  tags = var.tags
}

resource "aws_sesv2_configuration_set_event_destination" "this" {
  for_each = local.ses_enabled && var.create_ses_event_destinations ? toset(var.ses_configuration_set_names) : toset([])

  configuration_set_name = var.create_ses_configuration_sets ? aws_sesv2_configuration_set.this[each.value].configuration_set_name : each.value
  event_destination_name = "${var.name_prefix}-scoring"

  event_destination {
    enabled              = true
    matching_event_types = var.ses_event_types

    event_bridge_destination {
      event_bus_arn = local.default_event_bus_arn
    }
  }
}

resource "aws_cloudwatch_event_rule" "ses_keyed" {
  count = local.ses_enabled ? 1 : 0

  name           = local.names_ses.keyed_rule
  description    = "Engagement scoring: SES events with the ${var.user_key_tag} tag into ${local.stream_name}, partitioned by the tag"
  event_bus_name = "default"
  event_pattern  = jsonencode(local.ses_event_patterns.keyed)

  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "ses_unkeyed" {
  count = local.ses_enabled ? 1 : 0

  name           = local.names_ses.unkeyed_rule
  description    = "Engagement scoring: SES events without the ${var.user_key_tag} tag into ${local.stream_name}, partitioned by event id"
  event_bus_name = "default"
  event_pattern  = jsonencode(local.ses_event_patterns.unkeyed)

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "ses_keyed" {
  count = local.ses_enabled ? 1 : 0

  rule           = aws_cloudwatch_event_rule.ses_keyed[0].name
  event_bus_name = "default"
  target_id      = "ingest-stream"
  arn            = local.ingest_stream_arn
  role_arn       = aws_iam_role.ses_events[0].arn

  kinesis_target {
    partition_key_path = local.ses_partition_key_path
  }
}

resource "aws_cloudwatch_event_target" "ses_unkeyed" {
  count = local.ses_enabled ? 1 : 0

  rule           = aws_cloudwatch_event_rule.ses_unkeyed[0].name
  event_bus_name = "default"
  target_id      = "ingest-stream"
  arn            = local.ingest_stream_arn
  role_arn       = aws_iam_role.ses_events[0].arn
}

# ---------------------------------------------------------------------------------------------------------------------
# The role both targets put records with: PutRecord(s) on the ingest stream only
# ---------------------------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "ses_events_assume_role" {
  count = local.ses_enabled ? 1 : 0

  statement {
    sid     = "EventBridgeAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    # Confused-deputy protection: only the two rules of this deployment may use the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values = [
        "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.names_ses.keyed_rule}",
        "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.names_ses.unkeyed_rule}",
      ]
    }
  }
}

resource "aws_iam_role" "ses_events" {
  count = local.ses_enabled ? 1 : 0

  name                 = local.names_ses.target_role
  description          = "Engagement scoring: EventBridge puts SES events into ${local.stream_name}"
  assume_role_policy   = data.aws_iam_policy_document.ses_events_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "ses_events" {
  count = local.ses_enabled ? 1 : 0

  statement {
    sid       = "PutEvents"
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [local.stream_arn]
  }

  dynamic "statement" {
    for_each = local.stream_kms_key_arn == null ? [] : [local.stream_kms_key_arn]
    content {
      sid       = "UseStreamKey"
      actions   = ["kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "ses_events" {
  count = local.ses_enabled ? 1 : 0

  name   = "put-events"
  role   = aws_iam_role.ses_events[0].id
  policy = data.aws_iam_policy_document.ses_events[0].json
}
