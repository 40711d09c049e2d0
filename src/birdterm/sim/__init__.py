"""Simulation core: Cython extensions for hot loops (compiled, no Python fallback)."""

from birdterm.sim.price_levels import InvalidBookLevel, PriceLevels, apply_pair_diff

__all__ = ["InvalidBookLevel", "PriceLevels", "apply_pair_diff"]
