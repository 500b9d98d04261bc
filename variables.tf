# ---------------------------------------------------------------------------------------------------------------------
# Naming and tagging
# ---------------------------------------------------------------------------------------------------------------------

variable "name_prefix" {
  description = "Prefix of every resource name (e.g. `acme-prod`). 1-48 characters: a letter first, then letters, digits, `-` or `_`, so that every derived name (IAM role `<prefix>-pinpoint-stream` <= 64 characters, Lambda function, Kinesis stream, DynamoDB tables, SQS queue) is legal."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,47}$", var.name_prefix))
    error_message = "name_prefix must be 1-48 characters, start with a letter and contain only letters, digits, '-' and '_' (the longest derived name, the IAM role '<name_prefix>-pinpoint-stream', must stay within IAM's 64 characters)."
  }
}

variable "create" {
  description = "Create the module's resources. false creates nothing (and reads nothing from AWS), e.g. to switch a deployment off per environment without removing the module block."
  type        = bool
  default     = true
  nullable    = false
}

variable "role_path" {
  description = "IAM path of every role the module creates (e.g. `/engagement/`)."
  type        = string
  default     = "/"
  nullable    = false

  validation {
    condition     = length(var.role_path) <= 512 && can(regex("^/(?:[\\x21-\\x2E\\x30-\\x7E]+/)*$", var.role_path))
    error_message = "role_path must be an IAM path: '/' or '/name/.../', at most 512 printable ASCII characters."
  }
}

variable "role_permissions_boundary" {
  description = "ARN of an IAM managed policy set as the permissions boundary of every role the module creates; null sets none."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::(?:[0-9]{12}|aws):policy/[\\x21-\\x7E]+$", var.role_permissions_boundary))
    error_message = "role_permissions_boundary must be an IAM policy ARN: arn:<partition>:iam::<account>:policy/<path><name>."
  }
}

variable "tags" {
  description = "Tags added to every taggable resource."
  type        = map(string)
  default     = {}
  nullable    = false
}

# ---------------------------------------------------------------------------------------------------------------------
# Ingest stream
# ---------------------------------------------------------------------------------------------------------------------

variable "existing_kinesis_stream_arn" {
  description = "ARN of an existing Kinesis data stream to score. When set, the module creates no stream and the stream_* inputs other than stream_retention_hours are ignored."
  type        = string
  default     = null

  validation {
    condition     = var.existing_kinesis_stream_arn == null || can(regex("^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[A-Za-z0-9_.-]{1,128}$", var.existing_kinesis_stream_arn))
    error_message = "existing_kinesis_stream_arn must be a Kinesis stream ARN: arn:<partition>:kinesis:<region>:<account>:stream/<name>."
  }
}

variable "existing_kinesis_stream_kms_key_arn" {
  description = "ARN of the customer managed KMS key that encrypts the existing stream, if any: the scorer (and the Pinpoint event stream role) get kms:Decrypt/GenerateDataKey on it. Leave null for unencrypted streams or the AWS managed key."
  type        = string
  default     = null

  validation {
    condition     = var.existing_kinesis_stream_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.existing_kinesis_stream_kms_key_arn))
    error_message = "existing_kinesis_stream_kms_key_arn must be a KMS key ARN: arn:<partition>:kms:<region>:<account>:key/<key-id>."
  }
}

variable "stream_mode" {
  description = "Capacity mode of the created Kinesis stream: ON_DEMAND or PROVISIONED (then set stream_shard_count)."
  type        = string
  default     = "ON_DEMAND"
  nullable    = false

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "stream_shard_count" {
  description = "Number of shards of the created stream when stream_mode is PROVISIONED (ignored for ON_DEMAND)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.stream_shard_count >= 1 && var.stream_shard_count <= 10000 && floor(var.stream_shard_count) == var.stream_shard_count
    error_message = "stream_shard_count must be a whole number from 1 to 10000."
  }
}

