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


def screen(session):
    return tmux("capture-pane", "-p", "-t", session).stdout


def wait_until(condition, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
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
    started = tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    assert started.returncode == 0, started.stderr
    try:
        wait_until(lambda: "paper-btc  running" in screen(session), "the status pane")

        def ticks():
            match = re.search(r"ticks\s+(\d+)", screen(session))
            return int(match.group(1)) if match else 0

        wait_until(lambda: ticks() >= 2, "two clock ticks on screen")
        tmux("send-keys", "-t", session, "/status", "Enter")
        wait_until(lambda: "paper-btc: clock realtime" in screen(session), "/status output")
        text = screen(session)
        assert "> /status" in text
        assert "binance_paper" in text
        tmux("send-keys", "-t", session, "/quit", "Enter")
        wait_until(exit_file.exists, "the app to exit")
        assert exit_file.read_text().strip() == "0"
        log = (data_dir / "logs" / "birdterm.log").read_text()
        assert "engine paper-btc started" in log
        assert re.search(r"engine paper-btc stopped after \d+ ticks", log)
        assert (data_dir / "paper-btc.sqlite").exists()
    finally:
        tmux("kill-session", "-t", session)
