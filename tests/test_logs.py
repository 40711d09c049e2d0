"""Rotating file logs and secret redaction."""

import logging
from pathlib import Path

import pytest

from birdterm.logs import MASK, SecretRedactor, configure_logging
from birdterm.paths import default_data_dir

SECRET = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"


@pytest.fixture
def file_log(tmp_path):
    redactor = SecretRedactor()
    handler = configure_logging(
        tmp_path / "logs", redactor, level="DEBUG", max_bytes=2000, backups=2
    )
    level = logging.getLogger("birdterm").level
    yield redactor, handler, tmp_path / "logs"
    logging.getLogger("birdterm").setLevel(level)
    logging.getLogger("birdterm").removeHandler(handler)
    handler.close()


def read_all(log_dir: Path) -> str:
    return "".join(p.read_text() for p in sorted(log_dir.iterdir()))


def test_registered_secret_is_masked_in_message_args_and_tracebacks(file_log):
    redactor, handler, log_dir = file_log
    redactor.register(SECRET)
    log = logging.getLogger("birdterm.engine.connectors.binance")  # a child logger propagates
    log.info("signing with key=%s", SECRET)
    log.warning(f"inline {SECRET[:20]}{SECRET[20:]} here")
    try:
        raise RuntimeError(f"bad signature for {SECRET}")
    except RuntimeError:
        log.exception("request failed")
    handler.flush()
    text = read_all(log_dir)
    assert SECRET not in text
    assert text.count(MASK) == 3
    assert "signing with key=********" in text
    assert "RuntimeError: bad signature for ********" in text


def test_unregistered_text_is_untouched_and_short_secrets_refused(file_log):
    redactor, handler, log_dir = file_log
    with pytest.raises(ValueError, match="shorter than 4"):
        redactor.register("abc")
    logging.getLogger("birdterm").info("price %s qty %s", "100.5", 2)
    handler.flush()
    assert "price 100.5 qty 2" in read_all(log_dir)


def test_overlapping_secrets_mask_whole(file_log):
    redactor, _, _ = file_log
    redactor.register("abcd")
    redactor.register("abcdef12")
    assert redactor.redact("x abcdef12 y abcd") == f"x {MASK} y {MASK}"


def test_log_file_rotates_and_keeps_backups(file_log):
    _, handler, log_dir = file_log
    log = logging.getLogger("birdterm")
    for i in range(200):
        log.info("line %04d %s", i, "x" * 40)
    handler.flush()
    names = sorted(p.name for p in log_dir.iterdir())
    assert names == ["birdterm.log", "birdterm.log.1", "birdterm.log.2"]
    assert all(p.stat().st_size <= 2000 for p in log_dir.iterdir())
    assert "line 0199" in (log_dir / "birdterm.log").read_text()


def test_data_dir_resolution():
    assert default_data_dir({"BIRDTERM_DATA_DIR": "/srv/bt"}) == Path("/srv/bt")
    assert default_data_dir({"XDG_DATA_HOME": "/x/data"}) == Path("/x/data/birdterm")
    # a relative XDG_DATA_HOME is invalid per the spec and ignored
    assert default_data_dir({"XDG_DATA_HOME": "rel"}) == Path.home() / ".local/share/birdterm"
    assert default_data_dir({}) == Path.home() / ".local/share/birdterm"


def test_bad_format_string_with_secrets_registered_does_not_raise(file_log):
    redactor, handler, log_dir = file_log
    redactor.register(SECRET)
    logging.getLogger("birdterm").info("value %s %s", SECRET)  # one arg short
    handler.flush()
    text = read_all(log_dir)
    assert "value %s %s" in text and SECRET not in text and MASK in text
