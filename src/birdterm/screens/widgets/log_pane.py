"""The log pane: engine events, command output and errors; scrollable, with a search filter."""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, RichLog

MAX_LINES = 5000


def styled(line: str) -> Text:
    """Errors red, warnings yellow, echoed commands bold."""
    if line.startswith("error:") or " ERROR " in line or " CRITICAL " in line:
        return Text(line, style="red")
    if " WARNING " in line:
        return Text(line, style="yellow")
    if line.startswith("> "):
        return Text(line, style="bold")
    return Text(line)


class LogPane(Vertical):
    """A RichLog over a search input that, while open, shows only the lines matching it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close_search", "Close search", show=False, id="log-close-search"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: deque[str] = deque(maxlen=MAX_LINES)
        self._filter = ""
        self._wrapped_at = 0

    def compose(self) -> ComposeResult:
        """The search box (hidden until asked for) above the log."""
        yield Input(placeholder="search the log (Esc closes)", id="log-search")
        yield RichLog(
            id="log", wrap=True, markup=False, highlight=False, max_lines=MAX_LINES, min_width=20
        )

    def on_mount(self) -> None:
        """Title."""
        self.border_title = "log"

    def on_resize(self) -> None:
        """RichLog wraps lines once, as they are written: re-wrap them at the new width."""
        width = self.size.width
        if width != self._wrapped_at:
            self._wrapped_at = width
            self._apply(self._filter)

    @property
    def text(self) -> str:
        """Every line kept, unwrapped (what the pane shows with no search)."""
        return "\n".join(self._lines)

    @property
    def searching(self) -> bool:
        """True while the search box is open."""
        return self.has_class("-searching")

    def write(self, text: str) -> None:
        """Append lines; while searching only matching ones are shown (all are kept)."""
        log = self.query_one("#log", RichLog)
        for line in text.splitlines() or [""]:
            self._lines.append(line)
            if self._matches(line):
                log.write(styled(line))

    def open_search(self) -> None:
        """Show the search box and put the cursor in it."""
        self.add_class("-searching")
        search = self.query_one("#log-search", Input)
        search.focus()
        self._apply(search.value)

    def action_close_search(self) -> None:
        """Hide the search box and show every line again."""
        if not self.searching:
            return
        self.remove_class("-searching")
        self._apply("")
        self.query_one("#log", RichLog).focus()

    @on(Input.Changed, "#log-search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._apply(event.value)

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # not a command line: Enter just keeps the filter
        self.query_one("#log", RichLog).focus()

    def _matches(self, line: str) -> bool:
        return not self._filter or self._filter in line.lower()

    def _apply(self, needle: str) -> None:
        self._filter = needle.strip().lower()
        log = self.query_one("#log", RichLog)
        log.clear()
        shown = [line for line in self._lines if self._matches(line)]
        for line in shown:
            log.write(styled(line))
        if self._filter:
            self.border_subtitle = f"{len(shown)} matching {needle.strip()!r}"
        else:
            self.border_subtitle = ""
