# Three functions from one zip: the scorer (Kinesis trigger), the score sync (DynamoDB stream trigger) and, with decay
# or a sliding window rule, the refresher (a schedule, refresher.tf).
# Environment variables follow docs/architecture.md; optional values are left out when unset, and the
# handlers read a missing variable as its documented default.

locals {
  scorer_environment = merge(
    {
      RULES_TABLE                = one(aws_dynamodb_table.score_rules[*].name)
      SCORES_TABLE               = one(aws_dynamodb_table.user_scores[*].name)
      PROCESSED_EVENTS_TABLE     = one(aws_dynamodb_table.processed_events[*].name)
      FAILURE_QUEUE_URL          = one(aws_sqs_queue.this[*].url)
      USER_KEY_MODE              = var.user_key_mode
      DECAY_HALF_LIFE_HOURS      = tostring(var.decay_half_life_hours)
      TIERS                      = jsonencode(var.tiers)
      RULES_CACHE_TTL_SECONDS    = tostring(var.rules_cache_ttl_seconds)
      DEDUPE_TTL_HOURS           = tostring(var.dedupe_ttl_hours)
      ONCE_PER_MESSAGE_TTL_HOURS = tostring(var.once_per_message_ttl_hours)
      METRICS_NAMESPACE          = var.metrics_namespace
      LOG_LEVEL                  = var.log_level
      MACHINE_ENGAGEMENT         = local.machine_engagement
      USER_KEY_TAG               = var.user_key_tag
      CAMPAIGN_TAG               = var.campaign_tag
      RECIPIENT_USER_KEY         = var.recipient_user_key
      MAX_CLOCK_SKEW_SECONDS     = tostring(var.max_clock_skew_seconds)
      SCORE_PUBLISH_MIN_DELTA    = tostring(var.score_publish_min_delta)
      TIER_HYSTERESIS_POINTS     = tostring(var.tier_hysteresis_points)
    },
    var.score_floor == null ? {} : { SCORE_FLOOR = tostring(var.score_floor) },
    var.score_ceiling == null ? {} : { SCORE_CEILING = tostring(var.score_ceiling) },
    var.recipient_hash_key_parameter == null ? {} : { RECIPIENT_HASH_KEY_PARAMETER = var.recipient_hash_key_parameter },
    local.window_rules_environment,
    local.attribution_environment,
  )

  # The HMAC key parameter as an ARN (a name starting with "/" keeps it: parameter/a/b for "/a/b").
  recipient_hash_key_parameter_arn = var.recipient_hash_key_parameter == null ? null : (
    startswith(var.recipient_hash_key_parameter, "arn:") ? var.recipient_hash_key_parameter :
    "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(var.recipient_hash_key_parameter, "/")}"
  )

  score_sync_environment = merge(
    {
      FAILURE_QUEUE_URL       = one(aws_sqs_queue.this[*].url)
      USER_KEY_MODE           = var.user_key_mode
      PINPOINT_SCORE_METRIC   = var.pinpoint_score_metric
      PINPOINT_TIER_ATTRIBUTE = var.pinpoint_tier_attribute
      EVENT_SOURCE            = var.event_source
      METRICS_NAMESPACE       = var.metrics_namespace
      LOG_LEVEL               = var.log_level
    },
    local.pinpoint_enabled ? { PINPOINT_APPLICATION_ID = var.pinpoint_application_id } : {},
    local.event_bus_enabled ? { EVENT_BUS_NAME = var.event_bus_arn } : {},
    local.customer_profiles_environment,
  )
}

# ---------------------------------------------------------------------------------------------------------------------
# One description per function: its name, handler, sizing, environment, role and (for the stream readers) its event
# source mapping. Every resource below is a for_each over these keys; moved.tf maps the addresses of the module's
# earlier one-resource-per-function layout (aws_lambda_function.scorer[0], ...) onto them.
# ---------------------------------------------------------------------------------------------------------------------

locals {
  functions = {
    scorer = {
      enabled              = local.create
      name                 = local.names.scorer
      description          = "Engagement scoring: scores Kinesis events into ${local.names.user_scores_table}"
      role_description     = "Engagement scoring: scorer Lambda (${var.name_prefix})"
      policy_name          = "scoring"
      log_group_name       = local.log_group_names.scorer
      handler              = "engagement_scoring.handlers.scorer.handler"
      memory_size          = var.scorer_memory_size
      timeout              = var.scorer_timeout
      reserved_concurrency = var.scorer_reserved_concurrency
    }
    score_sync = {
      enabled              = local.create
      name                 = local.names.score_sync
      description          = "Engagement scoring: syncs score changes to Pinpoint, EventBridge and Customer Profiles"
      role_description     = "Engagement scoring: score sync Lambda (${var.name_prefix})"
      policy_name          = "score-sync"
      log_group_name       = local.log_group_names.score_sync
      handler              = "engagement_scoring.handlers.score_sync.handler"
      memory_size          = var.score_sync_memory_size
      timeout              = var.score_sync_timeout
      reserved_concurrency = var.score_sync_reserved_concurrency
    }
    # One invocation per schedule period; reserving concurrency fails on accounts at the minimum unreserved pool,
    # and parallel runs are safe (version-conditioned writes).
    refresher = {
      enabled              = local.refresher_enabled
      name                 = local.refresher_name
      description          = "Engagement scoring: writes decayed scores and window rules of the users due in ${local.names.user_scores_table}"
      role_description     = "Engagement scoring: refresher Lambda (${var.name_prefix})"
      policy_name          = "refresher"
      log_group_name       = local.refresher_log_group_name
      handler              = "engagement_scoring.handlers.refresher.handler"
      memory_size          = 256
      timeout              = var.refresher_timeout
      reserved_concurrency = null
    }
  }
  # Keys only (known at plan): the values differ in type (environments), so they are looked up by key.
  function_keys = toset([for key, function in local.functions : key if function.enabled])
  function_environments = {
    scorer     = local.scorer_environment
    score_sync = local.score_sync_environment
    refresher  = local.refresher_environment
  }

  # The stream readers; the refresher runs on a schedule (refresher.tf).
  event_source_mappings = {
    scorer = {
      event_source_arn       = local.ingest_stream_arn
      starting_position      = var.scorer_starting_position
      batch_size             = var.scorer_batch_size
      batching_window        = var.scorer_maximum_batching_window_seconds
      parallelization_factor = var.scorer_parallelization_factor
      maximum_retry_attempts = var.scorer_maximum_retry_attempts
      maximum_record_age     = var.scorer_maximum_record_age_seconds
    }
    score_sync = {
      event_source_arn       = one(aws_dynamodb_table.user_scores[*].stream_arn)
      starting_position      = var.score_sync_starting_position
      batch_size             = var.score_sync_batch_size
      batching_window        = var.score_sync_maximum_batching_window_seconds
      parallelization_factor = var.score_sync_parallelization_factor
      maximum_retry_attempts = var.score_sync_maximum_retry_attempts
      maximum_record_age     = var.score_sync_maximum_record_age_seconds
    }
  }
  event_source_mapping_keys = toset([for key in keys(local.event_source_mappings) : key if contains(local.function_keys, key)])
}

