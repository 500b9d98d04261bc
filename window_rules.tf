# Window rules and point limits (#10; docs/scoring.md, "Window rules" and "Point limits"): what reaches the
# scorer's environment and the score_rules table. Kept in locals so that plan tests render them alone.

locals {
  # WINDOW_RULES only when some are set: the scorer (and the refresher) read a missing variable as no
  # window rules.
  window_rules_environment = length(var.window_rules) == 0 ? {} : { WINDOW_RULES = jsonencode(var.window_rules) }

  # A sliding rule (window_hours) changes with time alone: the refresher clears it when its window empties.
  sliding_window_rules = anytrue([for rule in var.window_rules : rule.window_hours != null])
  # The refresher (refresher.tf) and its `due` index (dynamodb.tf): with decay, or with a sliding rule.
  refresher_wanted = var.decay_half_life_hours > 0 || local.sliding_window_rules

  # One score_rules item per rule (DynamoDB JSON); only the attributes a rule sets are written, so the
  # items stay minimal and re-plans show no diff. A limit without a period is a UTC day (24 hours).
  score_rule_items = {
    for rule in var.score_rules : rule.event_type => jsonencode(merge(
      {
        event_type = { S = rule.event_type }
        points     = { N = tostring(rule.points) }
      },
      rule.channel == null ? {} : { channel = { S = rule.channel } },
      rule.once_per_message ? { once_per_message = { BOOL = true } } : {},
      rule.max_points == null ? {} : {
        max_points         = { N = tostring(rule.max_points) }
        limit_period_hours = { N = tostring(coalesce(rule.limit_period_hours, 24)) }
      },
    ))
  }
}
