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
  description = "Create a Pinpoint application and wire it in (event stream in, endpoint scores out). Amazon Pinpoint reached end of support on 2026-10-30: set false where it is no longer available."
  type        = bool
  default     = true
  nullable    = false
}

variable "deletion_protection_enabled" {
  description = "DynamoDB deletion protection of the module's tables (the module's default: on). The simulator's aws target turns it off for the stacks it destroys."
  type        = bool
  default     = true
  nullable    = false
}
