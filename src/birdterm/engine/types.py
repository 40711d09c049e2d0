"""Core trading types: order kinds, the order state machine, in-flight orders, rules, fees."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from enum import Enum

ZERO = Decimal(0)


class OrderType(Enum):
    """How an order meets the book."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    LIMIT_MAKER = "LIMIT_MAKER"

    @property
    def is_limit(self) -> bool:
        """True for orders that rest at a price."""
        return self is not OrderType.MARKET


class TradeType(Enum):
    """The side of an order or a fill."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> TradeType:
        """The other side."""
        return TradeType.SELL if self is TradeType.BUY else TradeType.BUY


class OrderState(Enum):
    """Where an order is in its life; see ORDER_TRANSITIONS for the legal moves."""

    PENDING_CREATE = "PENDING_CREATE"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    FAILED = "FAILED"

    @property
    def is_done(self) -> bool:
        """True once the order can never change again."""
        return self in _TERMINAL_STATES

    @property
    def is_open(self) -> bool:
        """True while the order may still rest on (or be headed to) the exchange."""
        return not self.is_done


_TERMINAL_STATES = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.FAILED})

# A fill can arrive at any point before the order is done: a market order fills before we ever
# see it OPEN, and a fill can race a cancel request. A PENDING_CANCEL order whose cancel the
# exchange rejected (the order is still live) goes back to OPEN or PARTIALLY_FILLED.
ORDER_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.PENDING_CREATE: frozenset(
        {
            OrderState.OPEN,
            OrderState.PARTIALLY_FILLED,
            OrderState.FILLED,
            OrderState.PENDING_CANCEL,
            OrderState.CANCELED,
            OrderState.FAILED,
        }
    ),
    OrderState.OPEN: frozenset(
        {
            OrderState.PARTIALLY_FILLED,
            OrderState.FILLED,
            OrderState.PENDING_CANCEL,
            OrderState.CANCELED,
            OrderState.FAILED,
        }
    ),
    OrderState.PARTIALLY_FILLED: frozenset(
        {
            OrderState.PARTIALLY_FILLED,
            OrderState.FILLED,
            OrderState.PENDING_CANCEL,
            OrderState.CANCELED,
        }
    ),
    OrderState.PENDING_CANCEL: frozenset(
        {
            OrderState.OPEN,
            OrderState.PARTIALLY_FILLED,
            OrderState.FILLED,
            OrderState.CANCELED,
        }
    ),
    OrderState.FILLED: frozenset(),
    OrderState.CANCELED: frozenset(),
    OrderState.FAILED: frozenset(),
}


class TradingError(Exception):
    """Base class of the engine's trading errors."""


class IllegalTransitionError(TradingError):
    """An order was asked to move to a state it cannot reach from where it is."""

    def __init__(self, client_order_id: str, current: OrderState, requested: OrderState) -> None:
        allowed = ", ".join(s.value for s in ORDER_TRANSITIONS[current]) or "none (final state)"
        super().__init__(
            f"order {client_order_id}: cannot go from {current.value} to {requested.value}; "
            f"allowed from {current.value}: {allowed}"
        )
        self.client_order_id = client_order_id
        self.current = current
        self.requested = requested


class FillError(TradingError):
    """A fill does not fit its order (wrong order, overfill, non-positive amount)."""


class OrderRuleError(TradingError):
    """An order breaks the exchange's trading rules (min amount, min notional, ...)."""


@dataclass(frozen=True, slots=True)
class TokenAmount:
    """An amount of one asset."""

    token: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class TradeFee:
    """The fee charged on one fill: a percentage of the fill (in `percent_token`) plus flat fees."""

    percent: Decimal = ZERO
    percent_token: str | None = None
    flat_fees: tuple[TokenAmount, ...] = ()

    def amounts(
        self, base: str, quote: str, amount: Decimal, price: Decimal, trade_type: TradeType
    ) -> dict[str, Decimal]:
        """Fee per asset for a fill of `amount` base at `price` (percent fee in the received asset
        unless `percent_token` says otherwise)."""
        fees: dict[str, Decimal] = {}
        if self.percent:
            token = self.percent_token or (base if trade_type is TradeType.BUY else quote)
            if token == base:
                value = amount * self.percent
            elif token == quote:
                value = amount * price * self.percent
            else:
                raise FillError(
                    f"percent fee in {token} needs a conversion rate; only {base} or {quote} "
                    "are supported for a percent fee"
                )
            fees[token] = fees.get(token, ZERO) + value
        for flat in self.flat_fees:
            fees[flat.token] = fees.get(flat.token, ZERO) + flat.amount
        return fees

    def in_quote(
        self, base: str, quote: str, amount: Decimal, price: Decimal, trade_type: TradeType
    ) -> Decimal:
        """The fee's value in the quote asset (base-asset fees valued at the fill price)."""
        total = ZERO
        for token, value in self.amounts(base, quote, amount, price, trade_type).items():
            if token == quote:
                total += value
            elif token == base:
                total += value * price
            else:
                raise FillError(f"fee in {token} cannot be valued in {quote} without a rate")
        return total


