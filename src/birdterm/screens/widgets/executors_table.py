"""The executors pane: active executors first, then the recently closed, diffed row by row.

The table draws its own lines (Textual's line API) instead of using a DataTable: a DataTable
keys every render cache on a counter that any `update_cell` bumps, so one changed P&L cell
re-renders every visible row, and the stale entries stay in its LRU caches (10,000 cells,
1,000 rows and lines) until evicted. Here each row keeps one rendered strip, rebuilt only when
that row's cells (or the cursor, or the styles) change, and only that row's line is repainted.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from birdterm.engine.executors.base import ExecutorReport
from birdterm.screens.widgets.formatting import LOSS, PROFIT, amount, duration

# (key, label, width): fixed widths, so updating a cell never re-measures the table
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("id", "id", 9),
    ("side", "side", 4),
    ("level", "lvl", 6),
    ("entry", "entry", 10),
    ("pnl", "net P&L", 9),
    ("upnl", "uPnL", 9),
    ("status", "status", 11),
    ("age", "age", 6),
    ("filled", "filled", 9),
    ("held", "held", 9),
    ("controller", "controller", 12),
    ("kind", "type", 8),
)
COLUMN_KEYS = tuple(key for key, _, _ in COLUMNS)

Cell = tuple[str, str, str]  # text, style, justify: comparable (rich Text equality ignores style)
Row = tuple[Cell, ...]


def short_id(report: ExecutorReport) -> str:
    """The id without its controller prefix (the controller has its own column)."""
    prefix = f"{report.controller_id}-"
    return report.id[len(prefix) :] if report.id.startswith(prefix) else report.id


def executor_row(report: ExecutorReport, now: float) -> Row:
    """One executor's cells; closed ones show their close type, dimmed."""
    closed = report.close_ts is not None
    net = float(report.net_pnl_quote)
    pnl_style = PROFIT if net > 0 else LOSS if net < 0 else ""
    dim = "dim" if closed else ""
    opening_filled = report.bought_base if report.side == "BUY" else report.sold_base
    status = (report.close_type or report.status) if closed else report.status
    age = (report.close_ts if report.close_ts is not None else now) - report.created_ts
    upnl = float(report.unrealized_pnl_quote)
    upnl_style = PROFIT if upnl > 0 else LOSS if upnl < 0 else ""
    return (
        (short_id(report), dim, "left"),
        (report.side.lower(), PROFIT if report.side == "BUY" else LOSS, "left"),
        (report.level_id, dim, "left"),
        (amount(report.entry_price, 2), dim, "right"),
        (f"{net:+.4f}", pnl_style, "right"),
        ("-", dim, "right") if closed else (f"{upnl:+.4f}", upnl_style, "right"),
        (status.lower().replace("_", " "), dim or ("bold" if status == "RUNNING" else ""), "left"),
        (duration(age), dim, "right"),
        (amount(opening_filled, 5), dim, "right"),
        (amount(report.held_base, 5), dim, "right"),
        (report.controller_id, dim, "left"),
        (report.kind, dim, "left"),
    )


CELL_PADDING = 1  # blank cells either side of every column, as a DataTable draws them
TABLE_WIDTH = sum(width + 2 * CELL_PADDING for _, _, width in COLUMNS)


def cell_text(cell: Cell) -> Text:
    """The renderable for one cell."""
    text, style, justify = cell
    return Text(text, style=style, justify=justify)  # type: ignore[arg-type]


def fit(text: str, width: int, justify: str) -> str:
    """`text` padded (or cropped) to exactly `width` cells."""
    length = cell_len(text)
    if length >= width:
        return set_cell_size(text, width)
    gap = " " * (width - length)
    return gap + text if justify == "right" else text + gap


def render_row(cells: Row, base: Style, component: Style | None) -> Strip:
    """One row's line across every column (the caller crops it to the scrolled window).

    On the cursor row the component style's colour wins over the cells' own, as in a DataTable.
    """
    row_style = base if component is None else base + component
    post = Style.null() if component is None else Style.from_color(color=component.color)
    pad = Segment(" " * CELL_PADDING, row_style)
    segments: list[Segment] = []
    for (text, style, justify), (_, _, width) in zip(cells, COLUMNS, strict=True):
        cell_style = row_style + Style.parse(style) + post if style else row_style + post
        segments += (pad, Segment(fit(text, width, justify), cell_style), pad)
    return Strip(segments, TABLE_WIDTH).simplify()


def render_header(style: Style) -> Strip:
    """The column labels."""
    pad = " " * CELL_PADDING
    line = "".join(f"{pad}{fit(label, width, 'left')}{pad}" for _, label, width in COLUMNS)
    return Strip([Segment(line, style)], TABLE_WIDTH)


