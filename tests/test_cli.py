"""The `birdterm` command line: help, version, config check."""

from typer.testing import CliRunner

from birdterm import __version__
from birdterm.cli import app

from tests.helpers import EXAMPLE_CONFIG

runner = CliRunner()


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for word in ("config", "info", "--version", "--data-dir", "--config"):
        assert word in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"birdterm {__version__}"
    assert __version__ == "0.1.0"


def test_config_check_valid_and_invalid(tmp_path):
    ok = runner.invoke(app, ["config", "check", str(EXAMPLE_CONFIG)])
    assert ok.exit_code == 0
    assert ok.output.strip() == f"{EXAMPLE_CONFIG}: valid (binance_paper, BTC-USDT)"
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE_CONFIG.read_text().replace('"binance_paper"', '"ftx"'))
    result = runner.invoke(app, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:15: market.connector: Input should be 'binance' or 'binance_paper'" in (
        result.output
    )


def test_info_names_the_compiled_extension(tmp_path):
    result = runner.invoke(app, ["--data-dir", str(tmp_path), "info"])
    assert result.exit_code == 0
    assert f"data dir   {tmp_path}" in result.output
    assert ".so" in result.output or ".pyd" in result.output
