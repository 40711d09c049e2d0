"""The standalone `emulator` command: option parsing, and a real run stopped with Ctrl+C."""

import asyncio
import signal
import sys
from decimal import Decimal

import aiohttp
import pytest
import typer
from typer.testing import CliRunner

from birdterm.sim.emulator.cli import emulator_command, parse_balances, parse_range_ms
from birdterm.sim.emulator.default_exchange import DEFAULT_BALANCES, DEMO_API_KEY
from birdterm.sim.emulator.signing import sign_rest

RUN = (
    "import typer; from birdterm.sim.emulator.cli import emulator_command; "
    "typer.run(emulator_command)"
)


def test_parse_balances_overrides_the_demo_defaults():
    balances = parse_balances(["usdt=250.5", "BNB=3"])
    assert balances == {**DEFAULT_BALANCES, "USDT": Decimal("250.5"), "BNB": Decimal(3)}
    for bad in ("USDT", "USDT=abc", "=5", "USDT=-1", "US DT=1", "USDT=nan"):
        with pytest.raises(typer.BadParameter, match="ASSET=AMOUNT"):
            parse_balances([bad])


def test_parse_range_ms():
    assert parse_range_ms("0", "--x") == (0, 0)
    assert parse_range_ms("15", "--x") == (15, 15)
    assert parse_range_ms("5-40", "--x") == (5, 40)
    for bad in ("a", "5-", "9-3", "-3"):
        with pytest.raises(typer.BadParameter, match="--x"):
            parse_range_ms(bad, "--x")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(emulator_command)
    return app


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--lost-response-rate", "2"], "lost_response_rate must be in [0, 1]"),
        (["--latency-ms", "9-3"], "--latency-ms"),
        (["--balance", "BTC"], "ASSET=AMOUNT"),
        (["--market", "moon"], "moon"),
    ],
)
def test_bad_options_exit_with_usage_error(args, fragment):
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 2
    assert fragment in result.output


async def test_runs_until_ctrl_c():
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUN,
        "--port",
        "0",
        "--seed",
        "3",
        "--balance",
        "USDT=777",
        "--history-days",
        "0.01",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        lines: list[str] = []
        async with asyncio.timeout(30):
            while not any("Ctrl+C" in line for line in lines):
                line = (await process.stdout.readline()).decode()
                assert line, "the command exited early: " + "".join(lines)
                lines.append(line)
        text = "".join(lines)
        rest_url = next(line.split()[1] for line in lines if line.strip().startswith("REST"))
        assert rest_url.startswith("http://127.0.0.1:")
        assert "/ws-api/v3" in text
        assert DEMO_API_KEY in text
        assert "USDT=777" in text
        async with aiohttp.ClientSession() as session:
            async with session.get(rest_url + "/api/v3/time") as resp:
                now = (await resp.json())["serverTime"]
            query = f"timestamp={now}"
            signature = sign_rest("birdtermDemoApiSecret", query)
            async with session.get(
                f"{rest_url}/api/v3/account?{query}&signature={signature}",
                headers={"X-MBX-APIKEY": DEMO_API_KEY},
            ) as resp:
                assert resp.status == 200
                balances = {b["asset"]: b["free"] for b in (await resp.json())["balances"]}
        assert balances["USDT"] == "777.00000000"
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(15):
            rest = (await process.stdout.read()).decode()
            code = await process.wait()
        assert code == 0
        assert "stopped" in rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
