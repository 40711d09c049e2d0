"""The P&L pane: the P&L split, the position hold, balances, and a sparkline of total P&L."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Sparkline, Static

from birdterm.engine.engine import SessionView
from birdterm.screens.widgets.formatting import signed

SPARK_POINTS = 600  # the last ten minutes of one-a-second samples


def pnl_slice(session: SessionView | None) -> tuple[Any, ...]:
    """The part of a session the text of this pane depends on (compared to skip repaints)."""
    if session is None:
        return ()
    return (
        session.trading_pair,
        session.pnl_total,
        session.pnl_executors_realized,
        session.pnl_executors_unrealized,
        session.pnl_position_realized,
        session.pnl_position_unrealized,
        session.fees,
        session.volume,
        session.hold,
        tuple(sorted(session.balances.items())),
    )


def render_pnl(session: SessionView | None) -> Text:
    """The pane's text for one session."""
    if session is None:
        return Text("no controller running\n/start demo", style="dim")
    base, _, quote = session.trading_pair.partition("-")
    out = Text(no_wrap=True, overflow="ellipsis")

    def line(label: str, value: Text | str, style: str = "") -> None:
        out.append(f"{label:<12} ", style=style or "dim")
        out.append(value if isinstance(value, Text) else Text(value))
        out.append("\n")

    total = signed(session.pnl_total)
    total.stylize("bold")
    line("total", total + Text(f" {quote}", style="dim"), style="bold")
    line("  exec real", signed(session.pnl_executors_realized))
    line("  pos real", signed(session.pnl_position_realized))
    line("  pos unreal", signed(session.pnl_position_unrealized))
    line("exec unreal", signed(session.pnl_executors_unrealized))
    line("fees", f"{float(session.fees):.4f}")
    line("volume", f"{float(session.volume):,.2f}")
    hold = session.hold
    if hold is not None and hold.base_amount:
        be = hold.break_even_price
        line("hold", f"{float(hold.base_amount):.5f} {base}")
        line("  break-even", f"{float(be):,.2f}" if be is not None else "-")
        line("  unrealized", signed(hold.unrealized_pnl))
    else:
        line("hold", "none")
    for asset, (total_amount, free) in sorted(session.balances.items()):
        if total_amount or asset in (base, quote):
            places = 2 if asset == quote else 5
            line(asset, f"{_fmt(total_amount, places)} (free {_fmt(free, places)})")
    out.rstrip()
    return out


def _fmt(value: Decimal, places: int) -> str:
    return f"{float(value):,.{places}f}"


class PnlPane(VerticalScroll, can_focus=True):
    """The P&L split, hold and balances over a sparkline of total P&L (scrolls when short).

    Each part repaints only when its figures changed.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._slice: tuple[Any, ...] | None = None
        self._line_count = 0
        self._history_key: tuple[int, tuple[float, float] | None] | None = None

    def compose(self) -> ComposeResult:
        """The figures above, the chart below."""
        yield Static(render_pnl(None), id="pnl-text")
        yield Sparkline([], id="pnl-spark")

    def on_mount(self) -> None:
        """Title."""
        self.border_title = "P&L"

    def show(self, session: SessionView | None) -> bool:
        """Take a session; returns whether anything shown changed."""
        changed = False
        figures = pnl_slice(session)
        if figures != self._slice:
            self._slice = figures
            text = render_pnl(session)
            lines = len(text.plain.splitlines())
            # same number of lines: no layout pass (it would repaint the whole screen)
            self.query_one("#pnl-text", Static).update(text, layout=lines != self._line_count)
            self._line_count = lines
            changed = True
        history = session.pnl_history if session else ()
        key = (len(history), history[-1] if history else None)  # samples only ever append
        if key != self._history_key:
            self._history_key = key
            values = [total for _, total in history[-SPARK_POINTS:]]
            self.query_one("#pnl-spark", Sparkline).data = values
            changed = True
        return changed
