"""The trading engine: clock, events, types, order book, config, store (never imports the UI)."""
