"""Every slash-command through the app, as a person uses it: Pilot types lines, the log pane's
text is checked. Running-session commands use the real demo (embedded emulator on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import types

from textual.widgets import RichLog

from birdterm.app import create_app
from birdterm.commands import ScreenRequest
from birdterm.engine.engine import Engine
from birdterm.screens.widgets.command_line import HISTORY_FILE, CommandLine

from tests.helpers import REPO

SIZE = (140, 45)
CONFIGS = REPO / "configs"
DEMO = CONFIGS / "demo.toml"


def log_text(app):
    """The log pane's text with wrapping undone (whitespace collapsed to single spaces); found
    on whichever screen of the stack has the pane (the dashboard, or the older main screen)."""
    for screen in reversed(app.screen_stack):
        found = screen.query("#log").results(RichLog)
        for log in found:
            lines = ("".join(seg.text for seg in strip) for strip in log.lines)
            return " ".join(" ".join(lines).split())
    return ""


async def wait_for(pilot, condition, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await pilot.pause(0.02)


def command_line(app) -> CommandLine:
    return app.screen.query_one("#command-line", CommandLine)


async def submit(pilot, app, line):
    """Put a line in the command line and press Enter."""
    field = command_line(app)
    field.focus()
    field.value = line
    await pilot.press("enter")


def squeezed(text: str) -> str:
    """Text without whitespace: the log pane wraps long lines (paths) anywhere."""
    return "".join(text.split())


async def expect(pilot, app, line, *texts, timeout=10.0):
    """Run a line; wait until every text shows in the log after the echoed line (whitespace
    ignored); returns the new log text."""
    before = len(log_text(app))
    await submit(pilot, app, line)

    def shown() -> bool:
        new = squeezed(log_text(app)[before:])
        return all(squeezed(t) in new for t in texts)

    try:
        await wait_for(pilot, shown, timeout)
    except AssertionError:
        new = log_text(app)[before:]
        raise AssertionError(f"{texts} not in the log after {line!r}: {new}") from None
    return log_text(app)[before:]


class Spy:
    """Records what the app's registry answered (to check the screens commands ask for)."""

    def __init__(self, app) -> None:
        self.results = []
        real = app.registry.run

        def run(line, context):
            result = real(line, context)
            self.results.append(result)
            return result

        app.registry.run = run


def make_app(data_dir, configs_dir=CONFIGS, autostart=False, name="cmds", tick=0.2):
    engine = Engine(data_dir, name=name, tick_size=tick)
    app = create_app(data_dir, engine=engine, autostart=autostart, configs_dir=configs_dir)
    return app, engine


async def test_help_status_validate_and_every_kind_of_error(data_dir, tmp_path):
    app, _ = make_app(data_dir)
    async with app.run_test(size=SIZE) as pilot:
        text = await expect(
            pilot, app, "/help", "/backtest CONFIG [--days N | --start DATE",
            "/new NAME --from TEMPLATE", "/update", "/help CMD for more",
        )  # fmt: skip
        assert ">/help" in squeezed(text)
        await expect(pilot, app, "/help stop", "usage: /stop [CONTROLLER|all]", "inventory is kept")
        await expect(pilot, app, "/help nope",
                     "error: /help: no command 'nope'; commands: backtest, balance,",
                     "usage: /help [CMD]")  # fmt: skip
        await expect(pilot, app, "/stauts", "error: unknown command /stauts. Did you mean /status?")
        await expect(pilot, app, "stop", "error: commands start with '/'")
        await expect(pilot, app, "/book", "error: /book: takes 1 argument(s), got 0; usage: /book")
        await expect(pilot, app, "/status now", "error: /status: takes 0 argument(s), got 1")
        await expect(pilot, app, "/start demo --fast",
                     "error: /start: unknown option --fast (it takes no options); usage: "
                     "/start [CONFIG]")  # fmt: skip
        await expect(pilot, app, "/start nope",
                     "error: /start: no config file 'nope' (give a path or a name; configs:",
                     "usage: /start [CONFIG]")  # fmt: skip
        usage = "usage: /backtest CONFIG [--days N | --start DATE --end DATE] [--data PATH]"
        await expect(pilot, app, "/backtest demo --start 2024-13-01",
                     "error: /backtest: --start '2024-13-01' is not a date", usage)  # fmt: skip
        await expect(pilot, app, "/backtest demo --start 2024-02-01 --end 2024-01-01",
                     "--end 2024-01-01 must be after --start 2024-02-01", usage)  # fmt: skip
        await expect(pilot, app, "/backtest demo --days 0", "--days must be > 0, got 0", usage)
        await expect(pilot, app, "/backtest demo --days 1 --end 2024-01-01",
                     "--days and --end cannot be combined", usage)  # fmt: skip
        await expect(pilot, app, "/backtest nope", "error: /backtest: no config file 'nope'", usage)
        await expect(pilot, app, "/backtest", "error: /backtest: takes 1 argument(s), got 0", usage)
        await expect(pilot, app, "/config nope", "error: /config: no config file 'nope'")
        nothing = "error: nothing is running; start a config with /start CONFIG"
        for line in ("/stop", "/stop demo_pmm", "/balance", "/book BTC-USDT"):
            await expect(pilot, app, line, nothing)
        await expect(pilot, app, "/book btcusdt", "error: /book: 'btcusdt' is not a pair")
        await expect(pilot, app, "/history 0", "error: /history: N must be 1 to 1000, got 0")
        await expect(pilot, app, "/history x", "error: /history: N must be a whole number")
        await expect(pilot, app, "/history", "no orders in the store")
        await expect(pilot, app, "/status", "cmds: clock realtime every 0.2s",
                     "no controller running (/start CONFIG)")  # fmt: skip
        await expect(
            pilot, app, f"/validate {DEMO}", "valid (pmm_inventory 'demo_pmm' on BTC-USDT)"
        )
        bad = tmp_path / "bad.toml"
        bad.write_text(DEMO.read_text().replace("seed = 7\nstart_price", "seed = -1\nstart_price"))
        await expect(pilot, app, f"/validate {bad}", f"error: {bad}:", "emulator.seed")
        await expect(pilot, app, "/export /", "error: /export: / is a folder")
        assert "Traceback" not in log_text(app)