variable "stream_retention_hours" {
  description = "Retention of the created stream, in hours (24-8760). With existing_kinesis_stream_arn, set it to that stream's retention: dedupe_ttl_hours is checked against it."
  type        = number
  default     = 24
  nullable    = false

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760 && floor(var.stream_retention_hours) == var.stream_retention_hours
    error_message = "stream_retention_hours must be a whole number of hours from 24 to 8760 (Kinesis limits)."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Encryption
# ---------------------------------------------------------------------------------------------------------------------

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key for the stream, the tables, the failure queue, the log groups and the Lambda environment. Null uses AWS managed/owned keys (alias/aws/kinesis, DynamoDB's AWS owned key, SQS managed SSE). The key policy must allow those services (see examples/complete)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (not an alias): arn:<partition>:kms:<region>:<account>:key/<key-id>."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Data protection
# ---------------------------------------------------------------------------------------------------------------------

variable "deletion_protection_enabled" {
  description = "DynamoDB deletion protection on the three tables: while on, DynamoDB refuses DeleteTable, so a `terraform destroy`, or a change that replaces a table (a new name_prefix), fails instead of deleting the scores. Apply false first to remove the tables on purpose."
  type        = bool
  default     = true
  nullable    = false
}

variable "point_in_time_recovery_enabled" {
  description = "Point-in-time recovery (continuous backups, 35 days) of the score_rules and user_scores tables, and of processed_events so that both can be restored to the same time."
  type        = bool
  default     = true
  nullable    = false
}

# ---------------------------------------------------------------------------------------------------------------------
# Scoring rules and behaviour (Lambda environment, see docs/architecture.md)
# ---------------------------------------------------------------------------------------------------------------------

variable "score_rules" {
  description = "Scoring rules seeded into the score_rules table: points per event type, optional channel (email, sms, push, in_app, custom; derived from the event type prefix when null), once_per_message (count at most once per user and message), and an optional point limit: max_points (> 0, rules with positive points only) earned per UTC period of limit_period_hours (whole hours 1-8760, periods aligned to the Unix epoch; default 24 = a UTC day when max_points is set). The default is the original Pinpoint engagement scoring solution's table."
  type = list(object({
    event_type         = string
    points             = number
    channel            = optional(string)
    once_per_message   = optional(bool, false)
    max_points         = optional(number)
    limit_period_hours = optional(number)
  }))
  default = [
    { event_type = "_email.click", points = 50 },
    { event_type = "_email.open", points = 10 },
    { event_type = "_email.delivered", points = 2 },
    { event_type = "_email.hardbounce", points = -1000 },
    { event_type = "_email.complaint", points = -1000 },
    { event_type = "_email.unsubscribe", points = -500 },
    { event_type = "_SMS.SUCCESS", points = 2 },
    { event_type = "_SMS.OPTOUT", points = -500 },
    { event_type = "_campaign.send", points = 2 },
    { event_type = "_campaign.opened_notification", points = 50 },
    { event_type = "_campaign.received_foreground", points = 2 },
    { event_type = "_campaign.received_background", points = 2 },
    { event_type = "_session.start", points = 2 },
    { event_type = "_userauth.sign_up", points = 50 },
    { event_type = "_monetization.purchase", points = 100 },
  ]
  nullable = false

  validation {
    condition = alltrue([
      for rule in var.score_rules : try(can(regex("^[A-Za-z0-9_](?:[A-Za-z0-9_.:/ -]{0,126}[A-Za-z0-9_.:/-])?$", rule.event_type)), false)
    ])
    error_message = "Every score_rules entry needs an event_type of 1-128 characters: letters, digits, '_', '.', ':', '/', '-' and inner spaces (e.g. \"_email.open\", \"webinar_attended\")."
  }

  validation {
    condition     = alltrue([for rule in var.score_rules : try(rule.points != null && abs(rule.points) <= 1000000, false)])
    error_message = "Every score_rules entry needs points between -1000000 and 1000000."
  }

  validation {
    condition     = alltrue([for rule in var.score_rules : try(rule.channel == null ? true : contains(["email", "sms", "push", "in_app", "custom"], rule.channel), false)])
    error_message = "A score_rules channel must be one of email, sms, push, in_app, custom (or omitted to derive it from the event type)."
  }

  validation {
    condition     = alltrue([for rule in var.score_rules : try(rule.once_per_message != null, false)])
    error_message = "A score_rules once_per_message must be true or false (omit it for false)."
  }

  validation {
    condition     = length(distinct([for rule in var.score_rules : try(rule.event_type, null)])) == length(var.score_rules)
    error_message = "score_rules event_type values must be unique: each event type has exactly one rule."
  }

  validation {
    condition = alltrue([
      for rule in var.score_rules : try(rule.max_points == null ? true : rule.max_points > 0 && rule.max_points <= 1000000000 && rule.points > 0, false)
    ])
    error_message = "A score_rules max_points must be greater than 0 (at most 1000000000) and needs positive points: a limit caps what a rule earns."
  }

  validation {
    condition = alltrue([
      for rule in var.score_rules : try(rule.limit_period_hours == null ? true : rule.max_points != null && floor(rule.limit_period_hours) == rule.limit_period_hours && rule.limit_period_hours >= 1 && rule.limit_period_hours <= 8760, false)
    ])
    error_message = "A score_rules limit_period_hours needs max_points and must be a whole number of hours from 1 to 8760 (periods are aligned to the Unix epoch: 24 is a UTC day)."
  }
}

variable "window_rules" {
  description = "Window rules evaluated in the scorer's per-user write: a rule is matched while its measure (count of events, or sum of the event metric named by metric) over its window is >= threshold. Window: window_hours (sliding, whole hours 1-2160, edge rounded out to the hour), or from / to (UTC dates YYYY-MM-DD, inclusive; stays matched after to), or neither (all time). event_types need no score rule; channel (optional) keeps only events of that channel. Matched rule names are in the user item's rules, EventBridge EngagementRuleMatched / EngagementRuleCleared, and the Customer Profiles object. See docs/scoring.md, \"Window rules\"."
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

  validation {
    condition     = length(var.window_rules) <= 25
    error_message = "At most 25 window_rules."
  }

  validation {
    condition     = alltrue([for rule in var.window_rules : can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", rule.name))])
    error_message = "Every window_rules name must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit (it becomes a DynamoDB map key and an EventBridge detail value)."
  }

  validation {
    condition     = length(distinct([for rule in var.window_rules : rule.name])) == length(var.window_rules)
    error_message = "window_rules names must be unique."
  }

  validation {
    condition     = alltrue([for rule in var.window_rules : length(rule.event_types) >= 1 && length(rule.event_types) <= 20 && alltrue([for t in rule.event_types : length(t) > 0])])
    error_message = "Every window_rules entry needs 1 to 20 non-empty event_types."
  }

  validation {
    condition     = alltrue([for rule in var.window_rules : contains(["count", "sum"], rule.measure)])
    error_message = "A window_rules measure must be count or sum."
  }

  validation {
    condition     = alltrue([for rule in var.window_rules : rule.measure == "sum" ? can(regex("^[A-Za-z0-9_.:-]{1,128}$", rule.metric)) : rule.metric == null])
    error_message = "A window_rules entry with measure sum needs metric (the event metric to add: 1-128 of A-Z a-z 0-9 _ . : -); metric is only for sum."
  }

  validation {
    condition     = alltrue([for rule in var.window_rules : rule.threshold > 0])
    error_message = "A window_rules threshold must be greater than 0."
  }

  validation {
    condition     = alltrue([for rule in var.window_rules : rule.window_hours == null || (rule.from == null && rule.to == null)])
    error_message = "A window_rules entry has either window_hours (a sliding window) or from / to (a date range), not both."
  }

  validation {
    condition     = alltrue([for rule in var.window_rules : rule.window_hours == null ? true : floor(rule.window_hours) == rule.window_hours && rule.window_hours >= 1 && rule.window_hours <= 2160])
    error_message = "A window_rules window_hours must be a whole number of hours from 1 to 2160 (90 days)."
  }

  validation {
    condition     = alltrue([for rule in var.window_rules : rule.window_hours == null || rule.measure != "count" ? true : floor(rule.threshold) == rule.threshold && rule.threshold <= 50])
    error_message = "A sliding count rule (window_hours with measure count) needs a whole-number threshold of at most 50 (the scorer keeps that many event hours per user)."
  }

  validation {
    condition = alltrue(flatten([
      for rule in var.window_rules : [
        for date in compact([rule.from, rule.to]) : can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", date)) && can(formatdate("YYYY", "${date}T00:00:00Z"))
      ]
    ]))
    error_message = "A window_rules from / to must be a UTC calendar date YYYY-MM-DD."
  }

  validation {
    condition     = alltrue([for rule in var.window_rules : rule.from == null || rule.to == null ? true : try(tonumber(replace(rule.from, "-", "")) <= tonumber(replace(rule.to, "-", "")), true)])
    error_message = "A window_rules to must not be before its from."
  }

  validation {
    condition     = alltrue([for rule in var.window_rules : rule.channel == null ? true : contains(["email", "sms", "push", "in_app", "custom"], rule.channel)])
    error_message = "A window_rules channel must be one of email, sms, push, in_app, custom (or omitted for every channel)."
  }
}

variable "attribution_enabled" {
  description = "Campaign attribution (docs/attribution.md): the scorer records touches and credits each conversion, exactly once, to the per-campaign table it creates (<name_prefix>-campaign-attribution). Users whose batch holds a touch or a conversion then write with a TransactWriteItems; users without cost nothing more. Off by default: B6 (make bench) has not measured what it adds per million events yet."
  type        = bool
  default     = false
  nullable    = false
}

variable "attribution_touch_event_types" {
  description = "Event types that are attribution touches when the event carries a campaign (they need no score rule). At most one touch per campaign, message id and event type counts."
  type        = list(string)
  default     = ["_email.open", "_email.click", "_SMS.SUCCESS", "_campaign.opened_notification"]
  nullable    = false

  validation {
    condition     = length(var.attribution_touch_event_types) <= 50 && alltrue([for t in var.attribution_touch_event_types : length(t) >= 1 && length(t) <= 256])
    error_message = "attribution_touch_event_types: at most 50 event types, each 1 to 256 characters."
  }

  validation {
    condition     = length(distinct(var.attribution_touch_event_types)) == length(var.attribution_touch_event_types)
    error_message = "attribution_touch_event_types must not repeat an event type."
  }
}

variable "attribution_lookback_hours" {
  description = "Attribution window: a conversion at time t is credited to the touches with event time in [t - attribution_lookback_hours, t] that the scorer saw before it."
  type        = number
  default     = 168
  nullable    = false

  validation {
    condition     = floor(var.attribution_lookback_hours) == var.attribution_lookback_hours && var.attribution_lookback_hours >= 1 && var.attribution_lookback_hours <= 2160
    error_message = "attribution_lookback_hours must be a whole number of hours from 1 to 2160 (90 days)."
  }
}

variable "attribution_max_touches" {
  description = "Touches kept per user: the most recent, within the look-back of the newest touch."
  type        = number
  default     = 50
  nullable    = false

  validation {
    condition     = floor(var.attribution_max_touches) == var.attribution_max_touches && var.attribution_max_touches >= 1 && var.attribution_max_touches <= 50
    error_message = "attribution_max_touches must be a whole number from 1 to 50 (one conversion's credit must fit a DynamoDB transaction)."
  }
}

variable "conversion_rules" {
  description = "Conversion event types (they need no score rule) and their value: value_metric x quantity_metric from the event's metrics. A quantity_metric missing from the rule or the event counts 1; a value_metric missing from the rule or the event gives value 0 (the conversion still counts)."
  type = list(object({
    event_type      = string
    value_metric    = optional(string)
    quantity_metric = optional(string)
  }))
  default  = [{ event_type = "_monetization.purchase", value_metric = "_item_price", quantity_metric = "_quantity" }]
  nullable = false

  validation {
    condition     = length(var.conversion_rules) <= 20 && alltrue([for rule in var.conversion_rules : length(rule.event_type) >= 1 && length(rule.event_type) <= 256])
    error_message = "conversion_rules: at most 20 rules, each event_type 1 to 256 characters."
  }

  validation {
    condition     = length(distinct([for rule in var.conversion_rules : rule.event_type])) == length(var.conversion_rules)
    error_message = "conversion_rules must not repeat an event_type."
  }

  validation {
    condition     = alltrue([for rule in var.conversion_rules : alltrue([for metric in [rule.value_metric, rule.quantity_metric] : metric == null ? true : can(regex("^.{1,128}$", metric))])])
    error_message = "A conversion_rules value_metric or quantity_metric must be 1 to 128 characters."
  }
}

variable "campaign_costs" {
  description = "Optional spend per campaign (campaign name => amount >= 0, in the unit of the conversion values), for the report's cost per conversion and return on spend: written (with attribution_enabled) as the campaign table's item `(costs)`, which the report reads. Not read by the Lambda functions."
  type        = map(number)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for name, cost in var.campaign_costs : cost >= 0 && length(name) >= 1 && length(name) <= 512 && !contains(["(costs)", "(unattributed)"], name)])
    error_message = "campaign_costs: every cost must be >= 0 and every campaign name 1 to 512 characters, and not the reserved (costs) or (unattributed)."
  }
}

variable "user_key_mode" {
  description = "How the scorer derives the user key: auto (Pinpoint endpoint User.UserId when present, else client.client_id), endpoint_id, or user_id (records without a user id are rejected)."
  type        = string
  default     = "auto"
  nullable    = false

  validation {
    condition     = contains(["auto", "endpoint_id", "user_id"], var.user_key_mode)
    error_message = "user_key_mode must be auto, endpoint_id or user_id."
  }
}

variable "decay_half_life_hours" {
  description = "Half-life of score decay in hours; 0 turns decay off."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.decay_half_life_hours >= 0 && var.decay_half_life_hours <= 87600
    error_message = "decay_half_life_hours must be from 0 (no decay) to 87600 (10 years)."
  }
}

