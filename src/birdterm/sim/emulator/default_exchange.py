"""The emulator's ready-made exchange: BTCUSDT and ETHUSDT over a synthetic or recorded market."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

from birdterm.sim.emulator.default_symbols import default_symbols
from birdterm.sim.emulator.demo_account import DEFAULT_BALANCES, DEMO_API_KEY, DEMO_API_SECRET
from birdterm.sim.emulator.exchange import Exchange
from birdterm.sim.emulator.history import MarketHistory
from birdterm.sim.emulator.recorded_replay import RecordedBookReplay
from birdterm.sim.emulator.replay import MarketReplay
from birdterm.sim.emulator.symbols import SymbolRules
from birdterm.sim.emulator.synthetic_book import SyntheticBookReplay

DEFAULT_START_PRICES: dict[str, Decimal] = {
    "BTCUSDT": Decimal(60_000),
    "ETHUSDT": Decimal(3_000),
}
__all__ = ["DEFAULT_BALANCES", "DEMO_API_KEY", "DEMO_API_SECRET", "build_default_exchange"]

MARKETS = ("synthetic", "recorded")
# ../shared/data/hftbacktest beside the checkout (see its README.md).
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[5] / "shared" / "data" / "hftbacktest"


def build_default_exchange(
    *,
    seed: int,
    clock: Callable[[], int],
    balances: Mapping[str, Decimal],
    api_key: str,
    secret: str,
    market: str = "synthetic",
    start_price: Decimal | Mapping[str, Decimal] | None = None,
    history_days: float = 1.0,
    data_dir: Path | None = None,
) -> Exchange:
    """BTCUSDT + ETHUSDT with one funded account.

    synthetic: seeded SyntheticBookReplay books starting now at `start_price` (a Decimal sets
    BTCUSDT and scales ETHUSDT with it; a mapping sets each symbol). recorded: the hftbacktest
    recordings in `data_dir` (default ../shared/data/hftbacktest), replayed from now in a loop.
    Both get `history_days` of seeded synthetic trades before now for klines/aggTrades, ending at
    the starting price.
    """
    if market not in MARKETS:
        raise ValueError(f"market must be one of {', '.join(MARKETS)}, got {market!r}")
    if history_days < 0:
        raise ValueError(f"history_days must be >= 0, got {history_days}")
    symbols = default_symbols()
    now = clock()
    prices = _start_prices(start_price)
    replays: dict[str, MarketReplay] = {}
    for name, rules in symbols.items():
        if market == "synthetic":
            tick, lot = _grid(rules)
            replays[name] = SyntheticBookReplay(
                name,
                seed=seed,
                start_ms=now,
                start_price=prices[name],
                tick_size=tick,
                lot_size=lot,
            )
        else:
            recorded = _recorded(name, data_dir or DEFAULT_DATA_DIR, now)
            replays[name] = recorded
            prices[name] = _mid(recorded, prices[name])
    history = {
        name: _history(name, rules, seed, now, history_days, prices[name])
        for name, rules in symbols.items()
    }
    exchange = Exchange(symbols, replays, clock, history=history)
    exchange.add_account(api_key, secret, dict(balances))
    return exchange


def _start_prices(start_price: Decimal | Mapping[str, Decimal] | None) -> dict[str, Decimal]:
    prices = dict(DEFAULT_START_PRICES)
    if isinstance(start_price, Mapping):
        prices.update(start_price)
    elif start_price is not None:
        ratio = DEFAULT_START_PRICES["ETHUSDT"] / DEFAULT_START_PRICES["BTCUSDT"]
        prices["BTCUSDT"] = start_price
        prices["ETHUSDT"] = (start_price * ratio).quantize(Decimal("0.01"))
    for name, price in prices.items():
        if price <= 0:
            raise ValueError(f"start price of {name} must be positive, got {price}")
    return prices


def _grid(rules: SymbolRules) -> tuple[Decimal, Decimal]:
    assert rules.price_filter is not None and rules.lot_size is not None
    return rules.price_filter.tick_size, rules.lot_size.step_size


def _recorded(symbol: str, folder: Path, now: int) -> RecordedBookReplay:
    paths = sorted(folder.glob(f"binance_spot_{symbol.lower()}_*.gz"))
    if not paths:
        raise FileNotFoundError(f"no recorded {symbol} data (binance_spot_*.gz) in {folder}")
    return RecordedBookReplay.from_hftbacktest(paths, symbol, now)


def _mid(replay: MarketReplay, fallback: Decimal) -> Decimal:
    bids, asks = replay.snapshot()
    if not bids or not asks:
        return fallback
    return ((bids[0][0] + asks[0][0]) / 2).quantize(Decimal("0.01"))


def _history(
    name: str, rules: SymbolRules, seed: int, now: int, days: float, price: Decimal
) -> MarketHistory:
    tick, lot = _grid(rules)
    return MarketHistory.synthetic(name, seed, now, days, price, tick_size=tick, lot_size=lot)
