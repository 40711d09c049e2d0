"""Random order sequences keep every account's books balanced (hypothesis).

After every operation, accepted or rejected: balances are never negative; each asset's locked
amount is exactly what the open orders hold (BUY: price x remaining quote, SELL: remaining base);
free + locked equals the starting balance plus the effect of the account's fills (myTrades,
commissions included); every order's executed and quote quantities are the sums of its fills;
open orders are NEW or PARTIALLY_FILLED; the published book is never crossed and each level
holds at least our resting quantity at it.
"""

import random
from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from birdterm.sim.emulator.default_symbols import default_symbols
from birdterm.sim.emulator.errors import BinanceError
from birdterm.sim.emulator.exchange import Exchange
from birdterm.sim.emulator.synthetic_book import SyntheticBookReplay

from tests.sim.emulator.test_exchange_fixtures import SYMBOL, T0, Clock, limit, market

D = Decimal
TICK = D("0.01")
START = {
    "alice": {"USDT": D(50_000), "BTC": D(1)},
    "bob": {"USDT": D(20_000), "BTC": D(2)},
    "carol": {"USDT": D(300), "BTC": D("0.01")},
}
ACCOUNTS = list(START)

account = st.sampled_from(ACCOUNTS)
side = st.sampled_from(["BUY", "SELL"])
operation = st.one_of(
    st.tuples(
        st.just("limit"), account, side, st.integers(-400, 400), st.integers(1, 3000),
        st.sampled_from(["GTC", "GTC", "IOC", "FOK", "MAKER"]),
    ),
    st.tuples(st.just("market"), account, side, st.integers(1, 3000), st.booleans()),
    st.tuples(st.just("cancel"), account, st.integers(0, 50)),
    st.tuples(st.just("amend"), account, st.integers(0, 50), st.integers(1, 99)),
    st.tuples(st.just("step"), st.integers(10, 1500)),
)  # fmt: skip


def build() -> tuple[Exchange, Clock]:
    clock = Clock()
    replay = SyntheticBookReplay(
        SYMBOL, seed=5, start_ms=T0, start_price=D(30000), tick_size=TICK,
        lot_size=D("0.00001"), levels=10, level_gap_ticks=20, calm_vol_per_s=1.5e-4,
        trades_per_s=20, mean_level_qty=D("0.02"), mean_trade_qty=D("0.01"),
    )  # fmt: skip
    exchange = Exchange(default_symbols(), {SYMBOL: replay}, clock)
    for key, balances in START.items():
        exchange.add_account(key, "secret", balances)
    return exchange, clock


def run(exchange: Exchange, clock: Clock, op: tuple) -> None:
    kind = op[0]
    if kind == "step":
        clock.advance(op[1])
        exchange.step()
        return
    key = op[1]
    bids, asks = exchange.book_levels(SYMBOL)
    mid = ((bids[0][0] + asks[0][0]) / 2).quantize(TICK)
    open_orders = exchange.open_orders(key, SYMBOL)
    try:
        if kind == "limit":
            _, _, order_side, offset, lots, tif = op
            params = limit(order_side, str(lots * D("0.00001")), str(mid + offset * TICK), tif=tif)
            if tif == "MAKER":
                del params["timeInForce"]
                params["type"] = "LIMIT_MAKER"
            exchange.new_order(key, params)
        elif kind == "market":
            _, _, order_side, lots, by_quote = op
            qty = lots * D("0.00001")
            if by_quote:
                exchange.new_order(key, market(order_side, quote=str((qty * mid).quantize(TICK))))
            else:
                exchange.new_order(key, market(order_side, qty=str(qty)))
        elif kind == "cancel" and open_orders:
            order = open_orders[op[2] % len(open_orders)]
            exchange.cancel_order(key, {"symbol": SYMBOL, "orderId": str(order["orderId"])})
        elif kind == "amend" and open_orders:
            order = open_orders[op[2] % len(open_orders)]
            new_qty = (D(order["origQty"]) * op[3] / 100).quantize(D("0.00001"))
            exchange.amend_keep_priority(
                key, {"symbol": SYMBOL, "orderId": str(order["orderId"]), "newQty": str(new_qty)}
            )
    except BinanceError:
        pass  # rejections are part of the game; the checks below still hold


