"""Deprecated name: the main screen is now the dashboard (kept until nothing imports it)."""

from birdterm.screens.dashboard import DashboardScreen as MainScreen

__all__ = ["MainScreen"]
