"""Widgets of the screens, one module per pane."""
