"""The Textual app: mounts the main screen, owns the Engine, runs slash-commands."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input

from birdterm.commands import (
    CommandContext,
    CommandError,
    CommandRegistry,
    ScreenRequest,
    default_registry,
)
from birdterm.engine.engine import Engine
from birdterm.logs import LOG_FORMAT, SecretRedactor
from birdterm.screens.dashboard import DashboardScreen


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


def _freeze_startup_heap() -> None:
    """Move the objects alive after the first paint (widgets, styles, modules: ~70,000 of them)
    to the collector's permanent generation, once.

    A full collection walks every tracked object that is not frozen, so without this each one
    (every few seconds under load) costs a walk over the whole startup heap. The collection
    first makes sure only live objects are frozen: nothing that is garbage now is kept. This
    is not a cure for growth: a heap that grows after startup still makes full passes slower
    (the executors table once did, through a DataTable's render caches; see executors_table).
    """
    gc.collect()
    gc.freeze()


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
        configs_dir: Path = Path("configs"),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.registry = registry
        self.autostart = autostart
        self.startup_command = startup_command  # e.g. "/start demo" when birdterm opens
        self.configs_dir = configs_dir
        self.wall_clock = wall_clock  # the status bar's clock (tests fix it for snapshots)
        self._log_handler = PaneLogHandler(self, redactor)
        self.dashboard = DashboardScreen(
            engine.view, endpoint_of=self._endpoint_of, clock=self._now
        )

    def _now(self) -> float:
        return self.wall_clock()

    def _endpoint_of(self, controller_id: str) -> str | None:
        """The [live] endpoint a running controller file names ("embedded" = the demo)."""
        session = self.engine.sessions.get(controller_id)
        live = getattr(getattr(session, "document", None), "live", None)
        endpoint = getattr(live, "endpoint", None)
        return endpoint if isinstance(endpoint, str) else None

    def on_mount(self) -> None:
        """Show the dashboard, start the engine, run the startup command."""
        self.sub_title = self.engine.name
        self.push_screen(self.dashboard)
        logging.getLogger("birdterm").addHandler(self._log_handler)
        # What startup built lives as long as the app: keep it out of the collector's full passes.
        self.call_after_refresh(_freeze_startup_heap)
        if self.autostart:
            self.engine.start()
            if self.startup_command:
                self.call_after_refresh(self.execute, self.startup_command)

    async def on_unmount(self) -> None:
        """Stop the engine before the loop goes away."""
        logging.getLogger("birdterm").removeHandler(self._log_handler)
        await self.engine.stop()

    def action_focus_command(self) -> None:
        """Put the cursor in the command line, starting with '/' (screens without one, such as
        the config editor, keep the key for themselves)."""
        matches = self.screen.query("#command-line")
        if not matches:
            return
        command_line = matches.first(Input)
        command_line.focus()
        if not command_line.value:
            command_line.value = "/"
            command_line.cursor_position = 1

    def write_log(self, text: str) -> None:
        """Show text in the dashboard's log, and on the current screen if it has a log too."""
        self.dashboard.write_log(text)
        screen = self.screen
        if screen is not self.dashboard:
            write = getattr(screen, "write_log", None)
            if callable(write):
                write(text)

    def on_log_line(self, message: LogLine) -> None:
        """Append a log record to the log pane."""
        self.dashboard.write_log(message.text)

    @on(Input.Submitted, "#command-line")
    def run_command(self, event: Input.Submitted) -> None:
        """Run the typed slash-command and show its output in the log pane."""
        line = event.value.strip()
        event.input.clear()
        if line:
            self.execute(line)

    def execute(self, line: str) -> None:
        """Run one slash-command line; output and errors go to the log pane."""
        self.write_log(f"> {line}")
        context = CommandContext(self.engine, configs_dir=self.configs_dir)
        try:
            result = self.registry.run(line, context)
        except CommandError as exc:
            self.write_log(f"error: {exc}")
            return
        except Exception as exc:  # a bug in one command must not take the app (and engine) down
            logging.getLogger("birdterm.commands").exception("command %r failed", line)
            self.write_log(f"error: {line} failed unexpectedly: {exc!r} (details in the log)")
            return
        if result.text:
            self.write_log(result.text)
        if result.background is not None:
            self.run_worker(self._finish(line, result.background), group="commands")
        if result.screen is not None:
            self.open_screen(result.screen)
        if result.quit:
            self.exit()

    def open_screen(self, request: ScreenRequest) -> None:
        """Show what a command asked for: a backtest, the config editor, another pair's book."""
        try:
            if request.name == "book":
                self._show_book(str(request.args["trading_pair"]))
                return
            screen: Screen[Any]
            if request.name == "backtest":
                from birdterm.screens.backtest import BacktestScreen  # loaded when first asked for

                screen = BacktestScreen(**request.args)
            elif request.name == "config_editor":
                from birdterm.screens.config_editor import ConfigEditorScreen

                screen = ConfigEditorScreen(**request.args)
            else:
                self.write_log(f"error: no screen called {request.name!r}")
                return
        except Exception as exc:
            logging.getLogger("birdterm.app").exception("opening screen %s failed", request.name)
            self.write_log(f"error: cannot open the {request.name} screen: {exc}")
            return
        self.push_screen(screen)

    def _show_book(self, trading_pair: str) -> None:
        while self.screen is not self.dashboard and len(self.screen_stack) > 2:
            self.pop_screen()  # back to the dashboard, which sits above the default screen
        if self.dashboard.select_pair(trading_pair):
            self.write_log(f"book: {trading_pair}")
        else:
            self.write_log(
                f"book: no running controller trades {trading_pair}; "
                "it shows once one does (/start a config on that pair)"
            )

    async def _finish(self, line: str, work: Coroutine[Any, Any, str]) -> None:
        """Await a command's background work; show its outcome in the log pane."""
        try:
            text = await work
        except CommandError as exc:
            text = f"error: {exc}"
        except Exception as exc:
            logging.getLogger("birdterm.commands").exception("command %r failed", line)
            text = f"error: {line} failed: {exc} (details in the log)"
        self.write_log(text)


def create_app(
    data_dir: Path,
    engine: Engine | None = None,
    redactor: SecretRedactor | None = None,
    autostart: bool = True,
    startup_command: str | None = None,
    configs_dir: Path = Path("configs"),
) -> BirdtermApp:
    """Build the app; the CLI and the tests both come through here."""
    return BirdtermApp(
        engine=engine or Engine(data_dir),
        redactor=redactor or SecretRedactor(),
        registry=default_registry(),
        autostart=autostart,
        startup_command=startup_command,
        configs_dir=configs_dir,
    )
