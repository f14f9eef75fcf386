"""Helpers of benchmarks/media_relay.py (not benchmarks themselves)."""
