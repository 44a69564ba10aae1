"""Benchmarks of newsbeam (``make bench``); see bench/README.md."""
