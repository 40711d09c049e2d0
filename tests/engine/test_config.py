"""Config: load, every kind of error with file/line/field, atomic validated saves."""

import os
from decimal import Decimal as D
from pathlib import Path

import pytest

from birdterm.engine.bot_config import BotConfig
from birdterm.engine.config import (
    ConfigError,
    atomic_write_text,
    load_config,
    locate_line,
    save_config,
    save_config_text,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "paper_btc.toml"

GOOD = """\
[bot]
name = "demo"
tick_size = 0.5

[market]
connector = "binance_paper"
trading_pairs = ["BTC-USDT", "ETH-USDT"]

[paper]
initial_balances = { USDT = 1000, BTC = 0.25 }
"""


def write(tmp_path, text, name="bot.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def only_issue(exc_info):
    assert len(exc_info.value.issues) == 1
    return exc_info.value.issues[0]


def test_example_config_in_repo_is_valid():
    config = load_config(EXAMPLE, BotConfig)
    assert config.bot.name == "paper-btc"
    assert config.market.trading_pairs == ["BTC-USDT"]
    assert config.paper.initial_balances == {"USDT": D("10000"), "BTC": D("0.1")}


def test_good_config_loads_with_types(tmp_path):
    config = load_config(write(tmp_path, GOOD), BotConfig)
    assert config.bot.tick_size == 0.5
    assert config.bot.log_level == "INFO"
    assert config.paper.initial_balances["BTC"] == D("0.25")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", BotConfig)
    assert str(info.value) == f"{tmp_path / 'nope.toml'}: file not found"


def test_bad_toml_syntax_reports_line(tmp_path):
    path = write(tmp_path, GOOD.replace("tick_size = 0.5", "tick_size = = 0.5"))
    with pytest.raises(ConfigError) as info:
        load_config(path, BotConfig)
    issue = only_issue(info)
    assert issue.line == 3
    assert str(info.value).startswith(f"{path}:3: TOML syntax error")


def test_wrong_type_names_field_line_and_value(tmp_path):
    path = write(tmp_path, GOOD.replace("tick_size = 0.5", 'tick_size = "fast"'))
    with pytest.raises(ConfigError) as info:
        load_config(path, BotConfig)
    issue = only_issue(info)
    assert (issue.field, issue.line) == ("bot.tick_size", 3)
    assert "'fast'" in issue.message and "number" in issue.message


def test_out_of_range_value(tmp_path):
    path = write(tmp_path, GOOD.replace("tick_size = 0.5", "tick_size = 120"))
    with pytest.raises(ConfigError) as info:
        load_config(path, BotConfig)
    issue = only_issue(info)
    assert (issue.field, issue.line) == ("bot.tick_size", 3)
    assert "less than or equal to 60" in issue.message and "120" in issue.message


def test_invalid_choice_lists_valid_values(tmp_path):
    path = write(tmp_path, GOOD.replace('"binance_paper"', '"kraken"'))
    with pytest.raises(ConfigError) as info:
        load_config(path, BotConfig)
    issue = only_issue(info)
    assert (issue.field, issue.line) == ("market.connector", 6)
    assert "'binance' or 'binance_paper'" in issue.message


def test_unknown_key_lists_valid_keys(tmp_path):
    path = write(tmp_path, GOOD.replace("tick_size = 0.5", "tick_size = 0.5\ntick_sise = 1"))
    with pytest.raises(ConfigError) as info:
        load_config(path, BotConfig)
    issue = only_issue(info)
    assert (issue.field, issue.line) == ("bot.tick_sise", 4)
    assert issue.message == "unknown field; valid fields here: log_level, name, tick_size"


def test_missing_field_points_at_its_table(tmp_path):
    path = write(tmp_path, GOOD.replace('name = "demo"\n', ""))
    with pytest.raises(ConfigError) as info:
        load_config(path, BotConfig)
    issue = only_issue(info)
    assert (issue.field, issue.line, issue.message) == ("bot.name", 1, "required field is missing")


def test_list_item_error_and_several_errors_at_once(tmp_path):
    text = GOOD.replace('"ETH-USDT"', '"ethusdt"').replace('name = "demo"', 'name = "a b"')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), BotConfig)
    fields = {(i.field, i.line) for i in info.value.issues}
    assert fields == {("bot.name", 2), ("market.trading_pairs", 7)}
    assert "'ethusdt' is not BASE-QUOTE" in str(info.value)


