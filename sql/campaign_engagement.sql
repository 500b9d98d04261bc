-- Engagement per campaign: users reached, counted events, opens, clicks, counted events weighted below 1 by
-- machine engagement, and points under the current rules and weights (no decay), for every event that names
-- a campaign. Opens and clicks of weight 0 are not counted.
WITH
${archive_events}
SELECT
  campaign,
  count(DISTINCT user_key) AS users,
  count(*) AS events,
  count_if(event_type IN ('_email.open', '_campaign.opened_notification')) AS opens,
  count_if(event_type = '_email.click') AS clicks,
  count_if(machine_weight < 1) AS machine_weighted,
  sum(points) AS points
FROM scored
WHERE campaign IS NOT NULL
GROUP BY campaign
ORDER BY points DESC, campaign
