"""The config editor as a person uses it: edit, Ctrl+S, read the errors, fix, save, leave."""

from __future__ import annotations

import asyncio
import shutil
from decimal import Decimal

from birdterm.app import create_app
from birdterm.engine.engine import Engine
from birdterm.screens.config_editor import (
    ConfigEditorScreen,
    ConfigTextArea,
    ConfirmScreen,
    validate_config_text,
)
from birdterm.screens.dashboard import DashboardScreen

from tests.helpers import EXAMPLE_CONFIG, REPO

DEMO = REPO / "configs" / "demo.toml"
SIZE = (120, 40)


def screen_text(screen) -> str:
    """Every Static's text on the screen, joined."""
    from textual.widgets import Static

    return "\n".join(str(w.render()) for w in screen.query(Static))


async def wait_for(pilot, condition, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def demo_copy(tmp_path):
    path = tmp_path / "configs" / "demo.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEMO, path)
    return path


def line_of(text: str, start: str) -> int:
    """0-based index of the first line starting with `start`."""
    return next(i for i, line in enumerate(text.splitlines()) if line.startswith(start))


async def open_editor(app, pilot, path) -> ConfigEditorScreen:
    screen = ConfigEditorScreen(path)
    await app.push_screen(screen)
    await pilot.pause()
    return screen


async def retype_value(pilot, editor: ConfigTextArea, key: str, old: str, new: str) -> None:
    """Put the cursor after `key = old` and replace the value by typing, as a person would."""
    row = line_of(editor.text, key)
    line = editor.document.get_line(row)
    column = line.index(old) + len(old)
    editor.move_cursor((row, column))
    await pilot.press(*(["backspace"] * len(old)), *new)


def make_app(data_dir, **kwargs):
    return create_app(data_dir, engine=Engine(data_dir, name="editor"), **kwargs)


async def test_invalid_value_is_not_written_and_is_shown_with_its_line(data_dir, tmp_path):
    path = demo_copy(tmp_path)
    before = path.read_bytes()
    app = make_app(data_dir, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(app, pilot, path)
        editor = screen.editor
        assert app.focused is editor
        assert editor.language == "toml" and editor.show_line_numbers
        assert "[modified]" not in screen_text(screen)
        await retype_value(pilot, editor, "portfolio_allocation", "0.06", "7")
        assert "[modified]" in screen_text(screen)
        row = line_of(editor.text, "portfolio_allocation")

        await pilot.press("ctrl+s")
        await pilot.pause()
        text = screen_text(screen)
        expected = (
            f"line {row + 1}: controller.portfolio_allocation: "
            "Input should be less than or equal to 1, got 7"
        )
        assert expected in text
        assert "not written" in text
        assert path.read_bytes() == before  # byte for byte
        # the bad line is marked in the gutter and the cursor sits on it
        assert editor.error_lines == {row}
        assert editor.cursor_location[0] == row
        assert app.screen is screen

        # fixed: the marks clear as the person types, and Ctrl+S writes exactly what is shown
        await retype_value(pilot, editor, "portfolio_allocation", "7", "0.05")
        await wait_for(pilot, lambda: not editor.error_lines)
        await pilot.press("ctrl+s")
        await pilot.pause()
        written = path.read_text()
        assert written == editor.text
        assert written == DEMO.read_text().replace(
            "portfolio_allocation = 0.06", "portfolio_allocation = 0.05"
        )
        assert "# demo: what `birdterm` runs when started with no arguments." in written
        assert "# quoted around mid at a time: 1000 x 0.06" in written  # comments kept
        assert "[modified]" not in screen_text(screen)
        assert f"saved {path}" in screen_text(screen)
        document = validate_config_text(written, path)
        assert document.controller.portfolio_allocation == Decimal("0.05")


async def test_syntax_error_and_several_errors_are_all_listed(data_dir, tmp_path):
    path = demo_copy(tmp_path)
    before = path.read_bytes()
    app = make_app(data_dir, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(app, pilot, path)
        editor = screen.editor
        # a TOML syntax error: the line the parser stopped at
        await retype_value(pilot, editor, "seed = 7", "7", "7 7")
        row = line_of(editor.text, "seed = 7 7")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert f"line {row + 1}: TOML syntax error" in screen_text(screen)
        assert editor.error_lines == {row}
        assert path.read_bytes() == before
        # two schema errors in two tables: both listed, both marked, cursor on the first
        await retype_value(pilot, editor, "seed = 7 7", "7 7", "7")
        await retype_value(pilot, editor, "tick_size = 1.0", "1.0", "0")
        await retype_value(pilot, editor, "take_profit", "0.004", "2")
        await pilot.press("ctrl+s")
        await pilot.pause()
        tick, take = line_of(editor.text, "tick_size = 0"), line_of(editor.text, "take_profit")
        text = screen_text(screen)
        assert f"line {tick + 1}: bot.tick_size: Input should be greater than 0, got 0" in text
        assert f"line {take + 1}: controller.take_profit: Input should be less than 1" in text
        assert editor.error_lines == {tick, take}
        assert editor.cursor_location[0] == tick
        assert path.read_bytes() == before


async def test_bot_config_validates_against_the_bot_schema(data_dir, tmp_path):
    path = tmp_path / "paper_btc.toml"
    shutil.copyfile(EXAMPLE_CONFIG, path)
    before = path.read_bytes()
    app = make_app(data_dir, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(app, pilot, path)
        editor = screen.editor
        await retype_value(pilot, editor, "connector", '"binance_paper"', '"kraken"')
        await pilot.press("ctrl+s")
        await pilot.pause()
        row = line_of(editor.text, "connector")
        assert f"line {row + 1}: market.connector: Input should be 'binance' or" in (
            screen_text(screen)
        )
        assert path.read_bytes() == before
        await retype_value(pilot, editor, "connector", '"kraken"', '"binance_paper"')
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert path.read_bytes() == before  # the same text again, written as typed


async def test_saving_unchanged_text_keeps_the_bytes(data_dir, tmp_path):
    path = tmp_path / "crlf.toml"
    text = DEMO.read_text().replace("\n", "\r\n")  # layout down to the line endings survives
    path.write_bytes(text.encode())
    app = make_app(data_dir, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(app, pilot, path)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert f"saved {path}" in screen_text(screen)
    assert path.read_bytes() == text.encode()


async def test_file_changed_on_disk_asks_before_overwriting(data_dir, tmp_path):
    path = demo_copy(tmp_path)
    app = make_app(data_dir, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(app, pilot, path)
        path.write_text(DEMO.read_text() + "# changed elsewhere\n")
        await retype_value(pilot, screen.editor, "seed = 7", "7", "8")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "changed on disk since it was opened" in screen_text(screen)
        assert path.read_text().endswith("# changed elsewhere\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert path.read_text() == screen.editor.text


async def test_leaving_with_unsaved_changes_asks_first(data_dir, tmp_path):
    path = demo_copy(tmp_path)
    before = path.read_bytes()
    app = make_app(data_dir, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        # unchanged: Esc leaves at once
        await open_editor(app, pilot, path)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)

        screen = await open_editor(app, pilot, path)
        await retype_value(pilot, screen.editor, "seed = 7", "7", "9")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "unsaved changes" in screen_text(app.screen)
        await pilot.press("n")  # keep editing
        await pilot.pause()
        assert app.screen is screen and screen.modified
        await pilot.press("ctrl+q")  # Ctrl+Q asks too (it does not quit the app from here)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert app.is_running
    assert path.read_bytes() == before


async def test_saving_the_running_demo_offers_a_live_update(data_dir, tmp_path):
    path = demo_copy(tmp_path)
    engine = Engine(data_dir, name="demo", tick_size=0.2)
    app = create_app(data_dir, engine=engine, startup_command=f"/start {path}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: (
                "demo_pmm" in engine.sessions
                and engine.sessions["demo_pmm"].state == "running"
                and engine.sessions["demo_pmm"].orchestrator.active
            ),
            timeout=30,
        )
        session = engine.sessions["demo_pmm"]
        controller = session.driver.controller
        running = list(session.orchestrator.active.values())
        screen = await open_editor(app, pilot, path)
        editor = screen.editor
        await retype_value(pilot, editor, "take_profit", "0.004", "0.006")
        await retype_value(pilot, editor, "buy_spreads", "0.002]", "0.003]")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        question = screen_text(app.screen)
        assert "demo_pmm is running from this file. Apply these changes live?" in question
        assert "take_profit: 0.004 -> 0.006" in question
        assert "buy_spreads: [0.0005, 0.001, 0.002] -> [0.0005, 0.001, 0.003]" in question
        assert "take_profit = 0.006" in path.read_text()  # saved before the question
        await pilot.press("y")
        await pilot.pause()
        assert app.screen is screen
        assert session.config.take_profit == Decimal("0.006")
        assert controller.config is session.config  # the same controller, its config replaced
        assert session.driver.controller is controller
        assert session.document.controller is session.config
        assert controller.barrier.take_profit == Decimal("0.006")  # what new executors get
        assert [lv.spread for lv in controller.levels[:3]] == [
            Decimal("0.0005"), Decimal("0.001"), Decimal("0.003"),
        ]  # fmt: skip
        assert "applied live to demo_pmm" in screen_text(screen)
        assert "demo_pmm: take_profit 0.004 -> 0.006" in screen_text(screen)
        # executors already running keep the barrier they started with
        for executor in running:
            if executor.config.barrier is not None:
                assert executor.config.barrier.take_profit == Decimal("0.004")

        # a field that needs a restart: saved, said so, nothing offered or applied
        await retype_value(pilot, editor, "trading_pair", '"BTC-USDT"', '"ETH-USDT"')
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen
        assert "trading_pair changed, restart it" in screen_text(screen)
        assert session.config.trading_pair == "BTC-USDT"

        # declining an offer leaves the running controller alone
        await retype_value(pilot, editor, "cooldown_time", "15", "20")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "needs a restart (not applied): trading_pair" in screen_text(app.screen)
        await pilot.press("n")
        await pilot.pause()
        assert session.config.cooldown_time == 15
        assert "keeps its settings until restarted" in screen_text(screen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


def test_validation_error_snapshot(snap_compare, data_dir, tmp_path, monkeypatch):
    demo_copy(tmp_path)
    monkeypatch.chdir(tmp_path)  # a relative path in the title: the same on every machine
    from pathlib import Path

    app = make_app(data_dir, autostart=False)

    async def run_before(pilot):
        screen = await open_editor(app, pilot, Path("configs/demo.toml"))
        await retype_value(pilot, screen.editor, "portfolio_allocation", "0.06", "7")
        await pilot.press("ctrl+s")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def test_byte_order_mark_survives_a_save(data_dir, tmp_path):
    path = tmp_path / "bom.toml"
    raw = b"\xef\xbb\xbf" + DEMO.read_bytes()
    path.write_bytes(raw)
    app = make_app(data_dir, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(app, pilot, path)
        assert not screen.editor.text.startswith("\ufeff")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert path.read_bytes() == raw
