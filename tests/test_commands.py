"""The slash-command registry without the app: parsing, every command's answers and errors,
completion. Running sessions are stand-ins here (the real demo runs in tests/screens)."""

from __future__ import annotations

import json
import shutil
import sys
import types
from decimal import Decimal
from pathlib import Path

import pytest

from birdterm.commands import (
    CommandContext,
    CommandError,
    ScreenRequest,
    default_registry,
    with_controller_id,
)
from birdterm.engine.engine import BookView, Engine, SessionView
from birdterm.engine.store import ExecutorRecord
from birdterm.engine.types import (
    InFlightOrder,
    OrderState,
    OrderType,
    TradeFee,
    TradeType,
    TradeUpdate,
)

from tests.helpers import REPO

CONFIGS = REPO / "configs"
DEMO = CONFIGS / "demo.toml"
REGISTRY = default_registry()


class FakeSession:
    """A running controller as the commands see it: an id, its file and a view."""

    def __init__(self, controller_id: str, pair: str, path: Path) -> None:
        self.controller_id = controller_id
        self.path = path
        self.pair = pair

    async def stop(self) -> str:
        return f"stopped {self.controller_id}"

    def view(self) -> SessionView:
        zero = Decimal(0)
        return SessionView(
            controller_id=self.controller_id, controller_type="grid", trading_pair=self.pair,
            connector="binance_paper", health="ws", active_executors=1, closed_executors=0,
            pnl_total=zero, pnl_executors_realized=zero, pnl_executors_unrealized=zero,
            pnl_position_realized=zero, pnl_position_unrealized=zero, fees=zero, volume=zero,
            open_orders=2, mid_price=Decimal(100),
            balances={"USDT": (Decimal(1000), Decimal(900)), "ETH": (Decimal(0), Decimal(0)),
                      "BNB": (Decimal("0.5"), Decimal("0.5")), "XRP": (Decimal(0), Decimal(0))},
            book=BookView(self.pair, ((99.0, 1.0),), ((101.0, 1.0),)),
        )  # fmt: skip


@pytest.fixture
def engine(data_dir):
    engine = Engine(data_dir, name="unit")
    yield engine
    engine.store.close()


@pytest.fixture
def configs(tmp_path):
    """A configs folder of this test's own: demo, grid, a bot config and a broken file."""
    folder = tmp_path / "configs"
    folder.mkdir()
    for name in ("demo", "grid", "paper_btc"):
        shutil.copy(CONFIGS / f"{name}.toml", folder)
    (folder / "broken.toml").write_text(
        DEMO.read_text().replace("take_profit = 0.004", "take_profit = -1")
    )
    return folder


def ctx(engine, configs_dir=Path("configs"), **kw):
    return CommandContext(engine, configs_dir=configs_dir, **kw)


def run(engine, line, **kw):
    return REGISTRY.run(line, ctx(engine, **kw))


def error(engine, line, **kw):
    with pytest.raises(CommandError) as caught:
        run(engine, line, **kw)
    return str(caught.value)


def running(engine, *sessions):
    for session in sessions:
        engine.add_session(session)


# -- parsing and help -------------------------------------------------------------------------


def test_unknown_and_malformed_lines(engine):
    assert error(engine, "/stauts").startswith("unknown command /stauts. Did you mean /status?")
    assert "Commands: /backtest, /balance, /book" in error(engine, "/zzz")
    assert error(engine, "status") == "commands start with '/': try /help (got 'status')"
    assert error(engine, '/start "demo').startswith("cannot read '/start \"demo'")


def test_wrong_argument_counts_and_options_print_the_usage(engine):
    assert error(engine, "/book") == "/book: takes 1 argument(s), got 0; usage: /book PAIR"
    assert error(engine, "/start a b") == (
        "/start: takes 0 to 1 argument(s), got 2; usage: /start [CONFIG]"
    )
    assert error(engine, "/start demo --days 1") == (
        "/start: unknown option --days (it takes no options); usage: /start [CONFIG]"
    )
    usage = "usage: /backtest CONFIG [--days N | --start DATE --end DATE] [--data PATH]"
    assert error(engine, "/backtest demo --dayz 1") == (
        f"/backtest: unknown option --dayz (options: --days, --start, --end, --data); {usage}"
    )
    assert error(engine, "/backtest demo --days") == f"/backtest: --days needs a value (N); {usage}"
    assert error(engine, "/backtest demo --days 1 --days=2") == (
        f"/backtest: --days given twice; {usage}"
    )
    for line in ("/status x", "/quit now", "/configs x", "/update x", "/balance x"):
        assert "takes 0 argument(s), got 1; usage: /" in error(engine, line)


