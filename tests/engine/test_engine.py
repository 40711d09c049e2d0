"""Engine lifecycle: start and stop at once, stop twice."""

import asyncio

import pytest

from birdterm.engine.engine import Engine
from birdterm.engine.store import StoreError


async def test_stop_right_after_start_returns_and_closes_the_store(data_dir):
    engine = Engine(data_dir)
    engine.start()
    await asyncio.wait_for(engine.stop(), timeout=5)
    assert engine.clock.tick_count == 0
    assert not engine.clock.is_running
    with pytest.raises(StoreError, match="closed"):
        engine.store.integrity_check()
    await engine.stop()  # a second stop is harmless
    assert engine.view().name == "birdterm"
