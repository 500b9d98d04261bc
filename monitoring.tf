# Alarms on the pipeline, the SNS topic they notify, and one dashboard. Each alarm has a runbook section in
# docs/operations.md (what it means, how to confirm, what to do, how to redrive).
#
# The EMF metrics are the handlers' own (lambda_src/engagement_scoring/observability.py): namespace
# var.metrics_namespace, dimension Function = the handler's FUNCTION constant ("scorer", "score_sync"), not
# the Lambda function name, so two deployments sharing one namespace share these series: give each its own
# metrics_namespace. tests/plan/test_tf_monitoring.py checks every alarm against what the code emits.

locals {
  # create = false creates nothing, monitoring included.
  alarms_enabled    = local.create && var.create_alarms
  dashboard_enabled = local.create && var.create_dashboard

  alarm_topic_created = local.alarms_enabled && var.alarm_sns_topic_arn == null
  # The created topic always gets its own key (CloudWatch may use it, nothing else): whether kms_key_arn is set
  # cannot decide a count when that key is created in the same apply (examples/complete).
  alarm_key_created = local.alarm_topic_created
  alarm_topic_arn   = local.alarms_enabled ? coalesce(var.alarm_sns_topic_arn, try(aws_sns_topic.alarms[0].arn, null)) : null
  alarm_actions     = local.alarms_enabled ? [local.alarm_topic_arn] : []
  alarm_thresholds  = var.alarm_thresholds

  # EMF dimension values: FUNCTION in pipeline/scorer.py and pipeline/score_sync.py.
  emf_function = {
    scorer     = "scorer"
    score_sync = "score_sync"
  }
  lambda_functions = {
    scorer     = local.names.scorer
    score_sync = local.names.score_sync
  }
  # One sink-failure alarm per sink the code has (SINKS), whether it is on or not: a for_each over "the
  # sinks that are on" fails to plan when a sink's input comes from a resource created in the same apply
  # (e.g. a new bus's ARN). A sink that is off publishes no datapoints, and its alarm stays OK.
  alarm_sinks = toset(["pinpoint", "eventbridge", "customer_profiles"])

  alarm_names = {
    scorer_iterator_age          = "${var.name_prefix}-scorer-iterator-age"
    function_errors              = { for key, name in local.lambda_functions : key => "${name}-errors" }
    function_throttles           = { for key, name in local.lambda_functions : key => "${name}-throttles" }
    failure_queue_messages       = "${var.name_prefix}-failure-queue-messages"
    failure_queue_oldest_message = "${var.name_prefix}-failure-queue-oldest-message"
    rejected_records             = "${var.name_prefix}-scorer-rejected-records"
    sink_failures                = { for sink in local.alarm_sinks : sink => "${var.name_prefix}-sink-failures-${replace(sink, "_", "-")}" }
  }
  # Built from names (as the IAM ARNs in main.tf), so the dashboard's alarm widget is known at plan time.
  alarm_arn_prefix = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:"
  all_alarm_names = concat(
    [local.alarm_names.scorer_iterator_age],
    values(local.alarm_names.function_errors),
    values(local.alarm_names.function_throttles),
    [local.alarm_names.failure_queue_messages, local.alarm_names.failure_queue_oldest_message],
    [local.alarm_names.rejected_records],
    values(local.alarm_names.sink_failures),
  )
}

# ---------------------------------------------------------------------------------------------------------------------
# Notification topic (when no alarm_sns_topic_arn is given). CloudWatch cannot publish to a topic encrypted with
# the AWS managed key alias/aws/sns: the topic uses a key created here for it (kms_key_arn is not used for it:
# a count cannot depend on a key ARN that is only known after apply).
# ---------------------------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "alarm_key" {
  count = local.alarm_key_created ? 1 : 0

  # In a key policy, "*" as resource means this key; the account statement is AWS's default one.
  #checkov:skip=CKV_AWS_109:key policy: the account root administers its own key
  #checkov:skip=CKV_AWS_111:key policy: the account root administers its own key
  #checkov:skip=CKV_AWS_356:key policy: "*" is the key itself
  statement {
    sid       = "AccountAdministersAndDelegatesToIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToTheTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["${local.alarm_arn_prefix}${var.name_prefix}-*"]
    }
  }
}

resource "aws_kms_key" "alarms" {
  count = local.alarm_key_created ? 1 : 0

  description             = "Engagement scoring (${var.name_prefix}): alarm notification topic"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.alarm_key[0].json

  tags = var.tags
}

resource "aws_sns_topic" "alarms" {
  count = local.alarm_topic_created ? 1 : 0

  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.alarms[0].arn

  tags = var.tags
}

