-- A user's history: every archived event of one user (the parameter: the user key), oldest first, with the
-- points its rule gives today times its machine-engagement weight (NULL: no rule; 0: weight 0, not counted),
-- the weight and the machine reasons (comma-separated; NULL: none). Run with the user key as the execution
-- parameter (Athena: --execution-parameters; DuckDB: a ? parameter).
WITH
${archive_events},
history AS (
  SELECT
    e.user_key, e.event_type, e.ts_ms, e.campaign, e.message_id, e.format, e.dt,
    r.points * e.machine_weight AS points, e.machine_weight, e.machine_reasons
  FROM events e
  LEFT JOIN rules r ON r.event_type = e.event_type
  WHERE e.user_key = ?
)
SELECT user_key, event_type, ts_ms, campaign, message_id, format, dt, points, machine_weight, machine_reasons
FROM history
ORDER BY ts_ms, event_type
