"""Shared fixtures."""

import pytest


@pytest.fixture
def data_dir(tmp_path):
    """An empty per-test data dir (logs, store)."""
    path = tmp_path / "data"
    path.mkdir()
    return path
