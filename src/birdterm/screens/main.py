"""The main screen: engine status, the log, and the command line."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, RichLog, Static

from birdterm.engine.engine import EngineView
from birdterm.screens.widgets.command_line import CommandLine


def render_status(view: EngineView) -> str:
    """The status pane's text for one engine snapshot."""
    if view.last_tick is None:
        last = "none yet"
    else:
        last = time.strftime("%H:%M:%S", time.gmtime(view.last_tick)) + " UTC"
    state = "running" if view.running else "stopped"
    lines = [
        f"[b]{view.name}[/b]  {state}",
        "",
        f"clock      {view.clock_mode}, every {view.tick_size:g} s",
        f"ticks      {view.tick_count}",
        f"last tick  {last}",
        f"lateness   {view.last_tick_lateness_ms:.1f} ms",
        f"missed     {view.missed_ticks}",
        f"errors     {view.errors}",
        "",
        f"connector  {view.connector or 'none'}",
        f"pairs      {', '.join(view.trading_pairs) or 'none'}",
        f"store      schema v{view.store_schema_version}",
    ]
    for session in view.sessions:
        mid = f"{session.mid_price:.2f}" if session.mid_price is not None else "-"
        lines += [
            "",
            f"[b]{session.controller_id}[/b]  {session.controller_type} {session.trading_pair}",
            f"  via      {session.connector} {escape('[' + session.health + ']')}",
            f"  mid      {mid}",
            f"  execs    {session.active_executors} active, {session.closed_executors} closed",
            f"  orders   {session.open_orders} open",
            f"  P&L      {session.pnl_total:.4f} (fees {session.fees:.4f})",
        ]
        for asset, (total, free) in sorted(session.balances.items()):
            if total or asset in session.trading_pair.split("-"):
                lines.append(f"  {asset:<6} {total:.6f} free {free:.6f}")
    return "\n".join(lines)


class MainScreen(Screen[None]):
    """Status pane beside the log pane, command line below."""

    AUTO_FOCUS = "#command-line"  # typing goes straight to the command line
    REFRESH_SECONDS = 0.25

    def __init__(self, view_source: Callable[[], EngineView]) -> None:
        super().__init__()
        self._view_source = view_source
        self._ready = False
        self._pending_log: list[str] = []

    def compose(self) -> ComposeResult:
        """Lay out the panes."""
        yield Header(show_clock=False)
        with Horizontal(id="panes"):
            yield Static(id="status", markup=True)
            yield RichLog(id="log", wrap=True, markup=False, highlight=False, max_lines=5000)
        yield CommandLine()
        yield Footer()

    def on_mount(self) -> None:
        """Title the panes."""
        self.query_one("#status").border_title = "engine"
        self.query_one("#log").border_title = "log"
        # Timers start here, not in the app: only now do the panes exist.
        self._ready = True
        log = self.query_one("#log", RichLog)
        for text in self._pending_log:
            log.write(text)
        self._pending_log.clear()
        self.refresh_status()
        self.set_interval(self.REFRESH_SECONDS, self.refresh_status)

    def refresh_status(self) -> None:
        """Repaint the status pane from a fresh engine snapshot."""
        self.query_one("#status", Static).update(render_status(self._view_source()))

    def write_log(self, text: str) -> None:
        """Append lines to the log pane (held until the pane exists)."""
        if not self._ready:
            self._pending_log.append(text)
            return
        self.query_one("#log", RichLog).write(text)
