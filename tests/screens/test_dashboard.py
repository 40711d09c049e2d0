"""The dashboard's panes driven by a scripted engine view, then by the real demo session."""

from __future__ import annotations

import asyncio
import sys
import types
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from textual.screen import Screen
from textual.widgets import Input, RichLog, Sparkline, Static

from birdterm.app import create_app
from birdterm.commands import ScreenRequest
from birdterm.engine.engine import BookView, Engine, EngineView, HoldView, SessionView
from birdterm.engine.executors.base import ExecutorReport
from birdterm.screens.dashboard import DashboardScreen
from birdterm.screens.widgets.executors_table import ExecutorsTable
from birdterm.screens.widgets.order_book import OrderBookPane, render_book
from birdterm.screens.widgets.status_bar import trading_mode

from tests.helpers import REPO

NOW = 1_700_000_000.0  # 22:13:20 UTC: the fixed clock of every scripted test
D = Decimal


# -- a scripted stand-in for the engine's read API (view(), sessions, start/stop) ----------------


def book(mid: float = 30000.0, step: float = 0.5, levels: int = 20, own=()) -> BookView:
    bids = tuple((mid - step * (i + 1), round(0.1 + 0.05 * i, 5)) for i in range(levels))
    asks = tuple((mid + step * (i + 1), round(0.2 + 0.05 * i, 5)) for i in range(levels))
    return BookView("BTC-USDT", bids, asks, tuple(own))


def report(number: int, **changes) -> ExecutorReport:
    fields = dict(
        id=f"demo_pmm-abc-{number}",
        kind="position",
        controller_id="demo_pmm",
        trading_pair="BTC-USDT",
        side="BUY",
        level_id=f"buy_{number % 3}",
        status="RUNNING",
        close_type=None,
        created_ts=NOW - 60 * number,
        close_ts=None,
        entry_price=D("29990.5"),
        exit_price=None,
        bought_base=D("0.00033"),
        sold_base=D(0),
        volume_quote=D("9.9"),
        fees_quote=D("0.0099"),
        realized_pnl_quote=D(0),
        unrealized_pnl_quote=D("0.0031"),
        held_base=D("0.00033"),
        net_pnl_quote=D("0.0031"),
        net_pnl_pct=D("0.0003"),
    )
    fields.update(changes)
    return ExecutorReport(**fields)


def closed(number: int, close_type: str = "TAKE_PROFIT", pnl: str = "0.0120") -> ExecutorReport:
    return report(
        number,
        status="TERMINATED",
        close_type=close_type,
        close_ts=NOW - 10,
        exit_price=D("30110.5"),
        sold_base=D("0.00033"),
        held_base=D(0),
        unrealized_pnl_quote=D(0),
        realized_pnl_quote=D(pnl),
        net_pnl_quote=D(pnl),
    )


def session(**changes) -> SessionView:
    fields = dict(
        controller_id="demo_pmm",
        controller_type="pmm_inventory",
        trading_pair="BTC-USDT",
        connector="binance",
        health="ws",
        active_executors=2,
        closed_executors=1,
        pnl_total=D("0.0512"),
        pnl_executors_realized=D("0.0120"),
        pnl_executors_unrealized=D("0.0062"),
        pnl_position_realized=D("0.0300"),
        pnl_position_unrealized=D("0.0092"),
        fees=D("0.0297"),
        volume=D("29.70"),
        open_orders=3,
        balances={"USDT": (D("990.12"), D("960.00")), "BTC": (D("0.00066"), D("0.00066"))},
        mid_price=D("30000"),
        book=book(own=[("BUY", 29999.5, 0.00033), ("SELL", 30001.0, 0.00033)]),
        executors=(report(1), report(2), closed(3)),
        hold=HoldView(D("0.00066"), D("29980.25"), D("0.0300"), D("0.0092")),
        pnl_history=tuple((NOW - 60 + i, 0.001 * ((i * 7) % 13)) for i in range(60)),
    )
    fields.update(changes)
    return SessionView(**fields)


def engine_view(*sessions: SessionView) -> EngineView:
    return EngineView(
        name="demo",
        running=True,
        clock_mode="realtime",
        tick_size=1.0,
        tick_count=42,
        last_tick=NOW,
        last_tick_lateness_ms=0.4,
        missed_ticks=0,
        errors=0,
        store_path="demo.sqlite",
        store_schema_version=1,
        trading_pairs=tuple(s.trading_pair for s in sessions),
        connector="binance",
        sessions=sessions,
    )


