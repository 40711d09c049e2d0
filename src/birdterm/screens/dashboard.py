"""The dashboard, birdterm's default screen: book, executors, P&L, log, status bar, command line."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer

from birdterm.engine.engine import EngineView, SessionView
from birdterm.screens.widgets.command_line import CommandLine
from birdterm.screens.widgets.executors_table import ExecutorsTable
from birdterm.screens.widgets.log_pane import LogPane
from birdterm.screens.widgets.order_book import OrderBookPane
from birdterm.screens.widgets.pnl_pane import PnlPane
from birdterm.screens.widgets.status_bar import StatusBar, status_line

PANES = {"1": "#book", "2": "#executors", "3": "#pnl", "4": "#log"}


def _no_endpoint(_controller_id: str) -> str | None:
    return None


class DashboardScreen(Screen[None]):
    """Polls the engine's read-only view on a timer; each pane repaints only when its part changed.

    Polling coalesces bursts by construction: however many book updates arrive between two
    ticks, the panes are brought up to date once, inside one batch update.
    """

    AUTO_FOCUS = "#command-line"  # typing goes straight to the command line
    REFRESH_SECONDS = 0.1  # 10 Hz: the rate of a Binance depth stream, so the book keeps up
    # screen classes the stylesheet keys on: width narrows the side columns, height the lower row
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (120, "-wide"),
    ]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [(0, "-short"), (36, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"focus_pane('{selector}')", selector[1:], show=False, id=f"pane-{key}")
            for key, selector in PANES.items()
        ),
        Binding("ctrl+f", "search_log", "Find in log", id="search-log"),
    ]

    def __init__(
        self,
        view_source: Callable[[], EngineView],
        *,
        endpoint_of: Callable[[str], str | None] = _no_endpoint,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(id="dashboard")
        self._view_source = view_source
        self._endpoint_of = endpoint_of
        self._clock = clock
        self._ready = False
        self._pending_log: list[str] = []
        self.pair: str | None = None  # the book shown: set by /book, else the first session's
        self.refreshes = 0  # view reads, for tests and the benchmark
        self.repaints = 0  # view reads that changed something on screen

    def compose(self) -> ComposeResult:
        """Status bar on top; book and executors; P&L and log; the command line at the bottom."""
        yield StatusBar(id="status-bar")
        with Horizontal(id="top"):
            yield OrderBookPane(id="book")
            yield ExecutorsTable(id="executors")
        with Horizontal(id="bottom"):
            yield PnlPane(id="pnl")
            yield LogPane(id="log-pane")
        yield CommandLine()
        yield Footer()

    def on_mount(self) -> None:
        """Flush log lines that came before the panes existed; start polling."""
        self._ready = True
        log = self.query_one(LogPane)
        for text in self._pending_log:
            log.write(text)
        self._pending_log.clear()
        self.refresh_view()
        self.set_interval(self.REFRESH_SECONDS, self.refresh_view)

    def selected_session(self, view: EngineView) -> SessionView | None:
        """The session whose pair the book shows (the first one unless /book chose another)."""
        for session in view.sessions:
            if session.trading_pair == self.pair:
                return session
        return view.sessions[0] if view.sessions else None

    def refresh_view(self) -> None:
        """Read one snapshot and bring every pane up to date (unchanged panes are skipped)."""
        view = self._view_source()
        now = self._clock()
        session = self.selected_session(view)
        endpoints = {s.controller_id: self._endpoint_of(s.controller_id) for s in view.sessions}
        reports = [r for s in view.sessions for r in s.executors]
        executors = (
            *(r for r in reports if r.close_ts is None),
            *(r for r in reports if r.close_ts is not None),
        )
        self.refreshes += 1
        with self.app.batch_update():
            changed = self.query_one(StatusBar).show(status_line(view, endpoints, now))
            changed |= self.query_one(OrderBookPane).show(session.book if session else None)
            changed |= self.query_one(ExecutorsTable).show(executors, now)
            changed |= self.query_one(PnlPane).show(session)
        if changed:
            self.repaints += 1

    def select_pair(self, trading_pair: str) -> bool:
        """Show this pair's book and P&L; False when no running controller trades it."""
        self.pair = trading_pair
        found = any(s.trading_pair == trading_pair for s in self._view_source().sessions)
        if self._ready:
            self.refresh_view()
        return found

    def write_log(self, text: str) -> None:
        """Append lines to the log pane (held until the pane exists)."""
        if not self._ready:
            self._pending_log.append(text)
            return
        self.query_one(LogPane).write(text)

    def action_focus_pane(self, selector: str) -> None:
        """Focus one pane by its number key."""
        self.query_one(selector).focus()

    def action_search_log(self) -> None:
        """Open the log's search box."""
        self.query_one(LogPane).open_search()
