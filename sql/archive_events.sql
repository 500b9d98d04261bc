-- Shared part of every archive query (rendered into each named query by archive.tf with templatefile(),
-- and by engagement_scoring.archive.render_query for DuckDB): the archive's lines decoded into events.
--
-- One line is one Kinesis record as Firehose received it. Decoded here, as the engine's formats/ decode
-- them (tests/unit/archive/test_archive_successor.py compares the two row by row): the custom format
-- ("schema": "engagement.event/1"), Pinpoint event-stream records, SES event publishing records and End
-- User Messaging SMS event records, each bare or in one envelope (an EventBridge event's `detail`, an
-- SNS notification's `Message`, an SQS message's `body` as Pipes passes it on). SES and SMS users and
-- campaigns are the message tags / `context` keys named by the module's user_key_tag and campaign_tag.
-- Not decoded (no row; docs/operations.md, "Archive", has the table): CloudWatch Logs subscription
-- records (gzip data: neither Athena nor DuckDB can gunzip a value), untagged SES and SMS records (the
-- recipient keys of RECIPIENT_USER_KEY), inbound two-way SMS, nested envelopes, malformed records. The
-- explain command decodes every format with the engine's own code.
-- A record re-sent with the same bytes is one event (the engine's content key hashes the bytes); so is an
-- SES or SMS event delivered twice (bare and in an envelope, or redelivered): the engine's identity
-- (format, type, message id, time, what tells two events apart, user) decides.
-- Machine engagement (core/machine.py; docs/operations.md, "Machine engagement in SQL"): every e-mail open and
-- click gets the engine's reasons and the lowest of their weights (`machine_weight`, `machine_reasons`), from
-- the module's machine_engagement input; the queries multiply points by it, and weight 0 is no touch.
lines AS (
  SELECT line, min(dt) AS dt
  FROM ${source}
  GROUP BY line
),
-- The payload: the record itself, or what its envelope carries.
payloads AS (
  SELECT
    line,
    dt,
    CASE
      WHEN json_extract_scalar(line, '$["detail-type"]') IS NOT NULL
        AND starts_with(try(json_format(json_extract(line, '$.detail'))), '{')
        THEN try(json_format(json_extract(line, '$.detail')))
      WHEN json_extract_scalar(line, '$.Type') = 'Notification' THEN json_extract_scalar(line, '$.Message')
      WHEN json_extract_scalar(line, '$.eventSource') = 'aws:sqs' THEN json_extract_scalar(line, '$.body')
      ELSE line
    END AS payload
  FROM lines
),
-- The format, in the engine's order (formats.FORMAT_MODULES: the first that matches decodes).
formats AS (
  SELECT
    line,
    dt,
    payload,
    json_extract_scalar(payload, '$.schema') AS schema_name,
    CASE
      WHEN try(json_extract(payload, '$.schema')) IS NOT NULL
        THEN CASE WHEN starts_with(json_extract_scalar(payload, '$.schema'), 'engagement.event/') THEN 'custom' END
      WHEN try(json_extract(payload, '$.event_type')) IS NOT NULL
        OR try(json_extract(payload, '$.event_timestamp')) IS NOT NULL
        OR try(json_extract(payload, '$.client')) IS NOT NULL
        THEN 'pinpoint'
      WHEN try(json_extract(payload, '$.mail')) IS NOT NULL
        AND (try(json_extract(payload, '$.eventType')) IS NOT NULL
          OR try(json_extract(payload, '$.notificationType')) IS NOT NULL)
        THEN 'ses'
      WHEN try(json_extract(payload, '$.eventTimestamp')) IS NOT NULL
        OR try(json_extract(payload, '$.inboundMessageId')) IS NOT NULL
        OR try(json_extract(payload, '$.originationNumber')) IS NOT NULL
        THEN 'sms'
    END AS format
  FROM payloads
),
fields AS (
  SELECT
    line,
    dt,
    payload,
    schema_name,
    json_extract_scalar(payload, '$.event_type') AS event_type,
    json_extract_scalar(payload, '$.user_key') AS custom_user_key,
    json_extract_scalar(payload, '$.timestamp') AS custom_timestamp,
    json_extract_scalar(payload, '$.channel') AS custom_channel,
    json_extract_scalar(payload, '$.message_id') AS custom_message_id,
    json_extract_scalar(payload, '$.campaign') AS custom_campaign,
    json_extract_scalar(payload, '$.event_timestamp') AS pinpoint_timestamp,
    json_extract_scalar(payload, '$.client.client_id') AS pinpoint_client_id,
    coalesce(
      nullif(json_extract_scalar(payload, '$.endpoint.User.UserId'), ''),
      nullif(json_extract_scalar(json_extract_scalar(payload, '$.client_context.custom.endpoint'), '$.User.UserId'), '')
    ) AS pinpoint_user_id,
    nullif(json_extract_scalar(payload, '$.facets.email_channel.mail_event.mail.message_id'), '') AS pinpoint_mail_message_id,
    nullif(json_extract_scalar(payload, '$.attributes.message_id'), '') AS pinpoint_sms_message_id,
    nullif(json_extract_scalar(payload, '$.attributes.campaign_id'), '') AS campaign_id,
    coalesce(json_extract_scalar(payload, '$.attributes.campaign_activity_id'), '') AS campaign_activity_id,
    coalesce(json_extract_scalar(payload, '$.attributes.treatment_id'), '') AS treatment_id,
    nullif(json_extract_scalar(payload, '$.attributes.journey_id'), '') AS journey_id,
    coalesce(json_extract_scalar(payload, '$.attributes.journey_run_id'), '') AS journey_run_id,
    coalesce(json_extract_scalar(payload, '$.attributes.journey_activity_id'), '') AS journey_activity_id,
    -- An e-mail open's or click's signals (formats/pinpoint.email_details): strings that are not empty, and
    -- the send time when it is a JSON integer.
    CASE WHEN regexp_like(try(json_format(json_extract(payload, '$.facets.email_channel.mail_event.mail.message_send_timestamp'))), '^[0-9]{1,15}$')
      THEN CAST(json_extract_scalar(payload, '$.facets.email_channel.mail_event.mail.message_send_timestamp') AS bigint) END AS pinpoint_sent_ms,
    CASE json_extract_scalar(payload, '$.event_type')
      WHEN '_email.open' THEN CASE WHEN starts_with(try(json_format(json_extract(payload, '$.facets.email_channel.mail_event.open.user_agent'))), '"')
        THEN nullif(json_extract_scalar(payload, '$.facets.email_channel.mail_event.open.user_agent'), '') END
      WHEN '_email.click' THEN CASE WHEN starts_with(try(json_format(json_extract(payload, '$.facets.email_channel.mail_event.click.user_agent'))), '"')
        THEN nullif(json_extract_scalar(payload, '$.facets.email_channel.mail_event.click.user_agent'), '') END
    END AS pinpoint_user_agent,
    CASE json_extract_scalar(payload, '$.event_type')
      WHEN '_email.open' THEN CASE WHEN starts_with(try(json_format(json_extract(payload, '$.facets.email_channel.mail_event.open.ip_address'))), '"')
        THEN nullif(json_extract_scalar(payload, '$.facets.email_channel.mail_event.open.ip_address'), '') END
      WHEN '_email.click' THEN CASE WHEN starts_with(try(json_format(json_extract(payload, '$.facets.email_channel.mail_event.click.ip_address'))), '"')
        THEN nullif(json_extract_scalar(payload, '$.facets.email_channel.mail_event.click.ip_address'), '') END
    END AS pinpoint_ip,
    CASE WHEN json_extract_scalar(payload, '$.event_type') = '_email.click'
      AND starts_with(try(json_format(json_extract(payload, '$.facets.email_channel.mail_event.click.link'))), '"')
      THEN nullif(json_extract_scalar(payload, '$.facets.email_channel.mail_event.click.link'), '') END AS pinpoint_link
  FROM formats
  WHERE format IN ('custom', 'pinpoint')
),
-- SES (formats/ses.py): the type's own sub-object gives the time, else the message's; the user and the
-- campaign are the first values of the tags named by user_key_tag and campaign_tag.
ses_fields AS (
  SELECT
    line,
    dt,
    payload,
    coalesce(json_extract_scalar(payload, '$.eventType'), json_extract_scalar(payload, '$.notificationType')) AS name,
    nullif(json_extract_scalar(payload, '$.mail.messageId'), '') AS message_id,
    json_extract_scalar(payload, '$.mail.timestamp') AS sent_at,
    nullif(json_extract_scalar(payload, '$.mail.tags["${user_key_tag}"][0]'), '') AS user_key,
    nullif(json_extract_scalar(payload, '$.mail.tags["${campaign_tag}"][0]'), '') AS campaign,
    -- Subscription: the topics opted out of (the first four of each list are compared).
    CASE WHEN json_extract_scalar(payload, '$.subscription.newTopicPreferences.topicSubscriptionStatus[0].subscriptionStatus') = 'OptOut'
      THEN coalesce(json_extract_scalar(payload, '$.subscription.newTopicPreferences.topicSubscriptionStatus[0].topicName'), 'None') END AS new_opt_out_0,
    CASE WHEN json_extract_scalar(payload, '$.subscription.newTopicPreferences.topicSubscriptionStatus[1].subscriptionStatus') = 'OptOut'
      THEN coalesce(json_extract_scalar(payload, '$.subscription.newTopicPreferences.topicSubscriptionStatus[1].topicName'), 'None') END AS new_opt_out_1,
    CASE WHEN json_extract_scalar(payload, '$.subscription.newTopicPreferences.topicSubscriptionStatus[2].subscriptionStatus') = 'OptOut'
      THEN coalesce(json_extract_scalar(payload, '$.subscription.newTopicPreferences.topicSubscriptionStatus[2].topicName'), 'None') END AS new_opt_out_2,
    CASE WHEN json_extract_scalar(payload, '$.subscription.newTopicPreferences.topicSubscriptionStatus[3].subscriptionStatus') = 'OptOut'
      THEN coalesce(json_extract_scalar(payload, '$.subscription.newTopicPreferences.topicSubscriptionStatus[3].topicName'), 'None') END AS new_opt_out_3,
    CASE WHEN json_extract_scalar(payload, '$.subscription.oldTopicPreferences.topicSubscriptionStatus[0].subscriptionStatus') = 'OptOut'
      THEN coalesce(json_extract_scalar(payload, '$.subscription.oldTopicPreferences.topicSubscriptionStatus[0].topicName'), 'None') END AS old_opt_out_0,
    CASE WHEN json_extract_scalar(payload, '$.subscription.oldTopicPreferences.topicSubscriptionStatus[1].subscriptionStatus') = 'OptOut'
      THEN coalesce(json_extract_scalar(payload, '$.subscription.oldTopicPreferences.topicSubscriptionStatus[1].topicName'), 'None') END AS old_opt_out_1,
    CASE WHEN json_extract_scalar(payload, '$.subscription.oldTopicPreferences.topicSubscriptionStatus[2].subscriptionStatus') = 'OptOut'
      THEN coalesce(json_extract_scalar(payload, '$.subscription.oldTopicPreferences.topicSubscriptionStatus[2].topicName'), 'None') END AS old_opt_out_2,
    CASE WHEN json_extract_scalar(payload, '$.subscription.oldTopicPreferences.topicSubscriptionStatus[3].subscriptionStatus') = 'OptOut'
      THEN coalesce(json_extract_scalar(payload, '$.subscription.oldTopicPreferences.topicSubscriptionStatus[3].topicName'), 'None') END AS old_opt_out_3
  FROM formats
  WHERE format = 'ses'
),
ses_typed AS (
  SELECT
    f.*,
    CASE name
      WHEN 'Send' THEN json_extract_scalar(payload, '$.send.timestamp')
      WHEN 'Delivery' THEN json_extract_scalar(payload, '$.delivery.timestamp')
      WHEN 'Open' THEN json_extract_scalar(payload, '$.open.timestamp')
      WHEN 'Click' THEN json_extract_scalar(payload, '$.click.timestamp')
      WHEN 'Bounce' THEN json_extract_scalar(payload, '$.bounce.timestamp')
      WHEN 'Complaint' THEN json_extract_scalar(payload, '$.complaint.timestamp')
      WHEN 'Reject' THEN json_extract_scalar(payload, '$.reject.timestamp')
      WHEN 'Rendering Failure' THEN json_extract_scalar(payload, '$.failure.timestamp')
      WHEN 'DeliveryDelay' THEN json_extract_scalar(payload, '$.deliveryDelay.timestamp')
      WHEN 'Subscription' THEN json_extract_scalar(payload, '$.subscription.timestamp')
    END AS moment,
    CASE name
      WHEN 'Bounce' THEN json_extract_scalar(payload, '$.bounce.feedbackId')
      WHEN 'Complaint' THEN json_extract_scalar(payload, '$.complaint.feedbackId')
      WHEN 'Click' THEN json_extract_scalar(payload, '$.click.link')
      WHEN 'Open' THEN concat(
        coalesce(json_extract_scalar(payload, '$.open.ipAddress'), ''), '|',
        coalesce(json_extract_scalar(payload, '$.open.userAgent'), ''))
      WHEN 'Subscription' THEN concat(
        coalesce(json_extract_scalar(payload, '$.subscription.contactList'), ''), '|',
        coalesce(json_extract_scalar(payload, '$.subscription.source'), ''))
    END AS distinguishing,
    -- An open's or click's signals (formats/ses._details): only when its sub-object is an object; strings
    -- that are not empty.
    CASE name
      WHEN 'Open' THEN coalesce(starts_with(try(json_format(json_extract(payload, '$.open'))), '{'), false)
      WHEN 'Click' THEN coalesce(starts_with(try(json_format(json_extract(payload, '$.click'))), '{'), false)
      ELSE false
    END AS has_details,
    CASE name
      WHEN 'Open' THEN CASE WHEN starts_with(try(json_format(json_extract(payload, '$.open.userAgent'))), '"')
        THEN nullif(json_extract_scalar(payload, '$.open.userAgent'), '') END
      WHEN 'Click' THEN CASE WHEN starts_with(try(json_format(json_extract(payload, '$.click.userAgent'))), '"')
        THEN nullif(json_extract_scalar(payload, '$.click.userAgent'), '') END
    END AS user_agent,
    CASE name
      WHEN 'Open' THEN CASE WHEN starts_with(try(json_format(json_extract(payload, '$.open.ipAddress'))), '"')
        THEN nullif(json_extract_scalar(payload, '$.open.ipAddress'), '') END
      WHEN 'Click' THEN CASE WHEN starts_with(try(json_format(json_extract(payload, '$.click.ipAddress'))), '"')
        THEN nullif(json_extract_scalar(payload, '$.click.ipAddress'), '') END
    END AS ip,
    CASE WHEN name = 'Click' AND starts_with(try(json_format(json_extract(payload, '$.click.link'))), '"')
      THEN nullif(json_extract_scalar(payload, '$.click.link'), '') END AS link,
    -- Subscription: an unsubscribe newly unsubscribes from all, or newly opts out of a topic.
    CASE WHEN name = 'Subscription' THEN
      (json_extract_scalar(payload, '$.subscription.newTopicPreferences.unsubscribeAll') = 'true'
        AND coalesce(json_extract_scalar(payload, '$.subscription.oldTopicPreferences.unsubscribeAll'), '') <> 'true')
      OR (new_opt_out_0 IS NOT NULL AND coalesce(new_opt_out_0 <> old_opt_out_0, true) AND coalesce(new_opt_out_0 <> old_opt_out_1, true) AND coalesce(new_opt_out_0 <> old_opt_out_2, true) AND coalesce(new_opt_out_0 <> old_opt_out_3, true))
      OR (new_opt_out_1 IS NOT NULL AND coalesce(new_opt_out_1 <> old_opt_out_0, true) AND coalesce(new_opt_out_1 <> old_opt_out_1, true) AND coalesce(new_opt_out_1 <> old_opt_out_2, true) AND coalesce(new_opt_out_1 <> old_opt_out_3, true))
      OR (new_opt_out_2 IS NOT NULL AND coalesce(new_opt_out_2 <> old_opt_out_0, true) AND coalesce(new_opt_out_2 <> old_opt_out_1, true) AND coalesce(new_opt_out_2 <> old_opt_out_2, true) AND coalesce(new_opt_out_2 <> old_opt_out_3, true))
      OR (new_opt_out_3 IS NOT NULL AND coalesce(new_opt_out_3 <> old_opt_out_0, true) AND coalesce(new_opt_out_3 <> old_opt_out_1, true) AND coalesce(new_opt_out_3 <> old_opt_out_2, true) AND coalesce(new_opt_out_3 <> old_opt_out_3, true))
    END AS unsubscribes
  FROM ses_fields f
),
-- SMS event records (formats/sms.py): the user and the campaign are the `context` keys named by
-- user_key_tag and campaign_tag.
sms_fields AS (
  SELECT
    line,
    dt,
    payload,
    nullif(json_extract_scalar(payload, '$.eventType'), '') AS name,
    json_extract_scalar(payload, '$.eventTimestamp') AS event_timestamp,
    nullif(json_extract_scalar(payload, '$.messageId'), '') AS message_id,
    coalesce(
      nullif(json_extract_scalar(payload, '$.context["${user_key_tag}"]'), ''),
      nullif(json_extract_scalar(payload, '$.context["${user_key_tag}"][0]'), '')
    ) AS user_key,
    coalesce(
      nullif(json_extract_scalar(payload, '$.context["${campaign_tag}"]'), ''),
      nullif(json_extract_scalar(payload, '$.context["${campaign_tag}"][0]'), '')
    ) AS campaign
  FROM formats
  WHERE format = 'sms'
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
    nullif(custom_campaign, '') AS campaign,
    false AS once,
    payload AS identity,
    false AS has_details,
    CAST(NULL AS varchar) AS user_agent,
    CAST(NULL AS varchar) AS ip,
    CAST(NULL AS varchar) AS link,
    CAST(NULL AS bigint) AS sent_ms
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
    coalesce(campaign_id, journey_id) AS campaign,
    false AS once,
    payload AS identity,
    coalesce(event_type IN ('_email.open', '_email.click'), false) AS has_details,
    pinpoint_user_agent AS user_agent,
    pinpoint_ip AS ip,
    pinpoint_link AS link,
    CASE WHEN pinpoint_sent_ms <= 253402300799999 THEN pinpoint_sent_ms END AS sent_ms
  FROM fields
  WHERE schema_name IS NULL AND nullif(pinpoint_client_id, '') IS NOT NULL
  UNION ALL
  SELECT
    line,
    dt,
    'ses' AS format,
    CASE name
      WHEN 'Send' THEN '_email.send'
      WHEN 'Delivery' THEN '_email.delivered'
      WHEN 'Open' THEN '_email.open'
      WHEN 'Click' THEN '_email.click'
      WHEN 'Complaint' THEN '_email.complaint'
      WHEN 'Reject' THEN '_email.rejected'
      WHEN 'Rendering Failure' THEN '_email.rendering_failure'
      WHEN 'DeliveryDelay' THEN '_email.delivery_delay'
      WHEN 'Bounce' THEN CASE
        WHEN json_extract_scalar(payload, '$.bounce.bounceType') = 'Permanent' THEN '_email.hardbounce'
        ELSE '_email.softbounce'
      END
      WHEN 'Subscription' THEN CASE WHEN unsubscribes THEN '_email.unsubscribe' ELSE '_email.subscription' END
      ELSE concat('_email.', lower(replace(name, ' ', '_')))
    END AS event_type,
    user_key,
    CASE
      WHEN regexp_like(coalesce(moment, sent_at), '^[0-9]{1,15}$') THEN CAST(coalesce(moment, sent_at) AS bigint)
      ELSE date_diff('millisecond', from_unixtime(0), try(from_iso8601_timestamp(coalesce(moment, sent_at))))
    END AS ts_ms,
    CAST(NULL AS varchar) AS event_channel,
    message_id,
    campaign,
    false AS once,
    concat('ses|', name, '|', message_id, '|', coalesce(moment, sent_at, ''), '|', coalesce(distinguishing, ''), '|', user_key) AS identity,
    has_details,
    user_agent,
    ip,
    link,
    -- The message's send time (mail.timestamp), as the event's own time is read.
    CASE
      WHEN regexp_like(sent_at, '^[0-9]{1,15}$') THEN CAST(sent_at AS bigint)
      ELSE date_diff('millisecond', from_unixtime(0), try(from_iso8601_timestamp(sent_at)))
    END AS sent_ms
  FROM ses_typed
  WHERE name <> '' AND message_id IS NOT NULL
  UNION ALL
  SELECT
    line,
    dt,
    'sms' AS format,
    CASE
      WHEN name IN ('TEXT_SUCCESSFUL', 'TEXT_DELIVERED') THEN '_SMS.SUCCESS'
      WHEN name IN (
        'TEXT_BLOCKED', 'TEXT_CARRIER_BLOCKED', 'TEXT_CARRIER_UNREACHABLE', 'TEXT_INVALID', 'TEXT_INVALID_MESSAGE',
        'TEXT_PROTECT_BLOCKED', 'TEXT_SPAM', 'TEXT_TTL_EXPIRED', 'TEXT_UNKNOWN', 'TEXT_UNREACHABLE'
      ) THEN '_SMS.FAILURE'
      ELSE concat('_SMS.', name)
    END AS event_type,
    user_key,
    CASE WHEN regexp_like(event_timestamp, '^[0-9]{1,15}$') THEN CAST(event_timestamp AS bigint) END AS ts_ms,
    CAST(NULL AS varchar) AS event_channel,
    message_id,
    campaign,
    -- A successful or failed message counts once per message id whatever the rule says.
    name IN (
      'TEXT_SUCCESSFUL', 'TEXT_DELIVERED', 'TEXT_BLOCKED', 'TEXT_CARRIER_BLOCKED', 'TEXT_CARRIER_UNREACHABLE',
      'TEXT_INVALID', 'TEXT_INVALID_MESSAGE', 'TEXT_PROTECT_BLOCKED', 'TEXT_SPAM', 'TEXT_TTL_EXPIRED',
      'TEXT_UNKNOWN', 'TEXT_UNREACHABLE'
    ) AS once,
    concat('sms|', name, '|', message_id, '|', event_timestamp, '|', user_key) AS identity,
    false AS has_details,
    CAST(NULL AS varchar) AS user_agent,
    CAST(NULL AS varchar) AS ip,
    CAST(NULL AS varchar) AS link,
    CAST(NULL AS bigint) AS sent_ms
  FROM sms_fields
  WHERE name IS NOT NULL AND message_id IS NOT NULL
),
-- What the engine would score: a user, a time and a type; _test.event_stream is skipped; a custom
-- event's channel must be one of the five; one event per identity (the earliest copy).
valid AS (
  SELECT
    d.*,
    row_number() OVER (PARTITION BY d.identity ORDER BY d.dt, d.line) AS nth_copy
  FROM decoded d
  WHERE user_key IS NOT NULL
    AND ts_ms IS NOT NULL
    AND event_type IS NOT NULL
    AND event_type <> '_test.event_stream'
    AND (event_channel IS NULL OR event_channel IN ('email', 'sms', 'push', 'in_app', 'custom'))
),
unique_events AS (
  SELECT
    line, dt, format, event_type, user_key, ts_ms, event_channel, message_id, campaign, once, identity,
    has_details, link, sent_ms,
    coalesce(user_agent, '') AS ua,
    -- The address as a number when it is an IPv4 address (Python's ipaddress form: no leading zeros).
    CASE WHEN regexp_like(trim(ip), '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.]){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$')
      THEN CAST(split_part(trim(ip), '.', 1) AS bigint) * 16777216 + CAST(split_part(trim(ip), '.', 2) AS bigint) * 65536
        + CAST(split_part(trim(ip), '.', 3) AS bigint) * 256 + CAST(split_part(trim(ip), '.', 4) AS bigint)
    END AS ip4
  FROM valid
  WHERE nth_copy = 1
),
-- Machine engagement, from the record alone (core/machine.classify): the open's or click's user agent and
-- IPv4 address against the module's lists, its time against the message's send time.
signals AS (
  SELECT
    u.*,
    u.has_details AND u.event_type = '_email.open' AND coalesce(${proxy_user_agent_match} OR ${proxy_cidr_match}, false) AS privacy_proxy_open,
    u.has_details AND ${send_time_proximity_ms} > 0 AND coalesce(u.ts_ms - u.sent_ms <= ${send_time_proximity_ms}, false) AS send_time_proximity,
    u.has_details AND coalesce(${scanner_user_agent_match} OR ${scanner_cidr_match}, false) AS scanner_list
  FROM unique_events u
),
-- Burst (core/machine.judge_clicks): a click is a burst click when it and the clicks of the same user and
-- message before it reach burst_min_links distinct links within burst_window_ms. The engine's "before" is
-- stream order; the archive has none, so here it is event time, then the line's text for equal times.
clicks AS (
  SELECT identity, user_key, message_id, link, ts_ms, line
  FROM unique_events
  WHERE event_type = '_email.click' AND has_details AND link IS NOT NULL AND message_id IS NOT NULL
),
bursts AS (
  SELECT c.identity
  FROM clicks c
  JOIN clicks p
    ON p.user_key = c.user_key AND p.message_id = c.message_id AND p.link <> c.link
    AND p.ts_ms >= c.ts_ms - ${burst_window_ms}
    AND (p.ts_ms < c.ts_ms OR (p.ts_ms = c.ts_ms AND p.line < c.line))
  WHERE ${burst_window_ms} > 0
  GROUP BY c.identity
  HAVING count(DISTINCT p.link) + 1 >= ${burst_min_links}
),
-- Every event with its verdict: the lowest weight of its reasons (1 without reasons), and the reasons in
-- the engine's order, comma-separated (NULL: none).
events AS (
  SELECT
    s.line, s.dt, s.format, s.event_type, s.user_key, s.ts_ms, s.event_channel, s.message_id, s.campaign, s.once,
    least(
      CASE WHEN s.privacy_proxy_open THEN CAST(${weight_privacy_proxy_open} AS double) ELSE 1e0 END,
      CASE WHEN s.send_time_proximity THEN CAST(${weight_send_time_proximity} AS double) ELSE 1e0 END,
      CASE WHEN s.scanner_list THEN CAST(${weight_scanner_list} AS double) ELSE 1e0 END,
      CASE WHEN b.identity IS NOT NULL THEN CAST(${weight_burst} AS double) ELSE 1e0 END
    ) AS machine_weight,
    nullif(substr(concat(
      CASE WHEN s.privacy_proxy_open THEN ',privacy_proxy_open' ELSE '' END,
      CASE WHEN s.send_time_proximity THEN ',send_time_proximity' ELSE '' END,
      CASE WHEN s.scanner_list THEN ',scanner_list' ELSE '' END,
      CASE WHEN b.identity IS NOT NULL THEN ',burst' ELSE '' END
    ), 2), '') AS machine_reasons
  FROM signals s
  LEFT JOIN bursts b ON b.identity = s.identity
),
-- The current rules (var.score_rules), one row each.
rules AS (
  SELECT * FROM (VALUES ${rules}) AS r (event_type, points, channel, once_per_message)
),
-- Events that have a rule, with their points times their machine weight and their channel (the rule's, else
-- the event's, else the prefix's), and once per (user, type, message id) when the rule says so: the earliest
-- event counts. An event of machine weight 0 is no touch: it does not count and takes no once-per-message slot.
ruled AS (
  SELECT
    e.user_key,
    e.event_type,
    e.ts_ms,
    e.campaign,
    e.message_id,
    e.dt,
    e.line,
    r.points * e.machine_weight AS points,
    e.machine_weight,
    e.machine_reasons,
    r.once_per_message OR e.once AS once_per_message,
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
  WHERE e.machine_weight > 0
),
scored AS (
  SELECT user_key, event_type, ts_ms, campaign, message_id, dt, line, points, channel, machine_weight, machine_reasons
  FROM ruled
  WHERE NOT once_per_message OR message_id IS NULL OR nth_of_message = 1
)
