"""Runnable benchmarks (not tests): ``python -m benchmarks.<name>``."""
