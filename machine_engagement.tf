# Machine engagement policy (docs/scoring.md, "Machine engagement"): the scorer reads it as one JSON
# environment variable, MACHINE_ENGAGEMENT, with every optional attribute filled in by its default.

locals {
  machine_engagement = jsonencode(var.machine_engagement)

  # The same policy as SQL for the archive's named queries (sql/archive_events.sql; archive.tf merges these
  # into the templatefile() variables; engagement_scoring.archive.machine_variables renders the same text,
  # tests/plan/test_tf_archive.py compares the two). IPv6 blocks are not matched in SQL (docs/operations.md).
  machine_weights = merge(
    { privacy_proxy_open = 0, send_time_proximity = 0.5, scanner_list = 0, burst = 0 },
    { for name, weight in var.machine_engagement.weights : name => weight if weight != null },
  )
  machine_ipv4_ranges = {
    for list in ["privacy_proxy_cidrs", "scanner_cidrs"] : list => [
      for cidr in var.machine_engagement[list] : format(
        "u.ip4 BETWEEN %d AND %d",
        sum([for i, octet in split(".", cidrhost(cidr, 0)) : tonumber(octet) * pow(256, 3 - i)]),
        sum([for i, octet in split(".", cidrhost(cidr, -1)) : tonumber(octet) * pow(256, 3 - i)]),
      ) if !strcontains(cidr, ":")
    ]
  }
  machine_engagement_sql_vars = {
    weight_privacy_proxy_open  = format("%v", local.machine_weights.privacy_proxy_open)
    weight_send_time_proximity = format("%v", local.machine_weights.send_time_proximity)
    weight_scanner_list        = format("%v", local.machine_weights.scanner_list)
    weight_burst               = format("%v", local.machine_weights.burst)
    send_time_proximity_ms     = format("%d", var.machine_engagement.send_time_proximity_seconds * 1000)
    burst_window_ms            = format("%d", var.machine_engagement.burst_window_ms)
    burst_min_links            = format("%d", var.machine_engagement.burst_min_links)
    proxy_user_agent_match = length(var.machine_engagement.privacy_proxy_user_agents) == 0 ? "false" : format(
      "trim(u.ua) IN (%s)",
      join(", ", [for text in sort(distinct(var.machine_engagement.privacy_proxy_user_agents)) : "'${replace(text, "'", "''")}'"]),
    )
    scanner_user_agent_match = length(var.machine_engagement.scanner_user_agents) == 0 ? "false" : format(
      "(%s)",
      join(" OR ", [for text in var.machine_engagement.scanner_user_agents : "strpos(lower(u.ua), '${replace(lower(text), "'", "''")}') > 0"]),
    )
    proxy_cidr_match   = length(local.machine_ipv4_ranges.privacy_proxy_cidrs) == 0 ? "false" : "(${join(" OR ", local.machine_ipv4_ranges.privacy_proxy_cidrs)})"
    scanner_cidr_match = length(local.machine_ipv4_ranges.scanner_cidrs) == 0 ? "false" : "(${join(" OR ", local.machine_ipv4_ranges.scanner_cidrs)})"
  }
}