@dataclass(frozen=True, slots=True)
class TradeFeeSchema:
    """An exchange's fee schedule: maker and taker percentages (0.001 = 0.1 %)."""

    maker_percent: Decimal = Decimal("0.001")
    taker_percent: Decimal = Decimal("0.001")
    percent_token: str | None = None

    def __post_init__(self) -> None:
        for name in ("maker_percent", "taker_percent"):
            value = getattr(self, name)
            if not Decimal("-0.01") <= value <= Decimal("0.1"):
                raise ValueError(f"{name}={value} is outside the valid range -0.01 .. 0.1")

    def fee(self, is_maker: bool) -> TradeFee:
        """The fee for a maker or a taker fill."""
        return TradeFee(
            percent=self.maker_percent if is_maker else self.taker_percent,
            percent_token=self.percent_token,
        )


def split_trading_pair(trading_pair: str) -> tuple[str, str]:
    """'BTC-USDT' -> ('BTC', 'USDT'), with a clear error for anything else."""
    parts = trading_pair.split("-")
    if len(parts) != 2 or not all(p and p.isalnum() and p.upper() == p for p in parts):
        raise ValueError(
            f"trading pair {trading_pair!r} is not BASE-QUOTE in capitals, e.g. 'BTC-USDT'"
        )
    return parts[0], parts[1]


@dataclass(frozen=True, slots=True)
class TradingRule:
    """An exchange's limits for one pair, and Decimal quantization to them."""

    trading_pair: str
    tick_size: Decimal
    step_size: Decimal
    min_amount: Decimal = ZERO
    max_amount: Decimal | None = None
    min_notional: Decimal = ZERO
    # the grids as bare powers of ten when they are (the usual case: one quantize does it)
    _tick_unit: Decimal | None = field(default=None, init=False, repr=False, compare=False)
    _step_unit: Decimal | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        split_trading_pair(self.trading_pair)
        for name in ("tick_size", "step_size"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"{self.trading_pair}: {name} must be > 0, got {getattr(self, name)}"
                )
        object.__setattr__(self, "_tick_unit", _power_of_ten(self.tick_size))
        object.__setattr__(self, "_step_unit", _power_of_ten(self.step_size))

    def quantize_price(self, price: Decimal, trade_type: TradeType | None = None) -> Decimal:
        """Round a price to the tick grid: bids down, asks up (never more aggressive than asked);
        without a side, to the nearest tick below."""
        rounding = ROUND_CEILING if trade_type is TradeType.SELL else ROUND_FLOOR
        if self._tick_unit is not None:
            return price.quantize(self._tick_unit, rounding=rounding)
        return _to_grid(price, self.tick_size, rounding)

    def quantize_amount(self, amount: Decimal) -> Decimal:
        """Round an amount down to the step grid (never more than asked)."""
        if self._step_unit is not None:
            return amount.quantize(self._step_unit, rounding=ROUND_DOWN)
        return _to_grid(amount, self.step_size, ROUND_DOWN)

    def check(self, price: Decimal, amount: Decimal) -> None:
        """Raise OrderRuleError if a quantized order breaks a limit; say which and by how much."""
        if amount < self.min_amount or amount <= 0:
            raise OrderRuleError(
                f"{self.trading_pair}: amount {amount} is below the minimum "
                f"{max(self.min_amount, self.step_size)}"
            )
        if self.max_amount is not None and amount > self.max_amount:
            raise OrderRuleError(
                f"{self.trading_pair}: amount {amount} is above the maximum {self.max_amount}"
            )
        if price <= 0:
            raise OrderRuleError(f"{self.trading_pair}: price {price} must be > 0")
        notional = price * amount
        if notional < self.min_notional:
            raise OrderRuleError(
                f"{self.trading_pair}: order value {notional} (price {price} x amount {amount}) "
                f"is below the minimum notional {self.min_notional}"
            )

    def quantize_order(
        self, trade_type: TradeType, price: Decimal, amount: Decimal
    ) -> tuple[Decimal, Decimal]:
        """Quantize price and amount, then check the limits; returns what may be sent."""
        q_price = self.quantize_price(price, trade_type)
        q_amount = self.quantize_amount(amount)
        self.check(q_price, q_amount)
        return q_price, q_amount


