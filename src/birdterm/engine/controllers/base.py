"""Controller base: config schema, the context a controller reads, and the actions it returns.

A controller never places orders itself. Every decision interval it reads the market (mid price,
closed candles, indicators), its active executors and its position hold, and returns actions:
create an executor, or stop one. The same controller runs in backtest, paper and live mode;
only the gateway and the candle feed behind its context differ.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from birdterm.engine.candle_feed import CandleFeed
from birdterm.engine.connectors.base import TradingGateway
from birdterm.engine.executors.base import Executor
from birdterm.engine.executors.orchestrator import ExecutorFactory, ExecutorOrchestrator
from birdterm.engine.executors.position_hold import PositionHold
from birdterm.engine.types import split_trading_pair

_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
# After an executor FAILED (the exchange refused its order), wait at least this long before
# trying the same thing again: a refusal repeats, and retrying every tick floods the exchange.
FAILURE_BACKOFF = 60.0


class ControllerConfig(BaseModel):
    """Fields every controller has; subclasses add their own and fix `type`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    id: str = Field(description="unique name; letters, digits, '_', '-', '.'")
    connector: str = "binance_paper"
    trading_pair: str
    update_interval: float = Field(default=1.0, gt=0, le=86_400, description="seconds")

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(f"{value!r}: use 1-40 letters, digits, '_', '-' or '.'")
        return value

    @field_validator("trading_pair")
    @classmethod
    def _pair_shape(cls, value: str) -> str:
        split_trading_pair(value)
        return value


@dataclass(frozen=True, slots=True)
class CreateExecutor:
    """Start a new executor of `executor_class` with `config`."""

    executor_class: ExecutorFactory
    config: Any


@dataclass(frozen=True, slots=True)
class StopExecutor:
    """Stop an executor early; `keep_position` hands its inventory to the position hold."""

    executor_id: str
    keep_position: bool = False


Action = CreateExecutor | StopExecutor


def apply_actions(
    orchestrator: ExecutorOrchestrator, controller_id: str, actions: Iterable[Action]
) -> None:
    """Carry out a controller's decisions: start and stop its executors."""
    for action in actions:
        if isinstance(action, CreateExecutor):
            orchestrator.create(controller_id, action.executor_class, action.config)
        else:
            orchestrator.stop(action.executor_id, action.keep_position)


class ControllerContext:
    """What a controller may read: the gateway, its executors and hold, candle feeds."""

    def __init__(
        self,
        gateway: TradingGateway,
        orchestrator: ExecutorOrchestrator,
        feeds: dict[str, CandleFeed] | None = None,
    ) -> None:
        self.gateway = gateway
        self.orchestrator = orchestrator
        self.feeds = feeds or {}

    def feed(self, trading_pair: str) -> CandleFeed:
        """The pair's candle feed; a clear error when the run has none."""
        try:
            return self.feeds[trading_pair]
        except KeyError:
            raise KeyError(f"no candle feed for {trading_pair}") from None


class Controller:
    """Base class: subclasses set `config_class` and implement `decide`."""

    config_class: ClassVar[type[ControllerConfig]] = ControllerConfig
    reads_candles: ClassVar[bool] = False  # live runs then keep a candle feed for its pair

    def __init__(self, config: ControllerConfig, context: ControllerContext) -> None:
        self.config = config
        self.context = context
        self.gateway = context.gateway
        self.id = config.id
        self.trading_pair = config.trading_pair
        self.base_asset, self.quote_asset = split_trading_pair(config.trading_pair)

    @property
    def executors(self) -> Iterable[Executor]:
        """This controller's active executors."""
        return self.context.orchestrator.executors_of(self.id)

    @property
    def hold(self) -> PositionHold:
        """This controller's position hold on its pair."""
        return self.context.orchestrator.hold(self.id, self.trading_pair)

    def mid(self) -> Decimal:
        """The pair's mid price now."""
        return self.gateway.mid_price(self.trading_pair)

    def decide(self, now: float) -> Sequence[Action]:
        """The actions to take now (may be empty)."""
        raise NotImplementedError

    def capped_hint(self, wake: float, now: float) -> float | None:
        """`wake` as a next_decision answer: never past the data's last close (the run must
        still tick at its end); None when it is now or already past."""
        feed = self.context.feeds.get(self.trading_pair)
        if feed is not None and len(feed):
            wake = min(wake, (int(feed.candles["ts"][-1]) + feed.interval_ms) / 1000)
        return wake if now < wake < math.inf else None

    def next_decision(self, now: float) -> float | None:
        """A hint for the backtester: the earliest time after `now` at which `decide` could
        return an action if none of this controller's executors changes. None (the default)
        means "every update interval"; math.inf means "not until one of my executors ends".
        Executor events always wake the controller."""
        return None
