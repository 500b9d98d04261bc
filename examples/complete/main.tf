# Everything on: a customer managed KMS key for every store, a provisioned stream fed by SES (configuration sets
# -> default bus -> rules) and End User Messaging SMS (event records through a log group, STOP replies through
# SNS -> SQS -> a pipe), scores published to an EventBridge bus and Amazon Connect Customer Profiles, decay,
# floor and ceiling, X-Ray tracing and reserved concurrency. Pinpoint (end of support 2026-10-30) stays
# optional and off: var.enable_pinpoint.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  tags = {
    project     = "engagement-scoring"
    environment = "example"
  }
}

# Kinesis, DynamoDB, SQS and Lambda use the key on behalf of IAM principals in this account (the module's
# roles, and whoever runs Terraform), so the account statement below delegates to their IAM policies,
# which the module scopes to this key. CloudWatch Logs encrypts as its own service principal and gets
# its own statement, limited to this deployment's log groups.
data "aws_iam_policy_document" "key" {
  # In a key policy, "*" as resource means this key, and account-wide kms:* is AWS's default statement
  # that lets IAM policies grant use of the key.
  #checkov:skip=CKV_AWS_109:key policy: the account root administers its own key
  #checkov:skip=CKV_AWS_111:key policy: the account root administers its own key
  #checkov:skip=CKV_AWS_356:key policy: "*" is the key itself
  statement {
    sid       = "AccountAdministersAndDelegatesToIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsFunctionLogs"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/aws/lambda/${var.name_prefix}-*",
        "arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/engagement-scoring/${var.name_prefix}/*",
      ]
    }
  }

  # End User Messaging publishes STOP replies to the encrypted inbound topic, and SNS delivers them to the
  # encrypted inbound queue: both services use the key as their own principals, for this account only.
  statement {
    sid       = "MessagingServicesUseTheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["sms-voice.amazonaws.com", "sns.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "Engagement scoring (${var.name_prefix}): stream, tables, queues, inbound SMS topic, logs, Lambda environment"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_pinpoint_app" "this" {
  count = var.enable_pinpoint ? 1 : 0

  name = var.name_prefix
  tags = local.tags
}

resource "aws_cloudwatch_event_bus" "scores" {
  name = "${var.name_prefix}-scores"
  tags = local.tags
}

module "engagement_scoring" {
  source = "../../"

  name_prefix = var.name_prefix
  tags        = local.tags
  kms_key_arn = aws_kms_key.this.arn

  deletion_protection_enabled = var.deletion_protection_enabled

  stream_mode            = "PROVISIONED"
  stream_shard_count     = 2
  stream_retention_hours = 48

  score_rules = [
    { event_type = "_email.click", points = 50, once_per_message = true },
    { event_type = "_email.open", points = 10, once_per_message = true },
    { event_type = "_email.delivered", points = 2 },
    { event_type = "_email.hardbounce", points = -1000 },
    { event_type = "_email.complaint", points = -1000 },
    { event_type = "_email.unsubscribe", points = -500 },
    { event_type = "_SMS.SUCCESS", points = 2 },
    { event_type = "_SMS.OPTOUT", points = -500 },
    { event_type = "_campaign.opened_notification", points = 50 },
    { event_type = "_session.start", points = 2 },
    { event_type = "_monetization.purchase", points = 100 },
    { event_type = "webinar_attended", points = 75, channel = "custom" },
  ]
  user_key_mode         = "auto"
  decay_half_life_hours = 720
  score_floor           = -1000
  score_ceiling         = 1000
  tiers = [
    { name = "cold", min_score = 0 },
    { name = "warm", min_score = 50 },
    { name = "hot", min_score = 150 },
    { name = "champion", min_score = 400 },
  ]
  dedupe_ttl_hours = 168

  # E-mail: SES configuration sets created here; every message carries the tags user_key and campaign.
  ses_configuration_set_names   = var.ses_configuration_set_names
  create_ses_configuration_sets = true

  # SMS: event records through the module's log group (run the sms_event_destination_commands output once),
  # STOP replies through the module's SNS topic (set it as the phone number's two-way channel).
  sms_configuration_set_names   = var.sms_configuration_set_names
  create_sms_configuration_sets = true
  sms_event_log_retention_days  = 365
  create_sms_inbound_topic      = true
  recipient_user_key            = "none"

  # Scores out: EventBridge events and Customer Profiles objects (the sync creates the object type).
  event_bus_arn                     = aws_cloudwatch_event_bus.scores.arn
  customer_profiles_domain_name     = "${var.name_prefix}-profiles"
  create_customer_profiles_domain   = true
  customer_profiles_expiration_days = 366

  # Pinpoint: optional, off by default.
  pinpoint_application_id = try(aws_pinpoint_app.this[0].application_id, null)

  lambda_tracing_mode             = "Active"
  log_retention_days              = 365
  scorer_reserved_concurrency     = 20
  score_sync_reserved_concurrency = 5

  scorer_batch_size                      = 1000
  scorer_maximum_batching_window_seconds = 2
  scorer_parallelization_factor          = 2
  scorer_maximum_retry_attempts          = 5
  score_sync_batch_size                  = 200
}
