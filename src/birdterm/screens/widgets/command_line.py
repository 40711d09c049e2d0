"""The slash-command line at the bottom of every screen: completion (Tab) and history (Up/Down).

Completion asks the app's command registry (`CommandRegistry.complete`): command names, config
names, running controller ids, pairs, option names and paths. The best candidate is shown greyed
after the cursor; Tab (or Right at the end) takes it, Tab again cycles through the others.

History is one list per app, shared by every screen's command line, and kept in
`<data dir>/history.txt` (the last HISTORY_LIMIT lines) so it survives a restart.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.suggester import Suggester
from textual.widgets import Input

log = logging.getLogger("birdterm.ui")

HISTORY_LIMIT = 500
HISTORY_FILE = "history.txt"

Completer = Callable[[str], list[str]]


class CommandHistory:
    """Lines run so far, oldest first; appended to a file when one is given."""

    def __init__(self, path: Path | None = None, limit: int = HISTORY_LIMIT) -> None:
        self.path = path
        self.limit = limit
        self.lines: list[str] = []
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8") if path.is_file() else ""
            except (OSError, UnicodeDecodeError) as exc:
                log.warning("command history %s not read: %s", path, exc)
                text = ""
            self.lines = [line for line in text.splitlines() if line.strip()][-limit:]

    def add(self, line: str) -> None:
        """Remember a line (not twice in a row) and save it."""
        line = line.strip()
        if not line or "\n" in line or (self.lines and self.lines[-1] == line):
            return
        self.lines.append(line)
        if self.path is None:
            return
        try:
            if len(self.lines) > self.limit:
                del self.lines[: len(self.lines) - self.limit]
                self.path.write_text("".join(f"{x}\n" for x in self.lines), encoding="utf-8")
            else:
                with self.path.open("a", encoding="utf-8") as file:
                    file.write(line + "\n")
        except OSError as exc:
            log.warning("command history %s not saved: %s", self.path, exc)


_histories: weakref.WeakKeyDictionary[Any, CommandHistory] = weakref.WeakKeyDictionary()


def app_history(app: Any) -> CommandHistory:
    """The app's history (one for all its command lines), loaded from its data dir."""
    history = _histories.get(app)
    if history is None:
        data_dir = getattr(getattr(app, "engine", None), "data_dir", None)
        path = Path(data_dir) / HISTORY_FILE if data_dir is not None else None
        history = _histories[app] = CommandHistory(path)
    return history


class CommandSuggester(Suggester):
    """Suggests the first completion of what is typed (computed afresh: the state changes)."""

    def __init__(self, complete: Completer) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._complete = complete

    async def get_suggestion(self, value: str) -> str | None:
        """The first candidate longer than the value, if any."""
        return next((c for c in self._complete(value) if len(c) > len(value)), None)


class CommandLine(Input):
    """The slash-command input at the bottom of the screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "complete", "Complete", show=False),
        Binding("up", "history(-1)", "Earlier command", show=False),
        Binding("down", "history(1)", "Later command", show=False),
    ]

    def __init__(
        self,
        *,
        id: str = "command-line",
        completer: Completer | None = None,
        history: CommandHistory | None = None,
    ) -> None:
        self._completer = completer
        self._history = history
        self._history_index: int | None = None  # position while browsing with Up/Down
        self._draft = ""  # what was typed before browsing started
        self._cycle: list[str] = []  # Tab's candidates for the line it completed
        self._cycle_at = 0
        super().__init__(
            placeholder="type /help for commands",
            id=id,
            select_on_focus=False,
            suggester=CommandSuggester(self.completions),
        )

    @property
    def history(self) -> CommandHistory:
        """The lines run so far (the app's, unless one was given)."""
        if self._history is None:
            self._history = app_history(self.app)
        return self._history

    def completions(self, value: str) -> list[str]:
        """Whole lines `value` may complete to; never raises (a completion is only a hint)."""
        try:
            if self._completer is not None:
                return self._completer(value)
            app = self.app
            registry = getattr(app, "registry", None)
            if registry is None or not value.startswith("/"):
                return []
            return list(registry.complete(value, _command_context(app)))
        except Exception:
            log.exception("completing %r failed", value)
            return []

    def action_complete(self) -> None:
        """Take the first completion; Tab again takes the next one. No completion: Tab moves
        the focus as usual."""
        value = self.value
        if self._cycle and value == self._cycle[self._cycle_at]:
            self._cycle_at = (self._cycle_at + 1) % len(self._cycle)
        else:
            candidates = [c for c in self.completions(value) if c != value]
            if not candidates:
                raise SkipAction()
            if len(candidates) == 1 and not candidates[0].endswith("/"):
                self._set(candidates[0] + " ")  # one answer: on to the next word
                self._cycle = []
                return
            self._cycle, self._cycle_at = candidates, 0
        self._set(self._cycle[self._cycle_at])

    def action_history(self, step: int) -> None:
        """Up: the line run before the one shown; Down: the next one, then what was typed."""
        lines = self.history.lines
        if not lines or (self._history_index is None and step > 0):
            return
        if self._history_index is None:
            self._draft = self.value
            index = len(lines) - 1
        else:
            index = max(0, self._history_index + step)
        if index >= len(lines):
            self._history_index = None
            self._set(self._draft)
            return
        self._history_index = index
        self._set(lines[index])

    def _set(self, value: str) -> None:
        self.value = value
        self.cursor_position = len(value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Remember the line (the app runs it: the message goes on to it)."""
        if event.input is self and event.value.strip():
            self.history.add(event.value)
        self._history_index = None
        self._draft = ""
        self._cycle = []


def _command_context(app: Any) -> Any:
    """The context the app runs commands with (its own, when it says how)."""
    make = getattr(app, "command_context", None)
    if callable(make):
        return make()
    from birdterm.commands import CommandContext

    return CommandContext(app.engine, configs_dir=getattr(app, "configs_dir", Path("configs")))
