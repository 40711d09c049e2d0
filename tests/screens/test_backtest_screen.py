"""The backtest screen: a real backtest in a child process; metrics, zoom/pan, cancel, errors."""

import asyncio
import os
import signal
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Static

from birdterm.backtest_cli import run_backtest
from birdterm.backtest_worker import BacktestRequest, bucket_ms_for, load_and_run, metric_rows
from birdterm.screens.backtest import BacktestScreen
from birdterm.screens.backtest_widgets.charts import BacktestChart, PriceChart, TimeWindow

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo.toml"
PMM = REPO / "configs" / "pmm_inventory.toml"
DAYS = 0.05  # 72 minutes of 1 s candles: a second or so, process start included
WIDE, NARROW = (160, 50), (80, 24)
FIGURES = (
    "Sharpe", "Sortino", "Calmar", "Max drawdown", "Net P&L", "Win rate", "Profit factor",
    "Trades", "Fees paid", "Volume", "Expectancy", "SQN",
)  # fmt: skip


class Host(App[None]):
    """An app whose default screen stands in for the dashboard."""

    def __init__(self, screen: BacktestScreen) -> None:
        super().__init__()
        self.backtest = screen

    def on_mount(self) -> None:
        self.push_screen(self.backtest)


async def wait_for(pilot, condition, timeout=60.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def shown_rows(screen):
    """The metrics table as {label: value} (labels stripped of their indent)."""
    table = screen.query_one("#bt-metrics", DataTable)
    rows = {}
    for i in range(table.row_count):
        label, value = table.get_row_at(i)
        rows[label.plain.strip()] = value.plain
    return rows


def state_text(screen):
    return str(screen.query_one("#bt-state", Static).render())


async def test_metrics_shown_are_the_backtests(data_dir):
    screen = BacktestScreen(DEMO, days=DAYS)
    app = Host(screen)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: screen.state != "running")
        assert screen.state == "done", screen.error
        assert state_text(screen).startswith("done in ")
        rows = shown_rows(screen)
        summary = str(screen.query_one("#bt-summary", Static).render())
        assert f"Total P&L {rows['Total P&L']}" in summary and f"Sharpe {rows['Sharpe']}" in summary
        # the same run through the CLI's own path
        result = run_backtest([DEMO], days=DAYS, progress=False)
        quote = result.quote_asset
        expected = dict(result.metrics.summary_rows(quote))
        for label in FIGURES:
            assert rows[label] == expected[label], label
        assert rows["Total P&L"] == f"{float(result.pnl.total):,.4f} {quote}"
        for label, key in (("Executors realized", "executors_realized"),
                           ("Position realized", "position_realized"),
                           ("Position unrealized", "position_unrealized")):  # fmt: skip
            assert rows[label] == f"{float(getattr(result.pnl, key)):,.4f} {quote}"
        assert rows["Executors"] == str(result.metrics.executors)
        for kind, count in result.metrics.close_types.items():
            assert rows[kind.lower().replace("_", " ")] == str(count)
        assert [(r.label, r.value) for r in metric_rows(result)] == [
            (r.label, r.value) for r in screen.view.rows
        ]
        # every chart drew the result; the executors' marks are on the price chart
        price = screen.query_one(PriceChart)
        assert "BTC-USDT" in str(price.border_title)
        filled = [r for r in result.executors if r.volume_quote > 0]
        assert len(screen.view.entry_x) == len(filled) > 0
        for chart in screen.query(BacktestChart):
            assert chart.view is screen.view and chart.window is screen.window
        # Esc with a result: back to the dashboard
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is not screen)
        await wait_for(pilot, lambda: not screen.job.process.is_alive())
    assert screen.job.process.exitcode == 0  # it answered and exited by itself


async def test_zoom_and_pan_move_the_shared_window(data_dir):
    screen = BacktestScreen(PMM, days=DAYS)
    app = Host(screen)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: screen.state != "running")
        assert screen.state == "done", screen.error
        window = screen.window
        n = window.n
        assert (window.lo, window.hi) == (0, n)
        assert f"({n}/{n})" in state_text(screen)
        price = screen.query_one(PriceChart)
        assert "close" in str(price.border_title)

        await pilot.press("plus")
        assert window.width == round(n / 2)
        assert abs((window.lo + window.hi) / 2 - n / 2) <= 1  # around the centre
        assert f"({window.width}/{n})" in state_text(screen)
        lo = window.lo
        await pilot.press("left")
        assert window.lo < lo
        await pilot.press("right", "right")
        assert window.lo > lo
        for _ in range(8):
            await pilot.press("plus")
        assert window.width <= 150
        assert "candles" in str(price.border_title)
        for chart in screen.query(BacktestChart):
            assert chart.window is window
        await pilot.press("minus")
        assert window.width > 8
        await pilot.press("0")
        assert (window.lo, window.hi) == (0, n)
        assert "close" in str(price.border_title)
        await pilot.press("slash")  # the app's "focus the command line": none here, no crash
        assert app.screen is screen


