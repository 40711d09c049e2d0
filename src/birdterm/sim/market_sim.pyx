# cython: language_level=3
"""The compiled core of the backtest fill simulator for one trading pair.

`MarketSim` holds our resting limit orders and our price triggers (take-profit, stop-loss,
trailing stop, time limit) in C arrays and walks the market forward over candles
(`advance_candles`) or trades (`advance_trades`). A call returns as soon as something happened,
with every event of that one moment, and the next call resumes exactly where it stopped, so the
Python executors can react in the middle of a candle (arm a take-profit right after the entry
fill, say). Python work is per event, never per candle: stretches where nothing can happen are
skipped by comparing each candle's low/high with a few precomputed bounds.

Events are tuples `(kind, id, ts_ms, price, amount)`:

  FILL             an order filled: id = order id, price = its limit price, amount = the
                   quantity filled now (the rest keeps resting; a fully filled order is gone)
  TRIGGER          a trigger fired: price = the price it fired at, amount = 0; it is gone
  TRAIL_ACTIVATED  a trailing stop reached its activation price: price = that price; it stays

ts_ms is the candle's ts (its open time) or the trade's ts. Within one moment, fills come
first, then triggers; each group is sorted by id.

Candle mode: the price path
---------------------------
A candle is walked as open -> nearer extreme -> farther extreme -> close, the nearer extreme
being the one of high/low closer to the open (a tie takes the low first: the pessimistic choice
for longs). Before it there is the "jump" from the previous price (the previous close, or this
candle's open on the first row after seek()) to the open: a gap has no prices in between, so the
first point of a candle is its open. Everything happens at the FIRST point of the path where its
condition holds, and every order and trigger whose condition first holds at that same point
fires together. The cursor then sits at that point (row, segment, price), and the next call
walks only the rest of the path: an order or trigger added in between does not see prices the
path has already passed, but it does see the cursor point itself (a stop added below the current
price fires at once, at the current price).

Limit orders (candle mode)
--------------------------
A buy at P fills when the path goes strictly below P (touch_fills=True: when it reaches P); a
sell mirrors (strictly above P / reaches P). The fill price is always P, also when a gap crosses
the order (it was resting, so it trades at its own price) and also for an order placed beyond
the market (a marketable limit is filled at its limit: conservative). The amount is
min(remaining, budget_left): the budget is participation x the candle's volume, shared by all our
orders in that candle (in the order the path reaches them; at one point in id order) and reset
at the start of each candle. With no budget left an order does not fill in this candle and
produces no event; the rest of a partial fill keeps resting and fills again in a later candle
whose path is beyond P (with that candle's budget). queue_ahead is ignored in candle mode. An
order with a non-zero group is a take-profit of that trigger group: with pessimistic=True it
may give way to the group's stop (see the pessimistic rule below).

Triggers (candle mode)
----------------------
  ABOVE        fires when the path reaches >= level
  BELOW        fires when the path reaches <= level
  TRAIL_LONG   inactive until the path reaches >= level (activation price): that point emits
               TRAIL_ACTIVATED; from then on it tracks the highest price reached and fires when
               the path falls to <= peak - trail_delta. A rising stretch only raises the peak,
               so the stop never fires on the stretch that set its peak.
  TRAIL_SHORT  mirror: activates at <= level, tracks the lowest price, fires at >= trough +
               trail_delta
  AT_TIME      level is a time in ms: fires at the start of the first candle with ts >= level,
               before that candle's jump, at the price at the cursor (the previous close). Time
               triggers are checked only at candle starts.

The fire price is the first price of the path at which the condition holds: the level itself
when the path moves through it, the open when a gap jumped over it (a gap makes stops worse),
and the cursor price when the condition already held where the trigger was added.

Pessimistic rule (pessimistic=True, the default): a group's favourable items are its triggers
with adverse=False and its resting orders (add_limit(..., group=G): a take-profit resting as a
limit order); both are take-profits. When a favourable item of a non-zero group would fire or
fill at some point, and a trigger with adverse=True in the same group can be reached anywhere on
the rest of this candle's path (from that point to the close; a trailing stop only if it is
already active, at its current threshold, and not one activating at that very point), the
adverse trigger that the rest of the path reaches first fires instead (several reached at the
same point all fire, and only once however many favourable items of the group are pre-empted),
at its own price (its level or threshold), in the same event batch. The favourable item is left
as it was: the take-profit trigger does not fire and stays armed; the order does not fill (no
FILL event, its remaining and the candle's budget unchanged) and keeps resting (executors remove
the group's triggers and orders when one of its triggers fires). The cursor stops at the point
where the favourable item was met (current_price is that point, not the stop's price). So
TP-vs-SL inside one candle always resolves to the stop. An order "would fill" here when it is at the point and budget is
left at its turn (orders at one point take their turn in id order; a pre-empted order uses no
budget, so the orders after it see the same budget). Orders of other groups or of group 0 fill
as usual. With pessimistic=False the path order decides. The rule does not apply to AT_TIME
triggers (they fire at a candle boundary, where the order is not ambiguous) nor in trades mode
(no ambiguity: an order's group is ignored there).

Trades mode
-----------
Each trade is one point of the path. Triggers fire when a trade price reaches their level
(ABOVE >=, BELOW <=, trailing stops as above over trade prices), at that trade's price: a trade
stream has no gaps to interpolate. AT_TIME fires before the first trade with ts >= level, at
the previous trade's price. A trade at which events happened is consumed: the cursor moves past
it, so orders and triggers added then only see later trades.

Limit orders use a queue model. add_limit(..., queue_ahead=Q) says Q is resting ahead of us at
our price (estimate_queue() gives a conservative proxy). For a buy at P:
  * a trade below P traded through our level, so the level was consumed: the whole remaining
    amount fills;
  * a trade at exactly P with is_buyer_maker=True (a seller hit the bids) first eats the queue
    ahead of us; only the excess (qty - Q, at most the remaining amount) fills us;
  * a trade at P with is_buyer_maker=False, or above P, does not touch our bid.
Sells mirror (through = a trade above P; at P only trades with is_buyer_maker=False count). The
fill price is P. There is no participation cap in trades mode: the queue plays that role. Each
of our orders is matched against a trade on its own (our own orders do not queue behind each
other). touch_fills is a candle-mode option.

Cursor state
------------
current_row is the next row to process (a row partially walked is still current). current_price
and current_ts are the last path point passed: the point of the candle being walked (with its
ts), the previous candle's close (and ts) at a row start, the last processed trade. After seek()
they are unknown (nan, 0) until the next advance sets them to the row's open (candles) or price
(trades). budget_left is inf in trades mode; recent_volume and budget_left are 0 until a candle
or trade was walked. Candles and trades must be valid and sorted (see data.validate_candles /
validate_trades), and every call must pass the same array until the next seek() (the cursor is a
row index into it); one MarketSim walks one kind of data until the next seek(). The array is
taken as a C struct memoryview, so it must have exactly CANDLE_DTYPE / TRADE_DTYPE and be
C-contiguous; read-only arrays (memory-mapped caches) are fine.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.math cimport INFINITY, NAN, fabs, isfinite, isnan
from libc.stdint cimport int64_t

import numpy as np

cimport numpy as cnp

from birdterm.sim.data import CANDLE_DTYPE, TRADE_DTYPE

cnp.import_array()

FILL = 1
TRIGGER = 2
TRAIL_ACTIVATED = 3

ABOVE = 1
BELOW = 2
TRAIL_LONG = 3
TRAIL_SHORT = 4
AT_TIME = 5

_KIND_NAMES = {1: "ABOVE", 2: "BELOW", 3: "TRAIL_LONG", 4: "TRAIL_SHORT", 5: "AT_TIME"}


cdef enum:
    EV_FILL = 1
    EV_TRIGGER = 2
    EV_TRAIL_ACTIVATED = 3

cdef enum:
    K_ABOVE = 1
    K_BELOW = 2
    K_TRAIL_LONG = 3
    K_TRAIL_SHORT = 4
    K_AT_TIME = 5

cdef enum:
    MODE_NONE = 0
    MODE_CANDLES = 1
    MODE_TRADES = 2

cdef enum:
    MARK_NONE = 0
    MARK_FIRE = 1
    MARK_ACTIVATE = 2

cdef enum:
    INITIAL_CAPACITY = 8
    SEG_ROW_START = -1  # at a row start, before its AT_TIME check and its jump
    N_SEGMENTS = 4      # jump (open -> open), open -> nearer, nearer -> farther, farther -> close


cdef struct Candle:
    int64_t ts
    double open
    double high
    double low
    double close
    double volume
    double quote_volume
    int64_t trades


cdef struct Trade:
    int64_t ts
    double price
    double qty
    cnp.npy_bool is_buyer_maker
    int64_t trade_id


cdef struct Order:
    int64_t id
    double price
    double remaining
    double queue
    double point  # scratch: first point on the segment searched (nan: none) / trades: fill qty
    int64_t group  # non-zero: a favourable item of that trigger group (pessimistic rule)
    int side


cdef struct Trigger:
    int64_t id
    int64_t group
    double level
    double delta
    double extreme     # trailing stops once active: peak (long) or trough (short)
    double point       # scratch: first point on the segment searched (nan: none)
    double fire_price  # scratch: the price of the event being built
    int kind
    int adverse
    int active
    int mark           # scratch: MARK_*


# ---- first point of a monotone segment x -> b where a condition holds (nan: never) ----------

cdef inline double _reach_le(double x, double b, double level) noexcept nogil:
    if x <= level:
        return x
    if b <= level:
        return level
    return NAN


cdef inline double _reach_ge(double x, double b, double level) noexcept nogil:
    if x >= level:
        return x
    if b >= level:
        return level
    return NAN


cdef inline double _reach_lt(double x, double b, double level) noexcept nogil:
    if x < level:
        return x
    if b < level:
        return level
    return NAN


cdef inline double _reach_gt(double x, double b, double level) noexcept nogil:
    if x > level:
        return x
    if b > level:
        return level
    return NAN


cdef inline double _trigger_point(const Trigger* t, double x, double b) noexcept nogil:
    """First point of x -> b where the trigger fires or activates (nan: none, or AT_TIME)."""
    if t.kind == K_ABOVE:
        return _reach_ge(x, b, t.level)
    if t.kind == K_BELOW:
        return _reach_le(x, b, t.level)
    if t.kind == K_TRAIL_LONG:
        if t.active:
            return _reach_le(x, b, t.extreme - t.delta)
        return _reach_ge(x, b, t.level)
    if t.kind == K_TRAIL_SHORT:
        if t.active:
            return _reach_ge(x, b, t.extreme + t.delta)
        return _reach_le(x, b, t.level)
    return NAN


cdef inline double _order_point(const Order* o, double x, double b, bint touch) noexcept nogil:
    """First point of x -> b where a candle-mode limit order fills (nan: none)."""
    if o.side > 0:
        return _reach_le(x, b, o.price) if touch else _reach_lt(x, b, o.price)
    return _reach_ge(x, b, o.price) if touch else _reach_gt(x, b, o.price)


cdef inline void _candle_path(const Candle* c, double* ends) noexcept nogil:
    """The ends of the four segments: open (the jump), nearer extreme, farther extreme, close."""
    ends[0] = c.open
    if c.high - c.open < c.open - c.low:
        ends[1] = c.high
        ends[2] = c.low
    else:
        ends[1] = c.low
        ends[2] = c.high
    ends[3] = c.close


cdef inline bint _is_trailing(int kind) noexcept nogil:
    return kind == K_TRAIL_LONG or kind == K_TRAIL_SHORT


cdef int _grow(void** buffer, Py_ssize_t* capacity, Py_ssize_t needed, size_t item) except -1:
    """Double `*capacity` until it holds `needed` items of `item` bytes, reallocating."""
    cdef Py_ssize_t cap = capacity[0]
    cdef void* grown
    if needed <= cap:
        return 0
    while cap < needed:
        cap *= 2
    grown = PyMem_Realloc(buffer[0], cap * item)
    if grown == NULL:
        raise MemoryError()
    buffer[0] = grown
    capacity[0] = cap
    return 0


cdef str _describe_dtype(object array):
    dtype = getattr(array, "dtype", None)
    return type(array).__name__ if dtype is None else str(dtype)


cdef class MarketSim:
    """Resting orders and triggers of one pair, walked over candles or trades event by event."""

    cdef Order* _orders
    cdef Py_ssize_t _n_orders
    cdef Py_ssize_t _cap_orders
    cdef Trigger* _trigs
    cdef Py_ssize_t _n_trigs
    cdef Py_ssize_t _cap_trigs
    cdef Py_ssize_t* _scratch  # indices of the items at one event point, sorted by id
    cdef Py_ssize_t _cap_scratch

    cdef double _participation
    cdef bint _touch
    cdef bint _pessimistic
    cdef int64_t _window_ms

    # cursor
    cdef Py_ssize_t _row
    cdef int _seg
    cdef double _price
    cdef int64_t _ts
    cdef bint _fresh  # price/ts unknown (start, after seek): set from the row on next advance
    cdef int _mode
    cdef double _budget
    cdef double _row_volume
    # trades mode: rows [_win_lo, _row) with ts > current_ts - window, and their qty sum
    cdef bint _win_ready
    cdef Py_ssize_t _win_lo
    cdef double _win_sum

    # bounds for the "nothing can happen here" check
    cdef double _buy_max       # highest buy price
    cdef double _sell_min      # lowest sell price
    cdef double _below_max     # highest BELOW level / inactive TRAIL_SHORT activation
    cdef double _above_min     # lowest ABOVE level / inactive TRAIL_LONG activation
    cdef double _tl_th         # highest active TRAIL_LONG threshold (peak - delta)
    cdef double _tl_dmin       # smallest active TRAIL_LONG delta
    cdef double _ts_th         # lowest active TRAIL_SHORT threshold (trough + delta)
    cdef double _ts_dmin       # smallest active TRAIL_SHORT delta
    cdef double _time_min      # earliest AT_TIME
    cdef Py_ssize_t _n_active_trails
    # highest / lowest price skipped over since the last sync, not yet folded into the active
    # trailing stops' peaks / troughs
    cdef double _run_hi
    cdef double _run_lo

    cdef object _candles_obj
    cdef const Candle[::1] _candles
    cdef object _trades_obj
    cdef const Trade[::1] _trades

    def __cinit__(self):
        self._cap_orders = INITIAL_CAPACITY
        self._cap_trigs = INITIAL_CAPACITY
        self._cap_scratch = INITIAL_CAPACITY
        self._orders = <Order*> PyMem_Malloc(self._cap_orders * sizeof(Order))
        self._trigs = <Trigger*> PyMem_Malloc(self._cap_trigs * sizeof(Trigger))
        self._scratch = <Py_ssize_t*> PyMem_Malloc(self._cap_scratch * sizeof(Py_ssize_t))
        if self._orders == NULL or self._trigs == NULL or self._scratch == NULL:
            raise MemoryError()
        self._n_orders = 0
        self._n_trigs = 0

    def __dealloc__(self):
        PyMem_Free(self._orders)
        PyMem_Free(self._trigs)
        PyMem_Free(self._scratch)

    def __init__(
        self,
        *,
        double participation=1.0,
        bint touch_fills=False,
        bint pessimistic=True,
        long long volume_window_ms=60_000,
    ):
        if not (participation >= 0.0 and isfinite(participation)):
            raise ValueError(
                f"participation must be a finite number >= 0, got {participation!r}"
            )
        if volume_window_ms <= 0:
            raise ValueError(f"volume_window_ms must be > 0, got {volume_window_ms}")
        self._participation = participation
        self._touch = touch_fills
        self._pessimistic = pessimistic
        self._window_ms = volume_window_ms
        self._run_hi = -INFINITY
        self._run_lo = INFINITY
        self._reset_cursor(0)
        self._recompute()

    def __repr__(self):
        return (
            f"MarketSim(row={self._row}, price={self._price!r}, orders={self._n_orders}, "
            f"triggers={self._n_trigs})"
        )

    # ---- read-only state ---------------------------------------------------------------------

    @property
    def current_price(self):
        """The price at the cursor (nan before any data was seen or right after seek)."""
        return self._price

    @property
    def current_ts(self):
        """The ts (ms) of the candle or trade at the cursor (0 before any data was seen)."""
        return self._ts

    @property
    def current_row(self):
        """The next row to process; a row partially walked is still current."""
        return self._row

    @property
    def recent_volume(self):
        """Candles: the current candle's volume; trades: qty traded in the trailing window."""
        if self._mode == MODE_CANDLES:
            return self._row_volume
        if self._mode == MODE_TRADES and self._win_ready:
            return self._win_sum
        return 0.0

    @property
    def budget_left(self):
        """Candles: participation x the current candle's volume minus what we filled in it."""
        if self._mode == MODE_TRADES:
            return INFINITY
        return self._budget

    @property
    def n_orders(self):
        """How many orders are resting."""
        return self._n_orders

    @property
    def n_triggers(self):
        """How many triggers are armed."""
        return self._n_trigs

    # ---- orders and triggers -----------------------------------------------------------------

    cdef Py_ssize_t _find_order(self, int64_t order_id) noexcept:
        cdef Py_ssize_t i
        for i in range(self._n_orders):
            if self._orders[i].id == order_id:
                return i
        return -1

    cdef Py_ssize_t _find_trigger(self, int64_t trigger_id) noexcept:
        cdef Py_ssize_t i
        for i in range(self._n_trigs):
            if self._trigs[i].id == trigger_id:
                return i
        return -1

    cdef int _reserve_scratch(self, Py_ssize_t needed) except -1:
        _grow(<void**> &self._scratch, &self._cap_scratch, needed, sizeof(Py_ssize_t))
        return 0

    def add_limit(
        self,
        long long order_id,
        int side,
        double price,
        double amount,
        double queue_ahead=0.0,
        long long group=0,
    ):
        """Rest a limit order (side +1 buy / -1 sell); queue_ahead is used in trades mode.

        A non-zero group makes it a take-profit of that trigger group for the pessimistic rule.
        """
        if side != 1 and side != -1:
            raise ValueError(f"order {order_id}: side must be +1 (buy) or -1 (sell), got {side}")
        if not (price > 0.0 and isfinite(price)):
            raise ValueError(f"order {order_id}: price must be a finite number > 0, got {price!r}")
        if not (amount > 0.0 and isfinite(amount)):
            raise ValueError(
                f"order {order_id}: amount must be a finite number > 0, got {amount!r}"
            )
        if not (queue_ahead >= 0.0 and isfinite(queue_ahead)):
            raise ValueError(
                f"order {order_id}: queue_ahead must be a finite number >= 0, got {queue_ahead!r}"
            )
        if self._find_order(order_id) >= 0:
            raise ValueError(f"duplicate order id {order_id}: that order is already resting")
        _grow(<void**> &self._orders, &self._cap_orders, self._n_orders + 1, sizeof(Order))
        self._reserve_scratch(self._n_orders + 1)
        cdef Order* o = &self._orders[self._n_orders]
        o.id = order_id
        o.side = side
        o.price = price
        o.remaining = amount
        o.queue = queue_ahead
        o.group = group
        o.point = NAN
        self._n_orders += 1
        self._recompute()

    def remove_order(self, long long order_id):
        """Cancel a resting order; False if it is unknown or already filled."""
        cdef Py_ssize_t i = self._find_order(order_id)
        if i < 0:
            return False
        self._n_orders -= 1
        self._orders[i] = self._orders[self._n_orders]
        self._recompute()
        return True

    def order_remaining(self, long long order_id):
        """The unfilled amount of a resting order (nan if unknown or fully filled)."""
        cdef Py_ssize_t i = self._find_order(order_id)
        return NAN if i < 0 else self._orders[i].remaining

    def add_trigger(
        self,
        long long trigger_id,
        int kind,
        double level,
        long long group=0,
        bint adverse=False,
        double trail_delta=0.0,
    ):
        """Arm a trigger: ABOVE/BELOW level, TRAIL_LONG/SHORT (activation level, trail_delta),
        AT_TIME (level = ts in ms)."""
        if kind < K_ABOVE or kind > K_AT_TIME:
            raise ValueError(
                f"trigger {trigger_id}: unknown kind {kind} (use ABOVE=1, BELOW=2, "
                "TRAIL_LONG=3, TRAIL_SHORT=4 or AT_TIME=5)"
            )
        if kind == K_AT_TIME:
            if not isfinite(level):
                raise ValueError(
                    f"trigger {trigger_id}: AT_TIME level must be a finite ts in ms, got {level!r}"
                )
        elif not (level > 0.0 and isfinite(level)):
            raise ValueError(
                f"trigger {trigger_id}: {_KIND_NAMES[kind]} level must be a finite price > 0, "
                f"got {level!r}"
            )
        if _is_trailing(kind) and not (trail_delta > 0.0 and isfinite(trail_delta)):
            raise ValueError(
                f"trigger {trigger_id}: {_KIND_NAMES[kind]} needs a finite trail_delta > 0, "
                f"got {trail_delta!r}"
            )
        if self._find_trigger(trigger_id) >= 0:
            raise ValueError(f"duplicate trigger id {trigger_id}: that trigger is already armed")
        _grow(<void**> &self._trigs, &self._cap_trigs, self._n_trigs + 1, sizeof(Trigger))
        self._reserve_scratch(self._n_trigs + 1)
        cdef Trigger* t = &self._trigs[self._n_trigs]
        t.id = trigger_id
        t.kind = kind
        t.level = level
        t.group = group
        t.adverse = adverse
        t.delta = trail_delta if _is_trailing(kind) else 0.0
        t.active = 0
        t.extreme = NAN
        t.point = NAN
        t.fire_price = NAN
        t.mark = MARK_NONE
        self._n_trigs += 1
        self._recompute()

    def remove_trigger(self, long long trigger_id):
        """Disarm a trigger; False if it is unknown or already fired."""
        cdef Py_ssize_t i = self._find_trigger(trigger_id)
        if i < 0:
            return False
        self._n_trigs -= 1
        self._trigs[i] = self._trigs[self._n_trigs]
        self._recompute()
        return True

    def remove_group(self, long long group):
        """Disarm every trigger of `group`; returns how many were removed."""
        cdef Py_ssize_t i, kept = 0
        cdef Py_ssize_t before = self._n_trigs
        for i in range(self._n_trigs):
            if self._trigs[i].group != group:
                self._trigs[kept] = self._trigs[i]
                kept += 1
        self._n_trigs = kept
        self._recompute()
        return before - kept

    # ---- cursor ------------------------------------------------------------------------------

    cdef void _reset_cursor(self, Py_ssize_t row) noexcept:
        self._row = row
        self._seg = SEG_ROW_START
        self._price = NAN
        self._ts = 0
        self._fresh = True
        self._mode = MODE_NONE
        self._budget = 0.0
        self._row_volume = 0.0
        self._win_ready = False
        self._win_lo = row
        self._win_sum = 0.0

    def seek(self, Py_ssize_t row):
        """Put the cursor at the start of `row` (no events); the price is set on next advance."""
        if row < 0:
            raise ValueError(f"cannot seek to row {row}: rows start at 0")
        self._sync()
        self._reset_cursor(row)

    # ---- bounds ------------------------------------------------------------------------------

    cdef void _recompute(self) noexcept:
        """Recompute the skip bounds from the orders and triggers (trails must be synced)."""
        cdef Py_ssize_t i
        cdef Order* o
        cdef Trigger* t
        cdef double th
        self._buy_max = -INFINITY
        self._sell_min = INFINITY
        for i in range(self._n_orders):
            o = &self._orders[i]
            if o.side > 0:
                if o.price > self._buy_max:
                    self._buy_max = o.price
            elif o.price < self._sell_min:
                self._sell_min = o.price
        self._below_max = -INFINITY
        self._above_min = INFINITY
        self._tl_th = -INFINITY
        self._tl_dmin = INFINITY
        self._ts_th = INFINITY
        self._ts_dmin = INFINITY
        self._time_min = INFINITY
        self._n_active_trails = 0
        for i in range(self._n_trigs):
            t = &self._trigs[i]
            if t.kind == K_ABOVE or (t.kind == K_TRAIL_LONG and not t.active):
                if t.level < self._above_min:
                    self._above_min = t.level
            elif t.kind == K_BELOW or (t.kind == K_TRAIL_SHORT and not t.active):
                if t.level > self._below_max:
                    self._below_max = t.level
            elif t.kind == K_TRAIL_LONG:
                self._n_active_trails += 1
                th = t.extreme - t.delta
                if th > self._tl_th:
                    self._tl_th = th
                if t.delta < self._tl_dmin:
                    self._tl_dmin = t.delta
            elif t.kind == K_TRAIL_SHORT:
                self._n_active_trails += 1
                th = t.extreme + t.delta
                if th < self._ts_th:
                    self._ts_th = th
                if t.delta < self._ts_dmin:
                    self._ts_dmin = t.delta
            elif t.kind == K_AT_TIME:
                if t.level < self._time_min:
                    self._time_min = t.level

    cdef void _sync(self) noexcept:
        """Fold the skipped-over high/low into the active trailing stops, then recompute."""
        cdef Py_ssize_t i
        cdef Trigger* t
        if self._n_active_trails and (self._run_hi > -INFINITY or self._run_lo < INFINITY):
            for i in range(self._n_trigs):
                t = &self._trigs[i]
                if not t.active:
                    continue
                if t.kind == K_TRAIL_LONG and self._run_hi > t.extreme:
                    t.extreme = self._run_hi
                elif t.kind == K_TRAIL_SHORT and self._run_lo < t.extreme:
                    t.extreme = self._run_lo
        self._run_hi = -INFINITY
        self._run_lo = INFINITY
        self._recompute()

    cdef void _extend_trails(self, double x, double b) noexcept:
        """The path went from x to b without events: move the active trails' peaks/troughs."""
        cdef Py_ssize_t i
        cdef Trigger* t
        cdef double hi = x if x > b else b
        cdef double lo = x if x < b else b
        if self._n_active_trails == 0:
            return
        for i in range(self._n_trigs):
            t = &self._trigs[i]
            if not t.active:
                continue
            if t.kind == K_TRAIL_LONG:
                if hi > t.extreme:
                    t.extreme = hi
            elif lo < t.extreme:
                t.extreme = lo

    # ---- event helpers -----------------------------------------------------------------------

    cdef void _sort_by_order_id(self, Py_ssize_t n) noexcept:
        cdef Py_ssize_t i, j, v
        for i in range(1, n):
            v = self._scratch[i]
            j = i - 1
            while j >= 0 and self._orders[self._scratch[j]].id > self._orders[v].id:
                self._scratch[j + 1] = self._scratch[j]
                j -= 1
            self._scratch[j + 1] = v

    cdef void _sort_by_trigger_id(self, Py_ssize_t n) noexcept:
        cdef Py_ssize_t i, j, v
        for i in range(1, n):
            v = self._scratch[i]
            j = i - 1
            while j >= 0 and self._trigs[self._scratch[j]].id > self._trigs[v].id:
                self._scratch[j + 1] = self._scratch[j]
                j -= 1
            self._scratch[j + 1] = v

    cdef void _drop_filled_orders(self) noexcept:
        cdef Py_ssize_t i, kept = 0
        for i in range(self._n_orders):
            if self._orders[i].remaining > 0.0:
                self._orders[kept] = self._orders[i]
                kept += 1
        self._n_orders = kept

    cdef int _emit_marked_triggers(self, int64_t ts, list events) except -1:
        """Append the marked triggers' events by id, apply activations, drop the fired ones."""
        cdef Py_ssize_t i, n = 0, kept = 0
        cdef Trigger* t
        for i in range(self._n_trigs):
            if self._trigs[i].mark != MARK_NONE:
                self._scratch[n] = i
                n += 1
        self._sort_by_trigger_id(n)
        for i in range(n):
            t = &self._trigs[self._scratch[i]]
            if t.mark == MARK_FIRE:
                events.append((EV_TRIGGER, t.id, ts, t.fire_price, 0.0))
            else:
                events.append((EV_TRAIL_ACTIVATED, t.id, ts, t.fire_price, 0.0))
                t.active = 1
                t.extreme = t.fire_price
        for i in range(self._n_trigs):
            t = &self._trigs[i]
            if t.mark == MARK_FIRE:
                continue
            t.mark = MARK_NONE
            self._trigs[kept] = t[0]
            kept += 1
        self._n_trigs = kept
        return 0

    cdef bint _fire_times(self, int64_t ts, list events) except -1:
        """Fire the AT_TIME triggers due at `ts`, at the cursor price; True if any fired."""
        cdef Py_ssize_t i
        cdef Trigger* t
        cdef bint any_fired = False
        for i in range(self._n_trigs):
            t = &self._trigs[i]
            if t.kind == K_AT_TIME and t.level <= <double> ts:
                t.mark = MARK_FIRE
                t.fire_price = self._price
                any_fired = True
        if any_fired:
            self._emit_marked_triggers(ts, events)
        return any_fired

    # ---- candles -----------------------------------------------------------------------------

    cdef Py_ssize_t _bind_candles(self, object candles) except -1:
        if candles is not self._candles_obj:
            if not isinstance(candles, np.ndarray) or candles.dtype != CANDLE_DTYPE:
                raise ValueError(
                    f"candles must be a numpy array of CANDLE_DTYPE, got {_describe_dtype(candles)}"
                )
            if candles.ndim != 1:
                raise ValueError(f"candles must be 1-D, got {candles.ndim} dimensions")
            if not candles.flags.c_contiguous:
                raise ValueError("candles must be C-contiguous (copy with np.ascontiguousarray)")
            self._candles = candles
            self._candles_obj = candles
        return self._candles.shape[0]

    cdef bint _search(self, double x, double b, double* out) noexcept:
        """Store each item's first point on x -> b; the earliest of them in *out (False: none)."""
        cdef Py_ssize_t i
        cdef double p, best = NAN
        cdef bint found = False
        cdef bint down = b < x
        cdef bint can_fill = self._budget > 0.0
        cdef Order* o
        cdef Trigger* t
        for i in range(self._n_orders):
            o = &self._orders[i]
            p = _order_point(o, x, b, self._touch) if can_fill else NAN
            o.point = p
            if not isnan(p) and (not found or (p > best if down else p < best)):
                best = p
                found = True
        for i in range(self._n_trigs):
            t = &self._trigs[i]
            p = _trigger_point(t, x, b)
            t.point = p
            if not isnan(p) and (not found or (p > best if down else p < best)):
                best = p
                found = True
        out[0] = best
        return found

    cdef void _first_reach(
        self, Trigger* u, double point, int seg, const double* ends, int* at_seg, double* at
    ) noexcept:
        """Where the rest of the candle's path (from `point` in segment `seg`) first reaches u."""
        cdef int k
        cdef double start, p
        for k in range(seg, N_SEGMENTS):
            start = point if k == seg else ends[k - 1]
            p = _trigger_point(u, start, ends[k])
            if not isnan(p):
                at_seg[0] = k
                at[0] = p
                return
        at_seg[0] = N_SEGMENTS
        at[0] = NAN

    cdef bint _reaches_adverse(
        self, Trigger* u, int64_t group, double point, int seg, const double* ends,
        int* at_seg, double* dist, double* at,
    ) noexcept:
        """Whether u is an adverse trigger of `group` that the rest of the path reaches."""
        cdef double start
        if not u.adverse or u.group != group or u.kind == K_AT_TIME:
            return False
        if _is_trailing(u.kind) and (not u.active or u.mark == MARK_ACTIVATE):
            return False
        self._first_reach(u, point, seg, ends, at_seg, at)
        if at_seg[0] == N_SEGMENTS:
            return False
        start = point if at_seg[0] == seg else ends[at_seg[0] - 1]
        dist[0] = fabs(at[0] - start)
        return True

    cdef bint _fire_first_adverse(
        self, int64_t group, double point, int seg, const double* ends
    ) noexcept:
        """Mark to fire the adverse triggers of `group` the rest of the path reaches first, at
        their own price; False (nothing marked) if it reaches none. Needs the activation marks
        of this point to be set already."""
        cdef Py_ssize_t j
        cdef int k, best_seg = N_SEGMENTS
        cdef double at, dist, best_dist = INFINITY
        for j in range(self._n_trigs):
            if self._reaches_adverse(&self._trigs[j], group, point, seg, ends, &k, &dist, &at):
                if k < best_seg or (k == best_seg and dist < best_dist):
                    best_seg = k
                    best_dist = dist
        if best_seg == N_SEGMENTS:
            return False
        for j in range(self._n_trigs):
            if self._reaches_adverse(&self._trigs[j], group, point, seg, ends, &k, &dist, &at):
                if k == best_seg and dist == best_dist:
                    self._trigs[j].mark = MARK_FIRE
                    self._trigs[j].fire_price = at
        return True

    cdef void _apply_pessimistic(self, double point, int seg, const double* ends) noexcept:
        """Replace each take-profit firing now by its group's first reachable adverse trigger."""
        cdef Py_ssize_t i
        cdef Trigger* t
        for i in range(self._n_trigs):
            t = &self._trigs[i]
            if t.mark != MARK_FIRE or t.adverse or t.group == 0 or t.kind == K_AT_TIME:
                continue
            if self._fire_first_adverse(t.group, point, seg, ends):
                t.mark = MARK_NONE  # the take-profit does not fire

    cdef int _emit_candle_point(
        self, double point, int seg, const double* ends, int64_t ts, list events
    ) except -1:
        """Emit every event at `point` of segment `seg`: fills by id, then triggers by id."""
        cdef Py_ssize_t i, n = 0, n_trigs = 0
        cdef Order* o
        cdef Trigger* t
        cdef double amount
        cdef bint preempted = False
        # the path reached `point`: peaks and troughs include it
        for i in range(self._n_trigs):
            t = &self._trigs[i]
            if t.active:
                if t.kind == K_TRAIL_LONG:
                    if point > t.extreme:
                        t.extreme = point
                elif point < t.extreme:
                    t.extreme = point
        # the triggers at this point (marked first: the pessimistic rule needs the activations)
        for i in range(self._n_trigs):
            t = &self._trigs[i]
            if t.point == point:
                t.mark = MARK_ACTIVATE if (_is_trailing(t.kind) and not t.active) else MARK_FIRE
                t.fire_price = point
                n_trigs += 1
        if n_trigs and self._pessimistic:
            self._apply_pessimistic(point, seg, ends)
        # fills, sharing the candle's budget in id order; a take-profit order of a group whose
        # stop the rest of the path reaches does not fill: that stop fires instead
        for i in range(self._n_orders):
            if self._orders[i].point == point:
                self._scratch[n] = i
                n += 1
        self._sort_by_order_id(n)
        for i in range(n):
            o = &self._orders[self._scratch[i]]
            if self._budget <= 0.0:
                break
            if (
                self._pessimistic
                and o.group != 0
                and self._fire_first_adverse(o.group, point, seg, ends)
            ):
                preempted = True
                continue
            amount = o.remaining if o.remaining < self._budget else self._budget
            o.remaining -= amount
            self._budget -= amount
            events.append((EV_FILL, o.id, ts, o.price, amount))
        if n:
            self._drop_filled_orders()
        if n_trigs or preempted:
            self._emit_marked_triggers(ts, events)
        return 0

    cdef bint _walk_row(self, const Candle* c, list events) except -1:
        """Walk the current row from the cursor; True if it stopped at an event."""
        cdef double ends[N_SEGMENTS]
        cdef int seg = self._seg
        cdef double x, b, point
        if seg == SEG_ROW_START:
            if self._fresh:
                self._price = c.open
                self._ts = c.ts
                self._fresh = False
            if <double> c.ts >= self._time_min and self._fire_times(c.ts, events):
                return True
            seg = 0
            self._budget = self._participation * c.volume
            self._row_volume = c.volume
            self._ts = c.ts
            x = c.open
        else:
            x = self._price
        _candle_path(c, ends)
        while seg < N_SEGMENTS:
            b = ends[seg]
            if self._search(x, b, &point):
                self._emit_candle_point(point, seg, ends, c.ts, events)
                self._seg = seg
                self._price = point
                return True
            self._extend_trails(x, b)
            x = b
            seg += 1
        self._seg = SEG_ROW_START
        self._price = c.close
        return False

    def advance_candles(self, candles, Py_ssize_t end_row):
        """Walk candles from the cursor up to (not including) end_row; stop at the first event.

        Returns the events of that one point as (kind, id, ts_ms, price, amount) tuples, or []
        when the cursor reached the start of end_row without any.
        """
        cdef Py_ssize_t n = self._bind_candles(candles)
        if self._mode == MODE_TRADES:
            raise ValueError("this MarketSim is walking trades: seek() before walking candles")
        if end_row > n:
            raise ValueError(f"end_row {end_row} is beyond the {n} candles")
        if end_row < self._row:
            raise ValueError(
                f"end_row {end_row} is before the cursor (row {self._row}); seek() to go back"
            )
        self._mode = MODE_CANDLES
        cdef list events = []
        if end_row > self._row:
            self._run_candles(&self._candles[0], end_row, events)
        return events

    cdef int _run_candles(self, const Candle* cp, Py_ssize_t end_row, list events) except -1:
        cdef Py_ssize_t r = self._row
        cdef const Candle* c
        cdef const Candle* skipped = NULL
        cdef double lo, hi, nh, nl, bound
        cdef double part = self._participation
        cdef bint strict = not self._touch
        cdef double buy_max, sell_min, below_max, above_min
        cdef double tl_th, tl_dmin, ts_th, ts_dmin, time_min
        cdef double run_hi = self._run_hi
        cdef double run_lo = self._run_lo
        buy_max = self._buy_max
        sell_min = self._sell_min
        below_max = self._below_max
        above_min = self._above_min
        tl_th = self._tl_th
        tl_dmin = self._tl_dmin
        ts_th = self._ts_th
        ts_dmin = self._ts_dmin
        time_min = self._time_min
        while r < end_row:
            c = cp + r
            if self._seg == SEG_ROW_START and <double> c.ts < time_min:
                lo = c.low
                hi = c.high
                if (
                    not (
                        (lo < buy_max or hi > sell_min if strict
                         else lo <= buy_max or hi >= sell_min)
                        and part * c.volume > 0.0
                    )
                    and lo > below_max
                    and hi < above_min
                ):
                    nh = hi if hi > run_hi else run_hi
                    nl = lo if lo < run_lo else run_lo
                    bound = nh - tl_dmin
                    if lo > (bound if bound > tl_th else tl_th):
                        bound = nl + ts_dmin
                        if hi < (bound if bound < ts_th else ts_th):
                            run_hi = nh
                            run_lo = nl
                            skipped = c
                            r += 1
                            continue
            # something may happen in this row: walk it exactly
            if skipped != NULL:
                self._after_skipped(skipped)
                skipped = NULL
            self._run_hi = run_hi
            self._run_lo = run_lo
            self._sync()
            self._row = r
            if self._walk_row(c, events):
                self._recompute()
                return 0
            r += 1
            self._row = r
            self._recompute()
            run_hi = -INFINITY
            run_lo = INFINITY
            buy_max = self._buy_max
            sell_min = self._sell_min
            below_max = self._below_max
            above_min = self._above_min
            tl_th = self._tl_th
            tl_dmin = self._tl_dmin
            ts_th = self._ts_th
            ts_dmin = self._ts_dmin
            time_min = self._time_min
        if skipped != NULL:
            self._after_skipped(skipped)
        self._row = end_row
        self._run_hi = run_hi
        self._run_lo = run_lo
        self._sync()
        return 0

    def first_active_candle(self, candles, Py_ssize_t end_row):
        """The first row from the cursor, before end_row, that advance_candles would walk
        rather than skip because something may happen in it (the same conservative bounds
        check), or -1. A dry run: nothing changes, so a backtest can jump its clock there
        without walking any market ahead of it."""
        cdef Py_ssize_t n = self._bind_candles(candles)
        if end_row > n:
            raise ValueError(f"end_row {end_row} is beyond the {n} candles")
        cdef Py_ssize_t r = self._row
        if r >= end_row:
            return -1
        if self._seg != SEG_ROW_START:
            return r  # the cursor is inside this row
        cdef const Candle* cp = &self._candles[0]
        cdef const Candle* c
        cdef double lo, hi, nh, nl, bound
        cdef double part = self._participation
        cdef bint strict = not self._touch
        cdef double run_hi = self._run_hi
        cdef double run_lo = self._run_lo
        while r < end_row:
            c = cp + r
            if <double> c.ts >= self._time_min:
                return r
            lo = c.low
            hi = c.high
            if (
                (lo < self._buy_max or hi > self._sell_min if strict
                 else lo <= self._buy_max or hi >= self._sell_min)
                and part * c.volume > 0.0
            ) or lo <= self._below_max or hi >= self._above_min:
                return r
            nh = hi if hi > run_hi else run_hi
            nl = lo if lo < run_lo else run_lo
            bound = nh - self._tl_dmin
            if lo <= (bound if bound > self._tl_th else self._tl_th):
                return r
            bound = nl + self._ts_dmin
            if hi >= (bound if bound < self._ts_th else self._ts_th):
                return r
            run_hi = nh
            run_lo = nl
            r += 1
        return -1

    def first_active_trade(self, trades, Py_ssize_t end_row):
        """The first trade row from the cursor, before end_row, that advance_trades would
        process rather than skip (something may happen at it), or -1. A dry run."""
        cdef Py_ssize_t n = self._bind_trades(trades)
        if end_row > n:
            raise ValueError(f"end_row {end_row} is beyond the {n} trades")
        cdef Py_ssize_t k = self._row
        cdef const Trade* tp
        cdef const Trade* t
        cdef double p, bound
        cdef double run_hi = self._run_hi
        cdef double run_lo = self._run_lo
        if k >= end_row:
            return -1
        tp = &self._trades[0]
        while k < end_row:
            t = tp + k
            if <double> t.ts >= self._time_min:
                return k
            p = t.price
            bound = run_hi - self._tl_dmin
            if bound < self._tl_th:
                bound = self._tl_th
            if not (
                p > self._buy_max and p < self._sell_min and p > self._below_max
                and p < self._above_min and p > bound
                and p < (run_lo + self._ts_dmin if run_lo + self._ts_dmin < self._ts_th
                         else self._ts_th)
            ):
                return k
            if p > run_hi:
                run_hi = p
            if p < run_lo:
                run_lo = p
            k += 1
        return -1

    cdef void _after_skipped(self, const Candle* c) noexcept:
        """The cursor passed candle c without events: it sits at its close."""
        self._price = c.close
        self._ts = c.ts
        self._budget = self._participation * c.volume
        self._row_volume = c.volume
        self._fresh = False

    # ---- trades ------------------------------------------------------------------------------

    cdef Py_ssize_t _bind_trades(self, object trades) except -1:
        if trades is not self._trades_obj:
            if not isinstance(trades, np.ndarray) or trades.dtype != TRADE_DTYPE:
                raise ValueError(
                    f"trades must be a numpy array of TRADE_DTYPE, got {_describe_dtype(trades)}"
                )
            if trades.ndim != 1:
                raise ValueError(f"trades must be 1-D, got {trades.ndim} dimensions")
            if not trades.flags.c_contiguous:
                raise ValueError("trades must be C-contiguous (copy with np.ascontiguousarray)")
            self._trades = trades
            self._trades_obj = trades
        return self._trades.shape[0]

    cdef bint _process_trade(self, const Trade* tr, list events) except -1:
        """Apply one trade to the orders and triggers; True if it produced events."""
        cdef Py_ssize_t i, n = 0
        cdef Order* o
        cdef Trigger* t
        cdef double p = tr.price
        cdef double qty = tr.qty
        cdef bint bid_hit = tr.is_buyer_maker != 0
        cdef double fill
        cdef bint any_event = False
        for i in range(self._n_orders):
            o = &self._orders[i]
            fill = 0.0
            if (p < o.price) if o.side > 0 else (p > o.price):
                fill = o.remaining  # traded through: the whole level went
            elif p == o.price and (bid_hit if o.side > 0 else not bid_hit):
                if qty > o.queue:
                    fill = qty - o.queue
                    if fill > o.remaining:
                        fill = o.remaining
                    o.queue = 0.0
                else:
                    o.queue -= qty
            if fill > 0.0:
                o.point = fill
                self._scratch[n] = i
                n += 1
        if n:
            self._sort_by_order_id(n)
            for i in range(n):
                o = &self._orders[self._scratch[i]]
                o.remaining -= o.point
                events.append((EV_FILL, o.id, tr.ts, o.price, o.point))
            self._drop_filled_orders()
            any_event = True
        n = 0
        for i in range(self._n_trigs):
            t = &self._trigs[i]
            if not isnan(_trigger_point(t, p, p)):
                t.mark = MARK_ACTIVATE if (_is_trailing(t.kind) and not t.active) else MARK_FIRE
                t.fire_price = p
                n += 1
            elif t.active:
                if t.kind == K_TRAIL_LONG:
                    if p > t.extreme:
                        t.extreme = p
                elif p < t.extreme:
                    t.extreme = p
        if n:
            self._emit_marked_triggers(tr.ts, events)
            any_event = True
        return any_event

    def advance_trades(self, trades, Py_ssize_t end_row):
        """Walk trades from the cursor up to (not including) end_row; stop at the first event.

        Returns the events at that one trade (or the AT_TIME triggers due before it) as
        (kind, id, ts_ms, price, amount) tuples, or [] when the cursor reached end_row.
        """
        cdef Py_ssize_t n = self._bind_trades(trades)
        if self._mode == MODE_CANDLES:
            raise ValueError("this MarketSim is walking candles: seek() before walking trades")
        if end_row > n:
            raise ValueError(f"end_row {end_row} is beyond the {n} trades")
        if end_row < self._row:
            raise ValueError(
                f"end_row {end_row} is before the cursor (row {self._row}); seek() to go back"
            )
        self._mode = MODE_TRADES
        cdef list events = []
        if end_row > self._row:
            self._run_trades(&self._trades[0], end_row, events)
        return events

    cdef void _init_window(self, const Trade* tp, Py_ssize_t k) noexcept:
        """Start the volume window at trade k: the earlier trades within the window."""
        cdef Py_ssize_t lo = k
        cdef double total = 0.0
        cdef int64_t cutoff = tp[k].ts - self._window_ms
        while lo > 0 and tp[lo - 1].ts > cutoff:
            lo -= 1
            total += tp[lo].qty
        self._win_lo = lo
        self._win_sum = total
        self._win_ready = True

    cdef int _run_trades(self, const Trade* tp, Py_ssize_t end_row, list events) except -1:
        cdef Py_ssize_t k = self._row
        cdef const Trade* t
        cdef double p, bound
        cdef bint emitted
        cdef int64_t cutoff
        cdef int64_t window = self._window_ms
        cdef double buy_max, sell_min, below_max, above_min
        cdef double tl_th, tl_dmin, ts_th, ts_dmin, time_min
        cdef double run_hi = self._run_hi
        cdef double run_lo = self._run_lo
        cdef Py_ssize_t win_lo, first_k
        cdef double win_sum
        if self._fresh:
            t = tp + k
            self._price = t.price
            self._ts = t.ts
            self._fresh = False
            self._init_window(tp, k)
        win_lo = self._win_lo
        win_sum = self._win_sum
        buy_max = self._buy_max
        sell_min = self._sell_min
        below_max = self._below_max
        above_min = self._above_min
        tl_th = self._tl_th
        tl_dmin = self._tl_dmin
        ts_th = self._ts_th
        ts_dmin = self._ts_dmin
        time_min = self._time_min
        first_k = k
        while k < end_row:
            t = tp + k
            if <double> t.ts >= time_min:
                if k > first_k:  # the fast path below does not keep the price: the last trade's
                    self._price = tp[k - 1].price
                    self._ts = tp[k - 1].ts
                self._row = k
                self._run_hi = run_hi
                self._run_lo = run_lo
                self._win_lo = win_lo
                self._win_sum = win_sum
                self._sync()
                if self._fire_times(t.ts, events):
                    self._recompute()
                    return 0
                run_hi = -INFINITY
                run_lo = INFINITY
            p = t.price
            emitted = False
            bound = run_hi - tl_dmin
            if bound < tl_th:
                bound = tl_th
            if (
                p > buy_max and p < sell_min and p > below_max and p < above_min and p > bound
                and p < (run_lo + ts_dmin if run_lo + ts_dmin < ts_th else ts_th)
            ):
                if p > run_hi:
                    run_hi = p
                if p < run_lo:
                    run_lo = p
            else:
                self._run_hi = run_hi
                self._run_lo = run_lo
                self._sync()
                emitted = self._process_trade(t, events)
                self._recompute()
                run_hi = -INFINITY
                run_lo = INFINITY
                buy_max = self._buy_max
                sell_min = self._sell_min
                below_max = self._below_max
                above_min = self._above_min
                tl_th = self._tl_th
                tl_dmin = self._tl_dmin
                ts_th = self._ts_th
                ts_dmin = self._ts_dmin
                time_min = self._time_min
            # the volume window (current_ts - window, current_ts], kept with two pointers
            cutoff = t.ts - window
            while tp[win_lo].ts <= cutoff:
                win_sum -= tp[win_lo].qty
                win_lo += 1
            if win_lo == k:
                win_sum = t.qty  # only this trade: restart the sum, shedding rounding drift
            else:
                win_sum += t.qty
            k += 1
            if emitted:
                break
        t = tp + (k - 1)
        self._price = t.price
        self._ts = t.ts
        self._row = k
        self._win_lo = win_lo
        self._win_sum = win_sum
        self._run_hi = run_hi
        self._run_lo = run_lo
        self._sync()
        return 0

    def estimate_queue(self, trades, double price, int side):
        """Volume likely resting ahead of a new order at `price`: a proxy from the trade stream.

        The sum of qty of trades at exactly `price` on the order's side (buy: is_buyer_maker
        True, sell: False) among the rows before current_row within volume_window_ms of the
        last of them (ts > ts[current_row - 1] - window). We have no displayed depth, and the
        volume that recently traded at a level is a conservative stand-in for what rests there.
        """
        cdef Py_ssize_t n = self._bind_trades(trades)
        if side != 1 and side != -1:
            raise ValueError(f"side must be +1 (buy) or -1 (sell), got {side}")
        if not (price > 0.0 and isfinite(price)):
            raise ValueError(f"price must be a finite number > 0, got {price!r}")
        if self._row > n:
            raise ValueError(f"the cursor (row {self._row}) is beyond the {n} trades")
        cdef Py_ssize_t j = self._row - 1
        cdef double total = 0.0
        cdef const Trade* tp
        cdef int64_t cutoff
        cdef bint want_bid_hit = side > 0
        if j < 0:
            return 0.0
        tp = &self._trades[0]
        cutoff = tp[j].ts - self._window_ms
        while j >= 0 and tp[j].ts > cutoff:
            if tp[j].price == price and (tp[j].is_buyer_maker != 0) == want_bid_hit:
                total += tp[j].qty
            j -= 1
        return total
