"""Drive the real `birdterm` binary in tmux: start, read the screen, type commands, quit."""

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE_CONFIG

pytestmark = pytest.mark.e2e

BINARY = Path(sys.executable).parent / "birdterm"


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True)


def start_session(session, command):
    """A detached 120x40 shell session that then runs `command`. COLUMNS/LINES are dropped:
    pytest's Textual plugins set them to 80x24, and the app would believe them over the pty."""
    shell = "env -u COLUMNS -u LINES sh"
    started = tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", shell)
    assert started.returncode == 0, started.stderr
    tmux("send-keys", "-t", session, command, "Enter")


def screen(session):
    return tmux("capture-pane", "-p", "-t", session).stdout


def wait_until(condition, what, timeout=30.0, session=None):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            shown = f"; the screen:\n{screen(session)}" if session else ""
            raise AssertionError(f"timed out waiting for {what}{shown}")
        time.sleep(0.1)  # polling interval of a condition, not a fixed wait


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_birdterm_runs_in_tmux_and_quits_cleanly(tmp_path):
    assert BINARY.exists(), f"console script missing: {BINARY}"
    session = f"birdterm-e2e-{uuid.uuid4().hex[:8]}"
    data_dir = tmp_path / "data"
    exit_file = tmp_path / "exit_code"
    command = (
        f"BIRDTERM_DATA_DIR={shlex.quote(str(data_dir))} {shlex.quote(str(BINARY))} "
        f"--config {shlex.quote(str(EXAMPLE_CONFIG))}; echo $? > {shlex.quote(str(exit_file))}"
    )
    start_session(session, command)
    try:
        wait_until(lambda: "paper-btc running" in screen(session), "the status bar")
        wait_until(lambda: "UTC" in screen(session), "the clock in the status bar")
        wait_until(lambda: "type /help for commands" in screen(session), "the command line")
        tmux("send-keys", "-t", session, "/status", "Enter")
        wait_until(lambda: "no controller running (/start CONFIG)" in screen(session),
                   "/status output", session=session)  # fmt: skip
        text = screen(session)
        assert "> /status" in text
        assert "connector binance_paper" in text
        tmux("send-keys", "-t", session, "/quit", "Enter")
        wait_until(exit_file.exists, "the app to exit")
        assert exit_file.read_text().strip() == "0"
        log = (data_dir / "logs" / "birdterm.log").read_text()
        assert "engine paper-btc started" in log
        assert re.search(r"engine paper-btc stopped after \d+ ticks", log)
        assert (data_dir / "paper-btc.sqlite").exists()
    finally:
        tmux("kill-session", "-t", session)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_backtest_and_config_editor_in_tmux(tmp_path):
    """The issue's end-to-end run: the app on its demo, a backtest with its chart and metrics,
    an invalid edit refused on Ctrl+S with the file unchanged, then /quit with status 0."""
    workdir = tmp_path / "work"
    shutil.copytree(Path(__file__).resolve().parents[2] / "configs", workdir / "configs")
    demo = workdir / "configs" / "demo.toml"
    original = demo.read_bytes()
    seed_line = next(
        i for i, line in enumerate(demo.read_text().splitlines(), 1) if line.startswith("seed =")
    )
    session = f"birdterm-e2e-{uuid.uuid4().hex[:8]}"
    data_dir = tmp_path / "data"
    exit_file = tmp_path / "exit_code"
    command = (
        f"cd {shlex.quote(str(workdir))} && BIRDTERM_DATA_DIR={shlex.quote(str(data_dir))} "
        f"{shlex.quote(str(BINARY))}; echo $? > {shlex.quote(str(exit_file))}"
    )
    start_session(session, command)
    try:
        wait_until(lambda: "demo_pmm" in screen(session), "the demo controller on screen")
        wait_until(lambda: "type /help for commands" in screen(session), "the command line")
        tmux("send-keys", "-t", session, "/backtest configs/demo.toml --days 1", "Enter")
        wait_until(lambda: "Sharpe" in screen(session), "the backtest's metrics", timeout=120)
        text = screen(session)
        assert "Max drawdown" in text
        assert re.search(r"Total P&L\s+-?\d", text), text
        # a chart: plotext draws its axes and series with box and braille characters
        assert re.search(r"[\u2800-\u28ff]", text), text
        tmux("send-keys", "-t", session, "Escape")
        wait_until(lambda: "Sharpe" not in screen(session), "back on the dashboard")

        tmux("send-keys", "-t", session, "/config demo", "Enter")
        wait_until(lambda: "demo.toml" in screen(session) and "[bot]" in screen(session),
                   "the editor on demo.toml")  # fmt: skip
        for _ in range(seed_line - 1):
            tmux("send-keys", "-t", session, "Down")
        # "seed = 7" -> "seed = -5": past "seed = ", delete the 7, type the new value
        tmux("send-keys", "-t", session, *["Right"] * len("seed = "), "Delete")

        def seed_line_reads(text):
            return re.search(rf"{seed_line}\s+{re.escape(text)}\s*▎", screen(session))

        wait_until(lambda: seed_line_reads("seed ="), "the 7 deleted", session=session)
        tmux("send-keys", "-t", session, "-l", "--", "-5")
        wait_until(lambda: seed_line_reads("seed = -5"), "-5 typed", session=session)
        tmux("send-keys", "-t", session, "C-s")
        wait_until(lambda: f"line {seed_line}" in screen(session), "the validation error",
                   session=session)  # fmt: skip
        text = screen(session)
        assert "emulator.seed" in text, text
        assert demo.read_bytes() == original  # an invalid file is never written
        tmux("send-keys", "-t", session, "Escape")
        wait_until(lambda: "unsaved" in screen(session).lower(), "the unsaved-changes question")
        tmux("send-keys", "-t", session, "y")
        wait_until(lambda: "demo_pmm" in screen(session), "back on the dashboard")
        tmux("send-keys", "-t", session, "/quit", "Enter")
        wait_until(exit_file.exists, "the app to exit")
        assert exit_file.read_text().strip() == "0"
        assert demo.read_bytes() == original
    finally:
        tmux("kill-session", "-t", session)
