"""A slow, obvious pure-Python MarketSim: the same fill rules walked point by point, for tests.

No skipping, no bounds, no C arrays: every candle is walked segment by segment and every trade
point by point, with orders and triggers in dicts. tests/sim/test_market_sim.py drives it and
the compiled birdterm.sim.market_sim.MarketSim with the same random scripts and compares the
event streams and the cursor state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from birdterm.sim.data import CANDLE_DTYPE, TRADE_DTYPE

FILL, TRIGGER, TRAIL_ACTIVATED = 1, 2, 3
ABOVE, BELOW, TRAIL_LONG, TRAIL_SHORT, AT_TIME = 1, 2, 3, 4, 5

Event = tuple[int, int, int, float, float]


@dataclass
class RefOrder:
    """A resting limit order; a non-zero group makes it that group's take-profit."""

    id: int
    side: int
    price: float
    remaining: float
    queue: float
    group: int = 0


@dataclass
class RefTrigger:
    """An armed trigger; extreme is the peak (long) or trough (short) of an active trail."""

    id: int
    kind: int
    level: float
    group: int
    adverse: bool
    delta: float
    active: bool = False
    extreme: float = math.nan


def first_point(holds: Callable[[float], bool], level: float, x: float, b: float) -> float | None:
    """First price of the monotone move x -> b where a threshold condition holds."""
    if holds(x):
        return x
    if holds(b):
        return level
    return None


def trigger_condition(t: RefTrigger) -> tuple[Callable[[float], bool], float] | None:
    """The condition that makes `t` fire or activate now, with its threshold (None: AT_TIME)."""
    if t.kind == ABOVE or (t.kind == TRAIL_LONG and not t.active):
        return (lambda p: p >= t.level), t.level
    if t.kind == BELOW or (t.kind == TRAIL_SHORT and not t.active):
        return (lambda p: p <= t.level), t.level
    if t.kind == TRAIL_LONG:
        threshold = t.extreme - t.delta
        return (lambda p: p <= threshold), threshold
    if t.kind == TRAIL_SHORT:
        threshold = t.extreme + t.delta
        return (lambda p: p >= threshold), threshold
    return None


def trigger_point(t: RefTrigger, x: float, b: float) -> float | None:
    """First price of x -> b where `t` fires or activates."""
    condition = trigger_condition(t)
    return None if condition is None else first_point(condition[0], condition[1], x, b)


def candle_path(c: np.void) -> list[float]:
    """Ends of the four segments: open (the jump), nearer extreme, farther extreme, close."""
    o, h, lo = float(c["open"]), float(c["high"]), float(c["low"])
    near, far = (h, lo) if h - o < o - lo else (lo, h)
    return [o, near, far, float(c["close"])]