variable "score_publish_min_delta" {
  description = "Publication threshold in points: the sinks (EventBridge, Customer Profiles, Pinpoint) hear of a user's score when it moved at least this much since they last saw it, or its tier changed (always published); they lag the stored score by less than this. 0 publishes every change (SCORE_PUBLISH_MIN_DELTA; docs/scoring.md)."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.score_publish_min_delta >= 0 && var.score_publish_min_delta <= 1000000
    error_message = "score_publish_min_delta must be from 0 (publish every change) to 1000000 points."
  }
}

variable "tier_hysteresis_points" {
  description = "Tier hysteresis in points: a user keeps its tier while its score stays less than this far below the tier's min_score, so a score around a boundary does not flap between tiers (and spam the sinks with EngagementTierChanged). Going up is never delayed. 0 turns it off (TIER_HYSTERESIS_POINTS)."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.tier_hysteresis_points >= 0 && var.tier_hysteresis_points <= 1000000
    error_message = "tier_hysteresis_points must be from 0 (off) to 1000000 points."
  }
}

variable "refresher_schedule_minutes" {
  description = "With decay on (decay_half_life_hours > 0) or a sliding window rule (window_rules with window_hours): how often, in minutes, the refresher Lambda writes the decayed scores of the users whose score now matters (a tier edge or the publication step) and clears the sliding window rules whose window emptied, so that a user who stops engaging cools in every sink. Ignored without either (no refresher is created)."
  type        = number
  default     = 15
  nullable    = false

  validation {
    condition     = var.refresher_schedule_minutes >= 1 && var.refresher_schedule_minutes <= 1440 && floor(var.refresher_schedule_minutes) == var.refresher_schedule_minutes
    error_message = "refresher_schedule_minutes must be a whole number of minutes from 1 to 1440."
  }
}

variable "refresher_timeout" {
  description = "Timeout of the refresher function, in seconds; a run stops taking new users 5 s before it, the rest stay due for the next run."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.refresher_timeout >= 10 && var.refresher_timeout <= 900 && floor(var.refresher_timeout) == var.refresher_timeout
    error_message = "refresher_timeout must be a whole number of seconds from 10 to 900."
  }
}

variable "score_floor" {
  description = "Lowest score users see (the raw score is kept unclamped); null = unbounded. Must be below score_ceiling when both are set."
  type        = number
  default     = null

  validation {
    condition     = var.score_floor == null || try(abs(var.score_floor) <= 1000000000, false)
    error_message = "score_floor must be null or between -1e9 and 1e9."
  }
}

variable "score_ceiling" {
  description = "Highest score users see (the raw score is kept unclamped); null = unbounded. Must be above score_floor when both are set."
  type        = number
  default     = null

  validation {
    condition     = var.score_ceiling == null || try(abs(var.score_ceiling) <= 1000000000, false)
    error_message = "score_ceiling must be null or between -1e9 and 1e9."
  }
}

variable "tiers" {
  description = "Score tiers: a user's tier is the highest tier whose min_score <= score (the lowest tier below every min_score). An empty list turns tiers off."
  type = list(object({
    name      = string
    min_score = number
  }))
  default = [
    { name = "cold", min_score = 0 },
    { name = "warm", min_score = 50 },
    { name = "hot", min_score = 150 },
  ]
  nullable = false

  validation {
    condition     = alltrue([for tier in var.tiers : try(can(regex("^[A-Za-z0-9_-]{1,64}$", tier.name)), false)])
    error_message = "Every tier needs a name of 1-64 letters, digits, '-' or '_'."
  }

  validation {
    condition     = alltrue([for tier in var.tiers : try(tier.min_score != null && abs(tier.min_score) <= 1000000000, false)])
    error_message = "Every tier needs a min_score between -1e9 and 1e9."
  }

  validation {
    condition     = length(distinct([for tier in var.tiers : try(tier.name, null)])) == length(var.tiers) && length(distinct([for tier in var.tiers : try(tier.min_score, null)])) == length(var.tiers)
    error_message = "Tier names and tier min_score values must be unique."
  }
}

variable "rules_cache_ttl_seconds" {
  description = "How long the scorer caches the rules table (one Scan per period)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.rules_cache_ttl_seconds >= 0 && var.rules_cache_ttl_seconds <= 86400
    error_message = "rules_cache_ttl_seconds must be from 0 to 86400."
  }
}

variable "dedupe_ttl_hours" {
  description = "Lifetime of the exactly-once content digests a user's dedupe ring evicted into processed_events buckets, in hours from the eviction (ring entries never expire). Must be >= stream_retention_hours, so a record re-read at the end of its retention is still recognised."
  type        = number
  default     = 168
  nullable    = false

  validation {
    condition     = var.dedupe_ttl_hours >= 24 && var.dedupe_ttl_hours <= 87600
    error_message = "dedupe_ttl_hours must be from 24 to 87600."
  }
}

variable "once_per_message_ttl_hours" {
  description = "Lifetime of the once-per-message digests a user's dedupe ring evicted into processed_events buckets, in hours from the eviction (default 90 days)."
  type        = number
  default     = 2160
  nullable    = false

  validation {
    condition     = var.once_per_message_ttl_hours >= 1 && var.once_per_message_ttl_hours <= 87600
    error_message = "once_per_message_ttl_hours must be from 1 to 87600."
  }
}