def all_trades(exchange: Exchange, key: str) -> list[dict]:
    trades: list[dict] = []
    while True:
        page = exchange.my_trades(
            key,
            {
                "symbol": SYMBOL,
                "fromId": str(trades[-1]["id"] + 1 if trades else 0),
                "limit": "1000",
            },
        )
        trades += page
        if len(page) < 1000:
            return trades


def check(exchange: Exchange) -> None:
    bids, asks = exchange.book_levels(SYMBOL)
    if bids and asks:
        assert bids[0][0] < asks[0][0]
    published = {("BUY", p): q for p, q in bids} | {("SELL", p): q for p, q in asks}
    resting: dict[tuple[str, Decimal], Decimal] = defaultdict(D)
    for key, start in START.items():
        trades = all_trades(exchange, key)
        expected = dict(start)
        by_order: dict[int, tuple[Decimal, Decimal]] = defaultdict(lambda: (D(0), D(0)))
        for t in trades:
            qty, quote = D(t["qty"]), D(t["quoteQty"])
            sign = 1 if t["isBuyer"] else -1
            expected["BTC"] = expected.get("BTC", D(0)) + sign * qty
            expected["USDT"] = expected.get("USDT", D(0)) - sign * quote
            expected[t["commissionAsset"]] -= D(t["commission"])
            done_qty, done_quote = by_order[t["orderId"]]
            by_order[t["orderId"]] = (done_qty + qty, done_quote + quote)
        locks: dict[str, Decimal] = defaultdict(D)
        for order in exchange.orders_of(key):
            orig, executed = D(order["origQty"]), D(order["executedQty"])
            assert (executed, D(order["cummulativeQuoteQty"])) == by_order[order["orderId"]]
            assert executed <= orig
            if order["status"] in ("NEW", "PARTIALLY_FILLED"):
                assert (order["status"] == "NEW") == (executed == 0)
                left = orig - executed
                assert left > 0
                if order["side"] == "BUY":
                    locks["USDT"] += left * D(order["price"])
                else:
                    locks["BTC"] += left
                resting[(order["side"], D(order["price"]))] += left
            elif order["status"] == "FILLED":
                assert executed == orig
        for asset, (free, locked) in exchange.balances_of(key).items():
            assert free >= 0 and locked >= 0, (key, asset)
            assert locked == locks.get(asset, D(0)), (key, asset)
            assert free + locked == expected.get(asset, D(0)), (key, asset)
    for level, qty in resting.items():
        assert published[level] >= qty


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(operation, min_size=20, max_size=80))
def test_random_order_sequences_keep_balances_consistent_with_fills(ops: list[tuple]) -> None:
    exchange, clock = build()
    for op in ops:
        run(exchange, clock, op)
        check(exchange)


def random_op(rng: random.Random) -> tuple:
    """One operation drawn like the hypothesis strategy, for the long seeded session."""
    roll, key, order_side = rng.random(), rng.choice(ACCOUNTS), rng.choice(["BUY", "SELL"])
    if roll < 0.35:
        return ("step", rng.randint(10, 800))
    if roll < 0.7:
        tif = rng.choice(["GTC", "GTC", "IOC", "FOK", "MAKER"])
        return ("limit", key, order_side, rng.randint(-300, 300), rng.randint(20, 2000), tif)
    if roll < 0.8:
        return ("market", key, order_side, rng.randint(20, 2000), rng.random() < 0.5)
    if roll < 0.92:
        return ("cancel", key, rng.randint(0, 50))
    return ("amend", key, rng.randint(0, 50), rng.randint(1, 99))


def test_a_long_random_session_stays_consistent() -> None:
    """One long seeded session: many fills against replay moves, trades and other accounts."""
    rng = random.Random(9)
    exchange, clock = build()
    for i in range(1500):
        run(exchange, clock, random_op(rng))
        if i % 50 == 0:
            check(exchange)
    check(exchange)
    statuses = {o["status"] for key in ACCOUNTS for o in exchange.orders_of(key)}
    assert {"FILLED", "CANCELED", "EXPIRED"} <= statuses
    assert sum(len(all_trades(exchange, key)) for key in ACCOUNTS) > 300
