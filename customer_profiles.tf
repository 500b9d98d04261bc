# Amazon Connect Customer Profiles sink of the score sync (docs/architecture.md, "Sinks"): optionally the domain,
# the sync's environment (lambda.tf reads local.customer_profiles_environment) and a policy on the sync's role
# with exactly the calls aws/sinks.py makes: PutProfileObject per changed user, GetProfileObjectType to check
# the object type, and PutProfileObjectType only when the sync may create the type. Provider 5.x has no object
# type resource: the sync creates it on first use, or `python -m engagement_scoring.profiles_setup` does.

locals {
  customer_profiles_enabled = local.create && var.customer_profiles_domain_name != null

  customer_profiles_domain_arn      = local.customer_profiles_enabled ? "arn:${local.partition}:profile:${local.region}:${local.account_id}:domains/${var.customer_profiles_domain_name}" : null
  customer_profiles_object_type_arn = local.customer_profiles_enabled ? "${local.customer_profiles_domain_arn}/object-types/${var.customer_profiles_object_type_name}" : null

  customer_profiles_environment = local.customer_profiles_enabled ? {
    CUSTOMER_PROFILES_DOMAIN             = var.create_customer_profiles_domain ? aws_customerprofiles_domain.this[0].domain_name : var.customer_profiles_domain_name
    CUSTOMER_PROFILES_OBJECT_TYPE        = var.customer_profiles_object_type_name
    CUSTOMER_PROFILES_CREATE_OBJECT_TYPE = tostring(var.customer_profiles_create_object_type)
  } : {}
}

resource "aws_customerprofiles_domain" "this" {
  count = local.customer_profiles_enabled && var.create_customer_profiles_domain ? 1 : 0

  domain_name             = var.customer_profiles_domain_name
  default_expiration_days = var.customer_profiles_expiration_days
  dead_letter_queue_url   = var.customer_profiles_dead_letter_queue_url
  default_encryption_key  = var.customer_profiles_kms_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "score_sync_customer_profiles" {
  count = local.customer_profiles_enabled ? 1 : 0

  statement {
    sid = "WriteScoreObjects"
    actions = concat(
      ["profile:GetProfileObjectType", "profile:PutProfileObject"],
      var.customer_profiles_create_object_type ? ["profile:PutProfileObjectType"] : [],
    )
    resources = [local.customer_profiles_domain_arn, local.customer_profiles_object_type_arn]
  }
}

resource "aws_iam_role_policy" "score_sync_customer_profiles" {
  count = local.customer_profiles_enabled ? 1 : 0

  name   = "customer-profiles"
  role   = aws_iam_role.function["score_sync"].id
  policy = data.aws_iam_policy_document.score_sync_customer_profiles[0].json
}
