"""PriceWatches: the live and paper evaluator of TradingGateway's price and time watches.

The backtester evaluates watches inside its fill core; a live connector has no core, so it feeds
every new price to `observe(pair, price, ts)` and the time to `observe_time(ts)`. Both return the
notifications that fired and never call a listener themselves: the caller delivers them later,
so a listener never hears of a watch from inside the call that armed it. The rules are those of
the fill core's trades mode (sim/market_sim.pyx): ABOVE fires at >= level, BELOW at <= level,
TRAIL_LONG activates at >= level, then follows the peak and fires at <= peak - trail_delta,
TRAIL_SHORT mirrors it; each at the observed price. Within one observation, a group's adverse
watches (stop losses) are reported before its favourable ones.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from birdterm.engine.connectors.base import GatewayListener, WatchKind

log = logging.getLogger("birdterm.watches")


class NoticeKind(Enum):
    """What a watch notification tells its listener."""

    FIRED = "FIRED"  # on_watch: the watch fired and is disarmed
    TRAIL_ACTIVATED = "TRAIL_ACTIVATED"  # on_trail_activated: the trailing watch now trails


@dataclass(frozen=True, slots=True)
class WatchNotice:
    """One notification for a listener, to be delivered after the observing call returned."""

    listener: GatewayListener
    watch_id: int
    kind: NoticeKind
    price: Decimal
    timestamp: float

    def deliver(self) -> None:
        """Call the listener's callback for this notification."""
        if self.kind is NoticeKind.FIRED:
            self.listener.on_watch(self.watch_id, self.price, self.timestamp)
        else:
            self.listener.on_trail_activated(self.watch_id, self.price, self.timestamp)


@dataclass(slots=True)
class _Watch:
    watch_id: int
    listener: GatewayListener
    trading_pair: str
    kind: WatchKind | None  # None: a time watch
    level: Decimal
    group: int = 0
    adverse: bool = False
    trail_delta: Decimal | None = None
    active: bool = False  # trailing watches: the activation price was reached
    extreme: Decimal | None = None  # trailing watches once active: peak (long) / trough (short)
    at: float = math.inf  # time watches: when to fire (seconds)


class PriceWatches:
    """Armed price and time watches of every pair, evaluated on observed prices and times."""

    def __init__(self, first_id: int = 1) -> None:
        self._ids: Iterator[int] = itertools.count(first_id)
        self._watches: dict[int, _Watch] = {}
        self._last_price: dict[str, Decimal] = {}

    def __len__(self) -> int:
        return len(self._watches)

    def __contains__(self, watch_id: object) -> bool:
        return watch_id in self._watches

    def arm(
        self,
        listener: GatewayListener,
        trading_pair: str,
        kind: WatchKind,
        level: Decimal,
        *,
        group: int = 0,
        adverse: bool = False,
        trail_delta: Decimal | None = None,
    ) -> int:
        """Arm a price watch and return its id; it is first evaluated at the next observation."""
        if level <= 0:
            raise ValueError(f"{trading_pair} {kind.value} watch: level must be > 0, got {level}")
        trailing = kind in (WatchKind.TRAIL_LONG, WatchKind.TRAIL_SHORT)
        if trailing and (trail_delta is None or trail_delta <= 0):
            raise ValueError(
                f"{trading_pair} {kind.value} watch needs a trail_delta > 0, got {trail_delta}"
            )
        watch_id = next(self._ids)
        self._watches[watch_id] = _Watch(
            watch_id,
            listener,
            trading_pair,
            kind,
            level,
            group,
            adverse,
            trail_delta if trailing else None,
        )
        return watch_id

    def arm_time(self, listener: GatewayListener, trading_pair: str, timestamp: float) -> int:
        """Arm a watch that fires at the first observed time >= `timestamp` (seconds)."""
        if not math.isfinite(timestamp):
            raise ValueError(f"{trading_pair} time watch: timestamp must be finite")
        watch_id = next(self._ids)
        self._watches[watch_id] = _Watch(
            watch_id, listener, trading_pair, None, Decimal(0), at=timestamp
        )
        return watch_id

    def cancel(self, watch_id: int) -> bool:
        """Disarm a watch; False when it is unknown or already fired."""
        return self._watches.pop(watch_id, None) is not None

    def last_price(self, trading_pair: str) -> Decimal | None:
        """The last price observed for a pair."""
        return self._last_price.get(trading_pair)

    def observe(self, trading_pair: str, price: Decimal, timestamp: float) -> list[WatchNotice]:
        """Evaluate the pair's watches at a new price; returns what fired (not yet delivered)."""
        if price <= 0:
            log.warning("watches: ignoring non-positive %s price %s", trading_pair, price)
            return []
        self._last_price[trading_pair] = price
        fired: list[tuple[bool, WatchNotice]] = []
        for watch in list(self._watches.values()):
            if watch.trading_pair != trading_pair or watch.kind is None:
                continue
            notice = self._evaluate(watch, price, timestamp)
            if notice is not None:
                fired.append((watch.adverse, notice))
        # stable sort: adverse watches first, otherwise in arming order
        fired.sort(key=lambda item: not item[0])
        return [notice for _, notice in fired]

    def observe_time(self, timestamp: float) -> list[WatchNotice]:
        """Fire every time watch due at `timestamp`, at its pair's last observed price; one
        whose pair was never observed waits for the first price (never fires at 0)."""
        notices: list[WatchNotice] = []
        for watch in list(self._watches.values()):
            if watch.kind is not None or timestamp < watch.at:
                continue
            price = self._last_price.get(watch.trading_pair)
            if price is None:
                continue
            del self._watches[watch.watch_id]
            notices.append(
                WatchNotice(watch.listener, watch.watch_id, NoticeKind.FIRED, price, timestamp)
            )
        return notices

    def _evaluate(self, watch: _Watch, price: Decimal, ts: float) -> WatchNotice | None:
        kind = watch.kind
        fire = False
        if kind is WatchKind.ABOVE:
            fire = price >= watch.level
        elif kind is WatchKind.BELOW:
            fire = price <= watch.level
        else:
            long = kind is WatchKind.TRAIL_LONG
            assert watch.trail_delta is not None
            if not watch.active:
                if (price >= watch.level) if long else (price <= watch.level):
                    watch.active = True
                    watch.extreme = price
                    return WatchNotice(
                        watch.listener, watch.watch_id, NoticeKind.TRAIL_ACTIVATED, price, ts
                    )
                return None
            assert watch.extreme is not None
            if long:
                if price > watch.extreme:
                    watch.extreme = price
                else:
                    fire = price <= watch.extreme - watch.trail_delta
            elif price < watch.extreme:
                watch.extreme = price
            else:
                fire = price >= watch.extreme + watch.trail_delta
        if not fire:
            return None
        del self._watches[watch.watch_id]
        return WatchNotice(watch.listener, watch.watch_id, NoticeKind.FIRED, price, ts)
