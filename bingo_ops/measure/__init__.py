"""Measurement: latency statistics, invocation counting and the cost model."""
