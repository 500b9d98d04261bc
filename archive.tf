# The events archive (optional, input create_archive): Firehose reads the Kinesis stream as is and writes every
# record, one per line, into GZIP objects under events/dt=YYYY-MM-DD/ of an encrypted S3 bucket; a Glue table
# (one string column `line`, partition `dt` by projection) and an Athena workgroup with named queries read it.
# With the SMS event-log route (sms_configuration_set_names) a second delivery stream writes its log events'
# messages, decoded, into the same layout (below the first).
# The queries' SQL is in sql/ (tested on DuckDB over the same layout: tests/unit/archive). docs/operations.md,
# "Archive", has the layout, the queries, the explain command, the cost and the retention.

locals {
  archive_enabled        = local.create && var.create_archive
  archive_bucket_created = local.archive_enabled && var.archive_bucket_name == null
  archive_key_created    = local.archive_enabled && var.archive_kms_key_arn == null

  # S3 names are lower case without "_", at most 63 characters: the prefix (shortened), a hash of the prefix
  # and region (so that shortened or re-cased prefixes, and regions, never collide), the account.
  archive_bucket_name = coalesce(
    var.archive_bucket_name,
    "${substr(lower(replace(var.name_prefix, "_", "-")), 0, 28)}-${substr(sha256("${var.name_prefix}:${local.region}"), 0, 8)}-archive-${local.account_id}",
  )
  archive_bucket_arn  = "arn:${local.partition}:s3:::${local.archive_bucket_name}"
  archive_kms_key_arn = local.archive_enabled ? coalesce(var.archive_kms_key_arn, try(aws_kms_key.archive[0].arn, null)) : null

  archive_names = {
    firehose       = "${var.name_prefix}-events-archive"
    firehose_role  = "${var.name_prefix}-events-archive"
    log_group      = "/aws/kinesisfirehose/${var.name_prefix}-events-archive"
    glue_database  = "${lower(replace(var.name_prefix, "-", "_"))}_events_archive"
    glue_table     = "events"
    workgroup      = "${var.name_prefix}-events-archive"
    events_prefix  = "events/"
    errors_prefix  = "errors/"
    results_prefix = "athena-results/"
  }
  archive_log_group_arn = "${local.arn_prefix.logs}:log-group:${local.archive_names.log_group}"

  # What the named queries are rendered with (engagement_scoring.archive.QuerySettings renders the same for
  # DuckDB; tests/plan/test_tf_archive.py compares the two).
  archive_query_vars = merge(local.machine_engagement_sql_vars, {
    source = "\"${local.archive_names.glue_database}\".\"${local.archive_names.glue_table}\""
    rules = join(", ", [
      for rule in var.score_rules : format(
        "(%s, CAST(%s AS double), %s, %s)",
        "'${replace(rule.event_type, "'", "''")}'",
        rule.points,
        rule.channel == null ? "CAST(NULL AS varchar)" : "'${rule.channel}'",
        rule.once_per_message == true ? "true" : "false",
      )
    ])
    half_life_ms  = var.decay_half_life_hours * 3600000
    score_floor   = var.score_floor == null ? "NULL" : var.score_floor
    score_ceiling = var.score_ceiling == null ? "NULL" : var.score_ceiling
    tiers = length(var.tiers) == 0 ? "SELECT CAST(NULL AS varchar) AS name, CAST(NULL AS double) AS min_score WHERE false" : format(
      "SELECT * FROM (VALUES %s) AS t (name, min_score)",
      join(", ", [for tier in var.tiers : format("('%s', CAST(%s AS double))", replace(tier.name, "'", "''"), tier.min_score)]),
    )
    pinpoint_user_key = {
      auto        = "coalesce(pinpoint_user_id, pinpoint_client_id)"
      endpoint_id = "pinpoint_client_id"
      user_id     = "pinpoint_user_id"
    }[var.user_key_mode]
    # SES tag / SMS context keys of the user and the campaign (validated to [A-Za-z0-9_-]: safe in a path).
    user_key_tag = var.user_key_tag
    campaign_tag = var.campaign_tag
  })
  archive_queries = {
    user_history        = "A user's history: every archived event of one user (execution parameter: the user key) with today's points."
    top_users           = "The 100 users with the most points under the current rules (no decay)."
    campaign_engagement = "Per campaign: users, counted events, opens, clicks and points under the current rules."
    rescoring           = "Every user's score, channel scores and tier recomputed from the archive with the current rules and decay."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Key (unless archive_kms_key_arn is given): encrypts the archive's objects and the Athena results.
# ---------------------------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "archive_key" {
  count = local.archive_key_created ? 1 : 0

  # The account administers the key and IAM policies grant its use (the Firehose role below; Athena users).
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
}

resource "aws_kms_key" "archive" {
  count = local.archive_key_created ? 1 : 0

  description             = "Engagement scoring (${var.name_prefix}): events archive"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.archive_key[0].json

  tags = var.tags
}

# ---------------------------------------------------------------------------------------------------------------------
# Bucket (unless archive_bucket_name is given: then its owner manages encryption, versioning and lifecycle)
# ---------------------------------------------------------------------------------------------------------------------

resource "aws_s3_bucket" "archive" {
  count = local.archive_bucket_created ? 1 : 0

  #checkov:skip=CKV_AWS_18:access logging needs a log bucket the deployment owns; CloudTrail data events are the usual audit trail
  #checkov:skip=CKV_AWS_144:cross-region replication is a disaster-recovery choice of the deployment (a second bucket and key), not the module's
  #checkov:skip=CKV2_AWS_62:nothing consumes object events: Athena reads the objects on demand
  bucket        = local.archive_bucket_name
  force_destroy = var.archive_force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_ownership_controls" "archive" {
  count = local.archive_bucket_created ? 1 : 0

  bucket = aws_s3_bucket.archive[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "archive" {
  count = local.archive_bucket_created ? 1 : 0

  bucket                  = aws_s3_bucket.archive[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "archive" {
  count = local.archive_bucket_created ? 1 : 0

  bucket = aws_s3_bucket.archive[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  count = local.archive_bucket_created ? 1 : 0

  bucket = aws_s3_bucket.archive[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.archive_kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  count = local.archive_bucket_created ? 1 : 0

  bucket = aws_s3_bucket.archive[0].id

  # Whole bucket: uploads Firehose or Athena left unfinished are removed after a day.
  rule {
    id     = "incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "events"
    status = "Enabled"

    filter {
      prefix = local.archive_names.events_prefix
    }

    dynamic "transition" {
      for_each = var.archive_lifecycle.transition_days == null ? [] : [var.archive_lifecycle.transition_days]
      content {
        days          = transition.value
        storage_class = var.archive_lifecycle.transition_storage_class
      }
    }

    dynamic "expiration" {
      for_each = var.archive_lifecycle.expiration_days == null ? [] : [var.archive_lifecycle.expiration_days]
      content {
        days = expiration.value
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = var.archive_lifecycle.noncurrent_expiration_days
    }
  }

  rule {
    id     = "errors"
    status = "Enabled"

    filter {
      prefix = local.archive_names.errors_prefix
    }

    expiration {
      days = var.archive_lifecycle.errors_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "athena-results"
    status = "Enabled"

    filter {
      prefix = local.archive_names.results_prefix
    }

    expiration {
      days = var.archive_lifecycle.athena_results_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.archive]
}

data "aws_iam_policy_document" "archive_bucket" {
  count = local.archive_bucket_created ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.archive_bucket_arn, "${local.archive_bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "archive" {
  count = local.archive_bucket_created ? 1 : 0

  bucket = aws_s3_bucket.archive[0].id
  policy = data.aws_iam_policy_document.archive_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.archive]
}

# ---------------------------------------------------------------------------------------------------------------------
# Firehose: the stream into the bucket
# ---------------------------------------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "archive" {
  count = local.archive_enabled ? 1 : 0

  name              = local.archive_names.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_cloudwatch_log_stream" "archive" {
  count = local.archive_enabled ? 1 : 0

  name           = "DestinationDelivery"
  log_group_name = aws_cloudwatch_log_group.archive[0].name
}

data "aws_iam_policy_document" "archive_firehose_assume_role" {
  count = local.archive_enabled ? 1 : 0

  statement {
    sid     = "FirehoseAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "archive_firehose" {
  count = local.archive_enabled ? 1 : 0

  name                 = local.archive_names.firehose_role
  description          = "Engagement scoring: events archive delivery stream (${var.name_prefix})"
  assume_role_policy   = data.aws_iam_policy_document.archive_firehose_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "archive_firehose" {
  count = local.archive_enabled ? 1 : 0

  statement {
    sid = "ReadIngestStream"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = [local.stream_arn]
  }

  dynamic "statement" {
    for_each = local.stream_kms_key_arn == null ? [] : [local.stream_kms_key_arn]
    content {
      sid       = "DecryptIngestStream"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["kinesis.${local.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid = "WriteArchiveObjects"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:GetBucketLocation",
      "s3:GetObject",
      "s3:ListBucket",
      "s3:ListBucketMultipartUploads",
      "s3:PutObject",
    ]
    resources = [local.archive_bucket_arn, "${local.archive_bucket_arn}/*"]
  }

  statement {
    sid       = "EncryptArchiveObjects"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.archive_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }

    # With S3 bucket keys the context is the bucket, without them the object.
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [local.archive_bucket_arn, "${local.archive_bucket_arn}/*"]
    }
  }

  statement {
    sid       = "WriteDeliveryErrors"
    actions   = ["logs:PutLogEvents"]
    resources = ["${local.archive_log_group_arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "archive_firehose" {
  count = local.archive_enabled ? 1 : 0

  name   = "archive"
  role   = aws_iam_role.archive_firehose[0].id
  policy = data.aws_iam_policy_document.archive_firehose[0].json
}

resource "aws_kinesis_firehose_delivery_stream" "archive" {
  count = local.archive_enabled ? 1 : 0

  # A Kinesis-sourced delivery stream takes no server-side encryption of its own (that is for Direct PUT): the
  # records stay encrypted in the stream, in transit (TLS) and in S3 (SSE-KMS below).
  #checkov:skip=CKV_AWS_240:Kinesis source: Firehose SSE applies to Direct PUT only; the stream and the objects are encrypted
  #checkov:skip=CKV_AWS_241:Kinesis source: Firehose SSE applies to Direct PUT only; the stream and the objects are encrypted
  name        = local.archive_names.firehose
  destination = "extended_s3"

  kinesis_source_configuration {
    kinesis_stream_arn = local.ingest_stream_arn
    role_arn           = aws_iam_role.archive_firehose[0].arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.archive_firehose[0].arn
    bucket_arn          = local.archive_bucket_arn
    prefix              = "${local.archive_names.events_prefix}dt=!{timestamp:yyyy-MM-dd}/"
    error_output_prefix = "${local.archive_names.errors_prefix}!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    buffering_size      = var.archive_buffering.size_mb
    buffering_interval  = var.archive_buffering.interval_seconds
    compression_format  = "GZIP"
    kms_key_arn         = local.archive_kms_key_arn

    # One record a line: the records are written as they arrived, each followed by a newline.
    processing_configuration {
      enabled = true

      processors {
        type = "AppendDelimiterToRecord"
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.archive[0].name
      log_stream_name = aws_cloudwatch_log_stream.archive[0].name
    }
  }

  tags = var.tags

  # Firehose checks at creation that its role can read the stream and write the bucket.
  depends_on = [
    aws_iam_role_policy.archive_firehose,
    aws_s3_bucket_policy.archive,
    aws_s3_bucket_server_side_encryption_configuration.archive,
  ]
}

# ---------------------------------------------------------------------------------------------------------------------
# The SMS event-log route, decoded: the stream above carries CloudWatch Logs subscription records (gzip), which it
# writes as binary bytes that no SQL reads. A second subscription on the module's SMS event log group (a log group
# takes two) puts the same log events into a second, Direct PUT delivery stream that gunzips them (Decompression)
# and keeps each log event's message, the bare SMS event JSON (CloudWatchLogProcessing, DataMessageExtraction), one
# a line, into the same bucket, prefix, partitions, key and lifecycle: the Glue table and every query read them.
# Its objects are named after the stream (<p>-sms-archive-1-...), so the two routes are told apart. The gzip
# copies on the Kinesis route still give no row, so no event counts twice.
# ---------------------------------------------------------------------------------------------------------------------

locals {
  archive_sms_logs_enabled = local.archive_enabled && local.sms_events_enabled

  # Within the limits at the longest name_prefix (48): delivery stream names 64, IAM role names 64 characters.
  archive_sms_names = {
    firehose          = "${var.name_prefix}-sms-archive"
    firehose_role     = "${var.name_prefix}-sms-archive"
    subscription_role = "${var.name_prefix}-sms-log-archive"
    log_stream        = "SmsEventLogDelivery"
  }
  archive_sms_firehose_arn = "arn:${local.partition}:firehose:${local.region}:${local.account_id}:deliverystream/${local.archive_sms_names.firehose}"
}

resource "aws_cloudwatch_log_stream" "archive_sms_logs" {
  count = local.archive_sms_logs_enabled ? 1 : 0

  name           = local.archive_sms_names.log_stream
  log_group_name = aws_cloudwatch_log_group.archive[0].name
}

# The delivery stream's own role: the archive's objects, key and log stream; it reads no Kinesis stream.
resource "aws_iam_role" "archive_sms_firehose" {
  count = local.archive_sms_logs_enabled ? 1 : 0

  name                 = local.archive_sms_names.firehose_role
  description          = "Engagement scoring: SMS event-log archive delivery stream (${var.name_prefix})"
  assume_role_policy   = data.aws_iam_policy_document.archive_firehose_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "archive_sms_firehose" {
  count = local.archive_sms_logs_enabled ? 1 : 0

  statement {
    sid = "WriteArchiveObjects"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:GetBucketLocation",
      "s3:GetObject",
      "s3:ListBucket",
      "s3:ListBucketMultipartUploads",
      "s3:PutObject",
    ]
    resources = [local.archive_bucket_arn, "${local.archive_bucket_arn}/*"]
  }

  statement {
    sid       = "EncryptArchiveObjects"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.archive_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [local.archive_bucket_arn, "${local.archive_bucket_arn}/*"]
    }
  }

  statement {
    sid       = "WriteDeliveryErrors"
    actions   = ["logs:PutLogEvents"]
    resources = ["${local.archive_log_group_arn}:log-stream:${local.archive_sms_names.log_stream}"]
  }
}

resource "aws_iam_role_policy" "archive_sms_firehose" {
  count = local.archive_sms_logs_enabled ? 1 : 0

  name   = "archive-sms-logs"
  role   = aws_iam_role.archive_sms_firehose[0].id
  policy = data.aws_iam_policy_document.archive_sms_firehose[0].json
}

resource "aws_kinesis_firehose_delivery_stream" "archive_sms_logs" {
  count = local.archive_sms_logs_enabled ? 1 : 0

  name        = local.archive_sms_names.firehose
  destination = "extended_s3"

  # Direct PUT (CloudWatch Logs puts the records): encrypted at rest with the archive's key (Firehose holds a
  # grant on it; the producer needs no key permission).
  server_side_encryption {
    enabled  = true
    key_type = "CUSTOMER_MANAGED_CMK"
    key_arn  = local.archive_kms_key_arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.archive_sms_firehose[0].arn
    bucket_arn          = local.archive_bucket_arn
    prefix              = "${local.archive_names.events_prefix}dt=!{timestamp:yyyy-MM-dd}/"
    error_output_prefix = "${local.archive_names.errors_prefix}!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    buffering_size      = var.archive_buffering.size_mb
    buffering_interval  = var.archive_buffering.interval_seconds
    compression_format  = "GZIP"
    kms_key_arn         = local.archive_kms_key_arn

    # gunzip the subscription record, keep only its log events' messages, each followed by a newline.
    processing_configuration {
      enabled = true

      processors {
        type = "Decompression"

        parameters {
          parameter_name  = "CompressionFormat"
          parameter_value = "GZIP"
        }
      }

      processors {
        type = "CloudWatchLogProcessing"

        parameters {
          parameter_name  = "DataMessageExtraction"
          parameter_value = "true"
        }
      }

      processors {
        type = "AppendDelimiterToRecord"
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.archive[0].name
      log_stream_name = aws_cloudwatch_log_stream.archive_sms_logs[0].name
    }
  }

  tags = var.tags

  # Firehose checks at creation that its role can write the bucket.
  depends_on = [
    aws_iam_role_policy.archive_sms_firehose,
    aws_s3_bucket_policy.archive,
    aws_s3_bucket_server_side_encryption_configuration.archive,
  ]
}

# CloudWatch Logs' role for the second subscription: put records into that delivery stream only.
data "aws_iam_policy_document" "archive_sms_subscription" {
  count = local.archive_sms_logs_enabled ? 1 : 0

  statement {
    sid       = "PutEventLogRecords"
    actions   = ["firehose:PutRecord", "firehose:PutRecordBatch"]
    resources = [local.archive_sms_firehose_arn]
  }
}

resource "aws_iam_role" "archive_sms_subscription" {
  count = local.archive_sms_logs_enabled ? 1 : 0

  name                 = local.archive_sms_names.subscription_role
  description          = "Engagement scoring: CloudWatch Logs puts SMS event records into ${local.archive_sms_names.firehose}"
  assume_role_policy   = data.aws_iam_policy_document.sms_log_subscription_assume_role[0].json
  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary

  tags = var.tags
}

resource "aws_iam_role_policy" "archive_sms_subscription" {
  count = local.archive_sms_logs_enabled ? 1 : 0

  name   = "put-event-log-records"
  role   = aws_iam_role.archive_sms_subscription[0].id
  policy = data.aws_iam_policy_document.archive_sms_subscription[0].json
}

resource "aws_cloudwatch_log_subscription_filter" "archive_sms_logs" {
  count = local.archive_sms_logs_enabled ? 1 : 0

  name            = "${var.name_prefix}-events-archive"
  log_group_name  = aws_cloudwatch_log_group.sms_events[0].name
  filter_pattern  = "" # every log event, as the stream's subscription
  destination_arn = aws_kinesis_firehose_delivery_stream.archive_sms_logs[0].arn
  role_arn        = aws_iam_role.archive_sms_subscription[0].arn

  # CloudWatch Logs checks at creation that the role can put into the delivery stream.
  depends_on = [aws_iam_role_policy.archive_sms_subscription]
}

# ---------------------------------------------------------------------------------------------------------------------
# Glue table and Athena
# ---------------------------------------------------------------------------------------------------------------------

resource "aws_glue_catalog_database" "archive" {
  count = local.archive_enabled ? 1 : 0

  name        = local.archive_names.glue_database
  description = "Engagement scoring (${var.name_prefix}): events archive"
}

resource "aws_glue_catalog_table" "archive" {
  count = local.archive_enabled ? 1 : 0

  name          = local.archive_names.glue_table
  database_name = aws_glue_catalog_database.archive[0].name
  description   = "One record a line: a Kinesis record as the stream carried it, or an SMS event-log message (${local.archive_sms_names.firehose} objects); partition dt = the UTC day Firehose received it"
  table_type    = "EXTERNAL_TABLE"

  # Partition projection: Athena derives the partitions from the dates, no crawler and no MSCK REPAIR.
  parameters = {
    "EXTERNAL"                    = "TRUE"
    "classification"              = "text"
    "compressionType"             = "gzip"
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "${var.archive_projection_start_date},NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "storage.location.template"   = "s3://${local.archive_bucket_name}/${local.archive_names.events_prefix}dt=$${dt}/"
  }

  partition_keys {
    name = "dt"
    type = "string"
  }

  storage_descriptor {
    location      = "s3://${local.archive_bucket_name}/${local.archive_names.events_prefix}"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

    # The whole line in one column: \u0001 never occurs in valid JSON text (control characters are escaped).
    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
      parameters = {
        "field.delim"          = "\u0001"
        "serialization.format" = "\u0001"
      }
    }

    columns {
      name    = "line"
      type    = "string"
      comment = "the record's bytes as text"
    }
  }
}

resource "aws_athena_workgroup" "archive" {
  count = local.archive_enabled ? 1 : 0

  name          = local.archive_names.workgroup
  description   = "Engagement scoring (${var.name_prefix}): queries over the events archive"
  force_destroy = var.archive_force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.archive_athena_bytes_scanned_cutoff == 0 ? null : var.archive_athena_bytes_scanned_cutoff

    result_configuration {
      output_location = "s3://${local.archive_bucket_name}/${local.archive_names.results_prefix}"

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = local.archive_kms_key_arn
      }
    }
  }

  tags = var.tags
}

resource "aws_athena_named_query" "archive" {
  for_each = local.archive_enabled ? local.archive_queries : {}

  name        = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  description = each.value
  workgroup   = aws_athena_workgroup.archive[0].id
  database    = aws_glue_catalog_database.archive[0].name
  query = templatefile("${path.module}/sql/${each.key}.sql", merge(local.archive_query_vars, {
    archive_events = templatefile("${path.module}/sql/archive_events.sql", local.archive_query_vars)
  }))
}
