"""PaperConnector: the backtester's fills on trades that arrive tick by tick."""

from __future__ import annotations

import bisect
from collections import Counter
from decimal import Decimal as D

import numpy as np
import pytest

from birdterm.engine.clock import Clock, ClockMode
from birdterm.engine.connectors.base import Fill, WatchKind
from birdterm.engine.connectors.paper import PaperConnector
from birdterm.engine.connectors.sim import SimConnector
from birdterm.engine.connectors.wallet import Wallet
from birdterm.engine.order_book import OrderBook
from birdterm.engine.types import OrderState, OrderType, TradeFeeSchema, TradeType, TradingRule
from birdterm.sim.data import TRADE_DTYPE
from birdterm.sim.fill_model import FillModel
from birdterm.sim.synthetic import synthetic_trades

PAIR = "BTC-USDT"
START_MS = 1_767_225_600_000  # 2026-01-01
RULE = TradingRule(PAIR, D("0.01"), D("0.00001"), min_notional=D("5"))
FEES = TradeFeeSchema(D("0.001"), D("0.002"))


class FeedSource:
    """A test double of the public market data: trades pushed by the test, an optional book."""

    def __init__(self, rules: dict[str, TradingRule]) -> None:
        self.rules = rules
        self.health = "ws"
        self.books = {pair: OrderBook(pair) for pair in rules}
        self._queued: dict[str, list[np.ndarray]] = {pair: [] for pair in rules}
        self._last: dict[str, float | None] = dict.fromkeys(rules)

    def push(self, pair: str, trades: np.ndarray) -> None:
        if trades.size:
            self._queued[pair].append(trades)
            self._last[pair] = float(trades["price"][-1])

    def drain_trades(self, pair: str) -> np.ndarray:
        queued, self._queued[pair] = self._queued[pair], []
        return np.concatenate(queued) if queued else np.zeros(0, dtype=TRADE_DTYPE)

    def order_book(self, pair: str) -> OrderBook:
        return self.books[pair]

    def last_trade_price(self, pair: str) -> float | None:
        return self._last[pair]


class Recorder:
    """A GatewayListener that logs everything it hears."""

    def __init__(self, name: str = "rec") -> None:
        self.id = name
        self.events: list[tuple] = []

    def on_fill(self, fill: Fill) -> None:
        self.events.append(("fill", fill))

    def on_order_done(self, order_id: str, state: OrderState, reason: str) -> None:
        self.events.append(("done", order_id, state, reason))

    def on_watch(self, watch_id: int, price: D, timestamp: float) -> None:
        self.events.append(("watch", watch_id, price, timestamp))

    def on_trail_activated(self, watch_id: int, price: D, timestamp: float) -> None:
        self.events.append(("trail", watch_id, price, timestamp))


class Bot(Recorder):
    """A scripted trader: deterministic orders, cancels and watches, reacting to its fills."""

    def __init__(self, gateway: SimConnector, *, time_watches: bool = True) -> None:
        super().__init__("bot")
        self.gw = gateway
        self.time_watches = time_watches
        self.resting: list[str] = []
        self.step = 0

    def on_fill(self, fill: Fill) -> None:
        super().on_fill(fill)
        if fill.is_maker and fill.side is TradeType.BUY and len(self.resting) < 12:
            # take profit two dollars up, placed inside the walk (mid-tick)
            oid = self.gw.place_order(
                self, PAIR, TradeType.SELL, OrderType.LIMIT, fill.amount, fill.price + 2
            )
            self.resting.append(oid)

    def on_watch(self, watch_id: int, price: D, timestamp: float) -> None:
        super().on_watch(watch_id, price, timestamp)
        side = TradeType.SELL if watch_id % 2 else TradeType.BUY
        self.gw.place_order(self, PAIR, side, OrderType.MARKET, D("0.003"))

    def act(self) -> None:
        i, gw = self.step, self.gw
        self.step += 1
        mid = gw.mid_price(PAIR)
        if i % 10 == 0:
            for k in (1, 2, 3):
                size = D("0.004") * k
                offset = D("0.5") * k
                for side, price in ((TradeType.BUY, mid - offset), (TradeType.SELL, mid + offset)):
                    self.resting.append(
                        gw.place_order(self, PAIR, side, OrderType.LIMIT, size, price)
                    )
        if i % 13 == 2:  # large and near the touch: trades at its price fill it in parts
            for side, price in ((TradeType.BUY, mid - D("0.3")), (TradeType.SELL, mid + D("0.3"))):
                self.resting.append(gw.place_order(self, PAIR, side, OrderType.LIMIT, D("0.08"),
                                                   price))  # fmt: skip
        if i % 23 == 4:
            gw.place_order(self, PAIR, TradeType.BUY, OrderType.MARKET, D("0.01"))
        if i % 29 == 9:
            gw.place_order(self, PAIR, TradeType.SELL, OrderType.MARKET, D("0.008"))
        if i % 17 == 3:  # priced through the market: a taker fill at the slipped price
            gw.place_order(self, PAIR, TradeType.BUY, OrderType.LIMIT, D("0.002"), mid + 3)
            gw.place_order(self, PAIR, TradeType.SELL, OrderType.LIMIT_MAKER, D("0.002"), mid - 3)
        if i % 7 == 6 and self.resting:
            gw.cancel_order(PAIR, self.resting.pop())
        if i % 31 == 11:
            gw.watch_price(self, PAIR, WatchKind.ABOVE, mid + 2)
            gw.watch_price(self, PAIR, WatchKind.BELOW, mid - 2)
            gw.watch_price(self, PAIR, WatchKind.TRAIL_LONG, mid + 1, trail_delta=D("1.5"))
            gw.watch_price(self, PAIR, WatchKind.TRAIL_SHORT, mid - 1, trail_delta=D("1.5"))
        if self.time_watches and i % 19 == 5:
            gw.watch_time(self, PAIR, gw.now() + 4.25)


