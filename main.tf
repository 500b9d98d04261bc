data "aws_caller_identity" "current" {
  count = local.create ? 1 : 0
}

data "aws_partition" "current" {
  count = local.create ? 1 : 0
}

# The region comes from the ARN of the account's default event bus, which exists in every region: the
# aws_region data source's `name` is deprecated in provider 6.x and its replacement `region` is missing in
# 5.x. A data source (not a resource) keeps the ARNs below, and so the IAM policies, known at plan time.
data "aws_cloudwatch_event_bus" "default" {
  count = local.create ? 1 : 0

  name = "default"
}

locals {
  # With create = false nothing is read or created; "" keeps the ARNs below well-formed and unused.
  create     = var.create
  account_id = try(data.aws_caller_identity.current[0].account_id, "")
  partition  = try(data.aws_partition.current[0].partition, "aws")
  region     = try(element(split(":", data.aws_cloudwatch_event_bus.default[0].arn), 3), "")

  names = {
    stream                 = "${var.name_prefix}-events"
    score_rules_table      = "${var.name_prefix}-score-rules"
    user_scores_table      = "${var.name_prefix}-user-scores"
    processed_events_table = "${var.name_prefix}-processed-events"
    scorer                 = "${var.name_prefix}-scorer"
    score_sync             = "${var.name_prefix}-score-sync"
    failure_queue          = "${var.name_prefix}-failures"
    pinpoint_stream_role   = "${var.name_prefix}-pinpoint-stream"
  }

  # ARNs are built from names (not read from resources) so that the IAM policies are known at plan
  # time: reviewers and the plan tests see every statement before anything exists.
  arn_prefix = {
    dynamodb = "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}"
    logs     = "arn:${local.partition}:logs:${local.region}:${local.account_id}"
  }

  create_stream = local.create && var.existing_kinesis_stream_arn == null
  # Policies use this ARN built from the name; wiring (mappings, Pinpoint) uses ingest_stream_arn,
  # read from the resource, so that it waits for the stream to exist.
  stream_arn        = coalesce(var.existing_kinesis_stream_arn, "arn:${local.partition}:kinesis:${local.region}:${local.account_id}:stream/${local.names.stream}")
  stream_name       = element(split("/", local.stream_arn), 1)
  ingest_stream_arn = local.create_stream ? aws_kinesis_stream.this[0].arn : var.existing_kinesis_stream_arn
  # The key that encrypts the ingest stream, when readers and writers need permission to use it.
  stream_kms_key_arn = local.create_stream ? var.kms_key_arn : var.existing_kinesis_stream_kms_key_arn

  table_arns = {
    score_rules      = "${local.arn_prefix.dynamodb}:table/${local.names.score_rules_table}"
    user_scores      = "${local.arn_prefix.dynamodb}:table/${local.names.user_scores_table}"
    processed_events = "${local.arn_prefix.dynamodb}:table/${local.names.processed_events_table}"
  }
  failure_queue_arn = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.names.failure_queue}"
  log_group_names = {
    scorer     = "/aws/lambda/${local.names.scorer}"
    score_sync = "/aws/lambda/${local.names.score_sync}"
  }

  pinpoint_enabled             = var.pinpoint_application_id != null
  create_pinpoint_event_stream = local.create && local.pinpoint_enabled && var.create_pinpoint_event_stream
  pinpoint_application_arn     = local.pinpoint_enabled ? "arn:${local.partition}:mobiletargeting:${local.region}:${local.account_id}:apps/${var.pinpoint_application_id}" : null
  event_bus_enabled            = var.event_bus_arn != null
  score_rules_by_event_type    = { for rule in var.score_rules : rule.event_type => rule }
  scorer_kms_key_arns          = distinct(compact([var.kms_key_arn, local.stream_kms_key_arn]))
}

# One zip of lambda_src/ serves both functions; the handler string selects the entry point.
#
# Saved plans (plan on one runner, apply the plan file on another, clean one): a data source is read at plan
# time and its zip exists only where the plan ran. So the zip's sources are hashed at plan time (names and
# contents, as the zip holds them) into terraform_data.lambda_source: when they change, or on the first
# deploy, that resource plans a replacement, which defers the read of archive_file to apply, on the runner
# that applies, and the functions' source_code_hash is "known after apply". When they do not change, the
# zip is built at plan and the functions plan no code change, so the applying runner needs no zip. The zip
# is deterministic (fixed timestamps and modes, entries in a fixed order, in the archive provider and in the
# offline stand-in), so a later plan on any runner computes the hash the functions already have.
locals {
  lambda_source_dir = "${path.module}/lambda_src"
  lambda_source_files = sort([
    for file in fileset(local.lambda_source_dir, "**") : file
    if !strcontains(file, "__pycache__") && !endswith(file, ".pyc")
  ])
  lambda_source_hash = sha256(join("\n", [
    for file in local.lambda_source_files : "${file} ${filesha256("${local.lambda_source_dir}/${file}")}"
  ]))
}

resource "terraform_data" "lambda_source" {
  count = local.create ? 1 : 0

  triggers_replace = local.lambda_source_hash
}

data "archive_file" "this" {
  count = local.create ? 1 : 0

  type        = "zip"
  source_dir  = local.lambda_source_dir
  output_path = "${path.module}/build/lambda/${var.name_prefix}-engagement-scoring.zip"
  excludes    = ["**/__pycache__", "**/*.pyc", "__pycache__", "*.pyc"]
  # Fixed file modes make the zip, and so source_code_hash, the same on every machine.
  output_file_mode = "0644"

  depends_on = [terraform_data.lambda_source]
}
