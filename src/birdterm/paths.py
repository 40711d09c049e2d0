"""Where birdterm keeps its per-user data: XDG data dir, or --data-dir / BIRDTERM_DATA_DIR."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir(environ: dict[str, str] | None = None) -> Path:
    """$BIRDTERM_DATA_DIR, else $XDG_DATA_HOME/birdterm, else ~/.local/share/birdterm."""
    env = os.environ if environ is None else environ
    if explicit := env.get("BIRDTERM_DATA_DIR"):
        return Path(explicit).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    base = (
        Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".local/share"
    )
    return base / "birdterm"


def ensure_data_dir(path: Path) -> Path:
    """Create the data dir (private to the user: it holds the store and, later, keys)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
