"""Connectors: what executors trade through (simulated in backtests, exchanges live)."""
