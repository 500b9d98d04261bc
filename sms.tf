# End User Messaging SMS into the ingest stream.
#
# Event records: End User Messaging delivers them to CloudWatch Logs, Firehose or SNS, none of which writes into
# a Kinesis data stream, and its EventBridge events carry neither the destination number nor `context` (where
# the user key is). So the records go to a log group, and a subscription filter puts them into the stream (the
# scorer decodes the gzip subscription envelope, skips CONTROL_MESSAGE and counts each log event once). Provider
# 5.x has no resource for SMS event destinations: the sms_event_destination_commands output is the command a
# user runs once per configuration set.
#
# Inbound two-way SMS (STOP replies) arrive only on SNS. SNS cannot deliver to Kinesis, and a pipe cannot read
# SNS, so the route is SNS -> SQS (with a dead-letter queue) -> EventBridge Pipes -> Kinesis: no code to run, a
# buffer that retries and keeps what fails, and the scorer already unwraps `eventSource: aws:sqs` records and
# the SNS notification inside them, so the pipe needs no input template. (A Lambda subscribed to the topic
# would be a third function to own; an HTTPS subscription needs an endpoint.)

locals {
  sms_events_enabled  = local.create && length(var.sms_configuration_set_names) > 0
  sms_inbound_enabled = local.create && (var.create_sms_inbound_topic || var.sms_inbound_topic_arn != null)

  names_sms = {
    event_log_group   = "/engagement-scoring/${var.name_prefix}/sms-events"
    log_writer_role   = "${var.name_prefix}-sms-log-writer"
    subscription_role = "${var.name_prefix}-sms-log-sub"
    inbound_topic     = "${var.name_prefix}-sms-inbound"
    inbound_queue     = "${var.name_prefix}-sms-inbound"
    inbound_dlq       = "${var.name_prefix}-sms-inbound-dlq"
    inbound_pipe      = "${var.name_prefix}-sms-inbound"
    inbound_role      = "${var.name_prefix}-sms-inbound"
  }

  sms_event_log_group_arn = "${local.arn_prefix.logs}:log-group:${local.names_sms.event_log_group}"
  # Built from names, so that the printed commands are complete in the plan.
  sms_log_writer_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${local.names_sms.log_writer_role}"
  sms_configuration_set_arns = [
    for name in var.sms_configuration_set_names : "arn:${local.partition}:sms-voice:${local.region}:${local.account_id}:configuration-set/${name}"
  ]
  sms_inbound_topic_arn = var.create_sms_inbound_topic ? aws_sns_topic.sms_inbound[0].arn : var.sms_inbound_topic_arn
  sms_inbound_queue_arn = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.names_sms.inbound_queue}"
  sms_inbound_pipe_arn  = "arn:${local.partition}:pipes:${local.region}:${local.account_id}:pipe/${local.names_sms.inbound_pipe}"
}

resource "aws_pinpointsmsvoicev2_configuration_set" "this" {
  for_each = local.create && var.create_sms_configuration_sets ? toset(var.sms_configuration_set_names) : toset([])

  name = each.value

  tags = var.tags
}

# ---------------------------------------------------------------------------------------------------------------------
# Event records: log group, the role End User Messaging writes with, the subscription into the stream
# ---------------------------------------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "sms_events" {
  count = local.sms_events_enabled ? 1 : 0

  name              = local.names_sms.event_log_group
  retention_in_days = var.sms_event_log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "sms_log_writer_assume_role" {
  count = local.sms_events_enabled ? 1 : 0

  statement {
    sid     = "EndUserMessagingAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sms-voice.amazonaws.com"]
    }

    # Confused-deputy protection (AWS's recommended conditions): only these configuration sets may use the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = local.sms_configuration_set_arns
    }
  }
}

