-- Top users: the 100 users with the most points under the current rules and machine-engagement weights (no
-- decay), with their counted events, those of them weighted below 1, and the time of their last one.
WITH
${archive_events}
SELECT
  user_key,
  sum(points) AS points,
  count(*) AS events,
  count_if(machine_weight < 1) AS machine_weighted,
  max(ts_ms) AS last_event_ms
FROM scored
GROUP BY user_key
ORDER BY points DESC, user_key
LIMIT 100
