"""Paths shared by tests."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = REPO / "configs" / "paper_btc.toml"
