"""Load, validate and save TOML configs; errors name the file, line, field and what is valid."""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import tomli_w
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config: where it is and what is wrong."""

    field: str
    message: str
    line: int | None = None


class ConfigError(Exception):
    """A config that cannot be used; the message lists every problem as file:line: field: msg."""

    def __init__(self, path: Path | str, issues: list[ConfigIssue]) -> None:
        self.path = Path(path)
        self.issues = issues
        lines = []
        for issue in issues:
            where = f"{self.path}:{issue.line}" if issue.line else f"{self.path}"
            field = f" {issue.field}:" if issue.field else ""
            lines.append(f"{where}:{field} {issue.message}")
        super().__init__("\n".join(lines))


def parse_toml(text: str, path: Path | str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a ConfigError with its line number."""
    try:
        return tomllib.loads(text)
    except RecursionError as exc:
        raise ConfigError(path, [ConfigIssue("", "TOML nested too deeply to read")]) from exc
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POSITION.search(str(exc))
        line = int(match.group(1)) if match else None
        message = _TOML_POSITION.sub("", str(exc)).strip()
        raise ConfigError(path, [ConfigIssue("", f"TOML syntax error: {message}", line)]) from exc


def read_config_text(path: Path | str) -> str:
    """Read a config file, with a ConfigError (not a traceback) when it is missing or unreadable."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8-sig")  # an editor's BOM is not a syntax error
    except FileNotFoundError as exc:
        raise ConfigError(p, [ConfigIssue("", "file not found")]) from exc
    except IsADirectoryError as exc:
        raise ConfigError(p, [ConfigIssue("", "is a directory, not a TOML file")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(p, [ConfigIssue("", f"cannot be read: {exc}")]) from exc


def validate_text(text: str, schema: type[M], path: Path | str) -> M:
    """Parse and validate TOML text against `schema`."""
    data = parse_toml(text, path)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, _issues(exc, schema, text)) from exc


def load_config(path: Path | str, schema: type[M]) -> M:
    """Load a TOML file and validate it against `schema`."""
    return validate_text(read_config_text(path), schema, path)


def save_config(path: Path | str, config: BaseModel) -> None:
    """Validate a config model and write it whole as TOML, atomically (comments are not kept)."""
    data = config.model_dump(mode="json", exclude_none=True)
    text = tomli_w.dumps(data)
    validate_text(text, type(config), path)
    atomic_write_text(path, text)


def save_config_text(path: Path | str, text: str, schema: type[M]) -> M:
    """Validate raw TOML text (as edited by a person) and only then write it atomically."""
    config = validate_text(text, schema, path)
    atomic_write_text(path, text)
    return config


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write a file so a reader sees either the old or the new content, never a half-written one."""
    target = Path(path).resolve()  # write through a symlink, never replace the link itself
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def _issues(exc: ValidationError, schema: type[BaseModel], text: str) -> list[ConfigIssue]:
    issues = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        field = _dotted(loc)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            allowed = _allowed_fields(schema, loc[:-1])
            message = f"unknown field; valid fields here: {', '.join(allowed)}"
        elif error["type"] == "missing":
            message = "required field is missing"
        elif "input" in error and not isinstance(error["input"], dict | list):
            message = f"{message}, got {error['input']!r}"
        issues.append(ConfigIssue(field, message, locate_line(text, loc)))
    return issues


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed_fields(schema: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    model: Any = schema
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if _is_model(model) else None
        if field is None:
            return []
        model = _model_in(field.annotation)
    return sorted(model.model_fields) if _is_model(model) else []


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside an annotation such as `Model`, `list[Model]` or `Model | None`."""
    if _is_model(annotation):
        return annotation
    for arg in get_args(annotation) if get_origin(annotation) else ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def locate_line(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort line of the key at `loc` (table headers, arrays of tables, plain keys).

    For a missing key, the line of its table header; None when the text gives no hint.
    """
    array_counts: dict[tuple[str, ...], int] = {}
    header_index: tuple[int | str, ...] = ()
    best: int | None = None
    best_depth = 0
    target = tuple(loc)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if match := _HEADER.match(line):
            header = tuple(part.strip().strip("\"'") for part in match.group(2).split("."))
            if match.group(1) == "[[":
                array_counts[header] = array_counts.get(header, -1) + 1
                parent = _with_array_indexes(header[:-1], array_counts)
                header_index = (*parent, header[-1], array_counts[header])
            else:
                header_index = _with_array_indexes(header, array_counts)
            depth = len(header_index)
            if target[:depth] == header_index and depth > best_depth:
                best, best_depth = number, depth
            continue
        if match := _KEY.match(line):
            key = tuple(part.strip().strip("\"'") for part in match.group(1).split("."))
            full = (*header_index, *key)
            # a dotted key may name the field or something inside it (paper.balances.BTC = -1)
            depth = min(len(full), len(target))
            if depth > best_depth and full[:depth] == target[:depth]:
                return number
    return best


def _with_array_indexes(
    header: tuple[str, ...], array_counts: dict[tuple[str, ...], int]
) -> tuple[int | str, ...]:
    """Turn a [a.b] header under an [[a]] array into ('a', <index>, 'b')."""
    out: list[int | str] = []
    for i, part in enumerate(header):
        out.append(part)
        prefix = header[: i + 1]
        if prefix in array_counts:
            out.append(array_counts[prefix])
    return tuple(out)
