# Campaign attribution (#11, docs/attribution.md): the per-campaign table the scorer credits, the scorer's
# settings, and its rights on the table and on the processed_events side items (touches t#<user>, conversion
# ledger c#<user>#<digest>), which it writes with Put actions inside its TransactWriteItems.

locals {
  attribution_enabled        = local.create && var.attribution_enabled
  campaign_attribution_table = "${var.name_prefix}-campaign-attribution"
  campaign_attribution_arn   = "${local.arn_prefix.dynamodb}:table/${local.campaign_attribution_table}"

  attribution_environment = local.attribution_enabled ? {
    CAMPAIGN_ATTRIBUTION_TABLE    = one(aws_dynamodb_table.campaign_attribution[*].name)
    ATTRIBUTION_TOUCH_EVENT_TYPES = jsonencode(var.attribution_touch_event_types)
    ATTRIBUTION_LOOKBACK_HOURS    = tostring(var.attribution_lookback_hours)
    ATTRIBUTION_MAX_TOUCHES       = tostring(var.attribution_max_touches)
    # Optional metrics as null are left out, so the scorer reads them as absent.
    CONVERSION_RULES = jsonencode([
      for rule in var.conversion_rules : { for key, value in rule : key => value if value != null }
    ])
  } : {}
}

# Like the other tables: on demand, deletion protection and point-in-time recovery (inputs), the customer key
# when kms_key_arn is set.
resource "aws_dynamodb_table" "campaign_attribution" {
  count = local.attribution_enabled ? 1 : 0

  name                        = local.campaign_attribution_table
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = var.deletion_protection_enabled
  hash_key                    = "campaign"

  attribute {
    name = "campaign"
    type = "S"
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }

  dynamic "server_side_encryption" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      enabled     = true
      kms_key_arn = server_side_encryption.value
    }
  }

  tags = var.tags

  lifecycle {
    # A cross-input rule (a validation block may not name another variable before Terraform 1.9).
    precondition {
      condition     = length(setintersection(toset([for rule in var.conversion_rules : rule.event_type]), toset(var.attribution_touch_event_types))) == 0
      error_message = "An event type cannot be both in attribution_touch_event_types and in conversion_rules."
    }
  }
}

data "aws_iam_policy_document" "scorer_attribution" {
  count = local.attribution_enabled ? 1 : 0

  # Put actions of the scorer's TransactWriteItems (authorised per item action): the touches item and the
  # conversion ledger items.
  statement {
    sid       = "WriteTouchesAndConversionLedger"
    actions   = ["dynamodb:PutItem"]
    resources = [local.table_arns.processed_events]
  }

  # The campaign ADDs, in the same transaction.
  statement {
    sid       = "CreditCampaigns"
    actions   = ["dynamodb:UpdateItem"]
    resources = [local.campaign_attribution_arn]
  }
}

resource "aws_iam_role_policy" "scorer_attribution" {
  count = local.attribution_enabled ? 1 : 0

  name   = "attribution"
  role   = aws_iam_role.function["scorer"].id
  policy = data.aws_iam_policy_document.scorer_attribution[0].json
}

# The campaign_costs input, for the report (python -m engagement_scoring.report reads it from the table it
# reports on, so --table alone is enough; --costs-json overrides it): one item under the reserved campaign
# `(costs)`, `costs` = campaign -> spend. The scorer never writes it (it credits no campaign of that name),
# so Terraform owns the whole item without drift; a change of the costs is one PutItem, no Lambda update.
resource "aws_dynamodb_table_item" "campaign_costs" {
  count = local.attribution_enabled && length(var.campaign_costs) > 0 ? 1 : 0

  table_name = aws_dynamodb_table.campaign_attribution[0].name
  hash_key   = aws_dynamodb_table.campaign_attribution[0].hash_key
  item = jsonencode({
    campaign = { S = "(costs)" }
    costs    = { M = { for name, cost in var.campaign_costs : name => { N = tostring(cost) } } }
  })
}
