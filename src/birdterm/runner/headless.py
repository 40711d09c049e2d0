"""`birdterm run CONFIG --headless`: the engine and one controller file, no UI (for systemd)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from birdterm.commands import default_registry
from birdterm.engine.engine import Engine
from birdterm.logs import LOG_FORMAT, SecretRedactor, configure_logging
from birdterm.runner.session import SessionError, start_session
from birdterm.sim.backtest_config import load_controller_document

log = logging.getLogger("birdterm.headless")


def _status_lines(engine: Engine) -> str:
    from birdterm.commands import CommandContext

    return default_registry().run("/status", CommandContext(engine)).text


async def run_headless(
    path: Path, data_dir: Path, *, status_every_s: float = 30.0,
    stop: asyncio.Event | None = None,
) -> int:  # fmt: skip
    """Run until SIGINT/SIGTERM (or `stop` is set), then stop cleanly; the exit code."""
    document = load_controller_document(path)
    engine = Engine(data_dir, name=document.bot.name, tick_size=document.bot.tick_size)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(signum, stop.set)
    engine.start()
    try:
        log.info(await start_session(engine, path))
    except SessionError as exc:
        log.error("%s", exc)
        await engine.stop()
        return 2
    except BaseException:
        await engine.stop()
        raise
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=status_every_s)
            except TimeoutError:
                for line in _status_lines(engine).splitlines():
                    log.info("%s", line)
    finally:
        log.info("stopping")
        await engine.stop()
    return 0


def headless_main(path: Path, data_dir: Path, log_level: str = "INFO") -> int:
    """Log to stdout and the data dir's log file, then run."""
    redactor = SecretRedactor()
    configure_logging(data_dir / "logs", redactor, level=log_level)
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter(LOG_FORMAT))
    console.addFilter(redactor)
    logging.getLogger("birdterm").addHandler(console)
    return asyncio.run(run_headless(path, data_dir))
