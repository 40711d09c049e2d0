"""A real simulated market (SimConnector + fill core) for hand-computed executor scenarios."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from birdterm.engine.connectors.sim import SimConnector
from birdterm.engine.connectors.wallet import Wallet
from birdterm.engine.controllers.base import Action, Controller, apply_actions
from birdterm.engine.executors.base import Executor
from birdterm.engine.executors.orchestrator import ExecutorOrchestrator
from birdterm.engine.types import TradeFeeSchema, TradingRule
from birdterm.sim.data import CANDLE_DTYPE, TRADE_DTYPE
from birdterm.sim.fill_model import FillModel

PAIR = "BTC-USDT"
D = Decimal


def candles(rows: Sequence[tuple[float, ...]], start_ms: int = 0, interval_ms: int = 1000):
    """Candles from (open, high, low, close[, volume]) rows, one interval apart."""
    out = np.zeros(len(rows), dtype=CANDLE_DTYPE)
    for i, row in enumerate(rows):
        o, h, low, c = row[:4]
        volume = row[4] if len(row) > 4 else 1_000.0
        out[i] = (start_ms + i * interval_ms, o, h, low, c, volume, volume * c, 10)
    return out


def trades(rows: Sequence[tuple[int, float, float, bool]]):
    """Trades from (ts_ms, price, qty, is_buyer_maker) rows."""
    out = np.zeros(len(rows), dtype=TRADE_DTYPE)
    for i, (ts, price, qty, maker) in enumerate(rows):
        out[i] = (ts, price, qty, maker, i + 1)
    return out


class SimHarness:
    """One pair, a wallet and an orchestrator over given candles (or trades).

    After construction the first row has been walked (the price is its close) and the clock is
    at that row's close, so executors can be started; `step()` walks one more row.
    """

    def __init__(
        self,
        data: np.ndarray,
        balances: dict[str, Decimal] | None = None,
        maker_fee: str = "0",
        taker_fee: str = "0",
        fill_model: FillModel | None = None,
        rule: TradingRule | None = None,
        kind: str = "candles",
        interval_ms: int = 1000,
        percent_token: str | None = None,
    ) -> None:
        self.fill_model = fill_model or FillModel(participation=1.0)
        self.rule = rule or TradingRule(PAIR, D("0.01"), D("0.0001"))
        self.kind = kind
        self.interval_ms = interval_ms if kind == "candles" else 0
        market = SimConnector.market(
            PAIR,
            data,
            kind,
            self.rule,
            self.fill_model,
            self.interval_ms,  # type: ignore[arg-type]
        )
        fees = TradeFeeSchema(D(maker_fee), D(taker_fee), percent_token)
        self.wallet = Wallet(balances or {"USDT": D(10_000), "BTC": D(1)})
        self.initial = self.wallet.snapshot()
        self.connector = SimConnector({PAIR: market}, self.wallet, fees, self.fill_model)
        self.orchestrator = ExecutorOrchestrator(self.connector)
        self.data = data
        self.row = 0
        self.step()

    def step(self, rows: int = 1) -> None:
        """Walk `rows` more rows and deliver everything that happened."""
        for _ in range(rows):
            if self.row >= len(self.data):
                raise IndexError("the scenario ran out of rows")
            self.row += 1
            self.connector.advance(PAIR, self.row)
            ts_ms = int(self.data["ts"][self.row - 1]) + self.interval_ms
            self.connector.set_time(ts_ms / 1000)
            self.connector.process_pending()

    def start(self, executor_class: type[Executor], config: object) -> Executor:
        """Create and start an executor now, and deliver its immediate answers."""
        executor = self.orchestrator.create("test", executor_class, config)
        self.connector.process_pending()
        return executor

    def decide(self, controller: Controller) -> list[Action]:
        """Let a controller decide now, carry out its actions, deliver the answers."""
        actions = list(controller.decide(self.connector.now()))
        apply_actions(self.orchestrator, controller.id, actions)
        self.connector.process_pending()
        return actions

    def run(self, executor: Executor) -> None:
        """Step until the executor terminates (or the rows run out)."""
        while executor.is_active and self.row < len(self.data):
            self.step()

    def equity(self, price: Decimal) -> Decimal:
        """Wallet value in USDT at `price`."""
        return self.wallet.balance("USDT") + self.wallet.balance("BTC") * price

    def assert_pnl_identity(self) -> None:
        """executors + position hold P&L == the wallet's change in value at the current price."""
        mid = self.connector.mid_price(PAIR)
        pnl = self.orchestrator.pnl(lambda _pair: mid)
        initial = self.initial.get("USDT", D(0)) + self.initial.get("BTC", D(0)) * mid
        assert abs(pnl.total - (self.equity(mid) - initial)) < D("1e-9"), (pnl, self.equity(mid))
