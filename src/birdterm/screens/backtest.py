"""The backtest screen: runs a controller file over history in a separate process, then charts it.

While it runs: a progress bar with the elapsed time; Esc cancels (the process is terminated).
Then: price (candles when zoomed in, else the close) with executor entries and exits coloured by
close type, the P&L split with volume, the position hold, and the metrics table. +/- zoom the
time axis, left/right pan, 0 shows everything; all charts share the window. Narrow terminals
show one pane at a time (tab cycles). Esc returns to the dashboard.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState

from birdterm.backtest_worker import BacktestJob, BacktestRequest, BacktestView
from birdterm.screens.backtest_widgets.charts import (
    BacktestChart,
    HoldChart,
    PnlChart,
    PriceChart,
    TimeWindow,
    close_color,
    hex_color,
)

log = logging.getLogger("birdterm.backtest")

NARROW_WIDTH, NARROW_HEIGHT = 120, 32  # below either, one pane at a time
PANES = (("bt-price", "price"), ("bt-pnl", "P&L"), ("bt-hold", "hold"), ("bt-metrics", "metrics"))


def summary_line(view: BacktestView) -> Text:
    """The key figures in one line, visible whatever pane is shown."""
    values = {row.label: row.value for row in view.rows}
    drawdown = values.get("Max drawdown", "")
    if "(" in drawdown:  # "-54.48 USDT (-5.45 %)": the percentage fits the line
        drawdown = drawdown.rsplit("(", 1)[1].rstrip(")")
    parts = [
        ("Total P&L", values.get("Total P&L")),
        ("Sharpe", values.get("Sharpe")),
        ("Max drawdown", drawdown),
        ("Win rate", values.get("Win rate")),
        ("Trades", values.get("Trades", "").split(" ")[0]),
    ]
    text = Text()
    for i, (label, value) in enumerate(parts):
        if i:
            text.append(" · ", "dim")
        text.append(f"{label} ")
        text.append(value or "n/a", "bold")
    return text


class BacktestScreen(Screen[None]):
    """One backtest: progress while it runs, then charts and metrics."""

    DEFAULT_CSS = """
    BacktestScreen { layout: vertical; }
    BacktestScreen #bt-title { height: 1; padding: 0 1; text-style: bold; }
    BacktestScreen #bt-run { height: 1; padding: 0 1; }
    BacktestScreen #bt-state { width: auto; padding-right: 2; }
    BacktestScreen #bt-progress { width: 1fr; }
    BacktestScreen #bt-error {
        height: auto;
        padding: 0 1;
        color: $error;
        text-style: bold;
        display: none;
    }
    BacktestScreen.-failed #bt-error { display: block; }
    BacktestScreen #bt-views { height: 1; padding: 0 1; display: none; }
    BacktestScreen #bt-summary { height: 1; padding: 0 1; display: none; }
    BacktestScreen.-done #bt-summary { display: block; }
    BacktestScreen #bt-body { height: 1fr; display: none; }
    BacktestScreen #bt-charts { width: 1fr; }
    BacktestScreen #bt-price { height: 2fr; }
    BacktestScreen #bt-metrics {
        width: auto;
        max-width: 62;
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-align: left;
    }
    BacktestScreen.-done #bt-body { display: block; }
    BacktestScreen.-done #bt-progress { display: none; }
    BacktestScreen.-narrow.-done #bt-views { display: block; }
    BacktestScreen.-narrow #bt-body .bt-pane { display: none; }
    BacktestScreen.-narrow #bt-body .bt-pane.-current { display: block; height: 1fr; }
    BacktestScreen.-narrow #bt-charts { display: none; }
    BacktestScreen.-narrow #bt-charts.-current { display: block; }
    BacktestScreen.-narrow #bt-metrics { width: 1fr; max-width: 100%; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", priority=True),
        Binding("plus,equals_sign,z", "zoom(0.5)", "Zoom in", key_display="+", priority=True),
        Binding("minus,x", "zoom(2.0)", "Zoom out", key_display="-", priority=True),
        Binding("left", "pan(-0.25)", "Earlier", key_display="←", priority=True),
        Binding("right", "pan(0.25)", "Later", key_display="→", priority=True),
        Binding("0", "reset_zoom", "All", priority=True),
        Binding("tab,v", "next_view", "View", priority=True),
        Binding("slash", "nothing", show=False),  # the app's "/" wants a command line: none here
        *(
            Binding(str(i + 1), f"show_view({i})", show=False, priority=True)
            for i in range(len(PANES))
        ),
    ]

    clock = staticmethod(time.monotonic)  # elapsed times; tests freeze it

    def __init__(
        self,
        config_path: Path,
        days: float | None = None,
        start: str | None = None,
        end: str | None = None,
        data: str | None = None,
    ) -> None:
        super().__init__()
        self.request = BacktestRequest(Path(config_path), days, start, end, data)
        self.state = "starting"  # running | done | failed | cancelled
        self.phase = "starting"
        self.progress = 0.0
        self.error: str | None = None
        self.job: BacktestJob | None = None
        self.view: BacktestView | None = None
        self.window: TimeWindow | None = None
        self.pane = 0
        self._worker: Worker[None] | None = None
        self._started = self._finished = 0.0

    def compose(self) -> ComposeResult:
        """Title, run status, the error line, then the (hidden until done) results."""
        yield Static(escape(f"Backtest  {self.request.config_path}"), id="bt-title")
        with Horizontal(id="bt-run"):
            yield Static("starting", id="bt-state")
            yield ProgressBar(total=100, show_eta=True, id="bt-progress")
        yield Static("", id="bt-error")
        yield Static("", id="bt-summary")
        yield Static("", id="bt-views")
        with Horizontal(id="bt-body"):
            with Vertical(id="bt-charts"):
                yield PriceChart(id="bt-price")
                yield PnlChart(id="bt-pnl")
                yield HoldChart(id="bt-hold")
            yield DataTable(
                id="bt-metrics", cursor_type="none", zebra_stripes=True, show_header=False
            )
        yield Footer()

    def on_mount(self) -> None:
        """Start the run."""
        for pane_id, _ in PANES:
            self.query_one(f"#{pane_id}").add_class("bt-pane")
        table = self.query_one("#bt-metrics", DataTable)
        table.border_title = "Metrics"
        table.add_column("figure", key="figure")
        table.add_column("value", key="value")
        self._show_pane(0)
        self._started = self.clock()
        self.state = "running"
        self._worker = self.run_worker(self._run(), name="backtest", exit_on_error=False)
        self.set_interval(0.25, self._refresh_state)
        self._refresh_state()

    def on_unmount(self) -> None:
        """Leaving the screen (or the app) never leaves a backtest process behind."""
        if self.job is not None and self.state == "running":
            self.job.cancel()

    async def _run(self) -> None:
        """Start the process and follow its messages to the end."""
        job = self.job = BacktestJob(self.request)
        try:
            job.start()
        except OSError as exc:
            self._fail(f"could not start the backtest process: {exc}")
            return
        bar = self.query_one("#bt-progress", ProgressBar)
        async for message in job.events():
            kind = message[0]
            if kind == "progress":
                self.progress = float(message[1])
                bar.update(progress=100 * self.progress)
            elif kind == "phase":
                self.phase = message[1]
                self._refresh_state()
            elif kind == "result":
                self._show_result(message[1])
            elif kind == "error":
                if message[2]:
                    log.warning("backtest of %s failed:\n%s", self.request.config_path, message[2])
                self._fail(message[1])
            elif kind == "died" and not job.cancelled:
                self._fail(f"the backtest process ended unexpectedly (exit code {message[1]})")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A bug in the screen's own worker is shown as one line (details in the log)."""
        if event.worker is self._worker and event.state == WorkerState.ERROR:
            error = event.worker.error
            log.error("backtest screen worker failed", exc_info=error)
            if self.state == "running":
                self._fail(f"backtest failed: {error!r}")

    def _fail(self, line: str) -> None:
        self.state = "failed"
        self.error = line
        self._finished = self.clock()
        self.query_one("#bt-error", Static).update(Text(f"error: {line}"))
        self.add_class("-failed")
        self.query_one("#bt-progress").display = False
        self.refresh_bindings()
        self._refresh_state()

    def _show_result(self, view: BacktestView) -> None:
        self.state = "done"
        self._finished = self.clock()
        self.view = view
        self.window = TimeWindow(view.n_buckets)
        self.query_one("#bt-title", Static).update(
            Text.assemble(("Backtest  ", "bold"), (view.title, ""))
        )
        table = self.query_one("#bt-metrics", DataTable)
        for row in view.rows:
            style = "bold" if row.strong else ""
            if row.close_type is not None:
                style = hex_color(close_color(row.close_type))
            table.add_row(Text(row.label, style=style), Text(row.value, style, justify="right"))
        table.border_subtitle = view.fill_model
        self.query_one("#bt-summary", Static).update(summary_line(view))
        self.add_class("-done")
        self.refresh_bindings()
        self._draw()

    def _draw(self) -> None:
        """Every chart through the shared window; the status line says where it is."""
        if self.view is None or self.window is None:
            return
        for chart in self.query(BacktestChart):
            chart.show(self.view, self.window)
        self._refresh_state()

    def window_text(self) -> str:
        """The visible span and buckets, e.g. '01-01 06:00 → 01-01 12:00 UTC (1440/5760)'."""
        if self.view is None or self.window is None:
            return ""
        view, window = self.view, self.window

        def at(x: int) -> str:
            return datetime.fromtimestamp(view.ts_of(x) / 1000, UTC).strftime("%m-%d %H:%M")

        return f"{at(window.lo)} → {at(window.hi)} UTC ({window.width}/{window.n})"

    def _refresh_state(self) -> None:
        if self.state == "running":
            elapsed = self.clock() - self._started
            text = f"running · {self.phase} · {elapsed:.1f} s"
        elif self.state == "done":
            took = self._finished - self._started
            text = f"done in {took:.1f} s · {self.window_text()}"
        elif self.state == "cancelled":
            text = "cancelled · Esc to go back"
        elif self.state == "failed":
            text = "failed · Esc to go back"
        else:
            text = self.state
        self.query_one("#bt-state", Static).update(Text(text))

    def on_resize(self, event: Resize) -> None:
        """One pane at a time on small terminals."""
        narrow = event.size.width < NARROW_WIDTH or event.size.height < NARROW_HEIGHT
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            self.refresh_bindings()

    def _show_pane(self, index: int) -> None:
        self.pane = index % len(PANES)
        for i, (pane_id, _) in enumerate(PANES):
            self.query_one(f"#{pane_id}").set_class(i == self.pane, "-current")
        charts_shown = PANES[self.pane][0] != "bt-metrics"
        self.query_one("#bt-charts").set_class(charts_shown, "-current")
        tabs = [
            f"[reverse] {i + 1} {name} [/]" if i == self.pane else f" {i + 1} {name} "
            for i, (_, name) in enumerate(PANES)
        ]
        self.query_one("#bt-views", Static).update(" ".join(tabs) + "   tab: next")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Zoom and pan once there is a result; switching panes only when they are one at a
        time."""
        if action in ("zoom", "pan", "reset_zoom"):
            return self.state == "done"
        if action in ("next_view", "show_view"):
            return self.has_class("-narrow")
        return True

    def action_back(self) -> None:
        """Cancel a running backtest; otherwise back to the dashboard."""
        if self.state == "running":
            self.cancel()
        else:
            self.app.pop_screen()

    def cancel(self) -> None:
        """Terminate the backtest process; the screen stays, saying so."""
        if self.job is not None:
            self.job.cancel()
        if self._worker is not None:
            self._worker.cancel()
        self.state = "cancelled"
        self._finished = self.clock()
        self.query_one("#bt-progress").display = False
        self.refresh_bindings()
        self._refresh_state()

    def action_zoom(self, factor: float) -> None:
        """Narrow or widen the time window of every chart."""
        if self.window is not None:
            self.window.zoom(factor)
            self._draw()

    def action_pan(self, fraction: float) -> None:
        """Move the window by a fraction of its width."""
        if self.window is not None:
            self.window.pan(fraction)
            self._draw()

    def action_reset_zoom(self) -> None:
        """Show the whole run."""
        if self.window is not None:
            self.window.reset()
            self._draw()

    def action_nothing(self) -> None:
        """A key that means nothing here."""

    def action_next_view(self) -> None:
        """The next pane (narrow terminals)."""
        self._show_pane(self.pane + 1)

    def action_show_view(self, index: int) -> None:
        """A pane by number (narrow terminals)."""
        self._show_pane(index)