class ReferenceMarketSim:
    """The brute-force twin of MarketSim (same constructor and methods)."""

    def __init__(
        self,
        *,
        participation: float = 1.0,
        touch_fills: bool = False,
        pessimistic: bool = True,
        volume_window_ms: int = 60_000,
    ) -> None:
        self.participation = participation
        self.touch = touch_fills
        self.pessimistic = pessimistic
        self.window = volume_window_ms
        self.orders: dict[int, RefOrder] = {}
        self.triggers: dict[int, RefTrigger] = {}
        self.trades: np.ndarray | None = None
        self.seek(0)

    # ---- state ---------------------------------------------------------------------------

    def seek(self, row: int) -> None:
        """Cursor at the start of `row`, price unknown until the next advance."""
        self.row, self.seg = row, -1
        self.price, self.ts = math.nan, 0
        self.fresh, self.mode = True, None
        self.budget, self.row_volume = 0.0, 0.0

    @property
    def current_price(self) -> float:
        """Price at the cursor."""
        return self.price

    @property
    def current_ts(self) -> int:
        """Ts at the cursor."""
        return self.ts

    @property
    def current_row(self) -> int:
        """Next row to process."""
        return self.row

    @property
    def budget_left(self) -> float:
        """What our orders may still fill in the current candle."""
        return math.inf if self.mode == "trades" else self.budget

    @property
    def recent_volume(self) -> float:
        """Candle volume, or the qty traded in (current_ts - window, current_ts]."""
        if self.mode == "candles":
            return self.row_volume
        if self.mode == "trades" and not self.fresh and self.trades is not None:
            rows = self.trades[: self.row]
            return float(rows["qty"][rows["ts"] > self.ts - self.window].sum())
        return 0.0

    @property
    def n_orders(self) -> int:
        """Resting orders."""
        return len(self.orders)

    @property
    def n_triggers(self) -> int:
        """Armed triggers."""
        return len(self.triggers)

    def add_limit(
        self,
        order_id: int,
        side: int,
        price: float,
        amount: float,
        queue_ahead: float = 0.0,
        group: int = 0,
    ) -> None:
        """Rest an order."""
        assert order_id not in self.orders
        self.orders[order_id] = RefOrder(order_id, side, price, amount, queue_ahead, group)

    def remove_order(self, order_id: int) -> bool:
        """Cancel an order."""
        return self.orders.pop(order_id, None) is not None

    def order_remaining(self, order_id: int) -> float:
        """Unfilled amount, nan if unknown."""
        order = self.orders.get(order_id)
        return math.nan if order is None else order.remaining

    def add_trigger(
        self,
        trigger_id: int,
        kind: int,
        level: float,
        group: int = 0,
        adverse: bool = False,
        trail_delta: float = 0.0,
    ) -> None:
        """Arm a trigger."""
        assert trigger_id not in self.triggers
        delta = trail_delta if kind in (TRAIL_LONG, TRAIL_SHORT) else 0.0
        self.triggers[trigger_id] = RefTrigger(trigger_id, kind, level, group, adverse, delta)

    def remove_trigger(self, trigger_id: int) -> bool:
        """Disarm a trigger."""
        return self.triggers.pop(trigger_id, None) is not None

    def remove_group(self, group: int) -> int:
        """Disarm a group."""
        ids = [t.id for t in self.triggers.values() if t.group == group]
        for trigger_id in ids:
            del self.triggers[trigger_id]
        return len(ids)

    # ---- shared ----------------------------------------------------------------------------

    def fire_times(self, ts: int) -> list[Event]:
        """AT_TIME triggers due at ts, fired at the cursor price."""
        due = sorted(t.id for t in self.triggers.values() if t.kind == AT_TIME and t.level <= ts)
        for trigger_id in due:
            del self.triggers[trigger_id]
        return [(TRIGGER, trigger_id, ts, self.price, 0.0) for trigger_id in due]

    def move_trails(self, lo: float, hi: float) -> None:
        """The path covered [lo, hi]: update the active trails' peaks and troughs."""
        for t in self.triggers.values():
            if t.active and t.kind == TRAIL_LONG:
                t.extreme = max(t.extreme, hi)
            elif t.active and t.kind == TRAIL_SHORT:
                t.extreme = min(t.extreme, lo)

    def trigger_events(
        self, fire: dict[int, float], activate: set[int], point: float, ts: int
    ) -> list[Event]:
        """Events (by id) for fired (id -> price) and activated (at `point`) triggers; applied."""
        events: list[Event] = []
        for trigger_id in sorted(set(fire) | activate):
            if trigger_id in activate:
                price = point
                t = self.triggers[trigger_id]
                t.active, t.extreme = True, price
                events.append((TRAIL_ACTIVATED, trigger_id, ts, price, 0.0))
            else:
                del self.triggers[trigger_id]
                events.append((TRIGGER, trigger_id, ts, fire[trigger_id], 0.0))
        return events

    # ---- candles ---------------------------------------------------------------------------

    def order_point(self, o: RefOrder, x: float, b: float) -> float | None:
        """First price of x -> b where a candle-mode order fills."""
        p = o.price
        if o.side > 0:
            return first_point((lambda q: q <= p) if self.touch else (lambda q: q < p), p, x, b)
        return first_point((lambda q: q >= p) if self.touch else (lambda q: q > p), p, x, b)

    def advance_candles(self, candles: np.ndarray, end_row: int) -> list[Event]:
        """Walk the candles to the first event point (or to end_row)."""
        assert candles.dtype == CANDLE_DTYPE and end_row <= len(candles)
        assert self.mode in (None, "candles") and end_row >= self.row
        self.mode = "candles"
        while self.row < end_row:
            c = candles[self.row]
            ts = int(c["ts"])
            if self.seg == -1:
                if self.fresh:
                    self.price, self.ts, self.fresh = float(c["open"]), ts, False
                events = self.fire_times(ts)
                if events:
                    return events
                self.seg, self.price, self.ts = 0, float(c["open"]), ts
                self.budget = self.participation * float(c["volume"])
                self.row_volume = float(c["volume"])
            path = candle_path(c)
            while self.seg < 4:
                x, b = self.price, path[self.seg]
                events = self.candle_point(x, b, path, ts)
                if events:
                    return events
                self.move_trails(min(x, b), max(x, b))
                self.price = b
                self.seg += 1
            self.seg = -1
            self.row += 1
        return []

    def candle_point(self, x: float, b: float, path: list[float], ts: int) -> list[Event]:
        """Events at the first point of x -> b where anything happens (or [])."""
        order_points: dict[int, float] = {}
        if self.budget > 0:
            for o in self.orders.values():
                p = self.order_point(o, x, b)
                if p is not None:
                    order_points[o.id] = p
        trigger_points: dict[int, float] = {}
        for t in self.triggers.values():
            p = trigger_point(t, x, b)
            if p is not None:
                trigger_points[t.id] = p
        candidates = list(order_points.values()) + list(trigger_points.values())
        if not candidates:
            return []
        point = max(candidates) if b < x else min(candidates)
        self.price = point
        self.move_trails(point, point)
        here = [i for i, p in trigger_points.items() if p == point]
        activate = {i for i in here if self.triggers[i].kind in (TRAIL_LONG, TRAIL_SHORT)}
        activate = {i for i in activate if not self.triggers[i].active}
        fire = {i: point for i in here if i not in activate}
        if self.pessimistic:  # take-profit triggers give way to their group's first stop
            for i in list(fire):
                t = self.triggers[i]
                if t.adverse or t.group == 0 or t.kind == AT_TIME:
                    continue
                stops = self.first_adverse(t.group, activate, point, path)
                if stops:
                    del fire[i]
                    fire.update(stops)
        events: list[Event] = []
        for order_id in sorted(i for i, p in order_points.items() if p == point):
            if self.budget <= 0:
                break
            o = self.orders[order_id]
            if self.pessimistic and o.group != 0:  # a take-profit order gives way likewise
                stops = self.first_adverse(o.group, activate, point, path)
                if stops:
                    fire.update(stops)
                    continue  # no fill, no budget used: it keeps resting
            amount = min(o.remaining, self.budget)
            o.remaining -= amount
            self.budget -= amount
            if o.remaining <= 0:
                del self.orders[order_id]
            events.append((FILL, order_id, ts, o.price, amount))
        return events + self.trigger_events(fire, activate, point, ts)

    def first_adverse(
        self, group: int, activate: set[int], point: float, path: list[float]
    ) -> dict[int, float]:
        """The adverse triggers of `group` the rest of the candle's path reaches first (id ->
        the price where it reaches them); {} if it reaches none."""
        rest = [(point, path[self.seg])] + [(path[k - 1], path[k]) for k in range(self.seg + 1, 4)]
        reached: list[tuple[int, float, int, float]] = []
        for u in self.triggers.values():
            if not u.adverse or u.group != group or u.kind == AT_TIME:
                continue
            if u.kind in (TRAIL_LONG, TRAIL_SHORT) and (not u.active or u.id in activate):
                continue
            for k, (start, end) in enumerate(rest):
                p = trigger_point(u, start, end)
                if p is not None:
                    reached.append((k, abs(p - start), u.id, p))
                    break
        if not reached:
            return {}
        first = min((k, dist) for k, dist, _, _ in reached)
        return {i: p for k, dist, i, p in reached if (k, dist) == first}

    # ---- trades ----------------------------------------------------------------------------

    def advance_trades(self, trades: np.ndarray, end_row: int) -> list[Event]:
        """Walk the trades to the first trade with events (or to end_row)."""
        assert trades.dtype == TRADE_DTYPE and end_row <= len(trades)
        assert self.mode in (None, "trades") and end_row >= self.row
        self.mode = "trades"
        self.trades = trades
        if self.row < end_row and self.fresh:
            first = trades[self.row]
            self.price, self.ts, self.fresh = float(first["price"]), int(first["ts"]), False
        while self.row < end_row:
            t = trades[self.row]
            ts, p, qty = int(t["ts"]), float(t["price"]), float(t["qty"])
            events = self.fire_times(ts)
            if events:
                return events
            events = self.trade_fills(p, qty, bool(t["is_buyer_maker"]), ts)
            here = {i for i, trig in self.triggers.items() if trigger_point(trig, p, p) is not None}
            self.move_trails(p, p)  # the trails that fire are removed below
            activate = {i for i in here if self.triggers[i].kind in (TRAIL_LONG, TRAIL_SHORT)}
            activate = {i for i in activate if not self.triggers[i].active}
            fire = {i: p for i in here if i not in activate}
            events += self.trigger_events(fire, activate, p, ts)
            self.price, self.ts = p, ts
            self.row += 1
            if events:
                return events
        return []

    def trade_fills(self, p: float, qty: float, buyer_maker: bool, ts: int) -> list[Event]:
        """Queue model: fills of one trade, by order id."""
        events: list[Event] = []
        for order_id in sorted(self.orders):
            o = self.orders[order_id]
            through = p < o.price if o.side > 0 else p > o.price
            at_level = p == o.price and buyer_maker == (o.side > 0)
            fill = 0.0
            if through:
                fill = o.remaining
            elif at_level:
                if qty > o.queue:
                    fill = min(o.remaining, qty - o.queue)
                    o.queue = 0.0
                else:
                    o.queue -= qty
            if fill > 0:
                o.remaining -= fill
                if o.remaining <= 0:
                    del self.orders[order_id]
                events.append((FILL, order_id, ts, o.price, fill))
        return events

    def estimate_queue(self, trades: np.ndarray, price: float, side: int) -> float:
        """Qty traded at `price` on the order's side in the window before the cursor."""
        if self.row == 0:
            return 0.0
        rows = trades[: self.row]
        recent = rows["ts"] > rows["ts"][-1] - self.window
        same = (rows["price"] == price) & (rows["is_buyer_maker"] == (side > 0))
        return float(rows["qty"][recent & same].sum())
