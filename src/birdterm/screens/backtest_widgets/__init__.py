"""Widgets of the backtest screen."""
