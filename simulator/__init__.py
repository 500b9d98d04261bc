"""Faker-based event simulator, oracle and embedded local cloud for the engagement-scoring pipeline."""