variable "machine_engagement" {
  description = "How opens and clicks that machines made are scored (docs/scoring.md, \"Machine engagement\"). An event's points are multiplied by the lowest weight (0 to 1) of its reasons; weights not given keep their defaults (privacy_proxy_open 0, scanner_list 0, burst 0, send_time_proximity 0.5). Reasons: privacy_proxy_open (user agent exactly one of privacy_proxy_user_agents, or address in privacy_proxy_cidrs; opens only), send_time_proximity (within send_time_proximity_seconds of sending; 0 turns it off), scanner_list (user agent containing one of scanner_user_agents, case-insensitive, or address in scanner_cidrs), burst (the click and the clicks of the same message before it in stream order, across batches, cover burst_min_links distinct links within burst_window_ms; the first click of a burst is not flagged by it). Weight 1 counts the event as human; weight 0 does not count it (it stays in logs and metrics)."
  type = object({
    # A map, not an object, so that a misspelt reason fails validation instead of being dropped.
    weights                     = optional(map(number), {})
    privacy_proxy_user_agents   = optional(list(string), ["Mozilla/5.0"])
    privacy_proxy_cidrs         = optional(list(string), [])
    scanner_user_agents         = optional(list(string), [])
    scanner_cidrs               = optional(list(string), [])
    send_time_proximity_seconds = optional(number, 10)
    burst_window_ms             = optional(number, 1000)
    burst_min_links             = optional(number, 2)
  })
  default  = {}
  nullable = false

  validation {
    condition     = try(alltrue([for name, weight in var.machine_engagement.weights : contains(["privacy_proxy_open", "scanner_list", "burst", "send_time_proximity"], name)]), false)
    error_message = "machine_engagement weights may name only privacy_proxy_open, scanner_list, burst and send_time_proximity."
  }

  validation {
    condition     = try(alltrue([for name, weight in var.machine_engagement.weights : weight >= 0 && weight <= 1]), false)
    error_message = "machine_engagement weights must be numbers from 0 to 1."
  }

  validation {
    condition = try(alltrue([
      for cidr in concat(var.machine_engagement.privacy_proxy_cidrs, var.machine_engagement.scanner_cidrs) :
      can(cidrhost(cidr, 0))
    ]), false)
    error_message = "machine_engagement privacy_proxy_cidrs and scanner_cidrs must be CIDR blocks such as 192.0.2.0/24 or 2001:db8::/32."
  }

  validation {
    condition = alltrue([
      for text in concat(var.machine_engagement.privacy_proxy_user_agents, var.machine_engagement.scanner_user_agents) :
      length(text) >= 1 && length(text) <= 512
      ]) && alltrue([
      for list in [var.machine_engagement.privacy_proxy_user_agents, var.machine_engagement.privacy_proxy_cidrs, var.machine_engagement.scanner_user_agents, var.machine_engagement.scanner_cidrs] :
      length(list) <= 100
    ])
    error_message = "machine_engagement lists hold at most 100 items; each user agent is 1-512 characters."
  }

  validation {
    condition = try(
      var.machine_engagement.send_time_proximity_seconds >= 0 && var.machine_engagement.send_time_proximity_seconds <= 86400 && floor(var.machine_engagement.send_time_proximity_seconds) == var.machine_engagement.send_time_proximity_seconds &&
      var.machine_engagement.burst_window_ms >= 0 && var.machine_engagement.burst_window_ms <= 60000 && floor(var.machine_engagement.burst_window_ms) == var.machine_engagement.burst_window_ms &&
      var.machine_engagement.burst_min_links >= 2 && var.machine_engagement.burst_min_links <= 100 && floor(var.machine_engagement.burst_min_links) == var.machine_engagement.burst_min_links,
      false
    )
    error_message = "machine_engagement send_time_proximity_seconds must be a whole number from 0 to 86400, burst_window_ms from 0 to 60000 and burst_min_links from 2 to 100."
  }

  validation {
    # Lambda allows 4 KB for all of a function's environment variables together.
    condition     = length(jsonencode(var.machine_engagement)) <= 2048
    error_message = "machine_engagement must encode to at most 2048 characters of JSON (Lambda's environment holds 4 KB in all): keep the lists short."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the embedded-metric-format metrics both functions log."
  type        = string
  default     = "EngagementScoring"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.#:/-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters of letters, digits and _.#:/- and must not start with AWS/."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Sinks of the score sync
# ---------------------------------------------------------------------------------------------------------------------

variable "pinpoint_application_id" {
  description = "Pinpoint application (project) id. When set, the module streams its events into the Kinesis stream (see create_pinpoint_event_stream) and the score sync writes scores and tiers to its endpoints."
  type        = string
  default     = null

  validation {
    condition     = var.pinpoint_application_id == null || can(regex("^[A-Za-z0-9]{1,64}$", var.pinpoint_application_id))
    error_message = "pinpoint_application_id must be a Pinpoint application id (letters and digits, e.g. 32 hex characters)."
  }
}

variable "create_pinpoint_event_stream" {
  description = "With pinpoint_application_id set: create the application's event stream into the Kinesis stream (an application has only one event stream; set false when it is managed elsewhere)."
  type        = bool
  default     = true
  nullable    = false
}

variable "pinpoint_score_metric" {
  description = "Pinpoint endpoint Metrics key that receives the score (numeric, usable in segment ranges)."
  type        = string
  default     = "EngagementScore"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,50}$", var.pinpoint_score_metric))
    error_message = "pinpoint_score_metric must be 1-50 letters, digits, '-' or '_'."
  }
}

variable "pinpoint_tier_attribute" {
  description = "Pinpoint endpoint Attributes key that receives the tier name."
  type        = string
  default     = "EngagementTier"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,50}$", var.pinpoint_tier_attribute))
    error_message = "pinpoint_tier_attribute must be 1-50 letters, digits, '-' or '_'."
  }
}

variable "event_bus_arn" {
  description = "ARN of an EventBridge event bus. When set, the score sync publishes EngagementScoreChanged/EngagementTierChanged events to it (events:PutEvents on this bus only)."
  type        = string
  default     = null

  validation {
    condition     = var.event_bus_arn == null || can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]{1,256}$", var.event_bus_arn))
    error_message = "event_bus_arn must be an EventBridge bus ARN: arn:<partition>:events:<region>:<account>:event-bus/<name>."
  }
}

variable "event_source" {
  description = "Source of the events the score sync publishes to EventBridge."
  type        = string
  default     = "engagement.scoring"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._/-]{0,255}$", var.event_source)) && !startswith(var.event_source, "aws.")
    error_message = "event_source must be 1-256 characters of letters, digits and ._/- and must not start with 'aws.' (reserved for AWS services)."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Lambda functions
# ---------------------------------------------------------------------------------------------------------------------

variable "lambda_runtime" {
  description = "Python runtime of both functions."
  type        = string
  default     = "python3.12"
  nullable    = false

  validation {
    condition     = contains(["python3.12", "python3.13"], var.lambda_runtime)
    error_message = "lambda_runtime must be python3.12 or python3.13."
  }
}

variable "lambda_architecture" {
  description = "Instruction set of both functions (the code is pure Python): arm64 or x86_64."
  type        = string
  default     = "arm64"
  nullable    = false

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "lambda_tracing_mode" {
  description = "X-Ray tracing mode of both functions: PassThrough or Active (Active also grants the X-Ray write actions)."
  type        = string
  default     = "PassThrough"
  nullable    = false

  validation {
    condition     = contains(["PassThrough", "Active"], var.lambda_tracing_mode)
    error_message = "lambda_tracing_mode must be PassThrough or Active."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of both functions."
  type        = string
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' CloudWatch log groups, in days (one of CloudWatch's allowed values; 0 = never expire)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' values: 0 (never expire), 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "scorer_memory_size" {
  description = "Memory of the scorer function, in MB."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = var.scorer_memory_size >= 128 && var.scorer_memory_size <= 10240 && floor(var.scorer_memory_size) == var.scorer_memory_size
    error_message = "scorer_memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "scorer_timeout" {
  description = "Timeout of the scorer function, in seconds."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.scorer_timeout >= 1 && var.scorer_timeout <= 900 && floor(var.scorer_timeout) == var.scorer_timeout
    error_message = "scorer_timeout must be a whole number of seconds from 1 to 900."
  }
}