class ExecutorsTable(ScrollView, can_focus=True):
    """Executor rows keyed by id, a fixed header and a row cursor, drawn line by line.

    `show` diffs the new rows against the shown ones: a changed row re-renders and repaints
    only its own line; rows added, removed or reordered repaint the table (that is rare).
    """

    DEFAULT_CSS = """
    ExecutorsTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .executors-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .executors-table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .executors-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .executors-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .executors-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "executors-table--header",
        "executors-table--cursor",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "cursor_first", "First row", show=False),
        Binding("end", "cursor_last", "Last row", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[str, Row] = {}
        self._order: tuple[str, ...] = ()
        # one rendered line per row, with what it was rendered from; bounded by the rows shown
        self._strips: dict[str, tuple[tuple[object, ...], Strip]] = {}
        self._header: tuple[Style, Strip] | None = None
        self.cursor_row = 0
        self.cells_updated = 0  # for tests and the benchmark: cell writes since mount

    def on_mount(self) -> None:
        """Title; the header line is there before any row."""
        self.border_title = "executors"
        self.virtual_size = Size(TABLE_WIDTH, 1)

    # -- the data ----------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """Rows shown."""
        return len(self._order)

    def get_row_at(self, index: int) -> list[Text]:
        """The cells of the row at a display index."""
        return [cell_text(cell) for cell in self._rows[self._order[index]]]

    def get_cell(self, row_key: str, column_key: str) -> Text:
        """One cell, by executor id and column key."""
        return cell_text(self._rows[row_key][COLUMN_KEYS.index(column_key)])

    def show(self, reports: tuple[ExecutorReport, ...], now: float) -> bool:
        """Bring the table to `reports` (already in display order); returns whether it changed."""
        wanted = {r.id: executor_row(r, now) for r in reports}
        order = tuple(wanted)
        rows = self._rows
        if order == self._order and all(wanted[k] == rows[k] for k in order):
            return False
        for key, row in wanted.items():
            old = rows.get(key)
            if old is None:
                self.cells_updated += len(row)
            elif old != row:
                self.cells_updated += sum(a != b for a, b in zip(old, row, strict=True))
        if order == self._order:  # same rows in the same places: repaint the changed lines only
            for index, key in enumerate(order):
                if wanted[key] != rows[key]:
                    self.refresh_lines(index + 1)
        else:
            self._strips = {k: v for k, v in self._strips.items() if k in wanted}
            self._order = order
            self.cursor_row = max(0, min(self.cursor_row, len(order) - 1))
            if self.virtual_size.height != len(order) + 1:
                self.virtual_size = Size(TABLE_WIDTH, len(order) + 1)
            self.refresh()
        self._rows = wanted
        active = sum(1 for r in reports if r.close_ts is None)
        title = f"executors {active} active, {len(reports) - active} closed"
        if title != self.border_title:  # setting it repaints the whole table
            self.border_title = title
        return True

    # -- drawing -----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        """Styles changed (focus, theme): every line renders again."""
        super().notify_style_update()
        self._strips.clear()
        self._header = None

    def render_line(self, y: int) -> Strip:
        """Line y of the pane: the header, then the rows from the scroll position."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            strip = self._header_strip(base)
        else:
            index = scroll_y + y - 1
            if index < len(self._order):
                strip = self._row_strip(index, base)
            else:
                strip = Strip.blank(TABLE_WIDTH, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _header_strip(self, base: Style) -> Strip:
        style = base + self.get_component_rich_style("executors-table--header")
        if self._header is None or self._header[0] != style:
            self._header = (style, render_header(style))
        return self._header[1]

    def _row_strip(self, index: int, base: Style) -> Strip:
        key = self._order[index]
        row = self._rows[key]
        cursor = (
            self.get_component_rich_style("executors-table--cursor")
            if index == self.cursor_row
            else None
        )
        signature = (row, base, cursor)
        cached = self._strips.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        strip = render_row(row, base, cursor)
        self._strips[key] = (signature, strip)
        return strip

    # -- the cursor --------------------------------------------------------------------------

    def move_cursor(self, row: int) -> None:
        """Put the row cursor on a row (clamped) and scroll it into view."""
        row = max(0, min(row, len(self._order) - 1))
        if row == self.cursor_row:
            return
        previous, self.cursor_row = self.cursor_row, row
        self.refresh_lines(previous + 1)
        self.refresh_lines(row + 1)
        visible = max(1, self.scrollable_content_region.height - 1)  # below the header
        scroll_y = round(self.scroll_y)
        if row < scroll_y:
            self.scroll_to(y=row, animate=False)
        elif row >= scroll_y + visible:
            self.scroll_to(y=row - visible + 1, animate=False)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor_up(self) -> None:
        """One row up."""
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        """One row down."""
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        """A screenful up."""
        self.move_cursor(self.cursor_row - self._page())

    def action_page_down(self) -> None:
        """A screenful down."""
        self.move_cursor(self.cursor_row + self._page())

    def action_cursor_first(self) -> None:
        """The first row."""
        self.move_cursor(0)

    def action_cursor_last(self) -> None:
        """The last row."""
        self.move_cursor(len(self._order) - 1)

    def on_click(self, event: events.Click) -> None:
        """A click on a row moves the cursor there."""
        offset = event.get_content_offset(self)
        if offset is not None and offset.y >= 1:
            self.move_cursor(round(self.scroll_y) + offset.y - 1)
