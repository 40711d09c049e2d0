"""`birdterm emulator`: run the Binance-protocol exchange emulator on 127.0.0.1 until Ctrl+C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from birdterm.sim.emulator.demo_account import DEFAULT_BALANCES, DEMO_API_KEY, DEMO_API_SECRET
from birdterm.sim.emulator.faults import FaultConfig

if TYPE_CHECKING:
    from birdterm.sim.emulator.server import EmulatorServer


class Market(StrEnum):
    """Where the emulator's market comes from."""

    synthetic = "synthetic"
    recorded = "recorded"


def parse_balances(items: list[str]) -> dict[str, Decimal]:
    """The default demo balances overridden by `ASSET=AMOUNT` items; BadParameter if malformed."""
    balances = dict(DEFAULT_BALANCES)
    for item in items:
        asset, sep, amount = item.partition("=")
        asset = asset.strip().upper()
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            value = Decimal(-1)
        if not sep or not asset.isalnum() or not value.is_finite() or value < 0:
            raise typer.BadParameter(f"expected ASSET=AMOUNT (e.g. USDT=10000), got {item!r}")
        balances[asset] = value
    return balances


def parse_range_ms(text: str, name: str) -> tuple[int, int]:
    """ "A" or "A-B" (ms) as a (min, max) pair; BadParameter if malformed."""
    low, sep, high = text.partition("-")
    try:
        pair = (int(low), int(high if sep else low))
    except ValueError:
        raise typer.BadParameter(f"{name}: expected MS or MIN-MAX in ms, got {text!r}") from None
    if pair[0] < 0 or pair[0] > pair[1]:
        raise typer.BadParameter(f"{name}: expected 0 <= MIN <= MAX, got {text!r}")
    return pair


def emulator_command(
    port: Annotated[
        int, typer.Option("--port", help="TCP port on 127.0.0.1 (0 = any free).")
    ] = 8765,
    market: Annotated[
        Market, typer.Option("--market", help="Seeded synthetic book or recorded Binance data.")
    ] = Market.synthetic,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the market and the faults.")] = 0,
    api_key: Annotated[str, typer.Option("--api-key", help="API key of the account.")] = (
        DEMO_API_KEY
    ),
    api_secret: Annotated[str, typer.Option("--api-secret", help="Its HMAC secret.")] = (
        DEMO_API_SECRET
    ),
    balance: Annotated[
        list[str] | None,
        typer.Option("--balance", help="Starting balance ASSET=AMOUNT (repeatable)."),
    ] = None,
    history_days: Annotated[
        float, typer.Option("--history-days", help="Days of synthetic klines/trades before now.")
    ] = 1.0,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="hftbacktest folder for --market recorded.")
    ] = None,
    latency_ms: Annotated[
        str, typer.Option("--latency-ms", help="Added latency per response, MS or MIN-MAX.")
    ] = "0",
    lost_response_rate: Annotated[
        float, typer.Option(help="Order requests processed whose answer is lost.")
    ] = 0.0,
    server_error_rate: Annotated[float, typer.Option(help="503 before processing.")] = 0.0,
    server_error_after_rate: Annotated[float, typer.Option(help="500 after processing.")] = 0.0,
    rate_limit_burst_rate: Annotated[float, typer.Option(help="Start of a 429 burst.")] = 0.0,
    rate_limit_burst_len: Annotated[int, typer.Option(help="Requests refused per burst.")] = 3,
    ws_drop_rate: Annotated[float, typer.Option(help="Socket dropped per message sent.")] = 0.0,
    depth_gap_rate: Annotated[float, typer.Option(help="Depth event dropped.")] = 0.0,
    depth_reorder_rate: Annotated[float, typer.Option(help="Depth event swapped.")] = 0.0,
    user_event_delay_ms: Annotated[
        str, typer.Option(help="Delay per user-data event, MS or MIN-MAX.")
    ] = "0",
    user_event_duplicate_rate: Annotated[float, typer.Option(help="User event sent twice.")] = 0.0,
) -> None:
    """Run the Binance-protocol exchange emulator on 127.0.0.1 until Ctrl+C."""
    try:
        faults = FaultConfig(
            seed=seed,
            latency_ms=parse_range_ms(latency_ms, "--latency-ms"),
            lost_response_rate=lost_response_rate,
            server_error_rate=server_error_rate,
            server_error_after_rate=server_error_after_rate,
            rate_limit_burst_rate=rate_limit_burst_rate,
            rate_limit_burst_len=rate_limit_burst_len,
            ws_drop_rate=ws_drop_rate,
            depth_gap_rate=depth_gap_rate,
            depth_reorder_rate=depth_reorder_rate,
            user_event_delay_ms=parse_range_ms(user_event_delay_ms, "--user-event-delay-ms"),
            user_event_duplicate_rate=user_event_duplicate_rate,
        ).validated()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    balances = parse_balances(balance or [])
    # the server is imported only when it runs: every other `birdterm` command starts faster
    from birdterm.sim.emulator.default_exchange import build_default_exchange
    from birdterm.sim.emulator.server import EmulatorServer, wall_clock_ms

    try:
        exchange = build_default_exchange(
            seed=seed,
            clock=wall_clock_ms,
            balances=balances,
            api_key=api_key,
            secret=api_secret,
            market=market.value,
            history_days=history_days,
            data_dir=data_dir,
        )
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    server = EmulatorServer(exchange, port=port, faults=faults)
    try:
        asyncio.run(_serve(server, api_key, api_secret, balances))
    except OSError as exc:
        typer.echo(f"error: cannot listen on 127.0.0.1:{port}: {exc}", err=True)
        raise typer.Exit(code=1) from None


async def _serve(
    server: EmulatorServer, api_key: str, api_secret: str, balances: dict[str, Decimal]
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await server.start()
    try:
        typer.echo(f"Binance-protocol emulator ({', '.join(server.exchange.symbols)})")
        typer.echo(f"  REST        {server.rest_url}")
        typer.echo(f"  WS API      {server.ws_api_url}")
        typer.echo(f"  streams     {server.stream_url}/ws/<stream>  {server.stream_url}/stream")
        typer.echo(f"  api key     {api_key}")
        typer.echo(f"  api secret  {api_secret}")
        typer.echo("  balances    " + ", ".join(f"{a}={v}" for a, v in balances.items()))
        if server.faults.any_active():
            typer.echo(f"  faults      {server.faults}")
        typer.echo("Press Ctrl+C to stop.", nl=True)
        await stop.wait()
    finally:
        await server.stop()
        typer.echo(f"stopped; stats: {server.stats}")
