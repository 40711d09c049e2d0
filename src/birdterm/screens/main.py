"""The main screen: engine status, the log, and the command line."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, RichLog, Static

from birdterm.engine.engine import EngineView


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
    return "\n".join(lines)


class CommandLine(Input):
    """The slash-command input at the bottom of the screen."""

    def __init__(self) -> None:
        super().__init__(
            placeholder="type /help for commands", id="command-line", select_on_focus=False
        )


class MainScreen(Screen[None]):
    """Status pane beside the log pane, command line below."""

    AUTO_FOCUS = "#command-line"  # typing goes straight to the command line

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

    def show_status(self, view: EngineView) -> None:
        """Repaint the status pane."""
        self.query_one("#status", Static).update(render_status(view))

    def write_log(self, text: str) -> None:
        """Append lines to the log pane."""
        self.query_one("#log", RichLog).write(text)
