"""Small-cell suppression: which counts may be published, and which must show "<5".

Every count under the threshold is suppressed (primary suppression), zero
included: "nobody" is as telling as "one person" in a small agency. Then
secondary suppression: the published figures are a set of sums (each row of a
table adds up to its total; where a table counts each case once, each quarter's
column adds up to the quarter's reports, and the row totals to all reports), and
anyone may solve those sums for a hidden count. So this module writes them down
as linear equations and hides more counts until none of the hidden ones can be
solved for, whichever published tables are combined.

A hidden count is determined exactly when its unit vector lies in the row space
of the equations over the hidden counts: one reduced row echelon form over
exact fractions answers that for all of them at once. Counts are also never
negative, one shown as "<5" is at most 4, and one hidden to protect it ("[c]")
is 5 or more: sums narrow those bounds, one another's too, and a count whose
least and most possible values meet is given away as surely; one more count
beside it is hidden then (`pinned_by_bounds`). Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

Entry = Hashable
"""One published figure: a count or a total, named by its table, row and column."""


@dataclass(frozen=True)
class Equation:
    """The published figures that add up: `sum(parts) == total`."""

    parts: tuple[Entry, ...]
    total: Entry


def suppress(
    values: Mapping[Entry, int], equations: Sequence[Equation], threshold: int
) -> frozenset[Entry]:
    """The entries to show as "<threshold": every one under it, and as few more
    as it takes (smallest first) so that none of them can be computed from the
    rest through `equations`. Entries in no equation are suppressed only when
    small."""
    hidden = {e for e, v in values.items() if v < threshold}
    order = {e: n for n, e in enumerate(values)}
    holding = {e: [i for i, q in enumerate(equations) if e in _members(q)] for e in values}
    small = frozenset(hidden)
    while True:
        found = determined(hidden, equations) or pinned_by_bounds(
            values, hidden, small, equations, threshold
        )
        if not found:
            return frozenset(hidden)
        # One more hidden beside each entry given away, in one pass: an entry
        # whose sums just gained a hidden one waits for the next pass.
        changed: set[int] = set()
        for target in sorted(found, key=order.__getitem__):
            if changed.intersection(holding[target]):
                continue
            around = [e for i in holding[target] for e in _members(equations[i])]
            candidates = [e for e in around if e not in hidden] or [
                e for q in equations for e in _members(q) if e not in hidden
            ]
            if not candidates:
                return frozenset(hidden)
            chosen = min(candidates, key=lambda e: (values[e], order[e]))
            hidden.add(chosen)
            changed.update(holding[chosen])


def pinned_by_bounds(
    values: Mapping[Entry, int],
    hidden: set[Entry],
    small: frozenset[Entry],
    equations: Sequence[Equation],
    threshold: int,
) -> set[Entry]:
    """The hidden entries a reader can pin down from what she knows of them,
    sum by sum: none is negative; one hidden for being small (`small`, shown
    "<5") is at most threshold - 1; one hidden to protect it (shown "[c]") was
    a published count, so at least the threshold. Each sum narrows the bounds
    of its entries from the others', round after round, until nothing moves
    (bounds propagation: what a careful reader with a pencil finds); an entry
    whose lowest and highest possible values meet is given away."""
    low: dict[Entry, float] = {}
    high: dict[Entry, float] = {}
    for entry, value in values.items():
        if entry not in hidden:
            low[entry] = high[entry] = value
        elif entry in small:
            low[entry], high[entry] = 0, threshold - 1
        else:
            low[entry], high[entry] = threshold, math.inf
    for _ in range(PROPAGATION_ROUNDS):
        moved = False
        for equation in equations:
            total, parts = equation.total, equation.parts
            bounds = [
                (total, sum(low[p] for p in parts), sum(high[p] for p in parts)),
                *(
                    (
                        part,
                        low[total] - sum(high[o] for o in parts if o != part),
                        high[total] - sum(low[o] for o in parts if o != part),
                    )
                    for part in parts
                ),
            ]
            for entry, least, most in bounds:
                if least > low[entry]:
                    low[entry], moved = least, True
                if most < high[entry]:
                    high[entry], moved = most, True
        if not moved:
            break
    return {entry for entry in hidden if low[entry] == high[entry]}


PROPAGATION_ROUNDS = 50
"""Enough for any chain of sums a figures table has; more changes nothing."""


def determined(hidden: Iterable[Entry], equations: Sequence[Equation]) -> set[Entry]:
    """The hidden entries that the published ones and `equations` give away."""
    unknowns = [e for e in dict.fromkeys(hidden)]
    column = {e: n for n, e in enumerate(unknowns)}
    rows: list[list[Fraction]] = []
    for equation in equations:
        row = [Fraction(0)] * len(unknowns)
        for part in equation.parts:
            if part in column:
                row[column[part]] += 1
        if equation.total in column:
            row[column[equation.total]] -= 1
        if any(row):
            rows.append(row)
    return {unknowns[c] for c in _unit_rows(rows, len(unknowns))}


def _members(equation: Equation) -> tuple[Entry, ...]:
    return (*equation.parts, equation.total)


def _unit_rows(rows: list[list[Fraction]], width: int) -> list[int]:
    """Reduce `rows` to reduced row echelon form; the columns whose pivot row
    has no other non-zero entry (the unknowns the equations pin down)."""
    pivots: list[int] = []
    r = 0
    for c in range(width):
        pivot = next((i for i in range(r, len(rows)) if rows[i][c] != 0), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        lead = rows[r][c]
        rows[r] = [x / lead for x in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c] != 0:
                factor = rows[i][c]
                rows[i] = [x - factor * y for x, y in zip(rows[i], rows[r], strict=True)]
        pivots.append(c)
        r += 1
        if r == len(rows):
            break
    return [c for i, c in enumerate(pivots) if sum(1 for x in rows[i] if x != 0) == 1]