variable "scorer_reserved_concurrency" {
  description = "Reserved concurrency of the scorer function (>= 1); null leaves it unreserved (shared account pool). 0 is rejected: it would disable the function."
  type        = number
  default     = null

  validation {
    condition     = var.scorer_reserved_concurrency == null || try(var.scorer_reserved_concurrency >= 1 && floor(var.scorer_reserved_concurrency) == var.scorer_reserved_concurrency, false)
    error_message = "scorer_reserved_concurrency must be null or a whole number >= 1 (0 would stop the function: its stream would back up until records expire)."
  }
}

variable "score_sync_memory_size" {
  description = "Memory of the score sync function, in MB."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = var.score_sync_memory_size >= 128 && var.score_sync_memory_size <= 10240 && floor(var.score_sync_memory_size) == var.score_sync_memory_size
    error_message = "score_sync_memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "score_sync_timeout" {
  description = "Timeout of the score sync function, in seconds."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.score_sync_timeout >= 1 && var.score_sync_timeout <= 900 && floor(var.score_sync_timeout) == var.score_sync_timeout
    error_message = "score_sync_timeout must be a whole number of seconds from 1 to 900."
  }
}

variable "score_sync_reserved_concurrency" {
  description = "Reserved concurrency of the score sync function (>= 1); null leaves it unreserved (shared account pool). 0 is rejected: it would disable the function."
  type        = number
  default     = null

  validation {
    condition     = var.score_sync_reserved_concurrency == null || try(var.score_sync_reserved_concurrency >= 1 && floor(var.score_sync_reserved_concurrency) == var.score_sync_reserved_concurrency, false)
    error_message = "score_sync_reserved_concurrency must be null or a whole number >= 1 (0 would stop the function: its stream would back up until records expire)."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Event source mappings (Kinesis -> scorer, DynamoDB stream -> score sync)
# ---------------------------------------------------------------------------------------------------------------------

variable "scorer_batch_size" {
  description = "Largest number of Kinesis records per scorer invocation (1-10000)."
  type        = number
  default     = 500
  nullable    = false

  validation {
    condition     = var.scorer_batch_size >= 1 && var.scorer_batch_size <= 10000 && floor(var.scorer_batch_size) == var.scorer_batch_size
    error_message = "scorer_batch_size must be a whole number from 1 to 10000 (Lambda's limit for Kinesis)."
  }
}

variable "scorer_maximum_batching_window_seconds" {
  description = "How long Lambda gathers Kinesis records before invoking the scorer, in seconds (0-300)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.scorer_maximum_batching_window_seconds >= 0 && var.scorer_maximum_batching_window_seconds <= 300 && floor(var.scorer_maximum_batching_window_seconds) == var.scorer_maximum_batching_window_seconds
    error_message = "scorer_maximum_batching_window_seconds must be a whole number from 0 to 300."
  }
}

variable "scorer_starting_position" {
  description = "Where the scorer starts reading the stream when its mapping is created: TRIM_HORIZON (default: every record still in the stream, so nothing written before the mapping exists is lost; exactly-once keys make re-reads harmless) or LATEST (only records written after the mapping exists)."
  type        = string
  default     = "TRIM_HORIZON"
  nullable    = false

  validation {
    condition     = contains(["LATEST", "TRIM_HORIZON"], var.scorer_starting_position)
    error_message = "scorer_starting_position must be LATEST or TRIM_HORIZON."
  }
}

variable "scorer_parallelization_factor" {
  description = "Concurrent scorer batches per shard (1-10); records of one user key stay ordered."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.scorer_parallelization_factor >= 1 && var.scorer_parallelization_factor <= 10 && floor(var.scorer_parallelization_factor) == var.scorer_parallelization_factor
    error_message = "scorer_parallelization_factor must be a whole number from 1 to 10."
  }
}

variable "scorer_maximum_retry_attempts" {
  description = "Retries of a failing Kinesis batch before its metadata goes to the failure queue (-1 = until the record expires, 0-10000)."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.scorer_maximum_retry_attempts >= -1 && var.scorer_maximum_retry_attempts <= 10000 && floor(var.scorer_maximum_retry_attempts) == var.scorer_maximum_retry_attempts
    error_message = "scorer_maximum_retry_attempts must be a whole number from -1 (infinite) to 10000."
  }
}

variable "scorer_maximum_record_age_seconds" {
  description = "Oldest Kinesis record the scorer still retries, in seconds (-1 = no limit, or 60-604800); older failing records go to the failure queue."
  type        = number
  default     = 21600
  nullable    = false

  validation {
    condition     = var.scorer_maximum_record_age_seconds == -1 || (var.scorer_maximum_record_age_seconds >= 60 && var.scorer_maximum_record_age_seconds <= 604800 && floor(var.scorer_maximum_record_age_seconds) == var.scorer_maximum_record_age_seconds)
    error_message = "scorer_maximum_record_age_seconds must be -1 (no limit) or a whole number from 60 to 604800."
  }
}

variable "score_sync_batch_size" {
  description = "Largest number of DynamoDB stream records per score sync invocation (1-10000)."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.score_sync_batch_size >= 1 && var.score_sync_batch_size <= 10000 && floor(var.score_sync_batch_size) == var.score_sync_batch_size
    error_message = "score_sync_batch_size must be a whole number from 1 to 10000 (Lambda's limit for DynamoDB streams)."
  }
}

variable "score_sync_maximum_batching_window_seconds" {
  description = "How long Lambda gathers score changes before invoking the score sync, in seconds (0-300)."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.score_sync_maximum_batching_window_seconds >= 0 && var.score_sync_maximum_batching_window_seconds <= 300 && floor(var.score_sync_maximum_batching_window_seconds) == var.score_sync_maximum_batching_window_seconds
    error_message = "score_sync_maximum_batching_window_seconds must be a whole number from 0 to 300."
  }
}

variable "score_sync_starting_position" {
  description = "Where the score sync starts reading the user_scores stream when its mapping is created: TRIM_HORIZON (default: score changes the scorer wrote before this mapping existed, e.g. during the first apply, still reach the sinks) or LATEST."
  type        = string
  default     = "TRIM_HORIZON"
  nullable    = false

  validation {
    condition     = contains(["LATEST", "TRIM_HORIZON"], var.score_sync_starting_position)
    error_message = "score_sync_starting_position must be LATEST or TRIM_HORIZON."
  }
}

variable "score_sync_parallelization_factor" {
  description = "Concurrent score sync batches per stream shard (1-10)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.score_sync_parallelization_factor >= 1 && var.score_sync_parallelization_factor <= 10 && floor(var.score_sync_parallelization_factor) == var.score_sync_parallelization_factor
    error_message = "score_sync_parallelization_factor must be a whole number from 1 to 10."
  }
}

variable "score_sync_maximum_retry_attempts" {
  description = "Retries of a failing DynamoDB stream batch before its metadata goes to the failure queue (-1 = until the record expires, 0-10000)."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.score_sync_maximum_retry_attempts >= -1 && var.score_sync_maximum_retry_attempts <= 10000 && floor(var.score_sync_maximum_retry_attempts) == var.score_sync_maximum_retry_attempts
    error_message = "score_sync_maximum_retry_attempts must be a whole number from -1 (infinite) to 10000."
  }
}

variable "score_sync_maximum_record_age_seconds" {
  description = "Oldest DynamoDB stream record the score sync still retries, in seconds (-1 = no limit, or 60-604800)."
  type        = number
  default     = 21600
  nullable    = false

  validation {
    condition     = var.score_sync_maximum_record_age_seconds == -1 || (var.score_sync_maximum_record_age_seconds >= 60 && var.score_sync_maximum_record_age_seconds <= 604800 && floor(var.score_sync_maximum_record_age_seconds) == var.score_sync_maximum_record_age_seconds)
    error_message = "score_sync_maximum_record_age_seconds must be -1 (no limit) or a whole number from 60 to 604800."
  }
}

