"""Real-time engagement scoring of messaging events: the Lambda package (scorer and score sync)."""
