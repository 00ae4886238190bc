"""Benchmarks: the cadence tick against a plain-SQL floor, measured in the same run."""