variable "failure_queue_retention_seconds" {
  description = "How long the failure queue keeps messages, in seconds (60-1209600; default 14 days, the maximum)."
  type        = number
  default     = 1209600
  nullable    = false

  validation {
    condition     = var.failure_queue_retention_seconds >= 60 && var.failure_queue_retention_seconds <= 1209600 && floor(var.failure_queue_retention_seconds) == var.failure_queue_retention_seconds
    error_message = "failure_queue_retention_seconds must be a whole number from 60 to 1209600."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Successor formats: how the scorer finds the user and the campaign in SES and End User Messaging records
# ---------------------------------------------------------------------------------------------------------------------

variable "user_key_tag" {
  description = "SES message tag / End User Messaging SMS `Context` key that names the user (USER_KEY_TAG). The SES EventBridge target also partitions the stream by this tag, so one user's e-mail events stay on one shard."
  type        = string
  default     = "user_key"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.user_key_tag))
    error_message = "user_key_tag must be 1-128 letters, digits, '_' or '-' (SES tag names allow these characters; the SES target's partition key path $.detail.mail.tags.<tag>[0] must stay within EventBridge's 256 characters)."
  }
}

variable "campaign_tag" {
  description = "SES message tag / End User Messaging SMS `Context` key that names the campaign (CAMPAIGN_TAG)."
  type        = string
  default     = "campaign"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,256}$", var.campaign_tag))
    error_message = "campaign_tag must be 1-256 letters, digits, '_' or '-'."
  }
}

variable "recipient_user_key" {
  description = "Whether a recipient stands in for a missing user tag (RECIPIENT_USER_KEY): none (the event is skipped as no_user_key), address (the e-mail address or phone number is the key) or hashed_address (a keyed HMAC of it; set recipient_hash_key_parameter)."
  type        = string
  default     = "none"
  nullable    = false

  validation {
    condition     = contains(["none", "address", "hashed_address"], var.recipient_user_key)
    error_message = "recipient_user_key must be none, address or hashed_address."
  }
}

variable "recipient_hash_key_parameter" {
  description = "SSM SecureString parameter (name or ARN) holding the HMAC key for recipient_user_key = hashed_address (at least 16 characters). The scorer gets ssm:GetParameter on it; a parameter encrypted with a customer managed key also needs kms:Decrypt, which the key's policy must grant to the scorer role."
  type        = string
  default     = null

  validation {
    # RE2 caps counted repetitions at 1000, so the 2048-character limit is a length check.
    condition     = var.recipient_hash_key_parameter == null || try(length(var.recipient_hash_key_parameter) <= 2048 && can(regex("^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9_./-]+|/?[A-Za-z0-9_.-][A-Za-z0-9_./-]*)$", var.recipient_hash_key_parameter)), false)
    error_message = "recipient_hash_key_parameter must be an SSM parameter name (letters, digits, '_', '.', '-', '/') or a parameter ARN: arn:<partition>:ssm:<region>:<account>:parameter/<name>."
  }
}

variable "max_clock_skew_seconds" {
  description = "Events whose time is further ahead of the scorer's clock than this are rejected as future_timestamp (MAX_CLOCK_SKEW_SECONDS)."
  type        = number
  default     = 3600
  nullable    = false

  validation {
    condition     = var.max_clock_skew_seconds >= 0 && var.max_clock_skew_seconds <= 604800 && floor(var.max_clock_skew_seconds) == var.max_clock_skew_seconds
    error_message = "max_clock_skew_seconds must be a whole number of seconds from 0 to 604800."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# SES event publishing -> default event bus -> rules -> the stream (ses.tf)
# ---------------------------------------------------------------------------------------------------------------------

variable "ses_configuration_set_names" {
  description = "SES (v2) configuration sets whose events are scored. Per name the module adds an EventBridge event destination (the default bus, the only one SES publishes to), and rules on the default bus put those events into the stream. Empty = no SES wiring."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for name in var.ses_configuration_set_names : can(regex("^[A-Za-z0-9_-]{1,64}$", name))]) && length(distinct(var.ses_configuration_set_names)) == length(var.ses_configuration_set_names)
    error_message = "ses_configuration_set_names must be distinct SES configuration set names of 1-64 letters, digits, '_' or '-'."
  }
}

variable "create_ses_configuration_sets" {
  description = "Create the SES configuration sets named in ses_configuration_set_names (false: they exist already)."
  type        = bool
  default     = false
  nullable    = false
}

variable "create_ses_event_destinations" {
  description = "Add the module's EventBridge event destination to each configuration set in ses_configuration_set_names. false: only the rules and the target are created (the destinations are managed elsewhere, or the emulator has no SES event-destination API)."
  type        = bool
  default     = true
  nullable    = false
}

