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
  refresher_scheduler_role = "${var.name_prefix}-scheduler"

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

# The function, its role, policy and log group are the "refresher" entries of local.functions (lambda.tf, iam.tf).

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
    arn      = aws_lambda_function.this["refresher"].arn
    role_arn = aws_iam_role.refresher_schedule[0].arn
    input    = "{}"

    retry_policy {
      maximum_retry_attempts = 0
    }
  }
}