def test_time_window_stays_inside_the_run():
    window = TimeWindow(100)
    window.pan(-1)
    assert (window.lo, window.hi) == (0, 100)
    window.zoom(0.1)
    assert window.width == 10
    for _ in range(20):
        window.pan(0.5)
    assert (window.lo, window.hi) == (90, 100)
    window.zoom(0.01)
    assert window.width == 8
    window.zoom(100)
    assert (window.lo, window.hi) == (0, 100)


def test_chart_buckets_keep_the_grid_small():
    assert bucket_ms_for(3_600_000, 1000) == 1000
    assert bucket_ms_for(86_400_000, 1000) == 15_000
    assert bucket_ms_for(365 * 86_400_000, 60_000) == 3_600_000


async def test_escape_cancels_a_running_backtest_and_ends_its_process(data_dir):
    screen = BacktestScreen(DEMO, days=30)  # ~15 s of work
    app = Host(screen)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: screen.progress > 0)
        assert screen.state == "running"
        assert "running" in state_text(screen)
        pid = screen.job.pid
        await pilot.press("escape")
        assert screen.state == "cancelled"
        assert app.screen is screen
        await pilot.pause()
        assert "cancelled" in state_text(screen)
        assert not screen.job.process.is_alive()
        with pytest.raises(ProcessLookupError):  # reaped, not a zombie
            os.kill(pid, 0)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is not screen)


async def test_a_backtest_process_that_dies_is_reported(data_dir):
    screen = BacktestScreen(DEMO, days=30)
    app = Host(screen)
    async with app.run_test(size=NARROW) as pilot:
        await wait_for(pilot, lambda: screen.progress > 0)
        os.kill(screen.job.pid, signal.SIGKILL)  # as the OOM killer would
        await wait_for(pilot, lambda: screen.state != "running")
        assert screen.state == "failed"
        assert screen.error == "the backtest process ended unexpectedly (exit code -9)"


async def test_leaving_the_app_mid_run_ends_the_process(data_dir):
    screen = BacktestScreen(DEMO, days=30)
    app = Host(screen)
    async with app.run_test(size=NARROW) as pilot:
        await wait_for(pilot, lambda: screen.progress > 0)
        pid = screen.job.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize(
    ("text", "request_args", "expected"),
    [
        ("[controller]\ntype = = 1\n", {}, "bad.toml:2: TOML syntax error"),
        (None, {}, "missing.toml"),
        ("", {}, "[controller]"),
        (DEMO.read_text(), {"data": "/no/such/candles.csv"}, "backtest: /no/such/candles.csv"),
        (DEMO.read_text(), {"days": -1}, "--days -1: must be > 0"),
        (DEMO.read_text(), {"start": "yesterday"}, "--start 'yesterday'"),
    ],
    ids=["toml-syntax", "missing-file", "no-controller", "missing-data", "bad-days", "bad-start"],
)
async def test_a_bad_run_shows_one_error_line(data_dir, tmp_path, text, request_args, expected):
    path = tmp_path / ("missing.toml" if text is None else "bad.toml")
    if text is not None:
        path.write_text(text)
    screen = BacktestScreen(path, **request_args)
    app = Host(screen)
    async with app.run_test(size=NARROW) as pilot:
        await wait_for(pilot, lambda: screen.state != "running")
        assert screen.state == "failed"
        line = str(screen.query_one("#bt-error", Static).render())
        assert line.startswith("error: ")
        assert expected in line
        assert "\n" not in screen.error and "Traceback" not in line
        assert "failed" in state_text(screen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is not screen)


def test_loader_matches_the_cli():
    """The app's loader is the CLI's, so the screen and `birdterm backtest` agree."""
    ours, markets = load_and_run(BacktestRequest(PMM, days=DAYS))
    theirs = run_backtest([PMM], days=DAYS, progress=False)
    assert ours.to_json() == theirs.to_json()
    assert len(markets) == 1


def _snapshot_app(monkeypatch, days=0.25):
    monkeypatch.setattr(BacktestScreen, "clock", staticmethod(lambda: 0.0))  # "done in 0.0 s"
    screen = BacktestScreen(DEMO, days=days)
    app = Host(screen)

    async def finished(pilot):
        await wait_for(pilot, lambda: screen.state != "running")
        assert screen.state == "done", screen.error
        await pilot.pause()

    return app, finished


def test_snapshot_finished_result_160x50(snap_compare, monkeypatch):
    app, finished = _snapshot_app(monkeypatch)
    assert snap_compare(app, terminal_size=WIDE, run_before=finished)


def test_snapshot_finished_result_zoomed_80x24(snap_compare, monkeypatch):
    app, finished = _snapshot_app(monkeypatch)

    async def zoomed(pilot):
        await finished(pilot)
        await pilot.press(*["plus"] * 5)
        await pilot.pause()

    assert snap_compare(app, terminal_size=NARROW, run_before=zoomed)
