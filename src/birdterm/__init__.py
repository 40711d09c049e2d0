"""birdterm: a crypto trading bot in one terminal app."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("birdterm")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