def test_help_lists_every_command_and_explains_one(engine):
    text = run(engine, "/help").text
    names = "backtest balance book config configs export help history new quit start status stop"
    for name in [*names.split(), "update", "validate"]:
        assert f"/{name}" in text
    assert "/new NAME --from TEMPLATE" in text and "/history [N]" in text
    one = run(engine, "/help backtest").text.splitlines()
    assert one[0] == "usage: /backtest CONFIG [--days N | --start DATE --end DATE] [--data PATH]"
    assert "Dates are ISO" in one[2]
    assert run(engine, "/help /stop").text.startswith("usage: /stop [CONTROLLER|all]")
    message = error(engine, "/help nope")
    assert message.startswith("/help: no command 'nope'; commands: backtest, balance, book,")
    assert message.endswith("; usage: /help [CMD]")


# -- configs ----------------------------------------------------------------------------------


def test_start_resolves_names_and_reports_unknown_ones(engine, configs):
    result = run(engine, "/start demo", configs_dir=configs)
    assert result.text == f"starting {configs / 'demo.toml'} ..."
    result.background.close()  # not run here: the demo runs in tests/screens
    # without a folder of its own, names come from the checkout
    result = run(engine, "/start grid", configs_dir=configs / "missing")
    assert Path(result.text.split()[1]).resolve() == (CONFIGS / "grid.toml").resolve()
    result.background.close()
    message = error(engine, "/start nope")
    assert message.startswith("/start: no config file 'nope' (give a path or a name; configs:")
    assert message.endswith("; usage: /start [CONFIG]")


def test_backtest_returns_the_screen_request(engine):
    result = run(engine, "/backtest demo --days 2")
    assert result.screen == ScreenRequest(
        "backtest",
        {"config_path": result.screen.args["config_path"], "days": 2.0, "start": None,
         "end": None, "data": None},
    )  # fmt: skip
    assert result.screen.args["config_path"].resolve() == DEMO.resolve()
    assert result.text.endswith("over 2 day(s)")
    result = run(engine, f"/backtest {DEMO} --start 2024-01-02 --end=2024-01-03T12:00")
    assert result.screen.args == {"config_path": DEMO, "days": None, "start": "2024-01-02",
                                  "end": "2024-01-03T12:00", "data": None}  # fmt: skip
    result = run(engine, f"/backtest {DEMO} --start 2024-01-02 --days 0.5 --data {DEMO}")
    assert (result.screen.args["days"], result.screen.args["data"]) == (0.5, str(DEMO))
    assert run(engine, "/backtest demo").screen.args["days"] is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/backtest demo --days 0", "--days must be > 0, got 0"),
        ("/backtest demo --days -1", "--days must be > 0, got -1"),
        ("/backtest demo --days two", "--days 'two' is not a number"),
        ("/backtest demo --days nan", "--days must be > 0, got nan"),
        ("/backtest demo --start 2024-13-01", "--start '2024-13-01' is not a date: use 2024-01-02"),
        ("/backtest demo --end yesterday", "--end 'yesterday' is not a date"),
        ("/backtest demo --start 2024-02-01 --end 2024-01-01",
         "--end 2024-01-01 must be after --start 2024-02-01"),
        ("/backtest demo --days 1 --end 2024-01-01", "--days and --end cannot be combined"),
        ("/backtest demo --start 2024-01-01 --end 2024-01-02 --days 1",
         "--days and --end cannot be combined"),
        ("/backtest demo --data /no/such.csv", "--data '/no/such.csv': no such file or folder"),
        ("/backtest nope", "no config file 'nope'"),
        ("/backtest", "takes 1 argument(s), got 0"),
    ],
)  # fmt: skip
def test_backtest_argument_errors(engine, line, message):
    text = error(engine, line)
    assert text.startswith(f"/backtest: {message}")
    assert text.endswith("; usage: /backtest CONFIG [--days N | --start DATE --end DATE] "
                         "[--data PATH]")  # fmt: skip
    assert "\n" not in text


def test_backtest_of_an_invalid_file_lists_its_problems(engine, configs):
    text = error(engine, "/backtest broken", configs_dir=configs)
    assert "broken.toml:" in text and "controller.take_profit" in text


