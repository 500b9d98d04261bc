# One role per function and one for Pinpoint's event stream. Every statement names exact ARNs, built
# from resource names in main.tf so that the policies are complete at plan time. The only patterns
# are sub-resources of one named resource (log streams of one log group, streams of one table,
# endpoints/users of one Pinpoint application); the only "*" is X-Ray's (see below).

data "aws_iam_policy_document" "lambda_assume_role" {
  count = local.create ? 1 : 0

  statement {
    sid     = "LambdaAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Scorer: reads the ingest stream, reads rules, writes scores and the exactly-once ledger
# ---------------------------------------------------------------------------------------------------------------------

resource "aws_iam_role" "scorer" {
  count = local.create ? 1 : 0

  name                 = local.names.scorer
  description          = "Engagement scoring: scorer Lambda (${var.name_prefix})"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "scorer" {
  count = local.create ? 1 : 0

  # The event source mapping polls the stream with the function's role (no enhanced fan-out
  # consumer, so kinesis:SubscribeToShard is not needed).
  statement {
    sid = "ReadIngestStream"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = [local.stream_arn]
  }

  statement {
    sid       = "ReadScoreRules"
    actions   = ["dynamodb:Scan"]
    resources = [local.table_arns.score_rules]
  }

  # Exactly what the code calls (tests/plan/test_tf_plan.py compares it with tools/aws_calls.py's reading of
  # lambda_src). Layout v2: user items and overflow buckets are read with BatchGetItem and written with
  # UpdateItem; the TransactWriteItems of a write whose dedupe ring evicts holds only Update actions,
  # which IAM authorises per item action, as UpdateItem.
  statement {
    sid = "WriteScoresAndLedger"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:UpdateItem",
    ]
    resources = [local.table_arns.user_scores, local.table_arns.processed_events]
  }

  statement {
    sid       = "SendFailures"
    actions   = ["sqs:SendMessage"]
    resources = [local.failure_queue_arn]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.arn_prefix.logs}:log-group:${local.log_group_names.scorer}:*"]
  }

  dynamic "statement" {
    for_each = length(local.scorer_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "UseCustomerKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = local.scorer_kms_key_arns
    }
  }

  dynamic "statement" {
    for_each = var.lambda_tracing_mode == "Active" ? [1] : []
    content {
      sid     = "WriteTraces"
      actions = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
      # X-Ray's write actions support no resource-level permissions: "*" is the only valid resource.
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "scorer" {
  count = local.create ? 1 : 0

  name   = "scoring"
  role   = aws_iam_role.scorer[0].id
  policy = data.aws_iam_policy_document.scorer[0].json
}

# ---------------------------------------------------------------------------------------------------------------------
# Score sync: reads the user_scores stream, writes to Pinpoint endpoints and/or the event bus
# ---------------------------------------------------------------------------------------------------------------------

resource "aws_iam_role" "score_sync" {
  count = local.create ? 1 : 0

  name                 = local.names.score_sync
  description          = "Engagement scoring: score sync Lambda (${var.name_prefix})"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "score_sync" {
  count = local.create ? 1 : 0

  # The stream label is assigned by DynamoDB when the stream is enabled, hence stream/* of this one table.
  statement {
    sid = "ReadScoreChanges"
    actions = [
      "dynamodb:DescribeStream",
      "dynamodb:GetRecords",
      "dynamodb:GetShardIterator",
      "dynamodb:ListStreams",
    ]
    resources = ["${local.table_arns.user_scores}/stream/*"]
  }

  statement {
    sid       = "SendFailures"
    actions   = ["sqs:SendMessage"]
    resources = [local.failure_queue_arn]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.arn_prefix.logs}:log-group:${local.log_group_names.score_sync}:*"]
  }

  dynamic "statement" {
    for_each = local.pinpoint_enabled ? [1] : []
    content {
      sid     = "UpdatePinpointEndpoints"
      actions = ["mobiletargeting:UpdateEndpointsBatch"]
      # Endpoints are sub-resources of the application (apps/<id>/endpoints/...).
      resources = [local.pinpoint_application_arn, "${local.pinpoint_application_arn}/*"]
    }
  }

  dynamic "statement" {
    for_each = local.event_bus_enabled ? [1] : []
    content {
      sid       = "PublishScoreEvents"
      actions   = ["events:PutEvents"]
      resources = [var.event_bus_arn]
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [1]
    content {
      sid       = "UseCustomerKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.kms_key_arn]
    }
  }

  dynamic "statement" {
    for_each = var.lambda_tracing_mode == "Active" ? [1] : []
    content {
      sid     = "WriteTraces"
      actions = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
      # X-Ray's write actions support no resource-level permissions: "*" is the only valid resource.
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "score_sync" {
  count = local.create ? 1 : 0

  name   = "score-sync"
  role   = aws_iam_role.score_sync[0].id
  policy = data.aws_iam_policy_document.score_sync[0].json
}

# ---------------------------------------------------------------------------------------------------------------------
# Pinpoint event stream: Pinpoint writes the application's events into the ingest stream
# ---------------------------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "pinpoint_assume_role" {
  count = local.create_pinpoint_event_stream ? 1 : 0

  statement {
    sid     = "PinpointAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["pinpoint.amazonaws.com"]
    }

    # Confused-deputy protection: only this account's application may use the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.pinpoint_application_arn, "${local.pinpoint_application_arn}/*"]
    }
  }
}

resource "aws_iam_role" "pinpoint_stream" {
  count = local.create_pinpoint_event_stream ? 1 : 0

  name                 = local.names.pinpoint_stream_role
  description          = "Engagement scoring: Pinpoint event stream into ${local.stream_name}"
  assume_role_policy   = data.aws_iam_policy_document.pinpoint_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "pinpoint_stream" {
  count = local.create_pinpoint_event_stream ? 1 : 0

  statement {
    sid       = "PutEvents"
    actions   = ["kinesis:DescribeStream", "kinesis:PutRecord", "kinesis:PutRecords"]
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

resource "aws_iam_role_policy" "pinpoint_stream" {
  count = local.create_pinpoint_event_stream ? 1 : 0

  name   = "put-events"
  role   = aws_iam_role.pinpoint_stream[0].id
  policy = data.aws_iam_policy_document.pinpoint_stream[0].json
}
