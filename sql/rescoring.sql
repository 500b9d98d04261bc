-- Rescoring: every user's score, channel scores and tier recomputed from the archive with the current
-- rules, decay half-life, floor, ceiling and tiers (the module's inputs when Terraform rendered it).
-- raw = sum of points * 2^(-(as_of - t) / H) with as_of the user's newest counted event (H = 0: no decay).
-- points: the rule's times the event's machine-engagement weight (archive_events.sql); weight 0 is not counted.
WITH
${archive_events},
users AS (
  SELECT user_key, max(ts_ms) AS as_of, count(*) AS events
  FROM scored
  GROUP BY user_key
),
shares AS (
  SELECT
    s.user_key,
    s.channel,
    s.points * CASE
      WHEN CAST(${half_life_ms} AS double) > 0
        THEN power(2e0, -CAST(u.as_of - s.ts_ms AS double) / CAST(${half_life_ms} AS double))
      ELSE 1e0
    END AS share
  FROM scored s
  JOIN users u ON u.user_key = s.user_key
),
raw_scores AS (
  SELECT
    user_key,
    sum(share) AS raw_score,
    sum(CASE WHEN channel = 'email' THEN share END) AS email,
    sum(CASE WHEN channel = 'sms' THEN share END) AS sms,
    sum(CASE WHEN channel = 'push' THEN share END) AS push,
    sum(CASE WHEN channel = 'in_app' THEN share END) AS in_app,
    sum(CASE WHEN channel = 'custom' THEN share END) AS custom
  FROM shares
  GROUP BY user_key
),
clamped AS (
  SELECT
    r.*,
    CASE
      WHEN CAST(${score_floor} AS double) IS NOT NULL AND r.raw_score < CAST(${score_floor} AS double)
        THEN CAST(${score_floor} AS double)
      WHEN CAST(${score_ceiling} AS double) IS NOT NULL AND r.raw_score > CAST(${score_ceiling} AS double)
        THEN CAST(${score_ceiling} AS double)
      ELSE r.raw_score
    END AS score
  FROM raw_scores r
),
tiers AS (
  ${tiers}
),
tiered AS (
  SELECT c.user_key, max_by(t.name, t.min_score) AS tier
  FROM clamped c
  JOIN tiers t ON t.min_score <= c.score
  GROUP BY c.user_key
)
SELECT
  c.user_key,
  c.score,
  c.raw_score,
  coalesce(t.tier, (SELECT min_by(name, min_score) FROM tiers)) AS tier,
  u.events,
  u.as_of,
  c.email,
  c.sms,
  c.push,
  c.in_app,
  c.custom
FROM clamped c
JOIN users u ON u.user_key = c.user_key
LEFT JOIN tiered t ON t.user_key = c.user_key
ORDER BY c.score DESC, c.user_key
