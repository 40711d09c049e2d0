"""Rotating file logs in the data dir, with a filter that masks registered secrets."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

MASK = "********"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class SecretRedactor(logging.Filter):
    """Replaces every registered secret in a record's final message (and traceback) with a mask.

    Attach it to handlers, not loggers: a logger's filters do not see records that propagate
    from child loggers, a handler's do.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def register(self, secret: str) -> None:
        """Mask `secret` from now on (values shorter than 4 characters would mask too much)."""
        if len(secret) < 4:
            raise ValueError("secrets shorter than 4 characters cannot be redacted safely")
        self._secrets.add(secret)

    def redact(self, text: str) -> str:
        """`text` with every registered secret masked (longest first, so overlaps mask whole)."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Freeze the formatted message with secrets masked."""
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not turn into a crash where it was logged
            message = f"{record.msg} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def configure_logging(
    log_dir: Path,
    redactor: SecretRedactor,
    level: str = "INFO",
    max_bytes: int = 5_000_000,
    backups: int = 5,
) -> logging.Handler:
    """Send the `birdterm` logger to a rotating file in `log_dir`; returns the file handler."""
    log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.handlers.RotatingFileHandler(
        log_dir / "birdterm.log", maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(redactor)
    root = logging.getLogger("birdterm")
    for old in [h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
