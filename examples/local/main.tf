# The stack the simulator and the apply tests run against an emulator: the module, plus an EventBridge
# bus whose score events an observer rule copies into an SQS queue, so they can be read back.

locals {
  event_source = "engagement.scoring"
}

resource "aws_cloudwatch_event_bus" "scores" {
  count = var.create_event_bus ? 1 : 0

  name = "${var.name_prefix}-scores"
  tags = var.tags
}

resource "aws_sqs_queue" "observer" {
  count = var.create_event_bus ? 1 : 0

  name                    = "${var.name_prefix}-observed-events"
  sqs_managed_sse_enabled = true
  tags                    = var.tags
}

resource "aws_cloudwatch_event_rule" "observer" {
  count = var.create_event_bus ? 1 : 0

  name           = "${var.name_prefix}-observe-scores"
  description    = "Copies the score sync's events into the observer queue"
  event_bus_name = aws_cloudwatch_event_bus.scores[0].name
  event_pattern  = jsonencode({ source = [local.event_source] })
  tags           = var.tags
}

# No queue policy for EventBridge: emulators do not enforce one, and on moto each policy change costs the
# provider's ~25 s propagation wait. On AWS, a target queue needs a policy allowing events.amazonaws.com.
resource "aws_cloudwatch_event_target" "observer" {
  count = var.create_event_bus ? 1 : 0

  rule           = aws_cloudwatch_event_rule.observer[0].name
  event_bus_name = aws_cloudwatch_event_bus.scores[0].name
  target_id      = "observer-queue"
  arn            = aws_sqs_queue.observer[0].arn
}

module "engagement_scoring" {
  source = "../../"

  name_prefix = var.name_prefix
  tags        = var.tags

  # A throwaway stack on an emulator: the tables must go with `terraform destroy`.
  deletion_protection_enabled = false

  score_rules           = var.score_rules
  tiers                 = var.tiers
  user_key_mode         = var.user_key_mode
  decay_half_life_hours = var.decay_half_life_hours
  # null keeps the module's default
  score_publish_min_delta    = var.score_publish_min_delta
  tier_hysteresis_points     = var.tier_hysteresis_points
  score_floor                = var.score_floor
  score_ceiling              = var.score_ceiling
  log_level                  = var.log_level
  machine_engagement         = var.machine_engagement
  refresher_schedule_minutes = var.refresher_schedule_minutes
  window_rules               = var.window_rules
  # campaign attribution (#11); null keeps the module's default
  attribution_enabled           = var.attribution_enabled
  attribution_touch_event_types = var.attribution_touch_event_types
  attribution_lookback_hours    = var.attribution_lookback_hours
  attribution_max_touches       = var.attribution_max_touches
  conversion_rules              = var.conversion_rules
  campaign_costs                = var.campaign_costs

  scorer_batch_size                 = var.scorer_batch_size
  scorer_starting_position          = var.starting_position
  scorer_parallelization_factor     = var.parallelization_factor
  score_sync_batch_size             = var.score_sync_batch_size
  score_sync_starting_position      = var.starting_position
  score_sync_parallelization_factor = var.parallelization_factor

  customer_profiles_domain_name = var.customer_profiles_domain_name

  sms_configuration_set_names = var.sms_configuration_set_names
  create_sms_inbound_topic    = var.create_sms_inbound_topic

  pinpoint_application_id      = var.pinpoint_application_id
  create_pinpoint_event_stream = var.create_pinpoint_event_stream
  event_bus_arn                = try(aws_cloudwatch_event_bus.scores[0].arn, null)
  event_source                 = local.event_source
}
