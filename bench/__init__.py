"""Benchmarks for the Haikou smart-city platform (run with ``python -m bench``)."""
