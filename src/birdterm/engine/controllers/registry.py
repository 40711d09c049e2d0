"""The controller types a config's `type` may name, and loading a controller file."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from birdterm.engine.config import (
    ConfigError,
    ConfigIssue,
    locate_line,
    parse_toml,
    read_config_text,
    validate_text,
)
from birdterm.engine.controllers.base import Controller

# type name -> "module:Class"; imported on first use so a config check stays fast.
CONTROLLER_TYPES: dict[str, str] = {
    "pmm_simple": "birdterm.engine.controllers.pmm_simple:PmmSimple",
    "pmm_inventory": "birdterm.engine.controllers.pmm_inventory:PmmInventory",
    "bollinger": "birdterm.engine.controllers.bollinger:Bollinger",
    "dca": "birdterm.engine.controllers.dca:DcaController",
    "grid": "birdterm.engine.controllers.grid:GridController",
}


def controller_class(type_name: str) -> type[Controller]:
    """The class behind a controller type name (KeyError names the valid ones)."""
    try:
        target = CONTROLLER_TYPES[type_name]
    except KeyError:
        valid = ", ".join(sorted(CONTROLLER_TYPES))
        raise KeyError(f"unknown controller type {type_name!r}; valid types: {valid}") from None
    module, _, name = target.partition(":")
    cls: type[Controller] = getattr(importlib.import_module(module), name)
    return cls


def file_schema(
    text: str, path: Path | str, sections: dict[str, tuple[Any, Any]]
) -> type[BaseModel]:
    """The schema of a controller file: `[controller]` validated by its type's config class,
    plus the extra `sections` (name -> (model, default))."""
    data = parse_toml(text, path)
    table = data.get("controller")
    if not isinstance(table, dict):
        raise ConfigError(path, [ConfigIssue(
            "controller", "a [controller] table with a `type` is required; valid types: "
            + ", ".join(sorted(CONTROLLER_TYPES)), None)])  # fmt: skip
    type_name = table.get("type")
    if type_name not in CONTROLLER_TYPES:
        raise ConfigError(
            path,
            [
                ConfigIssue(
                    "controller.type",
                    f"unknown controller type {type_name!r}; valid types: "
                    + ", ".join(sorted(CONTROLLER_TYPES)),
                    locate_line(text, ("controller", "type")),
                )
            ],
        )
    config_class = controller_class(str(type_name)).config_class
    return create_model(
        "ControllerFile",
        __config__=ConfigDict(extra="forbid"),
        controller=(config_class, ...),
        **sections,
    )  # type: ignore[call-overload]


def load_controller_file(
    path: Path | str, sections: dict[str, tuple[Any, Any]] | None = None
) -> Any:
    """Read and validate a controller file; ConfigError lists every problem with its line."""
    text = read_config_text(path)
    schema = file_schema(text, path, sections or {})
    return validate_text(text, schema, path)