def test_config_opens_the_editor(engine, configs, data_dir):
    result = run(engine, "/config grid", configs_dir=configs)
    assert result.screen == ScreenRequest("config_editor", {"path": configs / "grid.toml"})
    assert result.text == f"editing {configs / 'grid.toml'}"
    assert run(engine, "/config").screen.args["path"].resolve() == DEMO.resolve()
    running(engine, FakeSession("g1", "ETH-USDT", configs / "grid.toml"))
    assert run(engine, "/config").screen.args["path"] == configs / "grid.toml"
    assert error(engine, "/config nope").endswith("; usage: /config [NAME]")
    # without the app (the CLI, headless) a screen cannot open
    assert error(engine, "/config grid", configs_dir=configs, headless=True) == (
        "/config needs the app (run `birdterm` to open it)"
    )


def test_configs_lists_type_id_pair_and_flags_invalid_files(engine, configs):
    running(engine, FakeSession("grid_btc", "BTC-USDT", configs / "grid.toml"))
    lines = run(engine, "/configs", configs_dir=configs).text.splitlines()
    assert lines[0] == f"4 config(s) in {configs}:"
    by_name = {line.split()[0]: " ".join(line.split()[1:]) for line in lines[1:]}
    assert by_name["demo"] == "pmm_inventory demo_pmm on BTC-USDT"
    assert by_name["grid"] == "grid grid_btc on BTC-USDT (running)"
    assert by_name["paper_btc"] == "bot config binance_paper BTC-USDT"
    assert by_name["broken"].startswith("INVALID")
    assert "broken.toml:" in by_name["broken"] and "controller.take_profit" in by_name["broken"]
    empty = configs.parent / "empty"
    empty.mkdir()
    assert error(engine, "/configs", configs_dir=empty).startswith(f"no config files in {empty}")


def test_new_copies_a_template_with_its_comments_and_a_new_id(engine, configs):
    result = run(engine, "/new my_pmm --from demo", configs_dir=configs)
    created = configs / "my_pmm.toml"
    assert result.text == (
        f"created {created} from {configs / 'demo.toml'}: pmm_inventory 'my_pmm' on BTC-USDT "
        "(edit it with /config my_pmm)"
    )
    old, new = DEMO.read_text().splitlines(), created.read_text().splitlines()
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert changed == [('id = "demo_pmm"', 'id = "my_pmm"')]  # comments and layout kept
    # a template from the checkout, by path, and the same name again is refused
    run(engine, f"/new g2 --from={CONFIGS / 'grid.toml'}", configs_dir=configs)
    assert 'id = "g2"' in (configs / "g2.toml").read_text()
    message = error(engine, "/new my_pmm --from grid", configs_dir=configs)
    assert message.startswith(f"/new: {created} already exists")
    assert created.read_text().count('id = "my_pmm"') == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/new x", "/new: --from TEMPLATE is required (e.g. --from demo); usage: /new NAME "
                   "--from TEMPLATE"),
        ("/new ../x --from demo", "/new: '../x' is not a config name"),
        ("/new x.toml --from demo", "/new: 'x.toml' is not a config name"),
        ("/new x --from nope", "/new: no config file 'nope'"),
        ("/new x --from paper_btc", "is not a controller file (no [controller] table)"),
        ("/new --from demo", "/new: takes 1 argument(s), got 0"),
    ],
)  # fmt: skip
def test_new_errors(engine, configs, line, message):
    assert message in error(engine, line, configs_dir=configs)
    assert not (configs / "x.toml").exists()


def test_new_from_an_invalid_template_writes_nothing(engine, configs):
    text = error(engine, "/new x --from broken", configs_dir=configs)
    assert text.startswith(f"{configs / 'broken.toml'} is not valid, nothing written:")
    assert "controller.take_profit" in text
    assert not (configs / "x.toml").exists()


def test_with_controller_id_edits_only_the_controller_table():
    text = '[bot]\nid = "keep"\n\n[controller]  # the controller\ntype = "grid"\n' \
           "id = 'old'   # its name\n[backtest]\nid = 1\n"  # fmt: skip
    assert with_controller_id(text, "new") == text.replace("id = 'old'", 'id = "new"')
    assert with_controller_id('[controller]\ntype = "grid"\n', "n") == (
        '[controller]\nid = "n"\ntype = "grid"\n'
    )
    with pytest.raises(ValueError, match="no \\[controller\\] table"):
        with_controller_id("[bot]\n", "n")


