"""The order book pane: top levels with size, cumulative size and a depth bar; our orders marked."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from birdterm.engine.engine import BookView
from birdterm.screens.widgets.formatting import decimals_of

ASK_STYLE = "red"
BID_STYLE = "green"
OWN_MARK = "●"
OWN_STYLE = "bold yellow"


def _levels_per_side(height: int) -> int:
    """Rows left for each side after the header and the spread line."""
    return max(1, (height - 2) // 2)


def render_book(book: BookView | None, width: int, height: int) -> Text:
    """The ladder: asks (best at the bottom), the spread and mid, bids (best at the top)."""
    if book is None or not (book.bids or book.asks):
        return Text("no book yet", style="dim")
    depth = _levels_per_side(height)
    asks = list(book.asks[:depth])
    bids = list(book.bids[:depth])
    prices = [p for p, _ in asks + bids]
    sizes = [q for _, q in asks + bids]
    price_places = max(2, decimals_of(prices, 8))
    size_places = min(decimals_of(sizes, 8), 5)
    ask_cum = _cumulative([q for _, q in asks])
    bid_cum = _cumulative([q for _, q in bids])
    top_cum = max(ask_cum[-1:] + bid_cum[-1:] + [0.0]) or 1.0
    price_w = max(len(f"{p:,.{price_places}f}") for p in prices)
    size_w = max(4, max(len(f"{q:.{size_places}f}") for q in sizes))
    cum_w = max(3, len(f"{top_cum:.{size_places}f}"))
    bar_w = width - price_w - size_w - cum_w - 4  # three gaps and the mark
    show_cum = bar_w >= 4
    if not show_cum:
        bar_w = max(0, width - price_w - size_w - 3)
    own = {(side, price) for side, price, _ in book.own_orders}

    out = Text(no_wrap=True, overflow="crop")
    header = f" {'price':>{price_w}} {'size':>{size_w}}"
    if show_cum:
        header += f" {'cum':>{cum_w}}"
    out.append(header + "\n", style="dim")

    def row(price: float, qty: float, cum: float, side: str, style: str) -> None:
        mine = (side, price) in own
        out.append(OWN_MARK if mine else " ", style=OWN_STYLE)
        out.append(f"{price:>{price_w},.{price_places}f}", style=OWN_STYLE if mine else style)
        out.append(f" {qty:>{size_w}.{size_places}f}")
        if show_cum:
            out.append(f" {cum:>{cum_w}.{size_places}f}", style="dim")
        filled = round(bar_w * cum / top_cum) if bar_w else 0
        out.append(" " + "█" * filled, style=style)
        out.append("\n")

    for (price, qty), cum in reversed(list(zip(asks, ask_cum, strict=True))):
        row(price, qty, cum, "SELL", ASK_STYLE)
    out.append(_spread_line(book, price_places, width) + "\n", style="bold")
    for (price, qty), cum in zip(bids, bid_cum, strict=True):
        row(price, qty, cum, "BUY", BID_STYLE)
    out.rstrip()
    return out


def _cumulative(sizes: list[float]) -> list[float]:
    total, out = 0.0, []
    for size in sizes:
        total += size
        out.append(total)
    return out


def _spread_line(book: BookView, places: int, width: int) -> str:
    if not (book.bids and book.asks):
        return " one-sided book"
    bid, ask = book.bids[0][0], book.asks[0][0]
    spread, mid = ask - bid, (ask + bid) / 2
    bps = spread / mid * 10_000 if mid else 0.0
    mid_places = max(places, decimals_of([mid], places + 1))
    text = f" spread {spread:.{places}f} ({bps:.1f} bp)  mid {mid:,.{mid_places}f}"
    if len(text) > width:
        text = f" sprd {spread:.{places}f} mid {mid:,.{places}f}"
    return text


class OrderBookPane(Widget, can_focus=True):
    """Top of one pair's book; repaints only when the book (or the pane's size) changed."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._book: BookView | None = None
        self._shown = False

    def show(self, book: BookView | None) -> bool:
        """Take a new book; returns whether it differed from the one shown."""
        if self._shown and book == self._book:
            return False
        self._book, self._shown = book, True
        title = f"book {book.trading_pair}" if book else "book"
        own = len(book.own_orders) if book else 0
        subtitle = f"{OWN_MARK} {own} ours" if own else ""
        if (title, subtitle) != (self.border_title, self.border_subtitle):
            self.border_title, self.border_subtitle = title, subtitle
        self.refresh()
        return True

    def render(self) -> RenderableType:
        """The ladder sized to the pane."""
        size = self.content_size
        return render_book(self._book, size.width, size.height)
