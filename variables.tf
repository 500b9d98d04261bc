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
# Scoring rules and behaviour (Lambda environment, see docs/architecture.md)
# ---------------------------------------------------------------------------------------------------------------------

variable "score_rules" {
  description = "Scoring rules seeded into the score_rules table: points per event type, optional channel (email, sms, push, in_app, custom; derived from the event type prefix when null) and once_per_message (count at most once per user and message). The default is the original Pinpoint engagement scoring solution's table."
  type = list(object({
    event_type       = string
    points           = number
    channel          = optional(string)
    once_per_message = optional(bool, false)
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
  description = "Lifetime of the exactly-once content keys in processed_events, in hours. Must be >= stream_retention_hours, so a record re-read at the end of its retention is still recognised."
  type        = number
  default     = 168
  nullable    = false

  validation {
    condition     = var.dedupe_ttl_hours >= 24 && var.dedupe_ttl_hours <= 87600
    error_message = "dedupe_ttl_hours must be from 24 to 87600."
  }
}

variable "once_per_message_ttl_hours" {
  description = "Lifetime of the once-per-message keys in processed_events, in hours (default 90 days)."
  type        = number
  default     = 2160
  nullable    = false

  validation {
    condition     = var.once_per_message_ttl_hours >= 1 && var.once_per_message_ttl_hours <= 87600
    error_message = "once_per_message_ttl_hours must be from 1 to 87600."
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
  description = "Reserved concurrency of the scorer function; null leaves it unreserved (shared account pool)."
  type        = number
  default     = null

  validation {
    condition     = var.scorer_reserved_concurrency == null || try(var.scorer_reserved_concurrency >= 0 && floor(var.scorer_reserved_concurrency) == var.scorer_reserved_concurrency, false)
    error_message = "scorer_reserved_concurrency must be null or a whole number >= 0."
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
  description = "Reserved concurrency of the score sync function; null leaves it unreserved (shared account pool)."
  type        = number
  default     = null

  validation {
    condition     = var.score_sync_reserved_concurrency == null || try(var.score_sync_reserved_concurrency >= 0 && floor(var.score_sync_reserved_concurrency) == var.score_sync_reserved_concurrency, false)
    error_message = "score_sync_reserved_concurrency must be null or a whole number >= 0."
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
  description = "Where the scorer starts reading the stream: LATEST or TRIM_HORIZON."
  type        = string
  default     = "LATEST"
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
  description = "Where the score sync starts reading the user_scores stream: LATEST or TRIM_HORIZON."
  type        = string
  default     = "LATEST"
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
# Monitoring: alarms, their SNS topic, dashboard (monitoring.tf; runbook: docs/operations.md)
# ---------------------------------------------------------------------------------------------------------------------

variable "create_alarms" {
  description = "Create the CloudWatch alarms (scorer iterator age, errors and throttles of both functions, failure-queue depth and oldest message, rejected records, sink failures) and, unless alarm_sns_topic_arn is given, an encrypted SNS topic they notify."
  type        = bool
  default     = true
  nullable    = false
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic the alarms notify (alarm and OK). Null creates one (`<name_prefix>-alarms`, encrypted with kms_key_arn or a key created for it); subscribe to the output alarm_sns_topic_arn. An encrypted topic given here needs a key policy that lets cloudwatch.amazonaws.com use the key."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN: arn:<partition>:sns:<region>:<account>:<topic name>."
  }
}

variable "alarm_thresholds" {
  description = "Alarm thresholds (docs/operations.md): iterator_age_seconds (scorer behind the stream, 5 minutes in a row), function_errors and function_throttles (per function in 5 minutes), failure_queue_messages (visible messages), failure_queue_oldest_message_seconds (keep it well below the stream's retention: the redrive needs the records), rejected_records_per_minute (3 minutes in a row), sink_failures_per_5_minutes (users a sink failed for)."
  type = object({
    iterator_age_seconds                 = optional(number, 300)
    function_errors                      = optional(number, 1)
    function_throttles                   = optional(number, 1)
    failure_queue_messages               = optional(number, 1)
    failure_queue_oldest_message_seconds = optional(number, 21600)
    rejected_records_per_minute          = optional(number, 10)
    sink_failures_per_5_minutes          = optional(number, 10)
  })
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for value in values(var.alarm_thresholds) : value != null && value >= 0])
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
}

variable "create_dashboard" {
  description = "Create the CloudWatch dashboard `<name_prefix>-engagement-scoring` (throughput, skipped and rejected by reason, iterator age, failures, sink calls, latency and, with create_alarms, the alarms)."
  type        = bool
  default     = true
  nullable    = false
}