variable "ses_event_types" {
  description = "SES event types the event destinations publish (SESv2 names). The default is all ten; the default rules score DELIVERY, OPEN, CLICK, BOUNCE, COMPLAINT and SUBSCRIPTION."
  type        = list(string)
  default     = ["SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "OPEN", "CLICK", "RENDERING_FAILURE", "DELIVERY_DELAY", "SUBSCRIPTION"]
  nullable    = false

  validation {
    condition     = length(var.ses_event_types) > 0 && length(distinct(var.ses_event_types)) == length(var.ses_event_types) && alltrue([for type in var.ses_event_types : contains(["SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "OPEN", "CLICK", "RENDERING_FAILURE", "DELIVERY_DELAY", "SUBSCRIPTION"], type)])
    error_message = "ses_event_types must be a non-empty list of distinct SESv2 event types: SEND, REJECT, BOUNCE, COMPLAINT, DELIVERY, OPEN, CLICK, RENDERING_FAILURE, DELIVERY_DELAY, SUBSCRIPTION."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# End User Messaging SMS: event records via a log group subscription, inbound replies via SNS -> SQS -> Pipes (sms.tf)
# ---------------------------------------------------------------------------------------------------------------------

variable "sms_configuration_set_names" {
  description = "End User Messaging SMS configuration sets whose events are scored. Non-empty: the module creates the SMS event log group, its subscription filter into the stream and the role End User Messaging writes with, and outputs the create-event-destination command per name (provider 5.x has no resource for SMS event destinations). Empty = no SMS event wiring."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for name in var.sms_configuration_set_names : can(regex("^[A-Za-z0-9_-]{1,64}$", name))]) && length(distinct(var.sms_configuration_set_names)) == length(var.sms_configuration_set_names)
    error_message = "sms_configuration_set_names must be distinct configuration set names of 1-64 letters, digits, '_' or '-'."
  }
}

variable "create_sms_configuration_sets" {
  description = "Create the End User Messaging SMS configuration sets named in sms_configuration_set_names (false: they exist already)."
  type        = bool
  default     = false
  nullable    = false
}

variable "sms_event_types" {
  description = "End User Messaging event types the printed create-event-destination commands select (MatchingEventTypes). The default TEXT_ALL covers every SMS status; VOICE_* and MEDIA_* score only where a rule names them."
  type        = list(string)
  default     = ["TEXT_ALL"]
  nullable    = false

  validation {
    condition = length(var.sms_event_types) > 0 && length(distinct(var.sms_event_types)) == length(var.sms_event_types) && alltrue([for type in var.sms_event_types : contains([
      "ALL", "TEXT_ALL", "TEXT_SENT", "TEXT_PENDING", "TEXT_QUEUED", "TEXT_SUCCESSFUL", "TEXT_DELIVERED", "TEXT_INVALID",
      "TEXT_INVALID_MESSAGE", "TEXT_UNREACHABLE", "TEXT_CARRIER_UNREACHABLE", "TEXT_BLOCKED", "TEXT_CARRIER_BLOCKED",
      "TEXT_SPAM", "TEXT_UNKNOWN", "TEXT_TTL_EXPIRED", "TEXT_PROTECT_BLOCKED", "VOICE_ALL", "VOICE_INITIATED", "VOICE_RINGING",
      "VOICE_ANSWERED", "VOICE_COMPLETED", "VOICE_BUSY", "VOICE_NO_ANSWER", "VOICE_FAILED", "VOICE_TTL_EXPIRED", "MEDIA_ALL",
      "MEDIA_PENDING", "MEDIA_QUEUED", "MEDIA_SUCCESSFUL", "MEDIA_DELIVERED", "MEDIA_INVALID", "MEDIA_INVALID_MESSAGE",
      "MEDIA_UNREACHABLE", "MEDIA_CARRIER_UNREACHABLE", "MEDIA_BLOCKED", "MEDIA_CARRIER_BLOCKED", "MEDIA_SPAM", "MEDIA_UNKNOWN",
      "MEDIA_TTL_EXPIRED", "MEDIA_FILE_INACCESSIBLE", "MEDIA_FILE_TYPE_UNSUPPORTED", "MEDIA_FILE_SIZE_EXCEEDED",
    ], type)])
    error_message = "sms_event_types must be a non-empty list of distinct End User Messaging event types (pinpoint-sms-voice-v2 EventType), e.g. TEXT_ALL, TEXT_DELIVERED, VOICE_ALL."
  }
}

variable "sms_event_log_retention_days" {
  description = "Retention of the SMS event log group, in days (one of CloudWatch's allowed values; 0 = never expire). The log group is encrypted with kms_key_arn when that is set."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.sms_event_log_retention_days)
    error_message = "sms_event_log_retention_days must be one of CloudWatch Logs' values: 0 (never expire), 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "create_sms_inbound_topic" {
  description = "Create an SNS topic for End User Messaging two-way SMS (STOP replies), wired through an SQS queue and an EventBridge pipe into the stream. Point the phone number's two-way channel at the sms_inbound_topic_arn output."
  type        = bool
  default     = false
  nullable    = false
}

variable "sms_inbound_topic_arn" {
  description = "ARN of an existing SNS topic that receives two-way SMS (STOP replies), in this account and region: the module subscribes its inbound queue to it. Leave null with create_sms_inbound_topic, or for no inbound wiring."
  type        = string
  default     = null

  validation {
    condition     = var.sms_inbound_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.sms_inbound_topic_arn))
    error_message = "sms_inbound_topic_arn must be a standard SNS topic ARN: arn:<partition>:sns:<region>:<account>:<name>."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Amazon Connect Customer Profiles sink of the score sync (customer_profiles.tf)
# ---------------------------------------------------------------------------------------------------------------------

variable "customer_profiles_domain_name" {
  description = "Customer Profiles domain the score sync writes score objects to (CUSTOMER_PROFILES_DOMAIN); null = sink off. Set create_customer_profiles_domain to create it."
  type        = string
  default     = null

  validation {
    condition     = var.customer_profiles_domain_name == null || can(regex("^[A-Za-z0-9_-]{1,64}$", var.customer_profiles_domain_name))
    error_message = "customer_profiles_domain_name must be 1-64 letters, digits, '_' or '-'."
  }
}

variable "create_customer_profiles_domain" {
  description = "Create the Customer Profiles domain customer_profiles_domain_name (false: it exists already)."
  type        = bool
  default     = false
  nullable    = false
}

variable "customer_profiles_expiration_days" {
  description = "Default expiration of the created domain's profile data, in days (1-1098)."
  type        = number
  default     = 366
  nullable    = false

  validation {
    condition     = var.customer_profiles_expiration_days >= 1 && var.customer_profiles_expiration_days <= 1098 && floor(var.customer_profiles_expiration_days) == var.customer_profiles_expiration_days
    error_message = "customer_profiles_expiration_days must be a whole number of days from 1 to 1098."
  }
}

variable "customer_profiles_dead_letter_queue_url" {
  description = "SQS queue URL where the created domain sends ingestion failures of its integrations (optional; the score sync's own failures go to the failure queue). Its policy must allow profile.amazonaws.com to send."
  type        = string
  default     = null

  validation {
    condition     = var.customer_profiles_dead_letter_queue_url == null || can(regex("^https://sqs\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[0-9]{12}/[A-Za-z0-9_-]{1,80}$", var.customer_profiles_dead_letter_queue_url))
    error_message = "customer_profiles_dead_letter_queue_url must be an SQS queue URL: https://sqs.<region>.amazonaws.com/<account>/<name>."
  }
}

variable "customer_profiles_kms_key_arn" {
  description = "Customer managed KMS key that encrypts the created domain's data (default_encryption_key); null uses an AWS owned key."
  type        = string
  default     = null

  validation {
    condition     = var.customer_profiles_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.customer_profiles_kms_key_arn))
    error_message = "customer_profiles_kms_key_arn must be a KMS key ARN: arn:<partition>:kms:<region>:<account>:key/<key-id>."
  }
}

variable "customer_profiles_object_type_name" {
  description = "Custom object type of the score objects (CUSTOMER_PROFILES_OBJECT_TYPE); may not start with '_'."
  type        = string
  default     = "EngagementScore"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,254}$", var.customer_profiles_object_type_name))
    error_message = "customer_profiles_object_type_name must be 1-255 letters, digits, '_' or '-', starting with a letter (names starting with '_' are AWS's standard object types)."
  }
}

variable "customer_profiles_create_object_type" {
  description = "Let the score sync create the object type on first use when it is missing (CUSTOMER_PROFILES_CREATE_OBJECT_TYPE; grants profile:PutProfileObjectType). false: create it with `python -m engagement_scoring.profiles_setup`."
  type        = bool
  default     = true
  nullable    = false
}

# ---------------------------------------------------------------------------------------------------------------------
# Monitoring: alarms, their SNS topic, dashboard (monitoring.tf; runbook: docs/operations.md)
# ---------------------------------------------------------------------------------------------------------------------

variable "create_alarms" {
  description = "Create the CloudWatch alarms (scorer iterator age, errors and throttles of both functions, failure-queue depth and oldest message, rejected records, sink failures) and, unless alarm_sns_topic_arn is given, an encrypted SNS topic they notify."
  type        = bool
  default     = true
  nullable    = false
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic the alarms notify (alarm and OK). Null creates one (`<name_prefix>-alarms`, encrypted with a key created for it that only CloudWatch may use); subscribe to the output alarm_sns_topic_arn. An encrypted topic given here needs a key policy that lets cloudwatch.amazonaws.com use the key."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN: arn:<partition>:sns:<region>:<account>:<topic name>."
  }
}

variable "alarm_thresholds" {
  description = "Alarm thresholds (docs/operations.md): iterator_age_seconds (scorer behind the stream, 5 minutes in a row), function_errors and function_throttles (per function in 5 minutes), failure_queue_messages (visible messages), failure_queue_oldest_message_seconds (keep it well below the stream's retention: the redrive needs the records), rejected_records_per_minute (3 minutes in a row), sink_failures_per_5_minutes (users a sink failed for), refresher_lag_seconds (with the refresher: how overdue its oldest due user may be at the end of a run; null = 3 schedule periods; a run that publishes nothing within 2 periods alarms too)."
  type = object({
    iterator_age_seconds                 = optional(number, 300)
    function_errors                      = optional(number, 1)
    function_throttles                   = optional(number, 1)
    failure_queue_messages               = optional(number, 1)
    failure_queue_oldest_message_seconds = optional(number, 21600)
    rejected_records_per_minute          = optional(number, 10)
    sink_failures_per_5_minutes          = optional(number, 10)
    refresher_lag_seconds                = optional(number)
  })
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for name, value in var.alarm_thresholds : value == null ? name == "refresher_lag_seconds" : value >= 0])
    error_message = "alarm_thresholds: every threshold must be a number >= 0."
  }

  validation {
    condition = alltrue([
      for name in ["function_errors", "function_throttles", "failure_queue_messages", "sink_failures_per_5_minutes"] :
      try(var.alarm_thresholds[name] >= 1, false)
    ])
    error_message = "alarm_thresholds: function_errors, function_throttles, failure_queue_messages and sink_failures_per_5_minutes must be >= 1 (a count that is reached)."
  }

  validation {
    condition     = try(var.alarm_thresholds.failure_queue_oldest_message_seconds <= 1209600, false)
    error_message = "alarm_thresholds.failure_queue_oldest_message_seconds must be at most 1209600 (the longest an SQS message is kept)."
  }

  validation {
    condition     = var.alarm_thresholds.refresher_lag_seconds == null ? true : var.alarm_thresholds.refresher_lag_seconds >= 60
    error_message = "alarm_thresholds.refresher_lag_seconds must be null (3 schedule periods) or at least 60: a healthy run finds users up to one schedule period overdue."
  }
}