def fill_model(**kw) -> FillModel:
    return FillModel(volume_window_s=20, **kw)


def wallet() -> Wallet:
    return Wallet({"USDT": D(100_000), "BTC": D(2)})


def run_sim(trades: np.ndarray, ticks: list[float], fills: FillModel, **bot_kw):
    market = SimConnector.market(PAIR, trades, "trades", RULE, fills)
    sim = SimConnector({PAIR: market}, wallet(), FEES, fills)
    bot = Bot(sim, **bot_kw)
    ts_list = trades["ts"].tolist()
    for tick in ticks:
        end = bisect.bisect_right(ts_list, round(tick * 1000))
        sim.advance(PAIR, end)
        sim.set_time(tick)
        sim.process_pending()
        bot.act()
        sim.process_pending()
    return sim, bot


def run_paper(trades: np.ndarray, ticks: list[float], fills: FillModel, *, buffer_rows=1 << 16,
              clock_time_watches=False, **bot_kw):  # fmt: skip
    source = FeedSource({PAIR: RULE})
    paper = PaperConnector(source, wallet(), FEES, fills, clock_time_watches=clock_time_watches,
                           buffer_rows=buffer_rows)  # fmt: skip
    bot = Bot(paper, **bot_kw)
    ts = trades["ts"]
    sent = 0
    for tick in ticks:
        end = int(np.searchsorted(ts, round(tick * 1000), "right"))
        source.push(PAIR, trades[sent:end])
        sent = end
        paper.tick(tick)
        bot.act()
        paper.process_pending()
    return paper, bot