async def test_configs_and_new(data_dir, tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    for name in ("demo", "grid", "paper_btc"):
        shutil.copy(CONFIGS / f"{name}.toml", configs)
    (configs / "broken.toml").write_text("[controller]\ntype = 'nope'\n")
    app, _ = make_app(data_dir, configs_dir=configs)
    async with app.run_test(size=SIZE) as pilot:
        await expect(pilot, app, "/configs", f"4 config(s) in {configs}:",
                     "demo pmm_inventory demo_pmm on BTC-USDT", "grid grid grid_btc on BTC-USDT",
                     "paper_btc bot config binance_paper BTC-USDT",
                     "broken INVALID", "unknown controller type 'nope'")  # fmt: skip
        await expect(pilot, app, "/new mine --from demo",
                     f"created {configs / 'mine.toml'} from {configs / 'demo.toml'}: "
                     "pmm_inventory 'mine' on BTC-USDT")  # fmt: skip
        assert 'id = "mine"' in (configs / "mine.toml").read_text()
        assert "# demo: what `birdterm` runs" in (configs / "mine.toml").read_text()
        await expect(pilot, app, "/configs", "5 config(s)", "mine pmm_inventory mine on BTC-USDT")
        await expect(
            pilot, app, "/new mine --from grid", "error: /new:", "mine.toml already exists"
        )
        await expect(pilot, app, "/new other", "error: /new: --from TEMPLATE is required",
                     "usage: /new NAME --from TEMPLATE")  # fmt: skip
        await expect(pilot, app, "/new other --from broken", "broken.toml is not valid, nothing "
                     "written")  # fmt: skip
        await expect(pilot, app, "/new other --from paper_btc", "is not a controller file")
        assert not (configs / "other.toml").exists()


async def test_backtest_and_config_open_their_screens(data_dir):
    app, _ = make_app(data_dir)
    spy = Spy(app)
    async with app.run_test(size=SIZE) as pilot:
        dashboard = app.screen
        await expect(pilot, app, "/backtest demo --days 0.01", "backtest ", "over 0.01 day(s)")
        request = spy.results[-1].screen
        assert request.name == "backtest"
        assert request.args["config_path"].resolve() == DEMO.resolve()
        assert (request.args["days"], request.args["start"], request.args["end"]) == (
            0.01,
            None,
            None,
        )
        await wait_for(pilot, lambda: type(app.screen).__name__ == "BacktestScreen")
        await pilot.press("escape")  # cancels the run if it is still going, then leaves
        if app.screen is not dashboard:
            await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dashboard)

        await expect(pilot, app, "/config demo", "editing ")
        assert spy.results[-1].screen == ScreenRequest("config_editor", {"path": DEMO})
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfigEditorScreen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dashboard)
        # nothing running: /config edits the demo
        await expect(pilot, app, "/config", "editing ")
        assert spy.results[-1].screen.args["path"].resolve() == DEMO.resolve()
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfigEditorScreen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dashboard)


