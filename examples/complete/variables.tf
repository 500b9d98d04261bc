variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
  nullable    = false
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "engagement-complete"
  nullable    = false
}

variable "enable_pinpoint" {
  description = "Create a Pinpoint application and wire it in (event stream in, endpoint scores out). Amazon Pinpoint reached end of support on 2026-10-30, so this is off; set true only where Pinpoint is still available."
  type        = bool
  default     = false
  nullable    = false
}

variable "ses_configuration_set_names" {
  description = "SES configuration sets to create and score (send with --configuration-set-name and the tags user_key, campaign)."
  type        = list(string)
  default     = ["engagement-marketing", "engagement-transactional"]
  nullable    = false
}

variable "sms_configuration_set_names" {
  description = "End User Messaging SMS configuration sets to create and score (send with --configuration-set-name and the context keys user_key, campaign)."
  type        = list(string)
  default     = ["engagement-sms"]
  nullable    = false
}

variable "deletion_protection_enabled" {
  description = "DynamoDB deletion protection of the module's tables (the module's default: on). The simulator's aws target turns it off for the stacks it destroys."
  type        = bool
  default     = true
  nullable    = false
}
