"""The slash-command line at the bottom of every screen."""

from __future__ import annotations

from textual.widgets import Input


class CommandLine(Input):
    """The slash-command input at the bottom of the screen."""

    def __init__(self) -> None:
        super().__init__(
            placeholder="type /help for commands", id="command-line", select_on_focus=False
        )
