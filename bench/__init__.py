"""Benchmarks of gps3async against other S3 streaming clients; run ``python -m bench.run``."""