# The topic's ARN is built from its name, so the policy is known at plan time (as the IAM policies are).
data "aws_iam_policy_document" "alarm_topic" {
  count = local.alarm_topic_created ? 1 : 0

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = ["arn:${local.partition}:sns:${local.region}:${local.account_id}:${var.name_prefix}-alarms"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["${local.alarm_arn_prefix}${var.name_prefix}-*"]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  count = local.alarm_topic_created ? 1 : 0

  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.alarm_topic[0].json
}

# ---------------------------------------------------------------------------------------------------------------------
# Alarms (missing data is not breaching: an idle stream publishes no datapoints)
# ---------------------------------------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "scorer_iterator_age" {
  count = local.alarms_enabled ? 1 : 0

  alarm_name          = local.alarm_names.scorer_iterator_age
  alarm_description   = "The scorer is more than ${local.alarm_thresholds.iterator_age_seconds} s behind the stream for 5 minutes. Runbook: docs/operations.md#scorer-iterator-age"
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = local.names.scorer }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.alarm_thresholds.iterator_age_seconds * 1000
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = local.alarms_enabled ? local.lambda_functions : {}

  alarm_name          = local.alarm_names.function_errors[each.key]
  alarm_description   = "${each.value} failed (crashed or timed out) at least ${local.alarm_thresholds.function_errors} times in 5 minutes. Runbook: docs/operations.md#function-errors"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = local.alarm_thresholds.function_errors
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  for_each = local.alarms_enabled ? local.lambda_functions : {}

  alarm_name          = local.alarm_names.function_throttles[each.key]
  alarm_description   = "${each.value} was throttled at least ${local.alarm_thresholds.function_throttles} times in 5 minutes. Runbook: docs/operations.md#function-throttles"
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = local.alarm_thresholds.function_throttles
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "failure_queue_messages" {
  count = local.alarms_enabled ? 1 : 0

  alarm_name          = local.alarm_names.failure_queue_messages
  alarm_description   = "The failure queue holds at least ${local.alarm_thresholds.failure_queue_messages} message(s): batches given up on or records rejected. Runbook: docs/operations.md#failure-queue-messages"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = local.names.failure_queue }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = local.alarm_thresholds.failure_queue_messages
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "failure_queue_oldest_message" {
  count = local.alarms_enabled ? 1 : 0

  alarm_name          = local.alarm_names.failure_queue_oldest_message
  alarm_description   = "A failure-queue message is older than ${local.alarm_thresholds.failure_queue_oldest_message_seconds} s: redrive before the stream's retention (${var.stream_retention_hours} h) drops its records. Runbook: docs/operations.md#failure-queue-oldest-message"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = local.names.failure_queue }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = local.alarm_thresholds.failure_queue_oldest_message_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "rejected_records" {
  count = local.alarms_enabled ? 1 : 0

  alarm_name          = local.alarm_names.rejected_records
  alarm_description   = "The scorer rejected more than ${local.alarm_thresholds.rejected_records_per_minute} records a minute for 3 minutes. Runbook: docs/operations.md#scorer-rejected-records"
  namespace           = var.metrics_namespace
  metric_name         = "RecordsRejected"
  dimensions          = { Function = local.emf_function.scorer }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.alarm_thresholds.rejected_records_per_minute
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "sink_failures" {
  for_each = local.alarms_enabled ? local.alarm_sinks : toset([])

  alarm_name          = local.alarm_names.sink_failures[each.key]
  alarm_description   = "The ${each.key} sink failed for at least ${local.alarm_thresholds.sink_failures_per_5_minutes} users in 5 minutes (retried by Lambda). Runbook: docs/operations.md#sink-failures"
  namespace           = var.metrics_namespace
  metric_name         = "SinkFailures"
  dimensions          = { Function = local.emf_function.score_sync, Sink = each.key }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = local.alarm_thresholds.sink_failures_per_5_minutes
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

# ---------------------------------------------------------------------------------------------------------------------
# Dashboard
# ---------------------------------------------------------------------------------------------------------------------

locals {
  dashboard_metric_widgets = [
    {
      title = "Throughput (records a minute)"
      metrics = [
        ["AWS/Kinesis", "IncomingRecords", "StreamName", local.stream_name, { stat = "Sum", label = "stream: records in" }],
        [var.metrics_namespace, "EventsScored", "Function", local.emf_function.scorer, { stat = "Sum", label = "scored" }],
        [var.metrics_namespace, "EventsSkipped", "Function", local.emf_function.scorer, { stat = "Sum", label = "skipped" }],
        [var.metrics_namespace, "RecordsRejected", "Function", local.emf_function.scorer, { stat = "Sum", label = "rejected" }],
        [var.metrics_namespace, "DuplicatesSuppressed", "Function", local.emf_function.scorer, { stat = "Sum", label = "duplicates" }],
        [var.metrics_namespace, "UsersUpdated", "Function", local.emf_function.scorer, { stat = "Sum", label = "users updated" }],
      ]
    },
    {
      title   = "Skipped by reason"
      metrics = [[{ expression = "SEARCH('{${var.metrics_namespace},Function,Reason} MetricName=\"EventsSkipped\" Function=\"${local.emf_function.scorer}\"', 'Sum', 60)", id = "skipped", label = "" }]]
    },
    {
      title   = "Rejected by reason"
      metrics = [[{ expression = "SEARCH('{${var.metrics_namespace},Function,Reason} MetricName=\"RecordsRejected\" Function=\"${local.emf_function.scorer}\"', 'Sum', 60)", id = "rejected", label = "" }]]
    },
    {
      title = "Iterator age (ms, maximum)"
      metrics = [
        for key, name in local.lambda_functions : ["AWS/Lambda", "IteratorAge", "FunctionName", name, { stat = "Maximum", label = key }]
      ]
    },
    {
      title = "Failures"
      metrics = concat(
        [for key, name in local.lambda_functions : ["AWS/Lambda", "Errors", "FunctionName", name, { stat = "Sum", label = "${key} errors" }]],
        [for key, name in local.lambda_functions : ["AWS/Lambda", "Throttles", "FunctionName", name, { stat = "Sum", label = "${key} throttles" }]],
        [for key, function in local.emf_function : [var.metrics_namespace, "RetryableFailures", "Function", function, { stat = "Sum", label = "${key} records retried" }]],
        [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.names.failure_queue, { stat = "Maximum", label = "failure queue messages" }]],
        [for sink in local.alarm_sinks : [var.metrics_namespace, "SinkFailures", "Function", local.emf_function.score_sync, "Sink", sink, { stat = "Sum", label = "${sink} failures" }]],
      )
    },
    {
      title = "Sink calls and outputs"
      metrics = concat(
        [for key, function in local.emf_function : [var.metrics_namespace, "SinkCalls", "Function", function, { stat = "Sum", label = "${key} AWS calls" }]],
        [
          [var.metrics_namespace, "PinpointEndpointsUpdated", "Function", local.emf_function.score_sync, { stat = "Sum", label = "Pinpoint endpoints" }],
          [var.metrics_namespace, "EventsPublished", "Function", local.emf_function.score_sync, { stat = "Sum", label = "EventBridge events" }],
          [var.metrics_namespace, "ProfilesUpdated", "Function", local.emf_function.score_sync, { stat = "Sum", label = "Customer Profiles objects" }],
        ],
      )
    },
    {
      title = "Latency (duration, ms)"
      metrics = concat(
        [for key, name in local.lambda_functions : ["AWS/Lambda", "Duration", "FunctionName", name, { stat = "Average", label = "${key} average" }]],
        [for key, name in local.lambda_functions : ["AWS/Lambda", "Duration", "FunctionName", name, { stat = "p99", label = "${key} p99" }]],
      )
    },
  ]

  dashboard_widgets = concat(
    [
      for index, widget in local.dashboard_metric_widgets : {
        type   = "metric"
        x      = (index % 2) * 12
        y      = floor(index / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = widget.title
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          metrics = widget.metrics
        }
      }
    ],
    local.alarms_enabled ? [
      {
        type   = "alarm"
        x      = 0
        y      = ceil(length(local.dashboard_metric_widgets) / 2) * 6
        width  = 24
        height = 4
        properties = {
          title  = "Alarms (runbook: docs/operations.md)"
          alarms = [for name in local.all_alarm_names : "${local.alarm_arn_prefix}${name}"]
        }
      }
    ] : [],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  count = local.dashboard_enabled ? 1 : 0

  dashboard_name = "${var.name_prefix}-engagement-scoring"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })

  # The alarm widget names the alarms by ARN: create them first.
  depends_on = [
    aws_cloudwatch_metric_alarm.scorer_iterator_age,
    aws_cloudwatch_metric_alarm.function_errors,
    aws_cloudwatch_metric_alarm.function_throttles,
    aws_cloudwatch_metric_alarm.failure_queue_messages,
    aws_cloudwatch_metric_alarm.failure_queue_oldest_message,
    aws_cloudwatch_metric_alarm.rejected_records,
    aws_cloudwatch_metric_alarm.sink_failures,
  ]
}
