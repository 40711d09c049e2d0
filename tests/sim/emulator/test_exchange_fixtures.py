"""Helpers for the exchange tests: a manual clock, a scripted replay, an exchange with accounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from birdterm.sim.emulator.default_symbols import default_symbols
from birdterm.sim.emulator.exchange import Exchange
from birdterm.sim.emulator.replay import MarketUpdate, ReplayTrade

D = Decimal
T0 = 1_700_000_000_000
SYMBOL = "BTCUSDT"


class Clock:
    """A manual millisecond clock."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


class ScriptedReplay:
    """A MarketReplay that returns exactly the updates a test pushes."""

    def __init__(
        self,
        bids: list[tuple[str, str]],
        asks: list[tuple[str, str]],
        symbol: str = SYMBOL,
    ) -> None:
        self.symbol = symbol
        self._bids = [(D(p), D(q)) for p, q in bids]
        self._asks = [(D(p), D(q)) for p, q in asks]
        self._queue: list[MarketUpdate] = []

    def snapshot(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return list(self._bids), list(self._asks)

    def push(
        self,
        ts: int,
        bids: list[tuple[str, str]] = (),  # type: ignore[assignment]
        asks: list[tuple[str, str]] = (),  # type: ignore[assignment]
        trades: list[tuple[str, str, bool]] = (),  # type: ignore[assignment]
    ) -> None:
        self._queue.append(
            MarketUpdate(
                ts,
                tuple((D(p), D(q)) for p, q in bids),
                tuple((D(p), D(q)) for p, q in asks),
                tuple(ReplayTrade(D(p), D(q), m) for p, q, m in trades),
            )
        )

    def updates_until(self, ts_ms: int) -> list[MarketUpdate]:
        due = [u for u in self._queue if u.ts_ms <= ts_ms]
        self._queue = [u for u in self._queue if u.ts_ms > ts_ms]
        return due


# A small book around 30,000: best bid 29,999.00 (1 BTC), best ask 30,001.00 (1 BTC).
BOOK_BIDS = [("29999.00", "1.00000"), ("29998.00", "2.00000"), ("29997.00", "3.00000")]
BOOK_ASKS = [("30001.00", "1.00000"), ("30002.00", "2.00000"), ("30003.00", "3.00000")]


class Recorder:
    """Collects user events per api key and market payloads per stream."""

    def __init__(self, exchange: Exchange) -> None:
        self.user: list[tuple[str, dict[str, Any]]] = []
        self.market: list[tuple[str, dict[str, Any]]] = []
        exchange.add_user_listener(lambda key, event: self.user.append((key, event)))
        exchange.add_market_listener(lambda stream, payload: self.market.append((stream, payload)))

    def events(self, key: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for k, e in self.user if k == key and (kind is None or e["e"] == kind)]

    def stream(self, name: str) -> list[dict[str, Any]]:
        return [p for s, p in self.market if s == name]

    def clear(self) -> None:
        self.user.clear()
        self.market.clear()


def make_exchange(
    replay: ScriptedReplay | None = None,
    clock: Clock | None = None,
    accounts: dict[str, dict[str, str]] | None = None,
    **kwargs: Any,
) -> tuple[Exchange, ScriptedReplay, Clock]:
    """An exchange over BTCUSDT/ETHUSDT with a scripted BTCUSDT book and funded accounts."""
    replay = replay or ScriptedReplay(BOOK_BIDS, BOOK_ASKS)
    clock = clock or Clock()
    exchange = Exchange(default_symbols(), {SYMBOL: replay}, clock, **kwargs)
    for key, balances in (accounts or {"alice": {"USDT": "100000", "BTC": "2"}}).items():
        exchange.add_account(key, f"secret-{key}", {a: D(v) for a, v in balances.items()})
    return exchange, replay, clock


def limit(side: str, qty: str, price: str, tif: str = "GTC", **extra: str) -> dict[str, str]:
    """LIMIT order params."""
    return {
        "symbol": SYMBOL,
        "side": side,
        "type": "LIMIT",
        "timeInForce": tif,
        "quantity": qty,
        "price": price,
        **extra,
    }


def market(
    side: str, qty: str | None = None, quote: str | None = None, **extra: str
) -> dict[str, str]:
    """MARKET order params by quantity or quoteOrderQty."""
    params = {"symbol": SYMBOL, "side": side, "type": "MARKET", **extra}
    if qty is not None:
        params["quantity"] = qty
    if quote is not None:
        params["quoteOrderQty"] = quote
    return params


def balances(exchange: Exchange, key: str) -> dict[str, tuple[Decimal, Decimal]]:
    """Non-zero balances of an account."""
    return {a: fl for a, fl in exchange.balances_of(key).items() if fl != (0, 0)}


def test_scripted_replay_returns_each_update_once() -> None:
    replay = ScriptedReplay(BOOK_BIDS, BOOK_ASKS)
    replay.push(T0 + 100, bids=[("29999.00", "0.5")])
    replay.push(T0 + 200, asks=[("30001.00", "0")])
    assert [u.ts_ms for u in replay.updates_until(T0 + 150)] == [T0 + 100]
    assert replay.updates_until(T0 + 150) == []
    assert [u.ts_ms for u in replay.updates_until(T0 + 300)] == [T0 + 200]
