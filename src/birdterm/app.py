"""The Textual app: mounts the main screen, owns the Engine, runs slash-commands."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from birdterm.commands import CommandContext, CommandError, CommandRegistry, default_registry
from birdterm.engine.engine import Engine
from birdterm.logs import LOG_FORMAT, SecretRedactor
from birdterm.screens.main import MainScreen


class LogLine(Message):
    """A formatted log record for the log pane (posted from any thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class PaneLogHandler(logging.Handler):
    """Forwards `birdterm` log records to the app's log pane."""

    def __init__(self, app: App[None], redactor: SecretRedactor) -> None:
        super().__init__(level=logging.INFO)
        self._app = app
        self.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))
        self.addFilter(redactor)

    def emit(self, record: logging.LogRecord) -> None:
        """Post the record; never raise into the code that logged it."""
        try:
            self._app.post_message(LogLine(self.format(record)))
        except Exception:
            self.handleError(record)


class BirdtermApp(App[None]):
    """birdterm's terminal UI."""

    CSS_PATH = "screens/birdterm.tcss"
    TITLE = "birdterm"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="quit"),
        Binding("slash", "focus_command", "Command", key_display="/", id="focus-command"),
    ]

    def __init__(
        self,
        engine: Engine,
        redactor: SecretRedactor,
        registry: CommandRegistry,
        autostart: bool = True,
        startup_command: str | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.registry = registry
        self.autostart = autostart
        self.startup_command = startup_command  # e.g. "/start demo" when birdterm opens
        self._log_handler = PaneLogHandler(self, redactor)

    def on_mount(self) -> None:
        """Show the main screen, start the engine, repaint on a timer."""
        self.sub_title = self.engine.name
        self.push_screen(MainScreen(self.engine.view))
        logging.getLogger("birdterm").addHandler(self._log_handler)
        if self.autostart:
            self.engine.start()
            if self.startup_command:
                self.call_after_refresh(self.execute, self.startup_command)

    async def on_unmount(self) -> None:
        """Stop the engine before the loop goes away."""
        logging.getLogger("birdterm").removeHandler(self._log_handler)
        await self.engine.stop()

    def action_focus_command(self) -> None:
        """Put the cursor in the command line, starting with '/'."""
        command_line = self.screen.query_one("#command-line", Input)
        command_line.focus()
        if not command_line.value:
            command_line.value = "/"
            command_line.cursor_position = 1

    def on_log_line(self, message: LogLine) -> None:
        """Append a log record to the log pane."""
        if isinstance(self.screen, MainScreen):
            self.screen.write_log(message.text)

    @on(Input.Submitted, "#command-line")
    def run_command(self, event: Input.Submitted) -> None:
        """Run the typed slash-command and show its output in the log pane."""
        line = event.value.strip()
        event.input.clear()
        if line:
            self.execute(line)

    def execute(self, line: str) -> None:
        """Run one slash-command line; output and errors go to the log pane."""
        screen = self.screen
        assert isinstance(screen, MainScreen)
        screen.write_log(f"> {line}")
        try:
            result = self.registry.run(line, CommandContext(self.engine))
        except CommandError as exc:
            screen.write_log(f"error: {exc}")
            return
        except Exception as exc:  # a bug in one command must not take the app (and engine) down
            logging.getLogger("birdterm.commands").exception("command %r failed", line)
            screen.write_log(f"error: {line} failed unexpectedly: {exc!r} (details in the log)")
            return
        screen.write_log(result.text)
        if result.background is not None:
            self.run_worker(self._finish(line, result.background), group="commands")
        if result.quit:
            self.exit()

    async def _finish(self, line: str, work: Coroutine[Any, Any, str]) -> None:
        """Await a command's background work; show its outcome in the log pane."""
        try:
            text = await work
        except CommandError as exc:
            text = f"error: {exc}"
        except Exception as exc:
            logging.getLogger("birdterm.commands").exception("command %r failed", line)
            text = f"error: {line} failed: {exc} (details in the log)"
        if isinstance(self.screen, MainScreen):
            self.screen.write_log(text)


def create_app(
    data_dir: Path,
    engine: Engine | None = None,
    redactor: SecretRedactor | None = None,
    autostart: bool = True,
    startup_command: str | None = None,
) -> BirdtermApp:
    """Build the app; the CLI and the tests both come through here."""
    return BirdtermApp(
        engine=engine or Engine(data_dir),
        redactor=redactor or SecretRedactor(),
        registry=default_registry(),
        autostart=autostart,
        startup_command=startup_command,
    )
