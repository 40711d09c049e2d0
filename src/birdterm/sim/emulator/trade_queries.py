"""Selection of an account's trades for GET /api/v3/myTrades (Binance's parameter rules)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from birdterm.sim.emulator.errors import BinanceError
from birdterm.sim.emulator.order_json import my_trade_json
from birdterm.sim.emulator.order_params import check_time_range, int_param, limit_param
from birdterm.sim.emulator.orders import Fill

DAY_MS = 86_400_000


def select_my_trades(fills: list[Fill], params: Mapping[str, str]) -> list[dict[str, Any]]:
    """The fills (one symbol, in trade id order) that myTrades answers for these params.

    orderId filters; fromId starts at that trade id; startTime only gives the oldest from
    there, endTime only the newest up to it, neither the newest; startTime..endTime may span
    at most 24 hours.
    """
    order_id = int_param(params, "orderId")
    from_id = int_param(params, "fromId")
    start = int_param(params, "startTime")
    end = int_param(params, "endTime")
    limit = limit_param(params, 500, 1000)
    check_time_range(start, end)
    if start is not None and end is not None and end - start > DAY_MS:
        raise BinanceError(-1127, "More than 24 hours between startTime and endTime.")
    chosen = [
        f
        for f in fills
        if (order_id is None or f.order_id == order_id)
        and (from_id is None or f.trade_id >= from_id)
        and (start is None or f.time >= start)
        and (end is None or f.time <= end)
    ]
    chosen.sort(key=lambda f: f.trade_id)
    chosen = chosen[-limit:] if from_id is None and start is None else chosen[:limit]
    return [my_trade_json(f) for f in chosen]
