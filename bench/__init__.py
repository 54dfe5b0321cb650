"""Benchmarks that print figures; `python -m bench.run_all` runs every one."""
