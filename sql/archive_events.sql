-- Shared part of every archive query (rendered into each named query by archive.tf with templatefile(),
-- and by engagement_scoring.archive.render_query for DuckDB): the archive's lines decoded into events.
--
-- One line is one Kinesis record as Firehose received it. Decoded here: the custom format
-- ("schema": "engagement.event/1") and Pinpoint event-stream records. Other lines (SES, SMS,
-- envelopes, CloudWatch Logs gzip data, malformed records) give no row: the explain command decodes
-- every format with the engine's own code (docs/operations.md, "Archive").
-- A record re-sent with the same bytes is one event (the engine's content key hashes the bytes).
lines AS (
  SELECT line, min(dt) AS dt
  FROM ${source}
  GROUP BY line
),
fields AS (
  SELECT
    line,
    dt,
    json_extract_scalar(line, '$.schema') AS schema_name,
    json_extract_scalar(line, '$.event_type') AS event_type,
    json_extract_scalar(line, '$.user_key') AS custom_user_key,
    json_extract_scalar(line, '$.timestamp') AS custom_timestamp,
    json_extract_scalar(line, '$.channel') AS custom_channel,
    json_extract_scalar(line, '$.message_id') AS custom_message_id,
    json_extract_scalar(line, '$.campaign') AS custom_campaign,
    json_extract_scalar(line, '$.event_timestamp') AS pinpoint_timestamp,
    json_extract_scalar(line, '$.client.client_id') AS pinpoint_client_id,
    coalesce(
      nullif(json_extract_scalar(line, '$.endpoint.User.UserId'), ''),
      nullif(json_extract_scalar(json_extract_scalar(line, '$.client_context.custom.endpoint'), '$.User.UserId'), '')
    ) AS pinpoint_user_id,
    nullif(json_extract_scalar(line, '$.facets.email_channel.mail_event.mail.message_id'), '') AS pinpoint_mail_message_id,
    nullif(json_extract_scalar(line, '$.attributes.message_id'), '') AS pinpoint_sms_message_id,
    nullif(json_extract_scalar(line, '$.attributes.campaign_id'), '') AS campaign_id,
    coalesce(json_extract_scalar(line, '$.attributes.campaign_activity_id'), '') AS campaign_activity_id,
    coalesce(json_extract_scalar(line, '$.attributes.treatment_id'), '') AS treatment_id,
    nullif(json_extract_scalar(line, '$.attributes.journey_id'), '') AS journey_id,
    coalesce(json_extract_scalar(line, '$.attributes.journey_run_id'), '') AS journey_run_id,
    coalesce(json_extract_scalar(line, '$.attributes.journey_activity_id'), '') AS journey_activity_id
  FROM lines
),
decoded AS (
  SELECT
    line,
    dt,
    'custom' AS format,
    nullif(event_type, '') AS event_type,
    nullif(custom_user_key, '') AS user_key,
    CASE
      WHEN regexp_like(custom_timestamp, '^[0-9]{1,15}$') THEN CAST(custom_timestamp AS bigint)
      ELSE date_diff('millisecond', from_unixtime(0), try(from_iso8601_timestamp(custom_timestamp)))
    END AS ts_ms,
    custom_channel AS event_channel,
    nullif(custom_message_id, '') AS message_id,
    nullif(custom_campaign, '') AS campaign
  FROM fields
  WHERE schema_name = 'engagement.event/1'
  UNION ALL
  SELECT
    line,
    dt,
    'pinpoint' AS format,
    nullif(event_type, '') AS event_type,
    ${pinpoint_user_key} AS user_key,
    CASE WHEN regexp_like(pinpoint_timestamp, '^[0-9]{1,15}$') THEN CAST(pinpoint_timestamp AS bigint) END AS ts_ms,
    CAST(NULL AS varchar) AS event_channel,
    coalesce(
      pinpoint_mail_message_id,
      pinpoint_sms_message_id,
      CASE WHEN journey_id IS NOT NULL THEN concat(journey_id, ':', journey_run_id, ':', journey_activity_id) END,
      CASE WHEN campaign_id IS NOT NULL THEN concat(campaign_id, ':', campaign_activity_id, ':', treatment_id) END
    ) AS message_id,
    coalesce(campaign_id, journey_id) AS campaign
  FROM fields
  WHERE schema_name IS NULL AND nullif(pinpoint_client_id, '') IS NOT NULL
),
-- What the engine would score: a user, a time and a type; _test.event_stream is skipped; a custom
-- event's channel must be one of the five.
events AS (
  SELECT *
  FROM decoded
  WHERE user_key IS NOT NULL
    AND ts_ms IS NOT NULL
    AND event_type IS NOT NULL
    AND event_type <> '_test.event_stream'
    AND (event_channel IS NULL OR event_channel IN ('email', 'sms', 'push', 'in_app', 'custom'))
),
-- The current rules (var.score_rules), one row each.
rules AS (
  SELECT * FROM (VALUES ${rules}) AS r (event_type, points, channel, once_per_message)
),
-- Events that have a rule, with their points and channel (the rule's, else the event's, else the prefix's),
-- and once per (user, type, message id) when the rule says so: the earliest event counts.
ruled AS (
  SELECT
    e.user_key,
    e.event_type,
    e.ts_ms,
    e.campaign,
    e.message_id,
    e.dt,
    e.line,
    r.points,
    r.once_per_message,
    coalesce(r.channel, e.event_channel, CASE split_part(e.event_type, '.', 1)
      WHEN '_email' THEN 'email'
      WHEN '_SMS' THEN 'sms'
      WHEN '_campaign' THEN 'push'
      WHEN '_push' THEN 'push'
      WHEN '_journey' THEN 'push'
      WHEN '_session' THEN 'in_app'
      WHEN '_userauth' THEN 'in_app'
      WHEN '_monetization' THEN 'in_app'
      WHEN '_in_app' THEN 'in_app'
      ELSE 'custom'
    END) AS channel,
    row_number() OVER (PARTITION BY e.user_key, e.event_type, e.message_id ORDER BY e.ts_ms, e.line) AS nth_of_message
  FROM events e
  JOIN rules r ON r.event_type = e.event_type
),
scored AS (
  SELECT user_key, event_type, ts_ms, campaign, message_id, dt, line, points, channel
  FROM ruled
  WHERE NOT once_per_message OR message_id IS NULL OR nth_of_message = 1
)
