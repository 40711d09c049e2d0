"""Number and time formatting shared by the dashboard panes."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text

PROFIT = "green"
LOSS = "red"


def decimals_of(values: list[float], cap: int) -> int:
    """The fewest decimals that show every value exactly (at most `cap`)."""
    places = 0
    for value in values:
        text = f"{value:.{cap}f}".rstrip("0")
        places = max(places, len(text.split(".")[1]) if "." in text else 0)
    return places


def signed(value: Decimal | float, places: int = 4) -> Text:
    """A P&L amount with its sign, green when positive, red when negative."""
    number = float(value)
    style = PROFIT if number > 0 else LOSS if number < 0 else ""
    return Text(f"{number:+.{places}f}", style=style)


def amount(value: Decimal | float | None, places: int = 5) -> str:
    """A plain amount, '-' when missing."""
    return "-" if value is None else f"{float(value):.{places}f}"


def duration(seconds: float) -> str:
    """45s, 12m05s, 3h02m, 2d04h."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"
