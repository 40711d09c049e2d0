"""The config editor: a TOML file in a code editor, validated before it is ever written.

Ctrl+S validates the whole text against the schema of its kind of file (a controller file:
`[controller]` by its type plus `[backtest]`, `[bot]`, `[live]`, `[emulator]`, `[paper]`; a bot
config: engine.bot_config.BotConfig). Problems are listed as `line N: field: message`, their
lines are marked in the gutter and the cursor goes to the first one; the file on disk is left
untouched. A valid text is written atomically exactly as typed (comments and layout kept).
When a running controller was started from this file, the editor offers to apply the fields
that can change live (runner.live_update).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel
from rich.markup import escape
from rich.segment import Segment
from rich.style import Style
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Static, TextArea

from birdterm.engine.bot_config import BotConfig
from birdterm.engine.config import (
    ConfigError,
    ConfigIssue,
    atomic_write_text,
    validate_text,
)
from birdterm.engine.controllers.registry import file_schema
from birdterm.engine.run_settings import RUN_SECTIONS
from birdterm.runner.live_update import (
    LiveUpdateError,
    apply_live,
    describe_value,
    restart_changes,
    updatable_changes,
)
from birdterm.sim.backtest_config import BacktestSettings

ERROR_GUTTER_STYLE = Style(color="white", bgcolor="red", bold=True)


def config_kind(text: str) -> str | None:
    """ "controller" or "bot" by the tables the text has; None when it does not say (or does
    not parse)."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return None
    if "controller" in data:
        return "controller"
    if "market" in data:
        return "bot"
    return None


def validate_config_text(text: str, path: Path | str, kind: str = "controller") -> BaseModel:
    """Validate a whole config file's text; ConfigError lists every problem with its line.

    A controller file is checked exactly as `/start` and `/backtest` load it."""
    if kind == "bot":
        return validate_text(text, BotConfig, path)
    sections = {"backtest": (BacktestSettings, BacktestSettings()), **RUN_SECTIONS}
    schema = file_schema(text, path, sections)
    return validate_text(text, schema, path)


def read_raw(path: Path) -> tuple[str, bool]:
    """A file's text exactly as stored (line endings kept) and whether it starts with a BOM."""
    with path.open(encoding="utf-8", newline="") as handle:
        text = handle.read()
    if text.startswith("\ufeff"):
        return text[1:], True
    return text, False


def format_issue(issue: ConfigIssue) -> str:
    """`line N: field: message` (the parts it has)."""
    parts = []
    if issue.line:
        parts.append(f"line {issue.line}")
    if issue.field:
        parts.append(issue.field)
    parts.append(issue.message)
    return ": ".join(parts)


