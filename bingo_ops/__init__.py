"""bingo-ops: run, watch, replay, measure and deploy Buzzword Bingo."""

__version__ = "0.1.0"