resource "aws_iam_role" "sms_log_writer" {
  count = local.sms_events_enabled ? 1 : 0

  name                 = local.names_sms.log_writer_role
  description          = "Engagement scoring: End User Messaging SMS writes event records to ${local.names_sms.event_log_group}"
  assume_role_policy   = data.aws_iam_policy_document.sms_log_writer_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "sms_log_writer" {
  count = local.sms_events_enabled ? 1 : 0

  # The actions AWS's page "IAM policy for Amazon CloudWatch" (End User Messaging SMS) lists, on this group only.
  statement {
    sid       = "WriteEventRecords"
    actions   = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = ["${local.sms_event_log_group_arn}:*"]
  }
}

resource "aws_iam_role_policy" "sms_log_writer" {
  count = local.sms_events_enabled ? 1 : 0

  name   = "write-event-records"
  role   = aws_iam_role.sms_log_writer[0].id
  policy = data.aws_iam_policy_document.sms_log_writer[0].json
}

data "aws_iam_policy_document" "sms_log_subscription_assume_role" {
  count = local.sms_events_enabled ? 1 : 0

  statement {
    sid     = "CloudWatchLogsAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["${local.sms_event_log_group_arn}:*"]
    }
  }
}

resource "aws_iam_role" "sms_log_subscription" {
  count = local.sms_events_enabled ? 1 : 0

  name                 = local.names_sms.subscription_role
  description          = "Engagement scoring: CloudWatch Logs puts SMS event records into ${local.stream_name}"
  assume_role_policy   = data.aws_iam_policy_document.sms_log_subscription_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "sms_log_subscription" {
  count = local.sms_events_enabled ? 1 : 0

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

resource "aws_iam_role_policy" "sms_log_subscription" {
  count = local.sms_events_enabled ? 1 : 0

  name   = "put-events"
  role   = aws_iam_role.sms_log_subscription[0].id
  policy = data.aws_iam_policy_document.sms_log_subscription[0].json
}

resource "aws_cloudwatch_log_subscription_filter" "sms_events" {
  count = local.sms_events_enabled ? 1 : 0

  name            = "${var.name_prefix}-ingest-stream"
  log_group_name  = aws_cloudwatch_log_group.sms_events[0].name
  filter_pattern  = "" # every log event is an SMS event record
  destination_arn = local.ingest_stream_arn
  role_arn        = aws_iam_role.sms_log_subscription[0].arn

  # CloudWatch Logs checks at creation that the role can write to the stream.
  depends_on = [aws_iam_role_policy.sms_log_subscription]
}

# ---------------------------------------------------------------------------------------------------------------------
# Inbound two-way SMS: SNS topic (or a given one) -> SQS queue (+ DLQ) -> pipe -> the stream
# ---------------------------------------------------------------------------------------------------------------------

resource "aws_sns_topic" "sms_inbound" {
  count = local.create && var.create_sms_inbound_topic ? 1 : 0

  name = local.names_sms.inbound_topic
  # End User Messaging can publish to an encrypted topic only with a customer managed key whose policy allows
  # sms-voice.amazonaws.com (the AWS managed alias/aws/sns key's policy cannot allow it).
  kms_master_key_id = var.kms_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "sms_inbound_topic" {
  count = local.create && var.create_sms_inbound_topic ? 1 : 0

  statement {
    sid       = "EndUserMessagingPublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.sms_inbound[0].arn]

    principals {
      type        = "Service"
      identifiers = ["sms-voice.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "sms_inbound" {
  count = local.create && var.create_sms_inbound_topic ? 1 : 0

  arn    = aws_sns_topic.sms_inbound[0].arn
  policy = data.aws_iam_policy_document.sms_inbound_topic[0].json
}

resource "aws_sqs_queue" "sms_inbound_dlq" {
  count = local.sms_inbound_enabled ? 1 : 0

  name                      = local.names_sms.inbound_dlq
  message_retention_seconds = 1209600

  sqs_managed_sse_enabled = var.kms_key_arn == null ? true : null
  kms_master_key_id       = var.kms_key_arn

  tags = var.tags
}

resource "aws_sqs_queue" "sms_inbound" {
  count = local.sms_inbound_enabled ? 1 : 0

  name                      = local.names_sms.inbound_queue
  message_retention_seconds = 1209600

  sqs_managed_sse_enabled = var.kms_key_arn == null ? true : null
  kms_master_key_id       = var.kms_key_arn

  # A message the pipe fails to put into the stream five times is kept in the dead-letter queue.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.sms_inbound_dlq[0].arn
    maxReceiveCount     = 5
  })

  tags = var.tags
}

data "aws_iam_policy_document" "sms_inbound_queue" {
  count = local.sms_inbound_enabled ? 1 : 0

  statement {
    sid       = "TopicDelivers"
    actions   = ["sqs:SendMessage"]
    resources = [local.sms_inbound_queue_arn]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.sms_inbound_topic_arn]
    }
  }
}

resource "aws_sqs_queue_policy" "sms_inbound" {
  count = local.sms_inbound_enabled ? 1 : 0

  queue_url = aws_sqs_queue.sms_inbound[0].id
  policy    = data.aws_iam_policy_document.sms_inbound_queue[0].json
}

# Not raw delivery: the queue receives SNS's notification JSON, which the scorer unwraps (formats/envelopes.py).
resource "aws_sns_topic_subscription" "sms_inbound" {
  count = local.sms_inbound_enabled ? 1 : 0

  topic_arn = local.sms_inbound_topic_arn
  protocol  = "sqs"
  endpoint  = aws_sqs_queue.sms_inbound[0].arn

  depends_on = [aws_sqs_queue_policy.sms_inbound]
}

data "aws_iam_policy_document" "sms_inbound_pipe_assume_role" {
  count = local.sms_inbound_enabled ? 1 : 0

  statement {
    sid     = "PipesAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["pipes.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.sms_inbound_pipe_arn]
    }
  }
}