async def test_the_demo_session_start_balance_book_history_export_stop(data_dir, tmp_path):
    app, engine = make_app(data_dir, autostart=True, name="demo")
    spy = Spy(app)
    async with app.run_test(size=SIZE) as pilot:
        dashboard = app.screen
        await expect(pilot, app, "/start demo", "starting ",
                     "started demo_pmm (pmm_inventory) on BTC-USDT via binance [embedded]",
                     timeout=30)  # fmt: skip
        await expect(pilot, app, "/start demo", "error: controller 'demo_pmm' is already running")
        # the demo quotes three buy levels; each order is in the store before it is sent
        await wait_for(pilot, lambda: len(engine.store.open_orders()) >= 3, timeout=20)
        text = await expect(pilot, app, "/history 2", "last 2 order(s), newest first:")
        assert squeezed(text).count("BTC-USDTBUY") == 2 and "(binance/demo_pmm)" in squeezed(text)
        await wait_for(pilot, lambda: engine.view().sessions[0].balances, timeout=10)
        await expect(pilot, app, "/balance", "demo_pmm (binance, BTC-USDT):", "USDT total 1000",
                     "BTC total 0")  # fmt: skip
        await expect(pilot, app, "/book btc-usdt", "showing the BTC-USDT book")
        assert spy.results[-1].screen == ScreenRequest("book", {"trading_pair": "BTC-USDT"})
        await expect(
            pilot,
            app,
            "/book ETH-USDT",
            "error: /book: no running controller trades ETH-USDT; pairs: BTC-USDT",
        )
        # /config without a name edits the running controller's file
        await expect(pilot, app, "/config", "editing ")
        assert spy.results[-1].screen.args["path"].resolve() == DEMO.resolve()
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfigEditorScreen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dashboard)
        # Tab completes the running controller's id
        field = command_line(app)
        field.focus()
        field.value = "/stop d"
        await pilot.press("tab")
        assert field.value == "/stop demo_pmm "
        field.value = ""
        target = tmp_path / "export.json"
        await expect(pilot, app, f"/export {target}", "exported ", f"to {target}")
        document = json.loads(target.read_text())
        assert len(document["orders"]) >= 3 and len(document["executors"]) >= 3
        await expect(pilot, app, "/stop nope",
                     "error: /stop: no running controller 'nope'; running: demo_pmm; usage: "
                     "/stop [CONTROLLER|all]")  # fmt: skip
        await expect(pilot, app, "/stop demo_pmm", "stopping demo_pmm ...",
                     "stopped demo_pmm:", "executors closed, no open orders",
                     timeout=30)  # fmt: skip
        assert engine.sessions == {}
        await expect(pilot, app, "/stop", "error: nothing is running")
        await expect(pilot, app, "/status", "no controller running")


async def test_update_and_quit(data_dir, monkeypatch):
    async def run_update(repo_dir=None):
        return "birdterm updated to 1.2.3: restart it to use the new version"

    module = types.ModuleType("birdterm.update")
    module.run_update = run_update
    monkeypatch.setitem(sys.modules, "birdterm.update", module)
    app, engine = make_app(data_dir, autostart=True)
    async with app.run_test(size=SIZE) as pilot:
        await expect(pilot, app, "/update", "checking for an update ...",
                     "birdterm updated to 1.2.3: restart it")  # fmt: skip
        await expect(pilot, app, "/quit now", "error: /quit: takes 0 argument(s), got 1")
        await submit(pilot, app, "/quit")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code in (0, None)
    assert not engine.clock.is_running


async def test_history_with_up_and_down_survives_a_restart(data_dir):
    app, _ = make_app(data_dir)
    async with app.run_test(size=SIZE) as pilot:
        field = command_line(app)
        await pilot.press("slash", *"status", "enter")
        await wait_for(pilot, lambda: "> /status" in log_text(app))
        await pilot.press(*"/help", "enter")
        await pilot.press(*"/help", "enter")  # the same line twice is kept once
        await pilot.press(*"/he")  # a draft, given back after browsing
        await pilot.press("up")
        assert field.value == "/help" and field.cursor_position == 5
        await pilot.press("up")
        assert field.value == "/status"
        await pilot.press("up")  # the oldest stays
        assert field.value == "/status"
        await pilot.press("down")
        assert field.value == "/help"
        await pilot.press("down")
        assert field.value == "/he"
        await pilot.press("down")
        assert field.value == "/he"
        await pilot.press("up", "enter")  # run a recalled line
        await wait_for(pilot, lambda: log_text(app).count("> /help") == 3)
    saved = (data_dir / HISTORY_FILE).read_text().splitlines()
    assert saved == ["/status", "/help"]

    app, _ = make_app(data_dir)
    async with app.run_test(size=SIZE) as pilot:
        field = command_line(app)
        field.focus()
        await pilot.press("up")
        assert field.value == "/help"
        await pilot.press("up")
        assert field.value == "/status"


async def test_tab_completes_commands_and_configs_and_suggests_as_you_type(data_dir):
    app, _ = make_app(data_dir)
    async with app.run_test(size=SIZE) as pilot:
        field = command_line(app)
        field.focus()
        await pilot.press(*"/sta", "tab")
        assert field.value == "/start"
        await pilot.press("tab")  # again: the next candidate
        assert field.value == "/status"
        await pilot.press("tab")
        assert field.value == "/start"
        field.value = ""
        await pilot.press(*"/he", "tab")  # one candidate: completed with a space
        assert field.value == "/help "
        await pilot.press(*"ba", "tab")
        assert field.value == "/help backtest"
        field.value = ""
        await pilot.press(*"/backtest dem", "tab")
        assert field.value == "/backtest demo "
        await pilot.press(*"--dat", "tab")
        assert field.value == "/backtest demo --data "
        field.value = ""
        # the best candidate shows greyed as you type; Right takes it
        await pilot.press(*"/qu")
        await wait_for(pilot, lambda: field._suggestion == "/quit")
        await pilot.press("right")
        assert field.value == "/quit"
        # nothing to complete: Tab moves the focus as usual
        field.value = "/book "
        await pilot.press("tab")
        assert app.focused is not field
