"""TradingSession: one controller file running live or on paper inside the engine.

Start order: the embedded emulator (if the file asks for it), the connector's network side (rules,
balances, streams, book sync), then the controller. The connector ticks before the controller on
the engine's clock. Stop order is the reverse, and `/stop` waits until every executor has seen
its orders confirmed done before the connector goes away.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from birdterm.engine.config import ConfigError
from birdterm.engine.connectors.binance.constants import make_throttler
from birdterm.engine.connectors.binance.rest_client import BinanceRestClient
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.engine.controllers.base import ControllerContext
from birdterm.engine.controllers.registry import controller_class
from birdterm.engine.engine import BookView, Engine, HoldView, SessionView
from birdterm.engine.executors.base import ExecutorReport
from birdterm.engine.executors.orchestrator import ExecutorOrchestrator
from birdterm.engine.types import InFlightOrder
from birdterm.runner.connectors import LiveGateway, build_connector
from birdterm.runner.driver import ControllerDriver
from birdterm.runner.embedded import DEMO_API_KEY, DEMO_API_SECRET, EmbeddedEmulator
from birdterm.runner.live_feed import CandleFeedUpdater
from birdterm.runner.recorder import SessionRecorder
from birdterm.sim.backtest_config import load_controller_document

log = logging.getLogger("birdterm.runner")

BOOK_LEVELS_SHOWN = 20
CLOSED_SHOWN = 30  # recently closed executors the dashboard lists

CONNECTORS = ("binance", "binance_paper")
_REPO_CONFIGS = Path(__file__).resolve().parents[3] / "configs"


class SessionError(Exception):
    """A controller file that cannot be started; the message says why and what is valid."""


def resolve_config(name_or_path: str) -> Path:
    """A config path as given, or a name looked up as configs/NAME.toml (here, then the
    checkout birdterm runs from)."""
    given = Path(name_or_path).expanduser()
    candidates = [given]
    if given.suffix != ".toml" and len(given.parts) == 1:
        candidates += [Path("configs") / f"{given}.toml", _REPO_CONFIGS / f"{given}.toml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    names = sorted(p.stem for p in _REPO_CONFIGS.glob("*.toml")) if _REPO_CONFIGS.is_dir() else []
    known = f"; configs: {', '.join(names)}" if names else ""
    raise SessionError(f"no config file {name_or_path!r} (give a path or a name{known})")


def _secret(env_name: str, what: str) -> str:
    value = os.environ.get(env_name, "")
    if not value:
        raise SessionError(
            f'{what} is not set: export {env_name}=... (or use endpoint = "embedded" for '
            "the demo exchange)"
        )
    return value


class TradingSession:
    """A controller, its executors, its connector and (for the demo) its exchange emulator."""

    def __init__(self, document: Any, path: Path, engine: Engine) -> None:
        self.document = document
        self.path = path
        self.engine = engine
        self.config = document.controller
        self.emulator: EmbeddedEmulator | None = None
        self.gateway: LiveGateway | None = None
        self.orchestrator: ExecutorOrchestrator | None = None
        self.driver: ControllerDriver | None = None
        self.recorder: SessionRecorder | None = None
        self.http: aiohttp.ClientSession | None = None
        self.candles: CandleFeedUpdater | None = None
        self._pnl_samples: deque[tuple[float, float]] = deque(maxlen=3600)
        self.state = "starting"

    @property
    def controller_id(self) -> str:
        """The controller's id."""
        return str(self.config.id)

    @property
    def store_scope(self) -> str:
        """The connector name its orders, executors and holds carry in the store: one per
        controller, so a restart adopts only its own orders (never another session's)."""
        return f"{self.config.connector}/{self.config.id}"

    async def start(self) -> None:
        """Connect and start deciding; on failure everything started so far is stopped."""
        config = self.config
        if config.connector not in CONNECTORS:
            raise SessionError(
                f"{self.path}: controller.connector {config.connector!r} cannot run live; "
                f"valid: {', '.join(CONNECTORS)}"
            )
        try:
            await self._start()
        except BaseException:
            await self._teardown()
            raise
        self.state = "running"

    async def _start(self) -> None:
        config, live = self.config, self.document.live
        if live.endpoint == "embedded":
            self.emulator = EmbeddedEmulator(self.document.emulator, [config.trading_pair])
            await self.emulator.start()
            urls = self.emulator.urls
            key, secret = DEMO_API_KEY, DEMO_API_SECRET
        else:
            urls = live.urls()
            if config.connector == "binance":
                key = _secret(live.api_key_env, "the Binance API key")
                secret = _secret(live.api_secret_env, "the Binance API secret")
            else:
                key = secret = ""
        self.http = aiohttp.ClientSession()
        self.gateway = build_connector(
            config.connector, urls, key, secret, [config.trading_pair], self.document,
            self.engine.store, self.http, self.store_scope,
        )  # fmt: skip
        await self.gateway.start_network()
        # ids unique across restarts that share one store: a base-36 start time
        tag = _base36(int(time.time())) + "-"
        self.orchestrator = ExecutorOrchestrator(self.gateway, self.store_scope, id_prefix=tag)
        self.recorder = SessionRecorder(self.engine.store, self.orchestrator, self.store_scope)
        cls = controller_class(config.type)
        feeds = {}
        if cls.reads_candles:
            rest = BinanceRestClient(self.http, urls[0], None, make_throttler(), TimeSync())
            self.candles = CandleFeedUpdater(rest, config.trading_pair)
            loaded = await self.candles.load_history()
            log.info("%s: %d closed 1m candles loaded", config.id, loaded)
            feeds[config.trading_pair] = self.candles.feed
        controller = cls(config, ControllerContext(self.gateway, self.orchestrator, feeds))
        self.driver = ControllerDriver(controller, self.orchestrator, after_tick=self.sample_pnl)
        self.engine.clock.add_iterator(self.gateway)
        if self.candles is not None:
            self.engine.clock.add_iterator(self.candles)
        self.engine.clock.add_iterator(self.driver)

    async def stop(self) -> str:
        """Stop deciding, stop every executor keeping its inventory (open orders cancelled),
        wait until the exchange confirmed them, then disconnect."""
        self.state = "stopping"
        orchestrator, driver, gateway = self.orchestrator, self.driver, self.gateway
        left: list[str] = []
        if driver is not None and orchestrator is not None and gateway is not None:
            driver.halt()
            for executor_id in list(orchestrator.active):
                orchestrator.stop(executor_id, keep_position=True)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.document.live.stop_timeout_s
            asked: set[str] = set()
            while orchestrator.active or gateway.open_orders():
                # executors cancel their own orders; anything else the connector still tracks
                # as open (adopted after a restart, say) is cancelled here
                if not orchestrator.active:
                    for order in gateway.open_orders():
                        if order.client_order_id not in asked:
                            asked.add(order.client_order_id)
                            gateway.cancel_order(order.trading_pair, order.client_order_id)
                if loop.time() > deadline:
                    left = [o.client_order_id for o in gateway.open_orders()]
                    break
                await asyncio.sleep(0.05)  # the clock's ticks deliver the confirmations
        closed = len(orchestrator.closed) if orchestrator else 0
        await self._teardown()
        self.state = "stopped"
        if left:
            log.error("%s: orders still open after stop: %s", self.controller_id, left)
            return (
                f"stopped {self.controller_id} with {len(left)} order(s) NOT confirmed cancelled: "
                f"{', '.join(left)} — check them on the exchange"
            )
        return f"stopped {self.controller_id}: {closed} executors closed, no open orders"

    async def _teardown(self) -> None:
        # every step runs even when an earlier one fails: nothing may be left connected
        clock = self.engine.clock
        for child in (self.driver, self.candles, self.gateway):
            if child is not None and child in clock.children:
                clock.remove_iterator(child)
        steps = (
            self.gateway.stop_network if self.gateway is not None else None,
            self.http.close if self.http is not None else None,
            self.emulator.stop if self.emulator is not None else None,
        )
        for step in steps:
            if step is None:
                continue
            try:
                await step()
            except Exception:
                log.exception("%s: %s failed while stopping", self.controller_id, step)

    def view(self) -> SessionView:
        """A copied snapshot for the UI."""
        config = self.config
        gateway, orchestrator = self.gateway, self.orchestrator
        zero = Decimal(0)
        mid: Decimal | None = None
        health = self.state
        balances: dict[str, tuple[Decimal, Decimal]] = {}
        open_orders: list[InFlightOrder] = []
        book: BookView | None = None
        if gateway is not None and self.state == "running":
            health = gateway.health
            balances = gateway.balances()
            open_orders = gateway.open_orders()
            try:
                mid = gateway.mid_price(config.trading_pair)
            except (KeyError, ValueError, ArithmeticError, RuntimeError):
                mid = None  # no price yet (book resyncing, no trade seen)
            book = self._book_view(gateway, open_orders)
        pnl = None
        reports: tuple[ExecutorReport, ...] = ()
        hold: HoldView | None = None
        if orchestrator is not None and mid is not None:
            price = mid
            pnl = orchestrator.pnl(lambda _pair: price)
            active = [e.report(price) for e in orchestrator.active.values()]
            closed = [e.report(price) for e in orchestrator.closed[-CLOSED_SHOWN:]]
            reports = (*active, *reversed(closed))
            position = orchestrator.holds.get((config.id, config.trading_pair))
            if position is not None:
                hold = HoldView(
                    base_amount=position.base_amount,
                    break_even_price=position.break_even_price(),
                    realized_pnl=position.realized_pnl_quote,
                    unrealized_pnl=position.unrealized_pnl_quote(price)
                    if position.base_amount
                    else Decimal(0),
                )
        return SessionView(
            controller_id=config.id,
            controller_type=config.type,
            trading_pair=config.trading_pair,
            connector=config.connector,
            health=health,
            active_executors=len(orchestrator.active) if orchestrator else 0,
            closed_executors=len(orchestrator.closed) if orchestrator else 0,
            pnl_total=pnl.total if pnl else zero,
            pnl_executors_realized=pnl.executors_realized if pnl else zero,
            pnl_executors_unrealized=pnl.executors_unrealized if pnl else zero,
            pnl_position_realized=pnl.position_realized if pnl else zero,
            pnl_position_unrealized=pnl.position_unrealized if pnl else zero,
            fees=pnl.fees if pnl else zero,
            volume=pnl.volume if pnl else zero,
            open_orders=len(open_orders),
            balances=balances,
            mid_price=mid,
            book=book,
            executors=reports,
            hold=hold,
            pnl_history=tuple(self._pnl_samples),
        )

    def _book_view(self, gateway: LiveGateway, open_orders: list[InFlightOrder]) -> BookView | None:
        pair = self.config.trading_pair
        try:
            top = gateway.order_book(pair).top(BOOK_LEVELS_SHOWN)
        except (KeyError, ValueError, RuntimeError):
            return None
        own = tuple(
            (o.trade_type.value, float(o.price), float(o.remaining_amount))
            for o in open_orders
            if o.price is not None and o.trading_pair == pair
        )
        return BookView(pair, tuple(top.bids), tuple(top.asks), own)

    def sample_pnl(self, timestamp: float) -> None:
        """Keep one total-P&L sample a second (the dashboard's chart), an hour deep; called
        by the controller's driver on each tick, so the history exists with or without a UI."""
        samples, orchestrator, gateway = self._pnl_samples, self.orchestrator, self.gateway
        if (samples and timestamp - samples[-1][0] < 1.0) or orchestrator is None or not gateway:
            return
        try:
            mid = gateway.mid_price(self.config.trading_pair)
        except (KeyError, ValueError, ArithmeticError, RuntimeError):
            return  # no price yet
        samples.append((timestamp, float(orchestrator.pnl(lambda _pair: mid).total)))


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while value:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
    return out or "0"


async def start_session(engine: Engine, path: Path) -> str:
    """Load, validate and start a controller file in `engine`; a one-line summary."""
    try:
        document = load_controller_document(path)
    except ConfigError as exc:
        raise SessionError(str(exc)) from exc
    if document.controller.id in engine.sessions:
        raise SessionError(f"controller {document.controller.id!r} is already running")
    session = TradingSession(document, path, engine)
    engine.add_session(session)  # reserved before the first await: no double start
    try:
        await session.start()
    except SessionError:
        engine.sessions.pop(session.controller_id, None)
        raise
    except Exception as exc:
        engine.sessions.pop(session.controller_id, None)
        log.exception("starting %s failed", session.controller_id)
        raise SessionError(f"could not start {session.controller_id}: {exc}") from exc
    config = document.controller
    where = document.live.endpoint
    return (
        f"started {config.id} ({config.type}) on {config.trading_pair} via {config.connector} "
        f"[{where}]"
    )
