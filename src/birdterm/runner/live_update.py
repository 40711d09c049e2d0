"""Apply a saved controller config to the running controller without a restart.

Every field of a controller config may change live except the four that say what and where it
trades (`type`, `id`, `connector`, `trading_pair`): those need a restart. A live update replaces
the controller's config object between two clock ticks (the clock and the UI share one event
loop, so no tick sees half of it); executors already running keep the config they started with,
new ones use the new values.

Some controllers derive state from their config when they are built (levels, order sizes,
indicator cache keys). That state is rebuilt from the new config here, while what a controller
remembers from running (cooldowns, the last candle it acted on, failed-order back-offs) is kept.
`_DERIVED` and `_STATE` list both per controller type; a test checks that together they cover
every attribute a controller has, so a new cached attribute cannot be silently left stale.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from birdterm.engine.controllers.base import Controller, ControllerConfig

log = logging.getLogger("birdterm.runner")

RESTART_FIELDS = ("type", "id", "connector", "trading_pair")

# Attributes of the base Controller (all from the config's restart fields, or the context).
_BASE = ("config", "context", "gateway", "id", "trading_pair", "base_asset", "quote_asset")
# Per controller type: attributes computed from the config when the controller is built...
_DERIVED: dict[str, tuple[str, ...]] = {
    "pmm_simple": ("_levels",),
    "pmm_inventory": (
        "levels",
        "_by_id",
        "order_quote",
        "barrier",
        "_min",
        "_max",
        "_target",
        "_skew",
        "_tolerance",
    ),
    "bollinger": ("_interval_ms", "_key", "_signal_key"),
    "dca": (),
    "grid": (),
}
# ...and what it remembers while it runs (kept by a live update; caches are reset below).
_STATE: dict[str, tuple[str, ...]] = {
    "pmm_simple": ("_cooldown_until",),
    "pmm_inventory": (
        "rule",
        "exit_fee",
        "_count",
        "_break_even",
        "_seen_version",
        "_base_total",
        "_quote_total",
        "_base_free",
        "_quote_free",
    ),
    "bollinger": ("_last_entry_ts", "_passed_row", "_signal_view", "_starved", "_feed"),
    "dca": ("_acted_row", "_closed_seen", "_last_close"),
    "grid": ("_cooldown_until",),
}


class LiveUpdateError(Exception):
    """The new config cannot be applied to the running controller; the message says why."""


def updatable_changes(old: ControllerConfig, new: ControllerConfig) -> dict[str, tuple[Any, Any]]:
    """Fields that differ between `old` and `new` and can change live: name -> (old, new).

    Empty when the controller type changed (the fields then belong to another controller)."""
    if old.type != new.type or type(old) is not type(new):
        return {}
    changes: dict[str, tuple[Any, Any]] = {}
    for name in type(new).model_fields:
        if name in RESTART_FIELDS:
            continue
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes[name] = (before, after)
    return changes


def restart_changes(old: ControllerConfig, new: ControllerConfig) -> dict[str, tuple[Any, Any]]:
    """Changed fields that take effect only after a restart: name -> (old, new)."""
    return {
        name: (getattr(old, name), getattr(new, name))
        for name in RESTART_FIELDS
        if getattr(old, name) != getattr(new, name)
    }


def describe_value(value: Any) -> str:
    """A config value as written in TOML-ish text (lists without Decimal('...'))."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(describe_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if hasattr(value, "model_dump"):
        return str(value.model_dump(mode="json"))
    return str(value)


def apply_live(session: Any, new_config: ControllerConfig) -> list[str]:
    """Give the running controller of `session` the updatable fields of `new_config`.

    The restart fields keep their running values. Returns lines describing what changed (and
    what did not, and why); raises LiveUpdateError when nothing could be applied."""
    driver = getattr(session, "driver", None)
    if driver is None or getattr(session, "state", "running") != "running":
        raise LiveUpdateError(f"{session.controller_id} is not running: nothing to update")
    controller: Controller = driver.controller
    old: ControllerConfig = session.config
    cid = old.id
    changes = updatable_changes(old, new_config)
    restart = restart_changes(old, new_config)
    lines: list[str] = []
    if changes:
        data = new_config.model_dump()
        data.update({name: getattr(old, name) for name in RESTART_FIELDS})
        try:
            applied = type(old).model_validate(data)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise LiveUpdateError(
                f"{cid}: the new values do not fit the running controller: {reason}"
            ) from exc
        _reconfigure(controller, old, applied)
        session.config = applied
        document = getattr(session, "document", None)
        if document is not None and hasattr(document, "model_copy"):
            session.document = document.model_copy(update={"controller": applied})
        for name, (before, after) in changes.items():
            lines.append(f"{cid}: {name} {describe_value(before)} -> {describe_value(after)}")
        lines.append(f"{cid}: applied live; executors already running keep their settings")
        log.info("%s: config applied live (%s)", cid, ", ".join(changes))
    else:
        lines.append(f"{cid}: no field that can change live has changed")
    for name, (before, after) in restart.items():
        lines.append(
            f"{cid}: {name} {describe_value(before)} -> {describe_value(after)} needs a restart "
            f"(/stop {cid}, then /start); not applied"
        )
    return lines


def _reconfigure(controller: Controller, old: ControllerConfig, new: ControllerConfig) -> None:
    """Swap the config object and rebuild what the controller derived from the old one."""
    hook = getattr(controller, "reconfigure", None)
    if callable(hook):  # a controller that knows how to take a new config
        hook(new)
        return
    kind = str(old.type)
    if kind not in _DERIVED:
        raise LiveUpdateError(
            f"{old.id}: controller type {kind!r} cannot be updated live; restart it "
            f"(/stop {old.id}, then /start)"
        )
    derived = _DERIVED[kind]
    probe = _probe(controller, new) if derived else None
    if kind == "pmm_inventory":
        assert probe is not None
        _carry_level_state(controller, probe)
    controller.config = new
    for name in derived:
        setattr(controller, name, getattr(probe, name))
    if kind == "pmm_inventory":
        controller._seen_version = -1  # type: ignore[attr-defined]  # rebuild the level view
    elif kind == "bollinger":
        _reset_bollinger(controller, old, new)


def _probe(controller: Controller, new: ControllerConfig) -> Controller:
    """A controller of the same class built from `new`, sharing the context but registering
    nothing with the orchestrator (its listeners are put back as they were)."""
    orchestrator = controller.context.orchestrator
    listeners = list(orchestrator.listeners)
    change_listeners = list(orchestrator.change_listeners)
    try:
        return type(controller)(new, controller.context)
    finally:
        orchestrator.listeners[:] = listeners
        orchestrator.change_listeners[:] = change_listeners


def _carry_level_state(controller: Any, probe: Any) -> None:
    """pmm_inventory: a level that still exists keeps its last fill and failure back-off."""
    for level in probe.levels:
        before = controller._by_id.get(level.id)
        if before is not None:
            level.last_fill = before.last_fill
            level.retry_after = before.retry_after


def _reset_bollinger(controller: Any, old: Any, new: Any) -> None:
    """bollinger: drop the cached signals; with a new candle interval, treat every candle
    already closed as looked at, so it never enters on a signal from the past."""
    controller._signal_view = None
    controller._feed = None
    if old.interval != new.interval:
        try:
            feed = controller.feed
            controller._passed_row = feed.closed_count(controller.gateway.now()) - 1
        except (KeyError, ValueError) as exc:
            log.warning("%s: candle interval changed, feed not ready: %s", old.id, exc)
