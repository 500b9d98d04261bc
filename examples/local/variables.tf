variable "aws_endpoint_url" {
  description = "Endpoint of the AWS emulator every service is routed to, e.g. http://127.0.0.1:5000."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^https?://[^/\\s]+/?$", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be an http(s) URL without a path, e.g. http://127.0.0.1:5000."
  }
}

variable "aws_region" {
  description = "Region the emulator serves."
  type        = string
  default     = "us-east-1"
  nullable    = false
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "engagement-local"
  nullable    = false
}

variable "score_rules" {
  description = "Scoring rules (see the module's score_rules); null keeps the module's default table."
  type = list(object({
    event_type         = string
    points             = number
    channel            = optional(string)
    once_per_message   = optional(bool, false)
    max_points         = optional(number)
    limit_period_hours = optional(number)
  }))
  default = null
}

variable "window_rules" {
  description = "Window rules (see the module's window_rules), e.g. --tf-var window_rules='[{\"name\":\"three_clicks\",\"event_types\":[\"_email.click\"],\"threshold\":3,\"window_hours\":168}]'."
  type = list(object({
    name         = string
    event_types  = list(string)
    measure      = optional(string, "count")
    metric       = optional(string)
    threshold    = number
    window_hours = optional(number)
    from         = optional(string)
    to           = optional(string)
    channel      = optional(string)
  }))
  default  = []
  nullable = false
}

variable "tiers" {
  description = "Score tiers (see the module's tiers); null keeps the module's default cold/warm/hot."
  type = list(object({
    name      = string
    min_score = number
  }))
  default = null
}

variable "user_key_mode" {
  description = "auto, endpoint_id or user_id (see the module)."
  type        = string
  default     = "auto"
  nullable    = false
}

variable "decay_half_life_hours" {
  description = "Half-life of score decay in hours; 0 turns decay off."
  type        = number
  default     = 0
  nullable    = false
}

variable "score_publish_min_delta" {
  description = "Publication threshold in points (see the module's score_publish_min_delta); null keeps the module's default."
  type        = number
  default     = null
}

variable "tier_hysteresis_points" {
  description = "Tier hysteresis in points (see the module's tier_hysteresis_points); null keeps the module's default."
  type        = number
  default     = null
}

variable "refresher_schedule_minutes" {
  description = "Refresher schedule with decay on or a sliding window rule, in minutes (the simulator also invokes it itself, with its clock)."
  type        = number
  default     = 15
  nullable    = false
}

variable "score_floor" {
  description = "Lowest visible score; null = unbounded."
  type        = number
  default     = null
}

variable "score_ceiling" {
  description = "Highest visible score; null = unbounded."
  type        = number
  default     = null
}

variable "scorer_batch_size" {
  description = "Largest number of Kinesis records per scorer invocation."
  type        = number
  default     = 500
  nullable    = false
}

variable "score_sync_batch_size" {
  description = "Largest number of score changes per score sync invocation."
  type        = number
  default     = 100
  nullable    = false
}

variable "parallelization_factor" {
  description = "Concurrent batches per shard, for both event source mappings."
  type        = number
  default     = 1
  nullable    = false
}

variable "starting_position" {
  description = "Starting position of both event source mappings; TRIM_HORIZON so the simulator's local runner sees every record it produced."
  type        = string
  default     = "TRIM_HORIZON"
  nullable    = false
}

variable "pinpoint_application_id" {
  description = "Pinpoint application id, created beforehand with boto3 (aws_pinpoint_app cannot be applied against moto); null = no Pinpoint wiring."
  type        = string
  default     = null
}

variable "create_pinpoint_event_stream" {
  description = "With pinpoint_application_id set: create the application's event stream into the Kinesis stream."
  type        = bool
  default     = true
  nullable    = false
}

variable "create_event_bus" {
  description = "Create an EventBridge bus for the score sync, with an observer rule that copies its events into an SQS queue the simulator reads."
  type        = bool
  default     = true
  nullable    = false
}

variable "log_level" {
  description = "LOG_LEVEL of both functions."
  type        = string
  default     = "INFO"
  nullable    = false
}

variable "tags" {
  description = "Tags added to every taggable resource. Empty by default: moto 5.2 drops the tags of CreateStream, so any tag makes every re-plan on moto show a tag update of the Kinesis stream."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "sms_configuration_set_names" {
  description = "End User Messaging configuration sets whose events the module's SMS log group takes (see the module); non-empty = the log group and its subscription filter into the stream exist, so the simulator can put SMS events through that route (--route-share)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "create_sms_inbound_topic" {
  description = "Create the module's SNS topic -> SQS -> pipe route for inbound SMS (STOP replies), so the simulator can publish replies through it (--route-share)."
  type        = bool
  default     = false
  nullable    = false
}

variable "customer_profiles_domain_name" {
  description = "Customer Profiles domain the score sync writes to (see the module); null = sink off. The embedded cloud creates this domain in its Customer Profiles stand-in before the apply and passes its name."
  type        = string
  default     = null
}

variable "machine_engagement" {
  description = "The module's machine_engagement policy. The default lists the simulator's link scanner (simulator/successor.py, SCANNER_USER_AGENT), so the scanner's first click of a message weighs 0 too (burst flags only the later ones) and make simulate exercises scanner_list; weights keep the module's defaults."
  type = object({
    weights                     = optional(map(number), {})
    privacy_proxy_user_agents   = optional(list(string), ["Mozilla/5.0"])
    privacy_proxy_cidrs         = optional(list(string), [])
    scanner_user_agents         = optional(list(string), [])
    scanner_cidrs               = optional(list(string), [])
    send_time_proximity_seconds = optional(number, 10)
    burst_window_ms             = optional(number, 1000)
    burst_min_links             = optional(number, 2)
  })
  default  = { scanner_user_agents = ["ExampleLinkScanner"] }
  nullable = false
}

variable "attribution_enabled" {
  description = "Campaign attribution (see the module's attribution_enabled). Off here by default, so the local runs and the tests built on them cost what they did (with it, touch users write with a transaction); --tf-var attribution_enabled=true turns it on, and the simulator then checks the campaign table against its oracle."
  type        = bool
  default     = false
}

variable "attribution_touch_event_types" {
  description = "See the module's attribution_touch_event_types; null keeps its default."
  type        = list(string)
  default     = null
}

variable "attribution_lookback_hours" {
  description = "See the module's attribution_lookback_hours; null keeps its default (168)."
  type        = number
  default     = null
}

variable "attribution_max_touches" {
  description = "See the module's attribution_max_touches; null keeps its default (50)."
  type        = number
  default     = null
}

variable "conversion_rules" {
  description = "See the module's conversion_rules, e.g. --tf-var conversion_rules='[{\"event_type\":\"signup\"}]'; null keeps its default."
  type = list(object({
    event_type      = string
    value_metric    = optional(string)
    quantity_metric = optional(string)
  }))
  default = null
}

variable "campaign_costs" {
  description = "See the module's campaign_costs (campaign => spend); null keeps its default (none)."
  type        = map(number)
  default     = null
}
