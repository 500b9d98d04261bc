-- Top users: the 100 users with the most points under the current rules (no decay), with their counted
-- events and the time of their last one.
WITH
${archive_events}
SELECT
  user_key,
  sum(points) AS points,
  count(*) AS events,
  max(ts_ms) AS last_event_ms
FROM scored
GROUP BY user_key
ORDER BY points DESC, user_key
LIMIT 100