# Log groups, created before the functions so that Lambda never creates them without retention.
resource "aws_cloudwatch_log_group" "function" {
  for_each = local.function_keys

  name              = local.functions[each.key].log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_lambda_function" "this" {
  for_each = local.function_keys

  function_name                  = local.functions[each.key].name
  description                    = local.functions[each.key].description
  role                           = aws_iam_role.function[each.key].arn
  filename                       = data.archive_file.this[0].output_path
  source_code_hash               = data.archive_file.this[0].output_base64sha256
  handler                        = local.functions[each.key].handler
  runtime                        = var.lambda_runtime
  architectures                  = [var.lambda_architecture]
  memory_size                    = local.functions[each.key].memory_size
  timeout                        = local.functions[each.key].timeout
  reserved_concurrent_executions = local.functions[each.key].reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.function_environments[each.key]
  }

  tracing_config {
    mode = var.lambda_tracing_mode
  }

  tags = var.tags

  depends_on = [
    aws_cloudwatch_log_group.function,
    aws_iam_role_policy.function,
    aws_iam_role_policy.scorer_recipient_hash_key,
    aws_iam_role_policy.score_sync_customer_profiles,
  ]

  lifecycle {
    # Cross-input rules of the scorer (variable validations may only see their own variable on Terraform < 1.9),
    # checked on its instance only so that each error is reported once.
    precondition {
      condition     = each.key != "scorer" || var.score_floor == null || var.score_ceiling == null || try(var.score_floor < var.score_ceiling, false)
      error_message = "score_floor must be lower than score_ceiling."
    }
    precondition {
      condition     = each.key != "scorer" || var.recipient_user_key != "hashed_address" || var.recipient_hash_key_parameter != null
      error_message = "recipient_user_key = hashed_address needs recipient_hash_key_parameter (the SSM SecureString holding the HMAC key)."
    }
    precondition {
      condition     = each.key != "scorer" || var.dedupe_ttl_hours >= var.stream_retention_hours
      error_message = "dedupe_ttl_hours must be >= stream_retention_hours: a record re-read near the end of the stream's retention would otherwise be counted twice."
    }
  }
}

# Event source mappings: partial batch responses, bisect on error, bounded retries, failures to SQS.
resource "aws_lambda_event_source_mapping" "this" {
  for_each = local.event_source_mapping_keys

  function_name                      = aws_lambda_function.this[each.key].arn
  event_source_arn                   = local.event_source_mappings[each.key].event_source_arn
  starting_position                  = local.event_source_mappings[each.key].starting_position
  batch_size                         = local.event_source_mappings[each.key].batch_size
  maximum_batching_window_in_seconds = local.event_source_mappings[each.key].batching_window
  parallelization_factor             = local.event_source_mappings[each.key].parallelization_factor
  maximum_retry_attempts             = local.event_source_mappings[each.key].maximum_retry_attempts
  maximum_record_age_in_seconds      = local.event_source_mappings[each.key].maximum_record_age
  bisect_batch_on_function_error     = true
  function_response_types            = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.this[0].arn
    }
  }

  # Lambda checks at creation that the role can read the stream.
  depends_on = [aws_iam_role_policy.function]
}

# ---------------------------------------------------------------------------------------------------------------------
# The scorer reads the HMAC key of hashed recipient keys (once per execution environment)
# ---------------------------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "scorer_recipient_hash_key" {
  count = local.create && var.recipient_hash_key_parameter != null ? 1 : 0

  statement {
    sid       = "ReadRecipientHashKey"
    actions   = ["ssm:GetParameter"]
    resources = [local.recipient_hash_key_parameter_arn]
  }
}

resource "aws_iam_role_policy" "scorer_recipient_hash_key" {
  count = local.create && var.recipient_hash_key_parameter != null ? 1 : 0

  name   = "recipient-hash-key"
  role   = aws_iam_role.function["scorer"].id
  policy = data.aws_iam_policy_document.scorer_recipient_hash_key[0].json
}
