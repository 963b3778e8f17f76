"""Benchmarks (not tests): run ``python -m bench --help``."""