resource "aws_iam_role" "sms_inbound_pipe" {
  count = local.sms_inbound_enabled ? 1 : 0

  name                 = local.names_sms.inbound_role
  description          = "Engagement scoring: the pipe moves inbound SMS from ${local.names_sms.inbound_queue} into ${local.stream_name}"
  assume_role_policy   = data.aws_iam_policy_document.sms_inbound_pipe_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "sms_inbound_pipe" {
  count = local.sms_inbound_enabled ? 1 : 0

  # What a pipe with an SQS source needs (EventBridge Pipes: "Amazon SQS as a source").
  statement {
    sid       = "ReadInboundQueue"
    actions   = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
    resources = [local.sms_inbound_queue_arn]
  }

  statement {
    sid       = "PutEvents"
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [local.stream_arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "ReadEncryptedQueue"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
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

resource "aws_iam_role_policy" "sms_inbound_pipe" {
  count = local.sms_inbound_enabled ? 1 : 0

  name   = "move-inbound-sms"
  role   = aws_iam_role.sms_inbound_pipe[0].id
  policy = data.aws_iam_policy_document.sms_inbound_pipe[0].json
}

resource "aws_pipes_pipe" "sms_inbound" {
  count = local.sms_inbound_enabled ? 1 : 0

  name        = local.names_sms.inbound_pipe
  description = "Engagement scoring: inbound two-way SMS (STOP replies) into ${local.stream_name}"
  role_arn    = aws_iam_role.sms_inbound_pipe[0].arn
  source      = aws_sqs_queue.sms_inbound[0].arn
  target      = local.ingest_stream_arn

  source_parameters {
    sqs_queue_parameters {
      batch_size = 10
    }
  }

  # No input template: the record is the SQS message as Pipes passes it on. The SQS message id always
  # resolves and spreads replies over the shards (a reply carries no user key, only the sender's number).
  target_parameters {
    kinesis_stream_parameters {
      partition_key = "$.messageId"
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.sms_inbound_pipe]

  lifecycle {
    precondition {
      condition     = !(var.create_sms_inbound_topic && var.sms_inbound_topic_arn != null)
      error_message = "Set either create_sms_inbound_topic or sms_inbound_topic_arn, not both."
    }
  }
}
