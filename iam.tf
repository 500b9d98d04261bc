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
# The functions' roles (local.functions in lambda.tf): one role and one inline policy each, from the statements below.
# ---------------------------------------------------------------------------------------------------------------------

locals {
  # X-Ray's write actions support no resource-level permissions: "*" is the only valid resource.
  function_trace_statements = var.lambda_tracing_mode == "Active" ? [
    { sid = "WriteTraces", actions = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], resources = ["*"] },
  ] : []
  function_key_statements = var.kms_key_arn == null ? [] : [
    { sid = "UseCustomerKey", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
  ]

  function_statements = {
    # Scorer: reads the ingest stream, reads rules, writes scores and the exactly-once ledger.
    scorer = concat(
      [
        # The event source mapping polls the stream with the function's role (no enhanced fan-out
        # consumer, so kinesis:SubscribeToShard is not needed).
        {
          sid = "ReadIngestStream"
          actions = [
            "kinesis:DescribeStream",
            "kinesis:DescribeStreamSummary",
            "kinesis:GetRecords",
            "kinesis:GetShardIterator",
            "kinesis:ListShards",
          ]
          resources = [local.stream_arn]
        },
        { sid = "ReadScoreRules", actions = ["dynamodb:Scan"], resources = [local.table_arns.score_rules] },
        # Exactly what the code calls (tests/plan/test_tf_plan.py compares it with tools/aws_calls.py's reading of
        # lambda_src). Layout v2: user items and overflow buckets are read with BatchGetItem and written with
        # UpdateItem; the TransactWriteItems of a write whose dedupe ring evicts holds only Update actions,
        # which IAM authorises per item action, as UpdateItem.
        {
          sid       = "WriteScoresAndLedger"
          actions   = ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"]
          resources = [local.table_arns.user_scores, local.table_arns.processed_events]
        },
        { sid = "SendFailures", actions = ["sqs:SendMessage"], resources = [local.failure_queue_arn] },
        {
          sid       = "WriteLogs"
          actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          resources = ["${local.arn_prefix.logs}:log-group:${local.log_group_names.scorer}:*"]
        },
      ],
      # The scorer also uses the ingest stream's key (an existing stream's own key).
      length(local.scorer_kms_key_arns) > 0 ? [
        { sid = "UseCustomerKey", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = local.scorer_kms_key_arns },
      ] : [],
      local.function_trace_statements,
    )

    # Score sync: reads the user_scores stream, writes to Pinpoint endpoints and/or the event bus.
    score_sync = concat(
      [
        # The stream label is assigned by DynamoDB when the stream is enabled, hence stream/* of this one table.
        {
          sid = "ReadScoreChanges"
          actions = [
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
          ]
          resources = ["${local.table_arns.user_scores}/stream/*"]
        },
        { sid = "SendFailures", actions = ["sqs:SendMessage"], resources = [local.failure_queue_arn] },
        {
          sid       = "WriteLogs"
          actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          resources = ["${local.arn_prefix.logs}:log-group:${local.log_group_names.score_sync}:*"]
        },
      ],
      # Endpoints are sub-resources of the application (apps/<id>/endpoints/...).
      local.pinpoint_enabled ? [
        {
          sid       = "UpdatePinpointEndpoints"
          actions   = ["mobiletargeting:UpdateEndpointsBatch"]
          resources = [local.pinpoint_application_arn, "${local.pinpoint_application_arn}/*"]
        },
      ] : [],
      local.event_bus_enabled ? [
        { sid = "PublishScoreEvents", actions = ["events:PutEvents"], resources = [var.event_bus_arn] },
      ] : [],
      local.function_key_statements,
      local.function_trace_statements,
    )

    # Refresher: exactly what pipeline/refresher.py calls (checked against tools/aws_calls.py by tests/plan).
    refresher = concat(
      [
        { sid = "QueryDueIndex", actions = ["dynamodb:Query"], resources = ["${local.table_arns.user_scores}/index/due"] },
        { sid = "RefreshScores", actions = ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"], resources = [local.table_arns.user_scores] },
        {
          sid       = "WriteLogs"
          actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          resources = ["${local.arn_prefix.logs}:log-group:${local.refresher_log_group_name}:*"]
        },
      ],
      local.function_key_statements,
      local.function_trace_statements,
    )
  }
}

resource "aws_iam_role" "function" {
  for_each = local.function_keys

  name                 = local.functions[each.key].name
  description          = local.functions[each.key].role_description
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "function" {
  for_each = local.function_keys

  dynamic "statement" {
    for_each = local.function_statements[each.key]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.function_keys

  name   = local.functions[each.key].policy_name
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
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