def scenario(seed: int, seconds: int = 900):
    trades = synthetic_trades(seed, START_MS, seconds, trades_per_second=4.0)
    first = (int(trades["ts"][0]) // 1000 + 1) * 1000
    ticks = [(first + 1000 * k) / 1000 for k in range(seconds - 2)]
    return trades, ticks


def assert_same(sim: SimConnector, sim_bot: Bot, paper: PaperConnector, paper_bot: Bot) -> None:
    assert paper_bot.events == sim_bot.events
    assert paper.fills == sim.fills
    assert paper.wallet.total == sim.wallet.total
    assert paper.wallet.locked == sim.wallet.locked


def kinds(bot: Bot) -> dict[str, int]:
    out: dict[str, int] = {}
    for event in bot.events:
        key = event[0]
        if key == "fill":
            key = "maker" if event[1].is_maker else "taker"
        elif key == "done":
            key = event[2].value
        out[key] = out.get(key, 0) + 1
    return out


@pytest.mark.parametrize(
    ("seed", "fills"),
    [(7, fill_model()), (11, fill_model(slippage="impact", half_spread_bps=1, impact_bps=20))],
)
def test_ticking_live_trades_gives_the_backtests_fills(seed, fills):
    trades, ticks = scenario(seed)
    sim, sim_bot = run_sim(trades, ticks, fills)
    paper, paper_bot = run_paper(trades, ticks, fills)
    assert_same(sim, sim_bot, paper, paper_bot)
    seen = kinds(paper_bot)
    # every path was exercised: maker and taker fills, cancels, rejects, watches, trails
    assert seen["maker"] >= 500 and seen["taker"] >= 250 and seen["FILLED"] >= 800
    assert seen["CANCELED"] >= 50 and seen["FAILED"] >= 50
    assert seen["watch"] >= 150 and seen["trail"] >= 50
    per_order = Counter(e[1].order_id for e in paper_bot.events if e[0] == "fill")
    assert sum(n > 1 for n in per_order.values()) >= 2  # partial fills
    assert paper.buffers[PAIR].compactions == 0
    assert paper.trades_seen[PAIR] == np.searchsorted(trades["ts"], ticks[-1] * 1000, "right")


def test_uneven_batches_and_compactions_keep_the_fills():
    # a tiny buffer compacts many times; the fills stay the backtest's (no time watches: their
    # price at the first trade after a compaction is the one documented difference)
    trades, ticks = scenario(3, seconds=600)
    fills = fill_model()
    sim, sim_bot = run_sim(trades, ticks, fills, time_watches=False)
    paper, paper_bot = run_paper(trades, ticks, fills, buffer_rows=64, time_watches=False)
    assert_same(sim, sim_bot, paper, paper_bot)
    assert paper.buffers[PAIR].compactions >= 10
    assert paper.buffers[PAIR].size < 600  # only the volume window is kept
    assert kinds(paper_bot)["maker"] >= 300


def make_paper(trades: np.ndarray | None = None, **kw):
    source = FeedSource({PAIR: RULE})
    paper = PaperConnector(source, wallet(), TradeFeeSchema(D(0), D(0)),
                           FillModel(slippage_bps=10), **kw)  # fmt: skip
    if trades is not None:
        source.push(PAIR, trades)
    return source, paper


def rows(*items: tuple[int, float, float, bool], first_id: int = 1) -> np.ndarray:
    out = np.zeros(len(items), dtype=TRADE_DTYPE)
    for i, (ts, price, qty, maker) in enumerate(items):
        out[i] = (START_MS + ts, price, qty, maker, first_id + i)
    return out


def test_market_orders_fill_at_the_book_mid_with_slippage():
    source, paper = make_paper(rows((0, 100.0, 1.0, False)))
    paper.tick(START_MS / 1000 + 1)
    source.books[PAIR].apply_snapshot([["100.10", "5"]], [["100.30", "5"]], 1)
    rec = Recorder()
    assert paper.mid_price(PAIR) == D("100.2")
    paper.place_order(rec, PAIR, TradeType.BUY, OrderType.MARKET, D("1"))
    paper.place_order(rec, PAIR, TradeType.SELL, OrderType.MARKET, D("1"))
    paper.process_pending()
    fills = [e[1] for e in rec.events if e[0] == "fill"]
    # 100.2 x (1 +- 10 bps), rounded away from us to the tick
    assert [(f.side, f.price, f.is_maker) for f in fills] == [
        (TradeType.BUY, D("100.31"), False),
        (TradeType.SELL, D("100.09"), False),
    ]
    assert paper.balances() == {"USDT": (D("99999.78"), D("99999.78")), "BTC": (D(2), D(2))}
    # a crossed book (out of sync) or a feed that is down falls back to the last trade
    source.books[PAIR].apply_snapshot([["101", "1"]], [["100", "1"]], 2)
    assert paper.mid_price(PAIR) == D("100.0")
    source.books[PAIR].apply_snapshot([["100.10", "5"]], [["100.30", "5"]], 3)
    source.health = "down"
    assert paper.mid_price(PAIR) == D("100.0") and paper.health == "down"


def test_resting_orders_fill_by_the_trade_queue_and_show_as_open():
    source, paper = make_paper(
        rows((0, 100.0, 0.5, True), (100, 100.0, 0.25, True), (200, 100.02, 0.1, False))
    )
    paper.tick(START_MS / 1000 + 1)
    rec = Recorder()
    # 0.75 traded at 100 on the bid in the window: that much is queued ahead of our bid
    oid = paper.place_order(rec, PAIR, TradeType.BUY, OrderType.LIMIT, D("1"), D("100"))
    paper.process_pending()
    [order] = paper.open_orders()
    assert (order.client_order_id, order.state, order.amount, order.price) == (
        oid, OrderState.OPEN, D(1), D(100))  # fmt: skip
    assert order.creation_timestamp == START_MS / 1000 + 1
    source.push(PAIR, rows((1500, 100.0, 1.0, True), (1600, 100.5, 0.1, False), first_id=4))
    paper.tick(START_MS / 1000 + 2)
    [fill] = [e[1] for e in rec.events if e[0] == "fill"]
    assert (fill.price, fill.amount, fill.is_maker, fill.timestamp) == (
        D(100), D("0.25"), True, (START_MS + 1500) / 1000)  # fmt: skip
    [order] = paper.open_orders()
    assert order.state is OrderState.PARTIALLY_FILLED and order.executed_base == D("0.25")
    # a trade through the level fills the rest
    source.push(PAIR, rows((2500, 99.99, 0.01, True), first_id=6))
    paper.tick(START_MS / 1000 + 3)
    assert rec.events[-1] == ("done", oid, OrderState.FILLED, "")
    assert paper.open_orders() == []
    assert paper.wallet.balance("BTC") == D(3) and paper.wallet.balance("USDT") == D(99_900)


def test_duplicate_and_late_trades_are_ignored():
    source, paper = make_paper(rows((0, 100.0, 1.0, True), (10, 100.0, 1.0, True)))
    paper.tick(START_MS / 1000 + 1)
    replay = rows((10, 100.0, 1.0, True), (20, 100.1, 1.0, False), first_id=2)
    replay = np.concatenate([replay, replay[1:]])
    source.push(PAIR, replay)
    paper.tick(START_MS / 1000 + 2)
    assert paper.trades_seen[PAIR] == 3 and paper.buffers[PAIR].dropped == 2
    assert paper.buffers[PAIR].view()["trade_id"].tolist() == [1, 2, 3]


def test_time_watches_fire_by_the_clock_in_a_quiet_market():
    source, paper = make_paper(rows((0, 100.0, 1.0, True)))
    paper.tick(START_MS / 1000 + 1)
    rec = Recorder()
    wid = paper.watch_time(rec, PAIR, START_MS / 1000 + 5)
    gone = paper.watch_time(rec, PAIR, START_MS / 1000 + 5)
    paper.cancel_watch(gone)
    for second in (2, 3, 4):
        paper.tick(START_MS / 1000 + second)
    assert rec.events == []
    paper.tick(START_MS / 1000 + 5)
    assert rec.events == [("watch", wid, D("100.0"), START_MS / 1000 + 5)]
    assert paper.markets[PAIR].core.n_triggers == 0
    # without clock watches, a quiet market holds it to the next trade (as a backtest does)
    source, paper = make_paper(rows((0, 100.0, 1.0, True)), clock_time_watches=False)
    paper.tick(START_MS / 1000 + 1)
    rec = Recorder()
    wid = paper.watch_time(rec, PAIR, START_MS / 1000 + 5)
    paper.tick(START_MS / 1000 + 6)
    assert rec.events == []
    source.push(PAIR, rows((7000, 101.0, 1.0, False), first_id=2))
    paper.tick(START_MS / 1000 + 8)
    assert rec.events == [("watch", wid, D("100.0"), (START_MS + 7000) / 1000)]


def test_orders_before_any_price_fail_through_the_listener():
    _, paper = make_paper()
    rec = Recorder()
    oid = paper.place_order(rec, PAIR, TradeType.BUY, OrderType.MARKET, D("0.1"))
    assert rec.events == []  # never inside the call
    paper.process_pending()
    assert rec.events == [("done", oid, OrderState.FAILED,
                           "BTC-USDT BUY 0.1 @ market: BTC-USDT: no price yet (no book and no "
                           "trade)")]  # fmt: skip


class StartableSource(FeedSource):
    """A source whose rules arrive with start(), as BinanceMarketData's do (exchangeInfo)."""

    def __init__(self, rules: dict[str, TradingRule]) -> None:
        super().__init__(rules)
        self.pending, self.rules = rules, {}
        self.started = self.stopped = 0

    async def start(self) -> None:
        self.rules = self.pending
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1


async def test_rules_come_from_the_market_data_when_the_network_starts():
    source = StartableSource({PAIR: RULE})
    paper = PaperConnector(source, wallet(), FEES, FillModel())
    assert paper.markets == {} and paper.name == "paper"
    await paper.start_network()
    assert paper.trading_rule(PAIR) is RULE and source.started == 1
    await paper.stop_network()
    assert source.stopped == 1
    # explicit rules win, and a source without start()/stop() is fine
    plain = PaperConnector(FeedSource({}), wallet(), FEES, FillModel(), {PAIR: RULE})
    await plain.start_network()
    await plain.stop_network()
    assert list(plain.markets) == [PAIR]
    with pytest.raises(ValueError, match="no trading pairs: the market data has no trading rules"):
        await PaperConnector(FeedSource({}), wallet(), FEES, FillModel()).start_network()


def test_runs_on_a_clock():
    trades = synthetic_trades(5, START_MS, 20, trades_per_second=3.0)
    _, paper = make_paper(trades)
    clock = Clock(ClockMode.BACKTEST, 1.0, START_MS / 1000, START_MS / 1000 + 25)
    clock.add_iterator(paper)
    clock.backtest()
    assert paper.now() == START_MS / 1000 + 25
    assert paper.trades_seen[PAIR] == trades.size
    assert paper.mid_price(PAIR) == D(repr(float(trades["price"][-1])))
