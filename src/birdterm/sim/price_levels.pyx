# cython: language_level=3
"""One side of an L2 order book as a sorted contiguous C array of (price, qty) levels.

The best level is kept at the END of the array (bids ascending, asks descending), because
almost all diff traffic lands near the top of the book: an insert or delete there moves only
the few levels that are better than it.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.math cimport INFINITY
from libc.string cimport memmove

import numpy as np

cimport numpy as cnp

cnp.import_array()


class InvalidBookLevel(ValueError):
    """A price or quantity that cannot be in an order book (negative, zero price, NaN, inf)."""


cdef struct Level:
    double price
    double qty


cdef enum:
    INITIAL_CAPACITY = 64


cdef inline bint _valid_price(double price) noexcept nogil:
    return price > 0.0 and price < INFINITY


cdef inline bint _valid_qty(double qty) noexcept nogil:
    return qty >= 0.0 and qty < INFINITY


cdef int _check_level(double price, double qty) except -1:
    if not _valid_price(price):
        raise InvalidBookLevel(f"invalid book price {price!r}: must be a positive finite number")
    if not _valid_qty(qty):
        raise InvalidBookLevel(
            f"invalid book quantity {qty!r} at price {price!r}: must be a finite number >= 0"
        )
    return 0


cdef int _grow(Level** buffer, Py_ssize_t* capacity, Py_ssize_t needed) except -1:
    """Double `*capacity` until it holds `needed` levels, reallocating `*buffer`."""
    cdef Py_ssize_t cap = capacity[0]
    cdef Level* grown
    if needed <= cap:
        return 0
    while cap < needed:
        cap *= 2
    grown = <Level*> PyMem_Realloc(buffer[0], cap * sizeof(Level))
    if grown == NULL:
        raise MemoryError()
    buffer[0] = grown
    capacity[0] = cap
    return 0


cdef class PriceLevels:
    """One book side: sorted levels with the best at the end, binary-searched, memmoved."""

    cdef Level* _levels
    cdef Py_ssize_t _n
    cdef Py_ssize_t _cap
    # Parsed-but-not-yet-applied levels, so a batch with one bad entry changes nothing.
    cdef Level* _scratch
    cdef Py_ssize_t _scratch_cap
    # +1.0 for bids, -1.0 for asks: sign * price ascends along the array for both sides.
    cdef double _sign
    cdef readonly bint is_bid

    def __cinit__(self, bint is_bid):
        self.is_bid = is_bid
        self._sign = 1.0 if is_bid else -1.0
        self._n = 0
        self._cap = INITIAL_CAPACITY
        self._levels = <Level*> PyMem_Malloc(self._cap * sizeof(Level))
        self._scratch_cap = INITIAL_CAPACITY
        self._scratch = <Level*> PyMem_Malloc(self._scratch_cap * sizeof(Level))
        if self._levels == NULL or self._scratch == NULL:
            raise MemoryError()

    def __dealloc__(self):
        PyMem_Free(self._levels)
        PyMem_Free(self._scratch)

    # ---- internals -------------------------------------------------------------------------

    cdef int _reserve(self, Py_ssize_t needed) except -1:
        _grow(&self._levels, &self._cap, needed)
        return 0

    cdef int _reserve_scratch(self, Py_ssize_t needed) except -1:
        _grow(&self._scratch, &self._scratch_cap, needed)
        return 0

    cdef inline Py_ssize_t _lower_bound(self, double price) noexcept nogil:
        """First index whose level is not worse than `price` (len if none)."""
        cdef double key = self._sign * price
        cdef Py_ssize_t lo = 0
        cdef Py_ssize_t hi = self._n
        cdef Py_ssize_t mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self._sign * self._levels[mid].price < key:
                lo = mid + 1
            else:
                hi = mid
        return lo

    cdef int _set_unchecked(self, double price, double qty) except -1:
        cdef Py_ssize_t i = self._lower_bound(price)
        cdef Level* levels
        if i < self._n and self._levels[i].price == price:
            if qty == 0.0:
                memmove(&self._levels[i], &self._levels[i + 1], (self._n - i - 1) * sizeof(Level))
                self._n -= 1
            else:
                self._levels[i].qty = qty
            return 0
        if qty == 0.0:
            return 0  # deleting a level we do not have is a no-op (Binance sends these)
        self._reserve(self._n + 1)
        levels = self._levels
        memmove(&levels[i + 1], &levels[i], (self._n - i) * sizeof(Level))
        levels[i].price = price
        levels[i].qty = qty
        self._n += 1
        return 0

    cdef Py_ssize_t _parse_pairs(self, object pairs) except -1:
        """Parse [price, qty] pairs (float or str) into the scratch buffer, validating all."""
        cdef list items = pairs if type(pairs) is list else list(pairs)
        cdef Py_ssize_t k, count = len(items)
        cdef double price, qty
        cdef object pair
        self._reserve_scratch(count)
        for k in range(count):
            pair = items[k]
            price = float(pair[0])
            qty = float(pair[1])
            _check_level(price, qty)
            self._scratch[k].price = price
            self._scratch[k].qty = qty
        return count

    cdef int _apply_scratch(self, Py_ssize_t count) except -1:
        cdef Py_ssize_t k
        for k in range(count):
            self._set_unchecked(self._scratch[k].price, self._scratch[k].qty)
        return 0

    # ---- mutation --------------------------------------------------------------------------

    cpdef set(self, double price, double qty):
        """Set the quantity at `price`; qty 0 removes the level (a missing level is a no-op)."""
        _check_level(price, qty)
        self._set_unchecked(price, qty)

    cpdef clear(self):
        """Remove every level (capacity is kept)."""
        self._n = 0

    def load(self, prices, qtys):
        """Replace the side with a snapshot; zero quantities are skipped, a repeated price's
        last entry wins."""
        cdef cnp.ndarray p_arr = np.ascontiguousarray(prices, dtype=np.float64).ravel()
        cdef cnp.ndarray q_arr = np.ascontiguousarray(qtys, dtype=np.float64).ravel()
        cdef Py_ssize_t count = p_arr.shape[0]
        if q_arr.shape[0] != count:
            raise ValueError(
                f"snapshot has {count} prices but {q_arr.shape[0]} quantities"
            )
        cdef const double[::1] p = p_arr
        cdef const double[::1] q = q_arr
        cdef Py_ssize_t k
        for k in range(count):
            _check_level(p[k], q[k])
        # Stable sort keeps input order among equal prices, so the last one can win.
        cdef const cnp.intp_t[::1] order = np.argsort(
            p_arr if self.is_bid else -p_arr, kind="stable"
        )
        self._reserve(count)
        cdef Py_ssize_t j, n = 0
        for k in range(count):
            j = order[k]
            if k + 1 < count and p[order[k + 1]] == p[j]:
                continue
            if q[j] == 0.0:
                continue
            self._levels[n].price = p[j]
            self._levels[n].qty = q[j]
            n += 1
        self._n = n

    cpdef apply_arrays(self, const double[:] prices, const double[:] qtys):
        """Apply many level updates from float64 arrays; all are validated before any applies."""
        cdef Py_ssize_t k, count = prices.shape[0]
        if qtys.shape[0] != count:
            raise ValueError(f"got {count} prices but {qtys.shape[0]} quantities")
        for k in range(count):
            _check_level(prices[k], qtys[k])
        for k in range(count):
            self._set_unchecked(prices[k], qtys[k])

    cpdef update_pairs(self, object pairs):
        """Apply [price, qty] pairs (float or str, as Binance sends them); all-or-nothing."""
        cdef Py_ssize_t count = self._parse_pairs(pairs)
        self._apply_scratch(count)

    # ---- queries ---------------------------------------------------------------------------

    def __len__(self):
        return self._n

    def __repr__(self):
        cdef Level best
        side = "bids" if self.is_bid else "asks"
        if self._n == 0:
            return f"PriceLevels({side}, empty)"
        best = self._levels[self._n - 1]
        return f"PriceLevels({side}, levels={self._n}, best={best.price!r}@{best.qty!r})"

    cpdef object best(self):
        """The best level as (price, qty), or None when the side is empty."""
        if self._n == 0:
            return None
        return (self._levels[self._n - 1].price, self._levels[self._n - 1].qty)

    cpdef double get(self, double price):
        """The quantity resting at exactly `price` (0.0 when there is no such level)."""
        cdef Py_ssize_t i = self._lower_bound(price)
        if i < self._n and self._levels[i].price == price:
            return self._levels[i].qty
        return 0.0

    cpdef list top(self, Py_ssize_t n):
        """Up to `n` levels as (price, qty) tuples, best first."""
        cdef list out = []
        cdef Py_ssize_t i, stop
        if n <= 0:
            return out
        stop = self._n - n if n < self._n else 0
        i = self._n - 1
        while i >= stop:
            out.append((self._levels[i].price, self._levels[i].qty))
            i -= 1
        return out

    def to_arrays(self):
        """All levels as (prices, qtys) float64 numpy arrays, best first."""
        cdef Py_ssize_t n = self._n
        cdef cnp.ndarray p_arr = np.empty(n, dtype=np.float64)
        cdef cnp.ndarray q_arr = np.empty(n, dtype=np.float64)
        cdef double[::1] p = p_arr
        cdef double[::1] q = q_arr
        cdef Py_ssize_t k
        for k in range(n):
            p[k] = self._levels[n - 1 - k].price
            q[k] = self._levels[n - 1 - k].qty
        return p_arr, q_arr

    cpdef tuple vwap_for_volume(self, double volume):
        """Walk from the best level to take `volume`: (vwap, worst_price, filled_volume).

        vwap and worst_price are None when nothing can be filled; filled_volume < volume
        means the side is too thin.
        """
        if not (volume >= 0.0 and volume < INFINITY):
            raise ValueError(f"invalid volume {volume!r}: must be a finite number >= 0")
        cdef double remaining = volume
        cdef double filled = 0.0
        cdef double cost = 0.0
        cdef double worst = 0.0
        cdef Py_ssize_t i = self._n - 1
        if volume == 0.0 or self._n == 0:
            return (None, None, 0.0)
        while i >= 0:
            worst = self._levels[i].price
            if self._levels[i].qty >= remaining:
                cost += remaining * worst
                filled = volume
                remaining = 0.0
                break
            cost += self._levels[i].qty * worst
            filled += self._levels[i].qty
            remaining -= self._levels[i].qty
            i -= 1
        return (cost / filled, worst, filled)

    cpdef double volume_up_to(self, double price):
        """Total quantity of levels at or better than `price` (bids >= price, asks <= price)."""
        cdef double key = self._sign * price
        cdef double total = 0.0
        cdef Py_ssize_t i = self._n - 1
        while i >= 0 and self._sign * self._levels[i].price >= key:
            total += self._levels[i].qty
            i -= 1
        return total

    cpdef double quote_volume_up_to(self, double price):
        """Total price * qty of levels at or better than `price`."""
        cdef double key = self._sign * price
        cdef double total = 0.0
        cdef Py_ssize_t i = self._n - 1
        while i >= 0 and self._sign * self._levels[i].price >= key:
            total += self._levels[i].qty * self._levels[i].price
            i -= 1
        return total


cpdef bint apply_pair_diff(
    PriceLevels bids, PriceLevels asks, object bid_pairs, object ask_pairs
) except -1:
    """Apply one diff event's bid and ask pairs; every entry is validated before any applies."""
    cdef Py_ssize_t n_bids = bids._parse_pairs(bid_pairs)
    cdef Py_ssize_t n_asks = asks._parse_pairs(ask_pairs)
    bids._apply_scratch(n_bids)
    asks._apply_scratch(n_asks)
    return True
