"""Benchmarks for the engagement-scoring pipeline (`make bench`); see docs/benchmarks.md."""

import sys
from pathlib import Path

# `make bench` sets PYTHONPATH=lambda_src:.; a bare `python -m benchmarks` from the root may not.
_LAMBDA_SRC = str(Path(__file__).resolve().parent.parent / "lambda_src")
if _LAMBDA_SRC not in sys.path:
    sys.path.insert(0, _LAMBDA_SRC)
