-- Engagement per campaign: users reached, counted events, opens, clicks and points under the current
-- rules (no decay), for every event that names a campaign.
WITH
${archive_events}
SELECT
  campaign,
  count(DISTINCT user_key) AS users,
  count(*) AS events,
  count_if(event_type IN ('_email.open', '_campaign.opened_notification')) AS opens,
  count_if(event_type = '_email.click') AS clicks,
  sum(points) AS points
FROM scored
WHERE campaign IS NOT NULL
GROUP BY campaign
ORDER BY points DESC, campaign