def test_validate_checks_bot_and_controller_files(engine, configs):
    assert run(engine, f"/validate {configs / 'grid.toml'}").text.endswith(
        "valid (grid 'grid_btc' on BTC-USDT)"
    )
    assert run(engine, f"/validate {configs / 'paper_btc.toml'}").text.endswith(
        "valid (binance_paper, BTC-USDT)"
    )
    assert "controller.take_profit" in error(engine, f"/validate {configs / 'broken.toml'}")
    assert error(engine, "/validate /no/such.toml") == "/no/such.toml: file not found"


# -- what runs --------------------------------------------------------------------------------


def test_nothing_running(engine):
    for line in ("/stop", "/stop all", "/stop x", "/balance", "/book BTC-USDT"):
        assert error(engine, line) == "nothing is running; start a config with /start CONFIG"


async def test_stop_balance_and_book_of_running_sessions(engine, configs):
    running(engine, FakeSession("g1", "ETH-USDT", configs / "grid.toml"),
            FakeSession("g2", "BTC-USDT", configs / "demo.toml"))  # fmt: skip
    assert error(engine, "/stop g3") == (
        "/stop: no running controller 'g3'; running: g1, g2; usage: /stop [CONTROLLER|all]"
    )
    balance = run(engine, "/balance").text.splitlines()
    assert balance[0] == "g1 (binance_paper, ETH-USDT):"
    assert "  USDT   total 1000  free 900  locked 100" in balance
    assert "  ETH    total 0  free 0  locked 0" in balance  # the pair's assets, even at 0
    assert not any("XRP" in line for line in balance)  # other empty ones are left out
    assert any("BNB" in line for line in balance)
    book = run(engine, "/book eth-usdt")
    assert book.screen == ScreenRequest("book", {"trading_pair": "ETH-USDT"})
    assert error(engine, "/book SOL-USDT") == (
        "/book: no running controller trades SOL-USDT; pairs: BTC-USDT, ETH-USDT; usage: /book PAIR"
    )
    assert error(engine, "/book BTCUSDT").startswith(
        "/book: 'BTCUSDT' is not a pair: BASE-QUOTE such as BTC-USDT; usage"
    )
    result = run(engine, "/stop g2")
    assert result.text == "stopping g2 ..."
    assert await result.background == "stopped g2"
    assert list(engine.sessions) == ["g1"]
    assert await run(engine, "/stop").background == "stopped g1"


def _order(n: int, state: OrderState, created: float) -> InFlightOrder:
    return InFlightOrder(
        client_order_id=f"o{n}", trading_pair="BTC-USDT", order_type=OrderType.LIMIT,
        trade_type=TradeType.BUY if n % 2 else TradeType.SELL, amount=Decimal("0.001"),
        price=Decimal(30000 + n), creation_timestamp=created, state=state,
    )  # fmt: skip


def _fill_store(engine, count=3):
    for n in range(1, count + 1):
        order = _order(n, OrderState.OPEN, 1_700_000_000 + n)
        if n == 1:
            order.state = OrderState.FILLED
            order.executed_base = order.amount
            fee = TradeFee(Decimal("0.001"), "BTC")
            order.fills = {"t1": TradeUpdate("t1", "o1", Decimal(30001), order.amount, fee,
                                             1_700_000_100, True)}  # fmt: skip
        engine.store.save_order(order, "binance/demo_pmm", executor_id="e1")
    engine.store.save_executor(ExecutorRecord(
        "e1", "demo_pmm", "binance/demo_pmm", "BTC-USDT", "position", "RUNNING",
        1_700_000_000.5, config={"side": "BUY", "amount": Decimal("0.001")},
    ))  # fmt: skip


def test_history_newest_first_with_state_side_price_filled(engine):
    assert run(engine, "/history").text == f"no orders in the store {engine.store.path}"
    _fill_store(engine)
    lines = run(engine, "/history").text.splitlines()
    assert lines[0] == "last 3 order(s), newest first:"
    assert [line.split()[-2] for line in lines[1:]] == ["o3", "o2", "o1"]
    assert "BTC-USDT BUY  FILLED           price 30001 filled 0.001/0.001  o1" in lines[3]
    assert "SELL OPEN" in lines[2] and "filled 0/0.001" in lines[2]
    assert run(engine, "/history 1").text.splitlines()[1:] == [lines[1]]


