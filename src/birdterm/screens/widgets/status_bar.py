"""The status bar: trading mode, connector health, running controllers, the UTC clock."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from birdterm.engine.engine import EngineView, SessionView

HEALTH = {
    "ws": ("WS connected", "green"),
    "rest_fallback": ("REST fallback", "yellow"),
    "down": ("down", "bold red"),
    "starting": ("starting", "dim"),
    "stopping": ("stopping", "dim"),
}
MODE_STYLE = {
    "paper": "bold black on cyan",
    "live": "bold white on red",
    "live (demo)": "bold black on yellow",
    "backtest": "bold black on magenta",
    "idle": "bold black on grey50",
}


def trading_mode(connector: str, endpoint: str | None) -> str:
    """paper (simulated fills), live (demo) against the embedded emulator, or live."""
    if connector.endswith("_paper"):
        return "paper"
    if connector == "sim":
        return "backtest"
    return "live (demo)" if endpoint == "embedded" else "live"


@dataclass(frozen=True, slots=True)
class StatusLine:
    """What the bar shows; compared to skip repaints."""

    mode: str
    engine: str
    running: bool
    controllers: tuple[tuple[str, str, str], ...]  # (id, pair, health)
    clock: str


def status_line(view: EngineView, endpoints: dict[str, str | None], now: float) -> StatusLine:
    """The bar's content from a view, each session's endpoint and the wall time."""
    sessions: tuple[SessionView, ...] = view.sessions
    found = tuple(
        dict.fromkeys(trading_mode(s.connector, endpoints.get(s.controller_id)) for s in sessions)
    )
    mode = found[0] if len(found) == 1 else ("mixed" if found else "idle")
    return StatusLine(
        mode=mode,
        engine=view.name,
        running=view.running,
        controllers=tuple((s.controller_id, s.trading_pair, s.health) for s in sessions),
        clock=time.strftime("%H:%M:%S UTC", time.gmtime(now)),
    )


def render_status(line: StatusLine, width: int) -> Text:
    """One line: mode badge, controllers with health, the clock on the right."""
    out = Text(no_wrap=True, overflow="crop")
    out.append(f" {line.mode.upper()} ", style=MODE_STYLE.get(line.mode, "reverse"))
    out.append(f" {line.engine} ")
    out.append("running" if line.running else "stopped", style="" if line.running else "dim")
    if line.controllers:
        for controller_id, pair, health in line.controllers:
            label, style = HEALTH.get(health, (health, ""))
            out.append(" │ ", style="dim")
            out.append(f"{controller_id} {pair} ")
            out.append(label, style=style)
    else:
        out.append(" │ ", style="dim")
        out.append("no controllers running", style="dim")
    clock = f" {line.clock} "
    if out.cell_len + len(clock) > width:  # the clock always shows; the left side gives way
        out.truncate(max(0, width - len(clock) - 1), overflow="ellipsis")
    out.append(" " * max(0, width - out.cell_len - len(clock)))
    out.append(clock, style="bold")
    return out


class StatusBar(Widget):
    """One line at the top of the dashboard."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._line: StatusLine | None = None

    def show(self, line: StatusLine) -> bool:
        """Take new content; returns whether it differed."""
        if line == self._line:
            return False
        self._line = line
        self.refresh()
        return True

    def render(self) -> RenderableType:
        """The line, fitted to the width."""
        if self._line is None:
            return Text("")
        return render_status(self._line, self.content_size.width)
