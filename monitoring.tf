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

  # The refresher's lag alarm: a healthy run ends with its oldest due user at most one schedule period overdue,
  # and publishes RefreshLagSeconds every run (0 when none was due). Its period spans two schedule periods (at most
  # CloudWatch's day), so one run's jitter never leaves a period without a datapoint, and a period without one
  # (no run ended: throttled, crashed, timed out, schedule disabled) is breaching.
  refresher_schedule_seconds = var.refresher_schedule_minutes * 60
  refresher_lag_threshold    = coalesce(var.alarm_thresholds.refresher_lag_seconds, 3 * local.refresher_schedule_seconds)
  refresher_lag_period       = min(86400, 2 * local.refresher_schedule_seconds)

  # EMF dimension values: FUNCTION in pipeline/scorer.py and pipeline/score_sync.py.
  emf_function = {
    scorer     = "scorer"
    score_sync = "score_sync"
  }
  emf_refresher_function = "refresher" # FUNCTION in pipeline/refresher.py
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
    refresher_lag                = "${var.name_prefix}-refresher-lag"
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
    local.refresher_enabled ? [local.alarm_names.refresher_lag] : [],
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
# Alarms: one spec each (metric, namespace, dimensions, statistic and period, threshold input, runbook anchor), one
# resource over them. Missing data is not breaching (an idle stream publishes no datapoints).
# ---------------------------------------------------------------------------------------------------------------------

