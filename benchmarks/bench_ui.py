"""The dashboard under load: the real app, with its real terminal driver, in a pseudo-terminal.

A scripted engine view changes the order book 20 times a second and the executors 5 times a
second (P&L moves every time; every 2 s one executor closes and another starts) for --seconds
(default 60). The app runs in a child process attached to a 160x50 pseudo-terminal whose output
the parent reads and throws away, so the full cost of a frame (compose, diff, ANSI encoding,
the write) is paid.

Figures:
  cpu_pct         the app process's CPU time / wall time over the run, % of one core.
  frame delay     for every dashboard repaint tick that changed something on screen: the time
                  from when that tick was due (the previous tick's firing time + the repaint
                  interval, so a late tick counts its lateness) to the end of writing the
                  resulting screen update to the terminal. worst_frame_ms is the largest,
                  p99_frame_ms the 99th percentile.
  worst_stall_ms  the longest the event loop was blocked (lateness of a 10 ms sleep probe).

Prints `bench ui_dashboard seconds=... cpu_pct=... worst_frame_ms=... p99_frame_ms=...` last.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import pty
import random
import select
import struct
import sys
import tempfile
import termios
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from birdterm.engine.engine import BookView, EngineView, HoldView, SessionView
from birdterm.engine.executors.base import ExecutorReport

COLUMNS, ROWS = 160, 50
BOOK_HZ, EXECUTOR_HZ = 20, 5
D = Decimal


class FeedEngine:
    """The engine's read API over a market that a task moves at the benchmark's rates."""

    def __init__(self, seed: int = 7) -> None:
        self.name = "bench"
        self.sessions: dict[str, Any] = {}
        self.random = random.Random(seed)
        self.mid = 30_000.0
        self.counter = 0
        self.executors: list[ExecutorReport] = []
        self.history: list[tuple[float, float]] = []
        self.book_updates = 0
        self.executor_updates = 0
        self._task: asyncio.Task[None] | None = None
        self._book = self._new_book()
        for _ in range(6):
            self._open_executor()
        self._session = self._new_session()

    def view(self) -> EngineView:
        return EngineView(
            name="bench", running=True, clock_mode="realtime", tick_size=1.0, tick_count=0,
            last_tick=None, last_tick_lateness_ms=0.0, missed_ticks=0, errors=0,
            store_path="bench.sqlite", store_schema_version=1, trading_pairs=("BTC-USDT",),
            connector="binance_paper", sessions=(self._session,),
        )  # fmt: skip

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._feed())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _feed(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        step = 0
        while True:
            step += 1
            await asyncio.sleep(max(0.0, start + step / BOOK_HZ - loop.time()))
            self.mid += self.random.gauss(0, 1.5)
            self._book = self._new_book()
            self.book_updates += 1
            if step % (BOOK_HZ // EXECUTOR_HZ) == 0:
                self._move_executors(step)
                self.executor_updates += 1
            if step % BOOK_HZ == 0:
                self.history.append((time.time(), self.random.uniform(-1, 1)))
            self._session = self._new_session()

    def _new_book(self) -> BookView:
        tick = 0.01
        best_bid = round(self.mid - tick / 2, 2)
        bids = tuple(
            (round(best_bid - i * 0.5, 2), round(self.random.uniform(0.01, 2), 5))
            for i in range(20)
        )
        asks = tuple(
            (round(best_bid + tick + i * 0.5, 2), round(self.random.uniform(0.01, 2), 5))
            for i in range(20)
        )
        own = (("BUY", bids[3][0], 0.00033), ("SELL", asks[3][0], 0.00033))
        return BookView("BTC-USDT", bids, asks, own)

    def _open_executor(self) -> None:
        self.counter += 1
        self.executors.insert(
            0,
            ExecutorReport(
                id=f"bench-{self.counter}", kind="position", controller_id="bench",
                trading_pair="BTC-USDT", side="BUY", level_id=f"buy_{self.counter % 3}",
                status="RUNNING", close_type=None, created_ts=time.time(), close_ts=None,
                entry_price=D(f"{self.mid:.2f}"), exit_price=None, bought_base=D("0.00033"),
                sold_base=D(0), volume_quote=D("9.9"), fees_quote=D("0.0099"),
                realized_pnl_quote=D(0), unrealized_pnl_quote=D(0), held_base=D("0.00033"),
                net_pnl_quote=D(0), net_pnl_pct=D(0),
            ),
        )  # fmt: skip

    def _move_executors(self, step: int) -> None:
        moved = []
        for report in self.executors:
            if report.close_ts is None and report.entry_price is not None:
                pnl = (D(f"{self.mid:.2f}") - report.entry_price) * report.held_base
                report = replace(report, unrealized_pnl_quote=pnl, net_pnl_quote=pnl)
            moved.append(report)
        self.executors = moved
        if step % (BOOK_HZ * 2) == 0:  # every 2 s one closes and a new one starts
            oldest = next(i for i in reversed(range(len(moved))) if moved[i].close_ts is None)
            done = moved[oldest]
            self.executors[oldest] = replace(
                done, status="TERMINATED", close_type="TAKE_PROFIT", close_ts=time.time(),
                held_base=D(0), realized_pnl_quote=done.unrealized_pnl_quote,
                unrealized_pnl_quote=D(0),
            )  # fmt: skip
            self._open_executor()
            active = [r for r in self.executors if r.close_ts is None]
            closed = [r for r in self.executors if r.close_ts is not None][:30]
            self.executors = active + closed

    def _new_session(self) -> SessionView:
        active = [r for r in self.executors if r.close_ts is None]
        unrealized = sum((r.unrealized_pnl_quote for r in active), D(0))
        return SessionView(
            controller_id="bench", controller_type="pmm_inventory", trading_pair="BTC-USDT",
            connector="binance_paper", health="ws", active_executors=len(active),
            closed_executors=len(self.executors) - len(active), pnl_total=unrealized,
            pnl_executors_realized=D(0), pnl_executors_unrealized=unrealized,
            pnl_position_realized=D(0), pnl_position_unrealized=D(0), fees=D("0.05"),
            volume=D(100), open_orders=2,
            balances={"USDT": (D(1000), D(950)), "BTC": (D("0.002"), D("0.002"))},
            mid_price=D(f"{self.mid:.2f}"), book=self._book, executors=tuple(self.executors),
            hold=HoldView(D("0.001"), D("29950"), D(0), D("0.05")),
            pnl_history=tuple(self.history),
        )  # fmt: skip


def run_app(seconds: float, result_path: Path) -> None:
    """The child: the real app on the pseudo-terminal, instrumented; results to a JSON file."""
    from birdterm.app import create_app
    from birdterm.screens.dashboard import DashboardScreen

    engine = FeedEngine()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    app = create_app(data_dir, engine=engine)  # type: ignore[arg-type]
    interval = DashboardScreen.REFRESH_SECONDS
    frames: list[float] = []
    stalls: list[float] = []
    state: dict[str, Any] = {"last_tick": None, "due": None, "measuring": False}

    dashboard = app.dashboard
    original_refresh = dashboard.refresh_view

    def timed_refresh() -> None:
        now = time.perf_counter()
        last = state["last_tick"]
        lateness = 0.0 if last is None else max(0.0, now - last - interval)
        state["last_tick"] = now
        repaints = dashboard.repaints
        original_refresh()
        # a tick that changed nothing produces no frame; otherwise the next write closes it
        state["due"] = now - lateness if dashboard.repaints != repaints else None

    dashboard.refresh_view = timed_refresh  # type: ignore[method-assign]
    original_display = app._display

    def timed_display(screen: Any, renderable: Any) -> None:
        original_display(screen, renderable)
        due = state["due"]
        if due is not None and renderable is not None and state["measuring"]:
            frames.append(time.perf_counter() - due)
            state["due"] = None

    app._display = timed_display  # type: ignore[method-assign]

    async def probe() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            if state["measuring"]:
                stalls.append(time.perf_counter() - before - 0.01)

    marks: dict[str, float] = {}

    def begin() -> None:  # after a second of warm-up (first layout, first full paint)
        state["measuring"] = True
        marks["cpu"], marks["wall"] = time.process_time(), time.perf_counter()
        marks["books"], marks["execs"] = engine.book_updates, engine.executor_updates

    def finish() -> None:
        cpu = time.process_time() - marks["cpu"]
        wall = time.perf_counter() - marks["wall"]
        ordered = sorted(frames) or [0.0]
        result = {
            "seconds": round(wall, 1),
            "cpu_pct": round(100 * cpu / wall, 1),
            "worst_frame_ms": round(1000 * ordered[-1], 1),
            "p99_frame_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1),
            "frames": len(frames),
            "worst_stall_ms": round(1000 * max(stalls, default=0.0), 1),
            "book_updates_per_s": round((engine.book_updates - marks["books"]) / wall, 1),
            "executor_updates_per_s": round((engine.executor_updates - marks["execs"]) / wall, 1),
            "cells_updated": app.dashboard.query_one("#executors").cells_updated,  # type: ignore[attr-defined]
        }
        result_path.write_text(json.dumps(result))
        app.exit()

    def on_ready() -> None:
        app.run_worker(probe(), exclusive=False)
        app.set_timer(1.0, begin)
        app.set_timer(1.0 + seconds, finish)

    app.call_later(on_ready)
    app.run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    result_path = Path(tempfile.mkdtemp(prefix="bench-ui-")) / "result.json"
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin/stdout are the pseudo-terminal
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        os.environ["TERM"] = "xterm-256color"
        os.environ.pop("TEXTUAL", None)
        try:
            run_app(args.seconds, result_path)
        finally:
            os._exit(0)
    written = 0
    while True:  # the terminal: read everything the app writes, answer nothing
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            written += len(chunk)
        elif os.waitpid(pid, os.WNOHANG)[0]:
            break
    os.waitpid(pid, 0)
    if not result_path.exists():
        print("bench ui_dashboard failed: the app wrote no result", file=sys.stderr)
        return 1
    result = json.loads(result_path.read_text())
    print(
        f"ui_dashboard: {result['frames']} frames, {written / 1e6:.1f} MB to the terminal, "
        f"book {result['book_updates_per_s']}/s, executors {result['executor_updates_per_s']}/s, "
        f"{result['cells_updated']} table cells written, "
        f"worst event-loop stall {result['worst_stall_ms']} ms"
    )
    print(
        f"bench ui_dashboard seconds={result['seconds']:g} cpu_pct={result['cpu_pct']} "
        f"worst_frame_ms={result['worst_frame_ms']} p99_frame_ms={result['p99_frame_ms']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
