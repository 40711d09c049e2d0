"""The app as a person uses it: Pilot drives keys, the screen's text is checked."""

import asyncio

import pytest

from birdterm.app import create_app
from birdterm.engine.bot_config import BotConfig
from birdterm.engine.config import load_config
from birdterm.engine.engine import Engine
from birdterm.engine.store import StoreError

from tests.helpers import EXAMPLE_CONFIG

SIZE = (120, 40)


def log_text(app):
    """The log pane's lines, unwrapped, whitespace collapsed to single spaces."""
    return " ".join(app.dashboard.query_one("#log-pane").text.split())


def status_text(app):
    return str(app.screen.query_one("#status-bar").render())


async def wait_for(pilot, condition, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def make_app(data_dir, autostart=True):
    config = load_config(EXAMPLE_CONFIG, BotConfig)
    engine = Engine(data_dir, config)
    return create_app(data_dir, engine=engine, autostart=autostart), engine


async def test_clock_ticks_and_status_bar_shows_it(data_dir):
    app, engine = make_app(data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: engine.clock.tick_count >= 2)
        await wait_for(pilot, lambda: "UTC" in status_text(app))
        text = status_text(app)
        assert "paper-btc running" in text
        assert "IDLE" in text and "no controllers running" in text
        assert app.sub_title == "paper-btc"
    # leaving the app stops the engine: clock task done, store closed
    assert not engine.clock.is_running
    assert engine._task is None
    with pytest.raises(StoreError, match="closed"):
        engine.store.integrity_check()
    assert (data_dir / "paper-btc.sqlite").exists()


async def test_slash_focuses_command_line_and_help_lists_commands(data_dir):
    app, _ = make_app(data_dir, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#log").focus()
        await pilot.press("slash")
        command_line = app.screen.query_one("#command-line")
        assert app.focused is command_line
        assert command_line.value == "/"
        await pilot.press(*"help", "enter")
        await wait_for(pilot, lambda: "/validate PATH" in log_text(app))
        assert "> /help" in log_text(app)
        assert command_line.value == ""


async def test_unknown_command_suggests_the_close_one(data_dir):
    app, _ = make_app(data_dir, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#command-line").focus()
        await pilot.press(*"/stauts", "enter")
        await wait_for(pilot, lambda: "error:" in log_text(app))
        assert "unknown command /stauts. Did you mean /status?" in log_text(app)


async def test_validate_reports_file_line_and_field(data_dir, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE_CONFIG.read_text().replace("tick_size = 1.0", "tick_size = 0"))
    app, _ = make_app(data_dir, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#command-line").focus()
        await pilot.press(*f"/validate {bad}", "enter")
        await wait_for(pilot, lambda: "error:" in log_text(app))
        assert f"{bad}:9: bot.tick_size: Input should be greater than 0, got 0" in log_text(app)


async def test_status_then_quit_exits_and_stops_engine(data_dir):
    app, engine = make_app(data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: engine.clock.tick_count >= 1)
        app.screen.query_one("#command-line").focus()
        await pilot.press(*"/status", "enter")
        await wait_for(pilot, lambda: "store " in log_text(app))
        assert "paper-btc: clock realtime every 1s" in log_text(app)
        await pilot.press(*"/quit", "enter")
        await wait_for(pilot, lambda: not app.is_running)
    assert not engine.clock.is_running