locals {
  alarm_defaults = {
    statistic           = "Sum"
    period              = 300
    evaluation_periods  = 1
    datapoints_to_alarm = null
    comparison_operator = "GreaterThanOrEqualToThreshold"
    treat_missing_data  = "notBreaching"
  }

  alarm_specs = merge(
    {
      scorer_iterator_age = merge(local.alarm_defaults, {
        name        = local.alarm_names.scorer_iterator_age
        description = "The scorer is more than ${local.alarm_thresholds.iterator_age_seconds} s behind the stream for 5 minutes."
        runbook     = "scorer-iterator-age"
        namespace   = "AWS/Lambda"
        metric_name = "IteratorAge"
        dimensions  = tomap({ FunctionName = local.names.scorer })
        statistic   = "Maximum"
        period      = 60
        # 5 minutes in a row; IteratorAge is in milliseconds
        evaluation_periods  = 5
        comparison_operator = "GreaterThanThreshold"
        threshold           = local.alarm_thresholds.iterator_age_seconds * 1000
      })
    },
    {
      for key, name in local.lambda_functions : "${key}_errors" => merge(local.alarm_defaults, {
        name        = local.alarm_names.function_errors[key]
        description = "${name} failed (crashed or timed out) at least ${local.alarm_thresholds.function_errors} times in 5 minutes."
        runbook     = "function-errors"
        namespace   = "AWS/Lambda"
        metric_name = "Errors"
        dimensions  = tomap({ FunctionName = name })
        threshold   = local.alarm_thresholds.function_errors
      })
    },
    {
      for key, name in local.lambda_functions : "${key}_throttles" => merge(local.alarm_defaults, {
        name        = local.alarm_names.function_throttles[key]
        description = "${name} was throttled at least ${local.alarm_thresholds.function_throttles} times in 5 minutes."
        runbook     = "function-throttles"
        namespace   = "AWS/Lambda"
        metric_name = "Throttles"
        dimensions  = tomap({ FunctionName = name })
        threshold   = local.alarm_thresholds.function_throttles
      })
    },
    {
      failure_queue_messages = merge(local.alarm_defaults, {
        name        = local.alarm_names.failure_queue_messages
        description = "The failure queue holds at least ${local.alarm_thresholds.failure_queue_messages} message(s): batches given up on or records rejected."
        runbook     = "failure-queue-messages"
        namespace   = "AWS/SQS"
        metric_name = "ApproximateNumberOfMessagesVisible"
        dimensions  = tomap({ QueueName = local.names.failure_queue })
        statistic   = "Maximum"
        threshold   = local.alarm_thresholds.failure_queue_messages
      })
      failure_queue_oldest_message = merge(local.alarm_defaults, {
        name        = local.alarm_names.failure_queue_oldest_message
        description = "A failure-queue message is older than ${local.alarm_thresholds.failure_queue_oldest_message_seconds} s: redrive before the stream's retention (${var.stream_retention_hours} h) drops its records."
        runbook     = "failure-queue-oldest-message"
        namespace   = "AWS/SQS"
        metric_name = "ApproximateAgeOfOldestMessage"
        dimensions  = tomap({ QueueName = local.names.failure_queue })
        statistic   = "Maximum"
        threshold   = local.alarm_thresholds.failure_queue_oldest_message_seconds
      })
      rejected_records = merge(local.alarm_defaults, {
        name        = local.alarm_names.rejected_records
        description = "The scorer rejected more than ${local.alarm_thresholds.rejected_records_per_minute} records a minute for 3 minutes."
        runbook     = "scorer-rejected-records"
        namespace   = var.metrics_namespace
        metric_name = "RecordsRejected"
        dimensions  = tomap({ Function = local.emf_function.scorer })
        period      = 60
        # 3 minutes in a row
        evaluation_periods  = 3
        comparison_operator = "GreaterThanThreshold"
        threshold           = local.alarm_thresholds.rejected_records_per_minute
      })
    },
    {
      for sink in local.alarm_sinks : "sink_failures_${sink}" => merge(local.alarm_defaults, {
        name        = local.alarm_names.sink_failures[sink]
        description = "The ${sink} sink failed for at least ${local.alarm_thresholds.sink_failures_per_5_minutes} users in 5 minutes (retried by Lambda)."
        runbook     = "sink-failures"
        namespace   = var.metrics_namespace
        metric_name = "SinkFailures"
        dimensions  = tomap({ Function = local.emf_function.score_sync, Sink = sink })
        threshold   = local.alarm_thresholds.sink_failures_per_5_minutes
      })
    },
    {
      for key, spec in {
        refresher_lag = merge(local.alarm_defaults, {
          name                = local.alarm_names.refresher_lag
          description         = "The refresher's oldest due user was more than ${local.refresher_lag_threshold} s overdue at the end of a run, or no run ended in ${local.refresher_lag_period} s: decayed scores and cleared window rules are not reaching the sinks."
          runbook             = "refresher-lag"
          namespace           = var.metrics_namespace
          metric_name         = "RefreshLagSeconds"
          dimensions          = tomap({ Function = local.emf_refresher_function })
          statistic           = "Maximum"
          period              = local.refresher_lag_period
          comparison_operator = "GreaterThanThreshold"
          threshold           = local.refresher_lag_threshold
          treat_missing_data  = "breaching"
      }) } : key => spec if local.refresher_enabled
    },
  )
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = { for key, spec in local.alarm_specs : key => spec if local.alarms_enabled }

  alarm_name          = each.value.name
  alarm_description   = "${each.value.description} Runbook: docs/operations.md#${each.value.runbook}"
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  datapoints_to_alarm = each.value.datapoints_to_alarm
  comparison_operator = each.value.comparison_operator
  threshold           = each.value.threshold
  treat_missing_data  = each.value.treat_missing_data
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

  # With the refresher (refresher.tf): how overdue its oldest due user was, and the users it took, each run.
  dashboard_refresher_widgets = [
    for widget in [
      {
        title = "Refresher (per run: lag in s, users)"
        metrics = [
          [var.metrics_namespace, "RefreshLagSeconds", "Function", local.emf_refresher_function, { stat = "Maximum", label = "lag (s)" }],
          [var.metrics_namespace, "UsersDue", "Function", local.emf_refresher_function, { stat = "Sum", label = "users due" }],
          [var.metrics_namespace, "UsersRefreshed", "Function", local.emf_refresher_function, { stat = "Sum", label = "users refreshed" }],
          ["AWS/Lambda", "Errors", "FunctionName", local.refresher_name, { stat = "Sum", label = "refresher errors" }],
        ]
      },
    ] : widget if local.refresher_enabled
  ]
  dashboard_all_metric_widgets = concat(local.dashboard_metric_widgets, local.dashboard_refresher_widgets)

  dashboard_widgets = concat(
    [
      for index, widget in local.dashboard_all_metric_widgets : {
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
        y      = ceil(length(local.dashboard_all_metric_widgets) / 2) * 6
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
  depends_on = [aws_cloudwatch_metric_alarm.this]
}