class ScriptedEngine:
    """The engine's read API with a view the test sets; start/stop do nothing."""

    def __init__(self, view: EngineView) -> None:
        self.name = view.name
        self.current = view
        self.sessions: dict[str, object] = {}
        self.reads = 0

    def view(self) -> EngineView:
        self.reads += 1
        return self.current

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def scripted_app(data_dir: Path, view: EngineView, endpoint: str | None = "embedded"):
    engine = ScriptedEngine(view)
    app = create_app(data_dir, engine=engine, autostart=False)  # type: ignore[arg-type]
    app.wall_clock = lambda: NOW
    app.dashboard._endpoint_of = lambda _cid: endpoint
    return app, engine


async def wait_for(pilot, condition, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def text_of(widget) -> str:
    return str(widget.render())


def log_lines(app) -> list[str]:
    log = app.dashboard.query_one("#log", RichLog)
    return ["".join(seg.text for seg in strip).rstrip() for strip in log.lines]


def table_rows(table: ExecutorsTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


# -- order book --------------------------------------------------------------------------------


def test_book_ladder_shows_levels_cumulative_spread_mid_and_our_orders():
    text = render_book(book(own=[("BUY", 29999.5, 0.001)]), width=44, height=12).plain
    lines = text.splitlines()
    assert lines[0].split() == ["price", "size", "cum"]
    assert "30,002.50" in lines[1] and "30,000.50" in lines[5]  # asks, best just above spread
    assert "spread 1.00 (0.3 bp)  mid 30,000.00" in lines[6]
    assert lines[7].startswith("●29,999.50")  # our resting bid marked at its level
    assert lines[7].split()[1:3] == ["0.10", "0.10"]
    assert lines[8].split()[1:3] == ["0.15", "0.25"]  # cumulative: 0.1 + 0.15
    assert len(lines) == 12
    assert render_book(None, 40, 10).plain == "no book yet"


def test_book_drops_the_cumulative_column_when_narrow():
    lines = render_book(book(), width=24, height=8).plain.splitlines()
    assert lines[0].split() == ["price", "size"]
    assert "sprd 1.00 mid 30,000.00" in lines[4]


async def test_book_pane_repaints_only_when_the_book_changed(data_dir):
    app, engine = scripted_app(data_dir, engine_view(session()))
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.dashboard.query_one(OrderBookPane)
        assert pane.border_title == "book BTC-USDT"
        assert pane.border_subtitle == "● 2 ours"
        assert not pane.show(engine.current.sessions[0].book)  # same data: no redraw
        engine.current = engine_view(session(book=book(mid=30100.0)))
        await wait_for(pilot, lambda: "30,100.50" in text_of(pane))
        assert not pane.show(engine.current.sessions[0].book)
        reads = engine.reads
        await pilot.pause(0.35)
        assert engine.reads >= reads + 2  # it kept polling, at 10 Hz


# -- executors ---------------------------------------------------------------------------------


async def test_executors_rows_are_diffed_by_id_cell_by_cell(data_dir):
    app, engine = scripted_app(data_dir, engine_view(session()))
    async with app.run_test(size=(160, 50)) as pilot:
        table = app.dashboard.query_one(ExecutorsTable)
        rows = table_rows(table)
        assert [r[0] for r in rows] == ["abc-1", "abc-2", "abc-3"]
        first = ["abc-1", "buy", "buy_1", "29990.50", "+0.0031", "+0.0031", "running", "1m00s"]
        assert rows[0][:8] == first
        assert rows[2][6] == "take profit" and rows[2][5] == "-"
        assert table.border_title == "executors 2 active, 1 closed"
        before = table.cells_updated
        # one executor's P&L moves: exactly its two P&L cells are rewritten
        moved = report(2, unrealized_pnl_quote=D("-0.0040"), net_pnl_quote=D("-0.0040"))
        engine.current = engine_view(session(executors=(report(1), moved, closed(3))))
        await wait_for(pilot, lambda: table.cells_updated > before)
        assert table.cells_updated == before + 2
        assert table_rows(table)[1][4:6] == ["-0.0040", "-0.0040"]
        assert table.get_cell("demo_pmm-abc-2", "pnl").style == "red"
        # executor 1 closes by stop loss, executor 4 starts, 3 drops off the closed list
        engine.current = engine_view(
            session(executors=(moved, report(4), closed(1, "STOP_LOSS", "-0.0200")))
        )
        await wait_for(pilot, lambda: table.row_count == 3 and "abc-4" in str(table_rows(table)))
        rows = table_rows(table)
        assert [r[0] for r in rows] == ["abc-2", "abc-4", "abc-1"]  # active first, then closed
        assert rows[2][6] == "stop loss" and rows[2][4] == "-0.0200"
        # nothing changed: nothing is written
        settled = table.cells_updated
        await pilot.pause(0.3)
        assert table.cells_updated == settled


async def test_executors_repaint_only_the_rows_that_changed(data_dir):
    app, engine = scripted_app(data_dir, engine_view(session()))
    async with app.run_test(size=(160, 50)) as pilot:
        table = app.dashboard.query_one(ExecutorsTable)
        await pilot.pause()
        strips = {key: strip for key, (_, strip) in table._strips.items()}
        assert set(strips) == {"demo_pmm-abc-1", "demo_pmm-abc-2", "demo_pmm-abc-3"}
        moved = report(2, unrealized_pnl_quote=D("-0.0040"), net_pnl_quote=D("-0.0040"))
        engine.current = engine_view(session(executors=(report(1), moved, closed(3))))
        await wait_for(
            pilot, lambda: table._strips["demo_pmm-abc-2"][1] is not strips["demo_pmm-abc-2"]
        )
        # the other rows kept their rendered lines: nothing cached for them was thrown away
        assert table._strips["demo_pmm-abc-1"][1] is strips["demo_pmm-abc-1"]
        assert table._strips["demo_pmm-abc-3"][1] is strips["demo_pmm-abc-3"]
        assert "-0.0040" in table._strips["demo_pmm-abc-2"][1].text
        # a row that goes away takes its line with it
        engine.current = engine_view(session(executors=(report(1), moved)))
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.pause()
        assert set(table._strips) == {"demo_pmm-abc-1", "demo_pmm-abc-2"}


async def test_executors_row_cursor_follows_the_keys(data_dir):
    app, _ = scripted_app(data_dir, engine_view(session()))
    async with app.run_test(size=(160, 50)) as pilot:
        table = app.dashboard.query_one(ExecutorsTable)
        table.focus()
        assert table.cursor_row == 0
        await pilot.press("down", "down", "down")  # stops at the last row
        assert table.cursor_row == 2
        await pilot.press("up")
        assert table.cursor_row == 1
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == 2


async def test_closed_executors_of_every_session_come_after_the_active_ones(data_dir):
    eth = session(controller_id="eth_grid", trading_pair="ETH-USDT", executors=(report(9),))
    app, _ = scripted_app(data_dir, engine_view(session(), eth))
    async with app.run_test(size=(160, 50)):
        rows = table_rows(app.dashboard.query_one(ExecutorsTable))
        assert [r[0] for r in rows] == ["abc-1", "abc-2", "abc-9", "abc-3"]


# -- P&L ---------------------------------------------------------------------------------------


async def test_pnl_pane_shows_the_split_hold_balances_and_the_chart(data_dir):
    app, engine = scripted_app(data_dir, engine_view(session()))
    async with app.run_test(size=(160, 50)) as pilot:
        text = text_of(app.dashboard.query_one("#pnl-text", Static))
        for expected in (
            "total        +0.0512 USDT",
            "  exec real  +0.0120",
            "  pos real   +0.0300",
            "  pos unreal +0.0092",
            "hold         0.00066 BTC",
            "  break-even 29,980.25",
            "USDT         990.12 (free 960.00)",
            "BTC          0.00066 (free 0.00066)",
        ):
            assert expected in text, expected
        spark = app.dashboard.query_one(Sparkline)
        assert len(spark.data) == 60
        history = (*engine.current.sessions[0].pnl_history, (NOW + 1, 0.5))
        engine.current = engine_view(session(pnl_history=history, pnl_total=D("0.5")))
        await wait_for(pilot, lambda: len(spark.data) == 61)
        assert "+0.5000 USDT" in text_of(app.dashboard.query_one("#pnl-text", Static))


# -- status bar --------------------------------------------------------------------------------


def test_trading_mode_from_connector_and_endpoint():
    assert trading_mode("binance_paper", None) == "paper"
    assert trading_mode("binance", "embedded") == "live (demo)"
    assert trading_mode("binance", "binance") == "live"
    assert trading_mode("sim", None) == "backtest"


async def test_status_bar_mode_health_controllers_and_clock(data_dir):
    app, engine = scripted_app(data_dir, engine_view(session()))
    async with app.run_test(size=(160, 50)) as pilot:
        bar = app.dashboard.query_one("#status-bar")
        assert "LIVE (DEMO)" in text_of(bar)
        assert "demo_pmm BTC-USDT WS connected" in text_of(bar)
        assert text_of(bar).rstrip().endswith("22:13:20 UTC")
        engine.current = engine_view(
            session(health="rest_fallback"), session(controller_id="b", connector="binance_paper")
        )
        await wait_for(pilot, lambda: "REST fallback" in text_of(bar))
        assert "MIXED" in text_of(bar)
        engine.current = engine_view(session(health="down", connector="binance_paper"))
        await wait_for(pilot, lambda: "down" in text_of(bar))
        assert "PAPER" in text_of(bar)
        engine.current = engine_view()
        await wait_for(pilot, lambda: "no controllers running" in text_of(bar))
        assert "IDLE" in text_of(bar)
    app, _ = scripted_app(data_dir, engine_view(session()))
    async with app.run_test(size=(80, 24)):
        text = text_of(app.dashboard.query_one("#status-bar"))
        assert len(text) == 80 and text.rstrip().endswith("22:13:20 UTC")  # the clock stays


# -- log, keys, screens ------------------------------------------------------------------------


async def test_log_search_filters_lines_and_escape_restores_them(data_dir):
    app, _ = scripted_app(data_dir, engine_view(session()))
    async with app.run_test(size=(160, 50)) as pilot:
        for line in ("fill BUY 0.00033 at 29990.5", "error: /stop nobody: unknown", "fill SELL"):
            app.dashboard.write_log(line)
        await pilot.press("4")  # not typed into the command line: it has the focus...
        assert app.focused.id == "command-line" and app.focused.value == "4"
        app.dashboard.query_one("#log").focus()
        await pilot.press("ctrl+f")
        assert app.focused.id == "log-search"
        await pilot.press(*"FILL")
        await wait_for(pilot, lambda: len(log_lines(app)) == 2)
        assert log_lines(app) == ["fill BUY 0.00033 at 29990.5", "fill SELL"]
        assert app.dashboard.query_one("#log-pane").border_subtitle == "2 matching 'FILL'"
        app.dashboard.write_log("fill again")  # new matching lines show while searching
        app.dashboard.write_log("tick")
        assert log_lines(app)[-1] == "fill again"
        await pilot.press("escape")
        assert len(log_lines(app)) == 5
        assert not app.dashboard.query_one("#log-search").display
        assert app.focused.id == "log"


async def test_number_keys_focus_the_panes(data_dir):
    app, _ = scripted_app(data_dir, engine_view(session()))
    async with app.run_test(size=(80, 24)) as pilot:
        app.dashboard.query_one("#book").focus()
        for key, pane in (("2", "executors"), ("3", "pnl"), ("4", "log"), ("1", "book")):
            await pilot.press(key)
            assert app.focused.id == pane
        await pilot.press("slash")
        assert app.focused.id == "command-line"


async def test_book_request_switches_the_pair(data_dir):
    eth = session(
        controller_id="eth_grid",
        trading_pair="ETH-USDT",
        book=replace(book(mid=2000.0, step=0.01), trading_pair="ETH-USDT"),
    )
    app, _ = scripted_app(data_dir, engine_view(session(), eth))
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.dashboard.query_one(OrderBookPane)
        assert pane.border_title == "book BTC-USDT"
        app.open_screen(ScreenRequest("book", {"trading_pair": "ETH-USDT"}))
        await pilot.pause()
        assert pane.border_title == "book ETH-USDT"
        assert "2,000.01" in text_of(pane)
        app.open_screen(ScreenRequest("book", {"trading_pair": "SOL-USDT"}))
        assert "book: no running controller trades SOL-USDT" in " ".join(log_lines(app))
        app.open_screen(ScreenRequest("nonsense", {}))
        assert "error: no screen called 'nonsense'" in " ".join(log_lines(app))


async def test_screen_requests_push_the_screens_they_name(data_dir, monkeypatch):
    opened: list[dict] = []

    class FakeScreen(Screen[None]):
        def __init__(self, **args) -> None:
            if not args.keys() <= {"config_path", "days", "start", "end", "data", "path"}:
                raise TypeError(f"unexpected arguments {sorted(args)}")
            super().__init__()
            opened.append(args)

    for module, name in (("backtest", "BacktestScreen"), ("config_editor", "ConfigEditorScreen")):
        fake = types.ModuleType(f"birdterm.screens.{module}")
        setattr(fake, name, FakeScreen)
        monkeypatch.setitem(sys.modules, f"birdterm.screens.{module}", fake)
    app, _ = scripted_app(data_dir, engine_view(session()))
    async with app.run_test(size=(120, 40)) as pilot:
        args = {
            "config_path": Path("c.toml"),
            "days": 1.0,
            "start": None,
            "end": None,
            "data": None,
        }
        app.open_screen(ScreenRequest("backtest", args))
        await pilot.pause()
        assert isinstance(app.screen, FakeScreen) and opened == [args]
        app.write_log("output while another screen is up")  # still reaches the dashboard log
        app.pop_screen()
        app.open_screen(ScreenRequest("config_editor", {"path": Path("c.toml")}))
        await pilot.pause()
        assert opened[-1] == {"path": Path("c.toml")}
        # /book from any screen brings the dashboard back
        app.open_screen(ScreenRequest("book", {"trading_pair": "BTC-USDT"}))
        await pilot.pause()
        assert app.screen is app.dashboard
        assert "output while another screen is up" in log_lines(app)
        # a screen that fails to build is an error line, not a crash
        app.open_screen(ScreenRequest("backtest", {"bogus": 1}))
        await pilot.pause()
        assert app.screen is app.dashboard
        assert any("error: cannot open the backtest screen" in line for line in log_lines(app))


# -- the real demo -------------------------------------------------------------------------------


async def test_demo_session_fills_the_dashboard(data_dir):
    engine = Engine(data_dir, name="demo")
    app = create_app(
        data_dir, engine=engine, startup_command=f"/start {REPO / 'configs/demo.toml'}"
    )
    async with app.run_test(size=(160, 50)) as pilot:
        dashboard = app.dashboard
        assert isinstance(app.screen, DashboardScreen)
        table = dashboard.query_one(ExecutorsTable)
        await wait_for(pilot, lambda: table.row_count > 0, timeout=30)
        assert "demo_pmm" in str(table.get_row_at(0))
        book_text = text_of(dashboard.query_one(OrderBookPane))
        assert "spread" in book_text and "mid" in book_text
        bar = text_of(dashboard.query_one("#status-bar"))
        assert "LIVE (DEMO)" in bar and "demo_pmm BTC-USDT" in bar
        await wait_for(pilot, lambda: "WS connected" in text_of(dashboard.query_one("#status-bar")))
        assert "USDT" in text_of(dashboard.query_one("#pnl-text", Static))
        assert any("started demo_pmm" in line for line in log_lines(app))
    assert not engine.sessions  # leaving the app stopped the session


# -- snapshots -----------------------------------------------------------------------------------


def _snapshot_app(data_dir):
    app, _ = scripted_app(data_dir, engine_view(session()))

    async def settle(pilot):
        for line in (
            "22:12:01 INFO birdterm.runner: started demo_pmm (pmm_inventory) on BTC-USDT",
            "22:12:40 INFO birdterm.executors: demo_pmm-abc-3 filled BUY 0.00033 at 29990.50",
            "22:13:10 INFO birdterm.executors: demo_pmm-abc-3 closed: take profit +0.0120",
            "error: /stop nobody: no controller called nobody",
        ):
            app.dashboard.write_log(line)
        for widget in app.screen.query(Input):
            widget.cursor_blink = False  # a blinking cursor would make the picture flaky
        await pilot.pause()

    return app, settle


def test_dashboard_snapshot_80x24(snap_compare, data_dir):
    app, settle = _snapshot_app(data_dir)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_dashboard_snapshot_160x50(snap_compare, data_dir):
    app, settle = _snapshot_app(data_dir)
    assert snap_compare(app, terminal_size=(160, 50), run_before=settle)
