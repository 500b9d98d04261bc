# Machine engagement policy (docs/scoring.md, "Machine engagement"): the scorer reads it as one JSON
# environment variable, MACHINE_ENGAGEMENT, with every optional attribute filled in by its default.

locals {
  machine_engagement = jsonencode(var.machine_engagement)
}
