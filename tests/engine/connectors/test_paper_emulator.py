"""PaperConnector on BinanceMarketData against the real emulator, over real sockets."""

from __future__ import annotations

import time
from decimal import Decimal as D

import aiohttp
import numpy as np

from birdterm.engine.connectors.binance.constants import BinanceUrls, make_throttler
from birdterm.engine.connectors.binance.market_data import BinanceMarketData
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.engine.connectors.paper import PaperConnector
from birdterm.engine.connectors.sim import SimConnector
from birdterm.engine.connectors.wallet import Wallet
from birdterm.engine.types import OrderType, TradeFeeSchema, TradeType
from birdterm.sim.fill_model import FillModel

from tests.emulator_fixtures import running_emulator, wait_until
from tests.engine.connectors.test_paper import Recorder

PAIR = "BTC-USDT"
FEES = TradeFeeSchema(D("0.001"), D("0.001"))
FILLS = FillModel(slippage_bps=2)


def wallet() -> Wallet:
    return Wallet({"USDT": D(100_000), "BTC": D(1)})


class ReplaySim(SimConnector):
    """The backtester's connector, told the price reference the paper run saw at each call."""

    mid: D | None = None

    def mid_price(self, trading_pair: str) -> D:
        return self.mid if self.mid is not None else super().mid_price(trading_pair)


class LiveBot(Recorder):
    """Quotes one buy at the best bid and one sell at the best ask, re-quoting stale ones after
    a few ticks; logs every call it makes so that a backtest can repeat them."""

    REQUOTE_TICKS = 4

    def __init__(self, paper: PaperConnector) -> None:
        super().__init__("live")
        self.paper = paper
        # ("tick", rows, ts) | ("place", mid, args) | ("cancel", order id)
        self.calls: list[tuple] = []
        self.open: dict[TradeType, tuple[str, int]] = {}
        self.ticks = 0

    def place(self, side: TradeType, order_type: OrderType, amount: D, price: D | None) -> str:
        mid = self.paper.mid_price(PAIR)
        self.calls.append(("place", mid, (side, order_type, amount, price)))
        return self.paper.place_order(self, PAIR, side, order_type, amount, price)

    def on_order_done(self, order_id, state, reason) -> None:
        super().on_order_done(order_id, state, reason)
        for side, (oid, _) in list(self.open.items()):
            if oid == order_id:
                del self.open[side]

    def tick(self) -> None:
        now = time.time()
        self.paper.tick(now)
        self.ticks += 1
        self.calls.append(("tick", self.paper.buffers[PAIR].size, now))
        book = self.paper.market_data.order_book(PAIR)
        quotes = {TradeType.BUY: book.best_bid, TradeType.SELL: book.best_ask}
        for side, price in quotes.items():
            if side in self.open and self.ticks - self.open[side][1] >= self.REQUOTE_TICKS:
                oid = self.open.pop(side)[0]
                self.calls.append(("cancel", oid))
                self.paper.cancel_order(PAIR, oid)
            if side not in self.open and price is not None:
                oid = self.place(side, OrderType.LIMIT, D("0.01"), D(repr(price)))
                self.open[side] = (oid, self.ticks)
        self.paper.process_pending()

    def maker_fills(self, side: TradeType) -> int:
        return sum(1 for e in self.events if e[0] == "fill" and e[1].is_maker and e[1].side is side)


def replay(paper: PaperConnector, bot: LiveBot) -> ReplaySim:
    """Run the backtester's connector over the trades the paper run saw, with the same calls."""
    trades = np.array(paper.buffers[PAIR].view())
    market = SimConnector.market(PAIR, trades, "trades", paper.trading_rule(PAIR), FILLS)
    sim = ReplaySim({PAIR: market}, wallet(), FEES, FILLS)
    listener = Recorder("live")
    for call in bot.calls:
        if call[0] == "tick":
            sim.advance(PAIR, call[1])
            sim.set_time(call[2])
            sim.process_pending()
        elif call[0] == "cancel":
            sim.cancel_order(PAIR, call[1])
        else:
            sim.mid = call[1]
            sim.place_order(listener, PAIR, *call[2])
            sim.mid = None
    sim.process_pending()
    return sim


async def test_paper_trading_on_live_emulator_data_fills_like_the_backtester():
    async with running_emulator(seed=21) as emu, aiohttp.ClientSession() as session:
        urls = BinanceUrls(emu.rest_url, emu.stream_url, emu.ws_api_url)
        market_data = BinanceMarketData(session, urls, [PAIR], make_throttler(), TimeSync())
        paper = PaperConnector(market_data, wallet(), FEES, FILLS)  # rules come at start
        await paper.start_network()
        try:
            await wait_until(lambda: paper.health == "ws", timeout=10)
            assert paper.trading_rule(PAIR) == market_data.rules[PAIR]
            assert paper.trading_rule(PAIR).tick_size == D("0.01")
            await wait_until(lambda: paper.feed(PAIR, market_data.drain_trades(PAIR)) >= 0
                             and paper.trades_seen[PAIR] > 0, timeout=10)  # fmt: skip
            bot = LiveBot(paper)
            bot.tick()
            # a market order fills at once at the live book's mid plus the fill model's slippage
            book = market_data.order_book(PAIR)
            mid = (D(repr(book.best_bid)) + D(repr(book.best_ask))) / 2
            taker = bot.place(TradeType.BUY, OrderType.MARKET, D("0.02"), None)
            paper.process_pending()
            [fill] = [e[1] for e in bot.events if e[0] == "fill" and e[1].order_id == taker]
            expected = paper.trading_rule(PAIR).quantize_price(mid * D("1.0002"), TradeType.SELL)
            assert (fill.price, fill.amount, fill.is_maker) == (expected, D("0.02"), False)
            assert fill.fees == {"BTC": D("0.00002")}

            def ticked_fills() -> bool:
                bot.tick()
                return min(bot.maker_fills(TradeType.BUY), bot.maker_fills(TradeType.SELL)) >= 2

            await wait_until(ticked_fills, timeout=30, interval=0.05)
            assert paper.health == "ws"
        finally:
            await paper.stop_network()
    # the same trades walked by the backtester's connector with the same calls: same fills
    sim = replay(paper, bot)
    assert paper.fills == sim.fills
    assert paper.wallet.total == sim.wallet.total and paper.wallet.locked == sim.wallet.locked
    assert sum(1 for c in bot.calls if c[0] == "cancel") >= 1
    makers = [f for _, f in paper.fills if f.is_maker]
    assert len(makers) >= 4 and {f.side for f in makers} == {TradeType.BUY, TradeType.SELL}
    placed = {c[2][3] for c in bot.calls if c[0] == "place"}
    assert all(f.price in placed for f in makers)  # a maker fills at its own price