@pytest.mark.parametrize(
    ("arg", "message"),
    [("0", "N must be 1 to 1000, got 0"), ("-3", "N must be 1 to 1000, got -3"),
     ("x", "N must be a whole number, got 'x'"), ("5000", "N must be 1 to 1000, got 5000")],
)  # fmt: skip
def test_history_argument_errors(engine, arg, message):
    assert error(engine, f"/history {arg}") == f"/history: {message}; usage: /history [N]"


def test_export_writes_orders_fills_and_executors(engine, tmp_path):
    _fill_store(engine)
    target = tmp_path / "out" / "x.json"
    assert run(engine, f"/export {target}").text == (
        f"exported 3 orders, 1 fills, 1 executors to {target}"
    )
    document = json.loads(target.read_text())
    assert [o["client_order_id"] for o in document["orders"]] == ["o1", "o2", "o3"]
    assert document["orders"][0]["price"] == "30001"  # exact text, not a float
    assert document["orders"][0]["executor_id"] == "e1"
    assert document["fills"][0]["fee"]["percent_token"] == "BTC"  # JSON columns decoded
    assert document["executors"][0]["config"] == {"amount": "0.001", "side": "BUY"}
    text = run(engine, "/export").text
    default = Path(text.split(" to ")[1])
    assert default.parent == engine.data_dir and default.name.startswith("export-")
    assert json.loads(default.read_text())["store"] == engine.store.path
    assert error(engine, f"/export {tmp_path}").startswith(f"/export: {tmp_path} is a folder")


async def test_update_runs_in_the_background(engine, monkeypatch):
    calls = []

    async def run_update(repo_dir=None):
        calls.append(repo_dir)
        return "birdterm is up to date"

    module = types.ModuleType("birdterm.update")
    module.run_update = run_update
    monkeypatch.setitem(sys.modules, "birdterm.update", module)
    result = run(engine, "/update")
    assert result.text == "checking for an update ..."
    assert await result.background == "birdterm is up to date"
    assert calls == [None]


def test_quit(engine):
    result = run(engine, "/quit")
    assert result.quit and result.text == "stopping"


def test_status_with_nothing_running(engine):
    text = run(engine, "/status").text
    assert text.startswith("unit: clock realtime every 1s, 0 ticks")
    assert text.endswith("no controller running (/start CONFIG)")


# -- completion -------------------------------------------------------------------------------


def test_completion_of_names_configs_controllers_pairs_and_options(engine, configs):
    c = ctx(engine, configs_dir=configs)
    assert REGISTRY.complete("/st", c) == ["/start", "/status", "/stop"]
    assert REGISTRY.complete("/", c)[:3] == ["/backtest", "/balance", "/book"]
    assert REGISTRY.complete("/x", c) == []
    assert REGISTRY.complete("hello", c) == []
    assert REGISTRY.complete("/start b", c) == ["/start bollinger", "/start broken"]
    assert REGISTRY.complete("/config de", c) == ["/config demo"]
    assert REGISTRY.complete("/backtest demo --d", c) == [
        "/backtest demo --days",
        "/backtest demo --data",
    ]
    assert REGISTRY.complete("/backtest demo --days 1 --d", c) == ["/backtest demo --days 1 --data"]
    assert REGISTRY.complete("/backtest gr", c) == ["/backtest grid"]
    assert REGISTRY.complete("/backtest demo --days 1 ", c) == []  # no second config
    assert REGISTRY.complete("/new x --from pa", c) == ["/new x --from paper_btc"]
    assert REGISTRY.complete("/new x", c) == []  # a new name is not completed
    assert REGISTRY.complete("/help ba", c) == ["/help backtest", "/help balance"]
    assert REGISTRY.complete("/stop ", c) == ["/stop all"]
    running(engine, FakeSession("g1", "ETH-USDT", configs / "grid.toml"),
            FakeSession("b2", "BTC-USDT", configs / "demo.toml"))  # fmt: skip
    assert REGISTRY.complete("/stop ", c) == ["/stop b2", "/stop g1", "/stop all"]
    assert REGISTRY.complete("/book E", c) == ["/book ETH-USDT"]
    assert REGISTRY.complete("/book ", c) == ["/book BTC-USDT", "/book ETH-USDT"]
    engine.sessions.clear()


def test_completion_of_paths(engine, configs):
    c = ctx(engine, configs_dir=configs)
    assert REGISTRY.complete(f"/validate {configs}/gr", c) == [f"/validate {configs}/grid.toml"]
    assert REGISTRY.complete(f"/start {configs.parent}/con", c) == [f"/start {configs}/"]
    assert REGISTRY.complete(f"/export {configs}/zz", c) == []
