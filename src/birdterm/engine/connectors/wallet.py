"""Wallet: simulated balances with locks for open orders; never goes negative."""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)


class InsufficientBalance(ValueError):
    """An order needs more of an asset than is free."""


class Wallet:
    """Per-asset totals and the part locked by open orders."""

    def __init__(self, balances: dict[str, Decimal]) -> None:
        for asset, amount in balances.items():
            if amount < 0:
                raise ValueError(f"initial balance of {asset} is {amount}; it must be >= 0")
        self.total: dict[str, Decimal] = dict(balances)
        self.locked: dict[str, Decimal] = {}

    def balance(self, asset: str) -> Decimal:
        """The whole balance, locked included."""
        return self.total.get(asset, ZERO)

    def available(self, asset: str) -> Decimal:
        """What is free to lock or spend."""
        return self.total.get(asset, ZERO) - self.locked.get(asset, ZERO)

    def lock(self, asset: str, amount: Decimal) -> None:
        """Reserve `amount` for an order, or raise InsufficientBalance."""
        free = self.available(asset)
        if amount > free:
            raise InsufficientBalance(f"needs {amount} {asset}, {free} {asset} available")
        self.locked[asset] = self.locked.get(asset, ZERO) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        """Release (part of) a reservation; releasing more than is locked is a bookkeeping bug."""
        left = self.locked.get(asset, ZERO) - amount
        if left < 0:
            raise ValueError(f"unlocking {amount} {asset} but only {left + amount} is locked")
        self.locked[asset] = left

    def settle(self, spend: tuple[str, Decimal], receive: tuple[str, Decimal],
               fees: dict[str, Decimal]) -> None:  # fmt: skip
        """Book a fill: pay `spend`, get `receive`, pay the fees (each from its asset)."""
        changes: dict[str, Decimal] = {}
        changes[spend[0]] = changes.get(spend[0], ZERO) - spend[1]
        changes[receive[0]] = changes.get(receive[0], ZERO) + receive[1]
        for asset, fee in fees.items():
            changes[asset] = changes.get(asset, ZERO) - fee
        for asset, delta in changes.items():
            after = self.total.get(asset, ZERO) + delta
            if after < 0:
                raise InsufficientBalance(
                    f"a fill would leave {after} {asset}; the simulator must never allow it"
                )
        for asset, delta in changes.items():
            self.total[asset] = self.total.get(asset, ZERO) + delta

    def snapshot(self) -> dict[str, Decimal]:
        """A copy of the totals."""
        return dict(self.total)
