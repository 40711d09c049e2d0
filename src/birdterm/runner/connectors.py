"""Building the connector a controller file names: live Binance, or paper on Binance's data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

import aiohttp

from birdterm.engine.connectors.base import TradingGateway
from birdterm.engine.connectors.binance.connector import BinanceConnector
from birdterm.engine.connectors.binance.constants import BinanceUrls, make_throttler
from birdterm.engine.connectors.binance.market_data import BinanceMarketData
from birdterm.engine.connectors.binance.settings import BinanceSettings
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.engine.connectors.paper import PaperConnector
from birdterm.engine.connectors.wallet import Wallet
from birdterm.engine.order_book import OrderBook
from birdterm.engine.store import Store
from birdterm.engine.types import InFlightOrder, TradeFeeSchema
from birdterm.sim.fill_model import FillModel


class LiveGateway(TradingGateway, Protocol):
    """What a session needs of its connector beyond the executors' gateway."""

    @property
    def name(self) -> str:
        """The clock's name for it."""

    def start(self, clock: Any, timestamp: float) -> None:
        """Clock start."""

    def tick(self, timestamp: float) -> None:
        """Clock tick: deliver answers, retry, poll."""

    def stop(self) -> None:
        """Clock stop."""

    async def start_network(self) -> None:
        """Connect: rules, balances, streams, books."""

    async def stop_network(self) -> None:
        """Disconnect and cancel background tasks."""

    @property
    def health(self) -> str:
        """ "ws", "rest_fallback" or "down"."""

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (total, available)."""

    def open_orders(self) -> list[InFlightOrder]:
        """Orders not yet done."""

    def order_book(self, trading_pair: str) -> OrderBook:
        """The pair's live order book."""


def build_connector(
    kind: str,
    urls: tuple[str, str, str],
    api_key: str,
    api_secret: str,
    trading_pairs: list[str],
    document: Any,
    store: Store,
    http: aiohttp.ClientSession,
    store_scope: str,
) -> LiveGateway:
    """The connector for `kind` ("binance" or "binance_paper"), not yet connected; `http` is
    the caller's (closed by the caller after `stop_network`)."""
    rest_url, ws_api_url, stream_url = urls
    live = document.live
    if kind == "binance":
        settings = BinanceSettings(
            api_key=api_key,
            api_secret=api_secret,
            rest_url=rest_url,
            ws_api_url=ws_api_url,
            stream_url=stream_url,
            trading_pairs=trading_pairs,
            order_transport=live.order_transport,
            recv_window_ms=live.recv_window_ms,
            request_timeout_s=live.request_timeout_s,
            connector_name=store_scope,
        )
        gateway: Any = BinanceConnector(settings, store=store, session=http)
        return gateway  # type: ignore[no-any-return]
    paper = document.paper
    market_data = BinanceMarketData(
        http,
        BinanceUrls(rest_url=rest_url, stream_url=stream_url, ws_api_url=ws_api_url),
        trading_pairs,
        make_throttler(),
        TimeSync(),
    )
    return PaperConnector(  # type: ignore[return-value]
        market_data,
        Wallet(dict(paper.initial_balances)),
        TradeFeeSchema(maker_percent=paper.maker_fee, taker_percent=paper.taker_fee),
        FillModel(),
    )
