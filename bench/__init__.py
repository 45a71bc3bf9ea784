"""Careline's benchmarks: `python -m bench [NAME ...]` (`make bench` runs them all)."""