class ConfigTextArea(TextArea):
    """A code editor whose gutter marks the lines with errors."""

    def __init__(self, text: str, **kwargs: Any) -> None:
        super().__init__(
            text, language="toml", theme="monokai", soft_wrap=False, tab_behavior="indent",
            show_line_numbers=True, **kwargs,
        )  # fmt: skip
        self.error_lines: set[int] = set()  # 0-based line indexes

    def mark_errors(self, lines: set[int]) -> None:
        """Mark these (0-based) lines in the gutter."""
        if lines != self.error_lines:
            self.error_lines = set(lines)
            self.refresh()

    def render_line(self, y: int) -> Strip:
        """The line as TextArea draws it, with an error marker in the gutter of a bad line."""
        strip = super().render_line(y)
        if not self.error_lines or not self.show_line_numbers:
            return strip
        line_index = self.scroll_offset.y + y  # no soft wrap: one screen row per line
        if line_index not in self.error_lines or line_index >= self.document.line_count:
            return strip
        width = self.gutter_width
        number = f"{line_index + self.line_number_start}"
        gutter = Strip([Segment(f"{number:>{width - 2}}▶ ", ERROR_GUTTER_STYLE)], width)
        return Strip.join([gutter, strip.crop(width, strip.cell_length)])


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question: y answers yes, n or Esc answers no."""

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
    }
    ConfirmScreen > #confirm-box {
        width: 72;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    ConfirmScreen #confirm-keys {
        margin-top: 1;
        color: $text-muted;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, title: str = "confirm") -> None:
        super().__init__()
        self.question = question
        self.box_title = title

    def compose(self) -> ComposeResult:
        """The question and the keys that answer it."""
        with Vertical(id="confirm-box"):
            yield Static(escape(self.question), id="confirm-question")
            yield Static("y: yes    n / Esc: no", id="confirm-keys")

    def on_mount(self) -> None:
        """Title the box."""
        self.query_one("#confirm-box").border_title = self.box_title

    def action_answer(self, answer: bool) -> None:
        """Close with the answer."""
        self.dismiss(answer)


class ConfigEditorScreen(Screen[None]):
    """Edit one TOML config; Ctrl+S validates then saves; Esc leaves."""

    DEFAULT_CSS = """
    ConfigEditorScreen {
        layout: vertical;
    }
    ConfigEditorScreen #editor-title {
        height: 1;
        background: $primary;
        color: $text;
        padding: 0 1;
    }
    ConfigEditorScreen #editor {
        height: 1fr;
    }
    ConfigEditorScreen #editor-errors {
        height: auto;
        max-height: 9;
        border: round $error;
        display: none;
    }
    ConfigEditorScreen #editor-errors.-shown {
        display: block;
    }
    ConfigEditorScreen #editor-errors-text {
        padding: 0 1;
    }
    ConfigEditorScreen #editor-errors.-fixed {
        border: round $success;
    }
    ConfigEditorScreen #editor-status {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "leave", "Leave", priority=True),
        Binding("ctrl+q", "leave", "Leave", priority=True, show=False),
    ]
    HINT = "Ctrl+S validate and save    Esc leave"
    REVALIDATE_DELAY = 0.4  # seconds after the last keystroke, while errors are shown

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = Path(path)
        self.load_error: str | None = None  # why the file could not be opened (then read-only)
        self._bom = False
        text = ""
        try:
            text, self._bom = read_raw(self.path)
            self._disk_text: str | None = text
        except FileNotFoundError:
            self._disk_text = None  # a new file: written on the first valid save
        except (OSError, UnicodeDecodeError) as exc:
            self._disk_text = None
            self.load_error = f"cannot be read: {exc}"
        self._saved_text = text
        self._kind = config_kind(text) or "controller"
        self._issues: list[ConfigIssue] = []
        self._overwrite_ok = False
        self._revalidate_timer: Timer | None = None

    # ---- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        """Title, editor, error panel, status line."""
        yield Static(id="editor-title")
        yield ConfigTextArea(self._saved_text, id="editor", read_only=self.load_error is not None)
        with VerticalScroll(id="editor-errors"):
            yield Static(id="editor-errors-text")
        yield Static(self.HINT, id="editor-status")

    def on_mount(self) -> None:
        """Focus the editor and show the title."""
        self.sub_title = str(self.path)
        self._refresh_title()
        self.editor.focus()
        if self.load_error:
            self.set_status(f"{self.path} {self.load_error}: not editable here")
        elif self._disk_text is None:
            self.set_status(f"{self.path} does not exist yet: it is written on the first save")

    @property
    def editor(self) -> ConfigTextArea:
        """The text area."""
        return self.query_one("#editor", ConfigTextArea)

    @property
    def modified(self) -> bool:
        """True when the text differs from what was last loaded or saved."""
        return self.editor.text != self._saved_text

    @property
    def issues(self) -> list[ConfigIssue]:
        """The problems found by the last validation."""
        return list(self._issues)

    def _refresh_title(self) -> None:
        marker = "  [modified]" if self.modified else ""
        self.title = f"{self.path}{marker}"
        self.query_one("#editor-title", Static).update(escape(f"config  {self.path}{marker}"))

    def set_status(self, text: str) -> None:
        """One line under the editor."""
        self.query_one("#editor-status", Static).update(escape(text))

    @on(TextArea.Changed, "#editor")
    def _text_changed(self) -> None:
        self._refresh_title()
        if self._issues:  # keep the marks honest while the person fixes them
            if self._revalidate_timer is not None:
                self._revalidate_timer.stop()
            self._revalidate_timer = self.set_timer(self.REVALIDATE_DELAY, self._revalidate)

    # ---- validation --------------------------------------------------------------------------
    def validate(self, text: str) -> BaseModel | list[ConfigIssue]:
        """The validated document, or the problems (never raises for a bad text)."""
        kind = config_kind(text) or self._kind
        try:
            return validate_config_text(text, self.path, kind)
        except ConfigError as exc:
            return exc.issues or [ConfigIssue("", str(exc))]
        except Exception as exc:  # a validator bug must not lose the person's edits
            return [ConfigIssue("", f"could not be validated: {exc!r}")]

    def _show_issues(self, issues: list[ConfigIssue], move_cursor: bool) -> None:
        # in file order (those without a line last): the first listed is the first to fix
        issues = sorted(issues, key=lambda i: i.line if i.line else 1 << 30)
        self._issues = issues
        panel = self.query_one("#editor-errors", VerticalScroll)
        body = self.query_one("#editor-errors-text", Static)
        editor = self.editor
        if not issues:
            editor.mark_errors(set())
            panel.remove_class("-shown", "-fixed")
            return
        editor.mark_errors({i.line - 1 for i in issues if i.line})
        count = len(issues)
        panel.border_title = f"{count} error{'s' if count > 1 else ''}: not saved"
        panel.remove_class("-fixed")
        panel.add_class("-shown")
        body.update(escape("\n".join(format_issue(i) for i in issues)))
        first = next((i.line for i in issues if i.line), None)
        if move_cursor and first is not None:
            row = min(first - 1, editor.document.line_count - 1)
            line = editor.document.get_line(row)
            column = len(line) - len(line.lstrip())
            editor.move_cursor((row, column), center=True)
            editor.focus()

    def _revalidate(self) -> None:
        self._revalidate_timer = None
        if not self._issues:
            return
        result = self.validate(self.editor.text)
        if isinstance(result, list):
            self._show_issues(result, move_cursor=False)
            return
        self._issues = []
        self.editor.mark_errors(set())
        panel = self.query_one("#editor-errors", VerticalScroll)
        panel.border_title = "fixed"
        panel.add_class("-fixed")
        self.query_one("#editor-errors-text", Static).update("no errors: Ctrl+S to save")

    # ---- actions -----------------------------------------------------------------------------
    def action_save(self) -> None:
        """Validate the whole text; write it atomically only when it is valid."""
        if self.load_error:
            self.set_status(f"{self.path} {self.load_error}: not saved")
            return
        text = self.editor.text
        result = self.validate(text)
        if isinstance(result, list):
            self._show_issues(result, move_cursor=True)
            count = len(result)
            self.set_status(f"{count} error{'s' if count > 1 else ''}: {self.path} not written")
            return
        self._show_issues([], move_cursor=False)
        try:
            on_disk: str | None = read_raw(self.path)[0]
        except (OSError, UnicodeDecodeError):
            on_disk = None
        if on_disk != self._disk_text and not self._overwrite_ok:
            self._overwrite_ok = True
            self.set_status(
                f"{self.path} changed on disk since it was opened: Ctrl+S again to overwrite it"
            )
            return
        try:
            atomic_write_text(self.path, ("\ufeff" if self._bom else "") + text)
        except OSError as exc:
            self.set_status(f"could not write {self.path}: {exc}")
            return
        self._overwrite_ok = False
        self._disk_text = self._saved_text = text
        self._kind = config_kind(text) or self._kind
        self._refresh_title()
        self.set_status(f"saved {self.path}")
        controller = getattr(result, "controller", None)
        if controller is not None:
            self._offer_live_update(controller)

    def action_leave(self) -> None:
        """Back to where the editor was opened from; unsaved changes are confirmed first."""
        if not self.modified:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)
            else:
                self.set_status("still editing (unsaved changes)")

        self.app.push_screen(
            ConfirmScreen(f"{self.path} has unsaved changes. Leave and discard them?", "unsaved"),
            answered,
        )

    # ---- live update -------------------------------------------------------------------------
    def running_sessions(self) -> list[Any]:
        """Running sessions started from this file."""
        engine = getattr(self.app, "engine", None)
        sessions = getattr(engine, "sessions", None) or {}
        target = self.path.resolve()
        out = []
        for session in list(sessions.values()):
            path = getattr(session, "path", None)
            if getattr(session, "state", "running") != "running":
                continue  # starting or stopping: nothing to update
            if path is not None and Path(path).resolve() == target:
                out.append(session)
        return out

    def _offer_live_update(self, new_config: Any) -> None:
        for session in self.running_sessions():
            old = session.config
            changes = updatable_changes(old, new_config)
            restart = restart_changes(old, new_config)
            cid = old.id
            restart_note = ", ".join(f"{name}" for name in restart)
            if not changes:
                if restart:
                    self.set_status(
                        f"saved {self.path}; {cid} is running: {restart_note} changed, "
                        f"restart it to use them (/stop {cid}, /start)"
                    )
                continue
            lines = [f"{cid} is running from this file. Apply these changes live?", ""]
            lines += [
                f"  {name}: {describe_value(a)} -> {describe_value(b)}"
                for name, (a, b) in changes.items()
            ]
            if restart:
                lines += ["", f"needs a restart (not applied): {restart_note}"]
            lines += ["", "Executors already running keep their settings."]

            def answered(
                apply: bool | None, session: Any = session, config: Any = new_config
            ) -> None:
                self._apply_answer(session, config, bool(apply))

            self.app.push_screen(ConfirmScreen("\n".join(lines), "apply live?"), answered)
            return  # one controller per file

    def _apply_answer(self, session: Any, new_config: Any, apply: bool) -> None:
        cid = session.config.id
        if not apply:
            self.set_status(f"saved {self.path}; {cid} keeps its settings until restarted")
            return
        try:
            lines = apply_live(session, new_config)
        except LiveUpdateError as exc:
            self.set_status(f"saved {self.path}; not applied: {exc}")
            return
        panel = self.query_one("#editor-errors", VerticalScroll)
        panel.border_title = f"applied to {cid}"
        panel.add_class("-shown", "-fixed")
        self.query_one("#editor-errors-text", Static).update(escape("\n".join(lines)))
        self.set_status(f"saved {self.path}; applied live to {cid}")