variable "create_dashboard" {
  description = "Create the CloudWatch dashboard `<name_prefix>-engagement-scoring` (throughput, skipped and rejected by reason, iterator age, failures, sink calls, latency and, with create_alarms, the alarms)."
  type        = bool
  default     = true
  nullable    = false
}

# ---------------------------------------------------------------------------------------------------------------------
# Events archive: Firehose into S3, Glue table, Athena workgroup and named queries (archive.tf; docs/operations.md)
# ---------------------------------------------------------------------------------------------------------------------

variable "create_archive" {
  description = "Archive every record of the stream: a Firehose delivery stream reading the Kinesis stream into S3 (GZIP objects under events/dt=YYYY-MM-DD/, SSE-KMS), a Glue table over it (partition projection on dt), an Athena workgroup and named queries (a user's history, top users, per-campaign engagement, rescoring). With sms_configuration_set_names also a second subscription on the SMS event log group into a Direct PUT delivery stream that writes the SMS events decoded (gunzipped, each log event's message a line) into the same layout, so that the queries read them."
  type        = bool
  default     = false
  nullable    = false
}

variable "archive_bucket_name" {
  description = "An existing S3 bucket for the archive (its owner manages its encryption, versioning, lifecycle and policy; the module grants Firehose what it writes). Null creates one, named from name_prefix, a hash and the account id, with versioning, a public access block, SSE-KMS, a TLS-only policy and the lifecycle of archive_lifecycle."
  type        = string
  default     = null

  validation {
    condition     = var.archive_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.archive_bucket_name))
    error_message = "archive_bucket_name must be an S3 bucket name: 3-63 characters, lower-case letters, digits, '.' and '-', starting and ending with a letter or digit."
  }
}

variable "archive_kms_key_arn" {
  description = "KMS key (ARN) for the archive's objects and the Athena results. Null creates one for the archive. Its key policy must let the account's IAM policies grant its use (the Firehose role gets kms:GenerateDataKey and kms:Decrypt through S3)."
  type        = string
  default     = null

  validation {
    condition     = var.archive_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.archive_kms_key_arn))
    error_message = "archive_kms_key_arn must be a KMS key ARN (not an alias): arn:<partition>:kms:<region>:<account>:key/<key-id>."
  }
}

variable "archive_lifecycle" {
  description = "Lifecycle of the created bucket: events move to transition_storage_class after transition_days (null: never) and expire after expiration_days (null: kept for ever); old versions expire after noncurrent_expiration_days; Firehose's error objects after errors_expiration_days; Athena results after athena_results_expiration_days."
  type = object({
    transition_days                = optional(number, 30)
    transition_storage_class       = optional(string, "STANDARD_IA")
    expiration_days                = optional(number, 365)
    noncurrent_expiration_days     = optional(number, 7)
    errors_expiration_days         = optional(number, 30)
    athena_results_expiration_days = optional(number, 7)
  })
  default  = {}
  nullable = false

  validation {
    condition = alltrue([
      for name in ["transition_days", "expiration_days", "noncurrent_expiration_days", "errors_expiration_days", "athena_results_expiration_days"] :
      try(var.archive_lifecycle[name] == null || (var.archive_lifecycle[name] >= 1 && floor(var.archive_lifecycle[name]) == var.archive_lifecycle[name]), false)
    ])
    error_message = "archive_lifecycle: every number of days must be a whole number >= 1 (transition_days and expiration_days may be null)."
  }

  validation {
    condition     = contains(["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], try(var.archive_lifecycle.transition_storage_class, ""))
    error_message = "archive_lifecycle.transition_storage_class must be one of STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE. (GLACIER and DEEP_ARCHIVE objects must be restored before Athena can read them.)"
  }

  validation {
    condition     = try(var.archive_lifecycle.transition_days == null || !contains(["STANDARD_IA", "ONEZONE_IA"], var.archive_lifecycle.transition_storage_class) || var.archive_lifecycle.transition_days >= 30, false)
    error_message = "archive_lifecycle.transition_days must be at least 30 for STANDARD_IA and ONEZONE_IA (S3's minimum)."
  }

  validation {
    condition     = try(var.archive_lifecycle.expiration_days == null || var.archive_lifecycle.transition_days == null || var.archive_lifecycle.expiration_days > var.archive_lifecycle.transition_days, false)
    error_message = "archive_lifecycle.expiration_days must be later than transition_days."
  }
}

variable "archive_buffering" {
  description = "Firehose buffering: an object is written when size_mb (1-128) have arrived or interval_seconds (0-900) have passed, whichever comes first. Larger buffers mean fewer, larger objects (fewer S3 PUTs, faster Athena scans) and a later archive."
  type = object({
    size_mb          = optional(number, 64)
    interval_seconds = optional(number, 300)
  })
  default  = {}
  nullable = false

  validation {
    condition     = try(var.archive_buffering.size_mb >= 1 && var.archive_buffering.size_mb <= 128 && floor(var.archive_buffering.size_mb) == var.archive_buffering.size_mb, false)
    error_message = "archive_buffering.size_mb must be a whole number from 1 to 128 (Firehose's limits)."
  }

  validation {
    condition     = try(var.archive_buffering.interval_seconds >= 0 && var.archive_buffering.interval_seconds <= 900 && floor(var.archive_buffering.interval_seconds) == var.archive_buffering.interval_seconds, false)
    error_message = "archive_buffering.interval_seconds must be a whole number from 0 to 900 (Firehose's limits)."
  }
}

variable "archive_projection_start_date" {
  description = "First day (YYYY-MM-DD) of the Glue table's partition projection on dt: the day the archive starts. Days before it are never read."
  type        = string
  default     = "2026-01-01"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$", var.archive_projection_start_date))
    error_message = "archive_projection_start_date must be a date YYYY-MM-DD."
  }
}

variable "archive_athena_bytes_scanned_cutoff" {
  description = "Largest scan (bytes) one query in the archive's Athena workgroup may make before Athena cancels it: at least 10 MB (10485760), or 0 for no limit. Default 100 GB (USD 0.50 at USD 5 per TB)."
  type        = number
  default     = 107374182400
  nullable    = false

  validation {
    condition     = (var.archive_athena_bytes_scanned_cutoff == 0 || var.archive_athena_bytes_scanned_cutoff >= 10485760) && floor(var.archive_athena_bytes_scanned_cutoff) == var.archive_athena_bytes_scanned_cutoff
    error_message = "archive_athena_bytes_scanned_cutoff must be 0 (no limit) or a whole number of bytes >= 10485760 (Athena's minimum, 10 MB)."
  }
}

variable "archive_force_destroy" {
  description = "Let `terraform destroy` delete the created archive bucket with its objects and the Athena workgroup with its queries. false (default): a destroy fails while the bucket holds objects."
  type        = bool
  default     = false
  nullable    = false
}
