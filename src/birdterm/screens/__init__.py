"""Textual screens and their widgets."""
