"""Benchmarks for the engagement-scoring pipeline (`make bench`); see docs/benchmarks.md."""
