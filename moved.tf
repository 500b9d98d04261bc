# Addresses of the earlier layout (one resource per function and per alarm, count = 0 or 1), moved onto the
# for_each resources of lambda.tf, iam.tf and monitoring.tf so that an upgrade replaces nothing
# (tests/apply/test_tf_upgrade.py applies the previous layout and plans this one over its state). Keep these blocks:
# a state written by any earlier version may still hold the old addresses.

# Functions, log groups, roles and their inline policies (local.functions)
moved {
  from = aws_lambda_function.scorer[0]
  to   = aws_lambda_function.this["scorer"]
}
moved {
  from = aws_lambda_function.score_sync[0]
  to   = aws_lambda_function.this["score_sync"]
}
moved {
  from = aws_lambda_function.refresher[0]
  to   = aws_lambda_function.this["refresher"]
}
moved {
  from = aws_cloudwatch_log_group.scorer[0]
  to   = aws_cloudwatch_log_group.function["scorer"]
}
moved {
  from = aws_cloudwatch_log_group.score_sync[0]
  to   = aws_cloudwatch_log_group.function["score_sync"]
}
moved {
  from = aws_cloudwatch_log_group.refresher[0]
  to   = aws_cloudwatch_log_group.function["refresher"]
}
moved {
  from = aws_iam_role.scorer[0]
  to   = aws_iam_role.function["scorer"]
}
moved {
  from = aws_iam_role.score_sync[0]
  to   = aws_iam_role.function["score_sync"]
}
moved {
  from = aws_iam_role.refresher[0]
  to   = aws_iam_role.function["refresher"]
}
moved {
  from = aws_iam_role_policy.scorer[0]
  to   = aws_iam_role_policy.function["scorer"]
}
moved {
  from = aws_iam_role_policy.score_sync[0]
  to   = aws_iam_role_policy.function["score_sync"]
}
moved {
  from = aws_iam_role_policy.refresher[0]
  to   = aws_iam_role_policy.function["refresher"]
}

# Event source mappings (local.event_source_mappings)
moved {
  from = aws_lambda_event_source_mapping.scorer[0]
  to   = aws_lambda_event_source_mapping.this["scorer"]
}
moved {
  from = aws_lambda_event_source_mapping.score_sync[0]
  to   = aws_lambda_event_source_mapping.this["score_sync"]
}

# Alarms (local.alarm_specs)
moved {
  from = aws_cloudwatch_metric_alarm.scorer_iterator_age[0]
  to   = aws_cloudwatch_metric_alarm.this["scorer_iterator_age"]
}
moved {
  from = aws_cloudwatch_metric_alarm.function_errors["scorer"]
  to   = aws_cloudwatch_metric_alarm.this["scorer_errors"]
}
moved {
  from = aws_cloudwatch_metric_alarm.function_errors["score_sync"]
  to   = aws_cloudwatch_metric_alarm.this["score_sync_errors"]
}
moved {
  from = aws_cloudwatch_metric_alarm.function_throttles["scorer"]
  to   = aws_cloudwatch_metric_alarm.this["scorer_throttles"]
}
moved {
  from = aws_cloudwatch_metric_alarm.function_throttles["score_sync"]
  to   = aws_cloudwatch_metric_alarm.this["score_sync_throttles"]
}
moved {
  from = aws_cloudwatch_metric_alarm.failure_queue_messages[0]
  to   = aws_cloudwatch_metric_alarm.this["failure_queue_messages"]
}
moved {
  from = aws_cloudwatch_metric_alarm.failure_queue_oldest_message[0]
  to   = aws_cloudwatch_metric_alarm.this["failure_queue_oldest_message"]
}
moved {
  from = aws_cloudwatch_metric_alarm.rejected_records[0]
  to   = aws_cloudwatch_metric_alarm.this["rejected_records"]
}
moved {
  from = aws_cloudwatch_metric_alarm.sink_failures["pinpoint"]
  to   = aws_cloudwatch_metric_alarm.this["sink_failures_pinpoint"]
}
moved {
  from = aws_cloudwatch_metric_alarm.sink_failures["eventbridge"]
  to   = aws_cloudwatch_metric_alarm.this["sink_failures_eventbridge"]
}
moved {
  from = aws_cloudwatch_metric_alarm.sink_failures["customer_profiles"]
  to   = aws_cloudwatch_metric_alarm.this["sink_failures_customer_profiles"]
}