def _to_grid(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    steps = (value / step).to_integral_value(rounding=rounding)
    return (steps * step).quantize(step)


def _power_of_ten(step: Decimal) -> Decimal | None:
    """`step` when it is written as a bare power of ten (0.01, 1E+1), else None: quantizing to
    it is then exact and keeps its exponent (0.01000000 is not bare: it keeps 8 places)."""
    return step if step.as_tuple().digits == (1,) else None


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    """One fill reported by the exchange for one order."""

    trade_id: str
    client_order_id: str
    price: Decimal
    amount: Decimal
    fee: TradeFee
    timestamp: float
    is_maker: bool = False


@dataclass(slots=True)
class InFlightOrder:
    """An order we track from before it is sent until it is done."""

    client_order_id: str
    trading_pair: str
    order_type: OrderType
    trade_type: TradeType
    amount: Decimal
    price: Decimal | None
    creation_timestamp: float
    exchange_order_id: str | None = None
    state: OrderState = OrderState.PENDING_CREATE
    executed_base: Decimal = ZERO
    executed_quote: Decimal = ZERO
    fees: dict[str, Decimal] = field(default_factory=dict)
    fills: dict[str, TradeUpdate] = field(default_factory=dict)
    last_update_timestamp: float = 0.0

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"order {self.client_order_id}: amount must be > 0, got {self.amount}")
        if self.order_type.is_limit and (self.price is None or self.price <= 0):
            raise ValueError(
                f"order {self.client_order_id}: a {self.order_type.value} order needs a price > 0"
            )

    @property
    def base_asset(self) -> str:
        """The base asset of the pair."""
        return split_trading_pair(self.trading_pair)[0]

    @property
    def quote_asset(self) -> str:
        """The quote asset of the pair."""
        return split_trading_pair(self.trading_pair)[1]

    @property
    def remaining_amount(self) -> Decimal:
        """Base amount not yet filled."""
        return self.amount - self.executed_base

    @property
    def average_price(self) -> Decimal | None:
        """Volume-weighted price of the fills so far, or None before the first fill."""
        return self.executed_quote / self.executed_base if self.executed_base else None

    @property
    def is_done(self) -> bool:
        """True once the order is filled, cancelled or failed."""
        return self.state.is_done

    def transition(self, new_state: OrderState, timestamp: float | None = None) -> None:
        """Move to `new_state`, or raise IllegalTransitionError if the state machine forbids it."""
        if new_state not in ORDER_TRANSITIONS[self.state]:
            raise IllegalTransitionError(self.client_order_id, self.state, new_state)
        self.state = new_state
        if timestamp is not None:
            self.last_update_timestamp = timestamp

    def apply_fill(self, fill: TradeUpdate) -> bool:
        """Record a fill; returns False (and changes nothing) for a trade id seen before."""
        if fill.client_order_id != self.client_order_id:
            raise FillError(
                f"fill {fill.trade_id} is for order {fill.client_order_id}, "
                f"not {self.client_order_id}"
            )
        if fill.trade_id in self.fills:
            return False
        if fill.amount <= 0 or fill.price <= 0:
            raise FillError(
                f"order {self.client_order_id}: fill {fill.trade_id} has amount {fill.amount} "
                f"and price {fill.price}; both must be > 0"
            )
        if self.executed_base + fill.amount > self.amount:
            raise FillError(
                f"order {self.client_order_id}: fill {fill.trade_id} of {fill.amount} would "
                f"overfill ({self.executed_base} of {self.amount} already filled)"
            )
        target = (
            OrderState.FILLED
            if self.executed_base + fill.amount == self.amount
            else OrderState.PARTIALLY_FILLED
        )
        if target not in ORDER_TRANSITIONS[self.state]:
            raise IllegalTransitionError(self.client_order_id, self.state, target)
        base, quote = split_trading_pair(self.trading_pair)
        for token, value in fill.fee.amounts(
            base, quote, fill.amount, fill.price, self.trade_type
        ).items():
            self.fees[token] = self.fees.get(token, ZERO) + value
        self.fills[fill.trade_id] = fill
        self.executed_base += fill.amount
        self.executed_quote += fill.amount * fill.price
        # A partial fill on an order whose cancel is pending keeps it PENDING_CANCEL: the cancel
        # request is still out, and only its confirmation (or a full fill) ends the order.
        if not (self.state is OrderState.PENDING_CANCEL and target is OrderState.PARTIALLY_FILLED):
            self.state = target
        self.last_update_timestamp = fill.timestamp
        return True
