"""Emulator accounts: free and locked balances per asset, and the assets changed since last told."""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)


class BalanceError(RuntimeError):
    """An internal accounting step would take a balance below zero (an emulator bug)."""


class Account:
    """One API key's spot wallet; every move keeps free and locked non-negative."""

    __slots__ = ("_balances", "api_key", "changed", "secret", "uid", "update_time")

    def __init__(self, api_key: str, secret: str, uid: int, balances: dict[str, Decimal]) -> None:
        self.api_key = api_key
        self.secret = secret
        self.uid = uid
        self.update_time = 0
        self._balances: dict[str, list[Decimal]] = {}
        for asset, amount in balances.items():
            if amount < 0:
                raise ValueError(f"balance of {asset} must not be negative, got {amount}")
            self._balances[asset] = [Decimal(amount), ZERO]
        # Assets whose balance moved since the last outboundAccountPosition.
        self.changed: dict[str, None] = {}

    def ensure(self, asset: str) -> None:
        """Make `asset` appear in the wallet (with zero) if it is not there yet."""
        self._balances.setdefault(asset, [ZERO, ZERO])

    def free(self, asset: str) -> Decimal:
        """The free (spendable) amount of `asset`."""
        entry = self._balances.get(asset)
        return entry[0] if entry else ZERO

    def locked(self, asset: str) -> Decimal:
        """The amount of `asset` locked by open orders."""
        entry = self._balances.get(asset)
        return entry[1] if entry else ZERO

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (free, locked), in the order assets were first seen."""
        return {asset: (free, locked) for asset, (free, locked) in self._balances.items()}

    def lock(self, asset: str, amount: Decimal) -> None:
        """Move `amount` from free to locked."""
        entry = self._entry(asset)
        if amount > entry[0]:
            raise BalanceError(f"lock {amount} {asset} > free {entry[0]}")
        entry[0] -= amount
        entry[1] += amount
        self.changed[asset] = None

    def unlock(self, asset: str, amount: Decimal) -> None:
        """Move `amount` from locked back to free."""
        entry = self._entry(asset)
        if amount > entry[1]:
            raise BalanceError(f"unlock {amount} {asset} > locked {entry[1]}")
        entry[1] -= amount
        entry[0] += amount
        self.changed[asset] = None

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        """Remove `amount` from the locked balance (it was paid out in a fill)."""
        entry = self._entry(asset)
        if amount > entry[1]:
            raise BalanceError(f"spend {amount} {asset} > locked {entry[1]}")
        entry[1] -= amount
        self.changed[asset] = None

    def spend_free(self, asset: str, amount: Decimal) -> None:
        """Remove `amount` from the free balance."""
        entry = self._entry(asset)
        if amount > entry[0]:
            raise BalanceError(f"spend {amount} {asset} > free {entry[0]}")
        entry[0] -= amount
        self.changed[asset] = None

    def credit(self, asset: str, amount: Decimal) -> None:
        """Add `amount` to the free balance."""
        entry = self._entry(asset)
        entry[0] += amount
        self.changed[asset] = None

    def take_changed(self) -> list[str]:
        """The assets changed since the last call, in change order; resets the set."""
        assets = list(self.changed)
        self.changed.clear()
        return assets

    def _entry(self, asset: str) -> list[Decimal]:
        entry = self._balances.get(asset)
        if entry is None:
            entry = self._balances[asset] = [ZERO, ZERO]
        return entry
