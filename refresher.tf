# The refresher (docs/scoring.md, "Refresher"): with decay on or a sliding window rule (window_rules.tf,
# local.refresher_wanted), an EventBridge Scheduler schedule runs the refresher function every
# refresher_schedule_minutes; it Queries the user_scores table's sparse `due` index (dynamodb.tf) for the
# users whose decayed score or sliding window rule now matters and writes their decayed scores and window
# rules as of now, which reach the sinks through the table stream like any scorer write. Same zip as the
# other functions.

locals {
  refresher_enabled = local.create && local.refresher_wanted

  refresher_name           = "${var.name_prefix}-refresher"
  refresher_log_group_name = "/aws/lambda/${var.name_prefix}-refresher"
  refresher_schedule_name  = "${var.name_prefix}-refresher"
  refresher_scheduler_role = "${var.name_prefix}-refresher-schedule"

  # The score model and the window rules exactly as the scorer reads them (the same variables and values),
  # so both compute the same score, tier and matched rules.
  refresher_environment = merge(
    {
      SCORES_TABLE          = one(aws_dynamodb_table.user_scores[*].name)
      DECAY_HALF_LIFE_HOURS = tostring(var.decay_half_life_hours)
      TIERS                 = jsonencode(var.tiers)
      METRICS_NAMESPACE     = var.metrics_namespace
      LOG_LEVEL             = var.log_level
      # the same publication threshold and hysteresis as the scorer's writes
      SCORE_PUBLISH_MIN_DELTA = tostring(var.score_publish_min_delta)
      TIER_HYSTERESIS_POINTS  = tostring(var.tier_hysteresis_points)
    },
    var.score_floor == null ? {} : { SCORE_FLOOR = tostring(var.score_floor) },
    var.score_ceiling == null ? {} : { SCORE_CEILING = tostring(var.score_ceiling) },
    local.window_rules_environment,
  )
}

resource "aws_cloudwatch_log_group" "refresher" {
  count = local.refresher_enabled ? 1 : 0

  name              = local.refresher_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_iam_role" "refresher" {
  count = local.refresher_enabled ? 1 : 0

  name                 = local.refresher_name
  description          = "Engagement scoring: refresher Lambda (${var.name_prefix})"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "refresher" {
  count = local.refresher_enabled ? 1 : 0

  # Exactly what pipeline/refresher.py calls (checked against tools/aws_calls.py by tests/plan).
  statement {
    sid       = "QueryDueIndex"
    actions   = ["dynamodb:Query"]
    resources = ["${local.table_arns.user_scores}/index/due"]
  }

  statement {
    sid       = "RefreshScores"
    actions   = ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"]
    resources = [local.table_arns.user_scores]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.arn_prefix.logs}:log-group:${local.refresher_log_group_name}:*"]
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

resource "aws_iam_role_policy" "refresher" {
  count = local.refresher_enabled ? 1 : 0

  name   = "refresher"
  role   = aws_iam_role.refresher[0].id
  policy = data.aws_iam_policy_document.refresher[0].json
}

resource "aws_lambda_function" "refresher" {
  #checkov:skip=CKV_AWS_115:one invocation per schedule period; reserving concurrency fails on accounts at the minimum unreserved pool, and parallel runs are safe (version-conditioned writes)
  count = local.refresher_enabled ? 1 : 0

  function_name    = local.refresher_name
  description      = "Engagement scoring: writes decayed scores and window rules of the users due in ${local.names.user_scores_table}"
  role             = aws_iam_role.refresher[0].arn
  filename         = data.archive_file.this[0].output_path
  source_code_hash = data.archive_file.this[0].output_base64sha256
  handler          = "engagement_scoring.handlers.refresher.handler"
  runtime          = var.lambda_runtime
  architectures    = [var.lambda_architecture]
  memory_size      = 256
  timeout          = var.refresher_timeout
  kms_key_arn      = var.kms_key_arn

  environment {
    variables = local.refresher_environment
  }

  tracing_config {
    mode = var.lambda_tracing_mode
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.refresher, aws_iam_role_policy.refresher]
}

# ---------------------------------------------------------------------------------------------------------------------
# The schedule and the role EventBridge Scheduler invokes the function with
# ---------------------------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "refresher_schedule_assume_role" {
  count = local.refresher_enabled ? 1 : 0

  statement {
    sid     = "SchedulerAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    # Confused-deputy protection: only this account's schedule may use the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "refresher_schedule" {
  count = local.refresher_enabled ? 1 : 0

  name                 = local.refresher_scheduler_role
  description          = "Engagement scoring: EventBridge Scheduler invokes ${local.refresher_name}"
  assume_role_policy   = data.aws_iam_policy_document.refresher_schedule_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "refresher_schedule" {
  count = local.refresher_enabled ? 1 : 0

  statement {
    sid       = "InvokeRefresher"
    actions   = ["lambda:InvokeFunction"]
    resources = ["arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.refresher_name}"]
  }
}

resource "aws_iam_role_policy" "refresher_schedule" {
  count = local.refresher_enabled ? 1 : 0

  name   = "invoke-refresher"
  role   = aws_iam_role.refresher_schedule[0].id
  policy = data.aws_iam_policy_document.refresher_schedule[0].json
}

resource "aws_scheduler_schedule" "refresher" {
  #checkov:skip=CKV_AWS_297:the schedule's only payload is the constant input "{}": nothing to protect with a customer key
  count = local.refresher_enabled ? 1 : 0

  name                = local.refresher_schedule_name
  description         = "Engagement scoring: refresher every ${var.refresher_schedule_minutes} min"
  schedule_expression = var.refresher_schedule_minutes == 1 ? "rate(1 minute)" : "rate(${var.refresher_schedule_minutes} minutes)"
  # A missed or failed run is not retried: the next run takes every user still due.
  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.refresher[0].arn
    role_arn = aws_iam_role.refresher_schedule[0].arn
    input    = "{}"

    retry_policy {
      maximum_retry_attempts = 0
    }
  }
}