def test_cross_field_rules(tmp_path):
    no_paper = GOOD.split("[paper]")[0]
    with pytest.raises(ConfigError, match="add a \\[paper\\] section"):
        load_config(write(tmp_path, no_paper), BotConfig)
    live_with_paper = GOOD.replace('"binance_paper"', '"binance"')
    with pytest.raises(ConfigError, match="only for paper connectors"):
        load_config(write(tmp_path, live_with_paper), BotConfig)
    foreign_asset = GOOD.replace("BTC = 0.25", "SOL = 3")
    with pytest.raises(ConfigError, match=r"SOL are not assets.*valid: BTC, ETH, USDT"):
        load_config(write(tmp_path, foreign_asset), BotConfig)
    negative = GOOD.replace("BTC = 0.25", "BTC = -1")
    with pytest.raises(ConfigError, match="balance of BTC must be >= 0, got -1"):
        load_config(write(tmp_path, negative), BotConfig)


def test_locate_line_in_arrays_of_tables():
    text = "[[controllers]]\nid = 'a'\n\n[[controllers]]\nid = 'b'\n[controllers.risk]\nmax = 1\n"
    assert locate_line(text, ("controllers", 1, "id")) == 5
    assert locate_line(text, ("controllers", 0, "id")) == 2
    assert locate_line(text, ("controllers", 1, "risk", "max")) == 7
    assert locate_line(text, ("controllers", 1, "missing")) == 4
    assert locate_line(text, ("elsewhere",)) is None


def test_save_text_validates_before_writing_and_keeps_old_file(tmp_path):
    path = write(tmp_path, GOOD)
    bad = GOOD.replace("tick_size = 0.5", "tick_size = -1")
    with pytest.raises(ConfigError, match=r"bot\.tick_size"):
        save_config_text(path, bad, BotConfig)
    assert path.read_text() == GOOD
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind
    edited = "# my comment survives\n" + GOOD.replace("0.5", "2.0")
    config = save_config_text(path, edited, BotConfig)
    assert config.bot.tick_size == 2.0
    assert path.read_text() == edited


def test_save_model_round_trips(tmp_path):
    config = load_config(write(tmp_path, GOOD), BotConfig)
    target = tmp_path / "out" / "frozen.toml"
    save_config(target, config)
    assert load_config(target, BotConfig) == config


def test_atomic_write_failure_leaves_original_and_no_temp(tmp_path, monkeypatch):
    path = write(tmp_path, "original")
    os.chmod(path, 0o600)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new")
    assert path.read_text() == "original"
    assert list(tmp_path.iterdir()) == [path]
    monkeypatch.undo()
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o600  # permissions of the file it replaced


def test_atomic_write_through_a_symlink_updates_the_target(tmp_path):
    real = write(tmp_path, GOOD, "real.toml")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    save_config_text(link, GOOD.replace("0.5", "2.0"), BotConfig)
    assert link.is_symlink()
    assert load_config(real, BotConfig).bot.tick_size == 2.0


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_config(path, BotConfig).bot.name == "demo"


def test_field_written_as_dotted_keys_points_at_its_first_key(tmp_path):
    text = GOOD.replace(
        "initial_balances = { USDT = 1000, BTC = 0.25 }",
        "initial_balances.USDT = 1000\ninitial_balances.BTC = -1",
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), BotConfig)
    issue = only_issue(info)
    # the field starts at line 10 (before the fix: the [paper] header, line 9)
    assert (issue.field, issue.line) == ("paper.initial_balances", 10)
