"""The executors pane: active executors first, then the recently closed, diffed cell by cell."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

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


def cell_text(cell: Cell) -> Text:
    """The renderable for one cell."""
    text, style, justify = cell
    return Text(text, style=style, justify=justify)  # type: ignore[arg-type]


class ExecutorsTable(DataTable[Text]):
    """A DataTable keyed by executor id: rows added and removed, changed cells updated."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._rows: dict[str, Row] = {}
        self._order: tuple[str, ...] = ()
        self.cells_updated = 0  # for tests and the benchmark: cell writes since mount

    def on_mount(self) -> None:
        """Fixed-width columns."""
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)
        self.border_title = "executors"

    def show(self, reports: tuple[ExecutorReport, ...], now: float) -> bool:
        """Bring the table to `reports` (already in display order); returns whether it changed."""
        wanted = {r.id: executor_row(r, now) for r in reports}
        order = tuple(wanted)
        if order == self._order and all(wanted[k] == self._rows[k] for k in order):
            return False
        with self.app.batch_update():
            for gone in [k for k in self._rows if k not in wanted]:
                self.remove_row(gone)
                del self._rows[gone]
            for key, row in wanted.items():
                old = self._rows.get(key)
                if old is None:
                    self.add_row(*(cell_text(c) for c in row), key=key)
                    self.cells_updated += len(row)
                elif old != row:
                    for column, before, after in zip(COLUMN_KEYS, old, row, strict=True):
                        if before != after:
                            self.update_cell(key, column, cell_text(after))
                            self.cells_updated += 1
                self._rows[key] = row
            if order != self._order:
                rank = {wanted[k][0][0]: i for i, k in enumerate(order)}
                self.sort("id", key=lambda cell: rank.get(cell.plain, len(rank)))
                self._order = order
        active = sum(1 for r in reports if r.close_ts is None)
        title = f"executors {active} active, {len(reports) - active} closed"
        if title != self.border_title:  # setting it repaints the whole table
            self.border_title = title
        return True
