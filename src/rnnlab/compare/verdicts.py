"""Verdict words, and the rule that keeps a small budget from refuting a claim.

Every verdict is a dict: ``claim`` (the guide's words), ``measured`` (our figure), ``verdict``
(one of :data:`VERDICTS`), optional ``note``, and ``budget_limited``: whether a longer run (more
updates, the guide's configuration, more repetitions) could change it. Parameter counts and
gradients at initialisation are exact and not budget-limited; trained scores and timings are.

Under ``--quick`` a budget-limited verdict is never final: :func:`at_budget` turns it into
:data:`INCONCLUSIVE` and keeps what the quick numbers said in ``verdict_at_budget``. In any run,
a comparison where no cell learned the task at all is :data:`INCONCLUSIVE` too (the budget
cannot tell the cells apart), never "refuted".
"""

from __future__ import annotations

from collections.abc import Iterable

CONFIRMED = "confirmed"
PARTLY = "partly confirmed"
REFUTED = "refuted"
NOT_MEASURED = "not measured"
INCONCLUSIVE = "inconclusive at this budget"
VERDICTS = (CONFIRMED, PARTLY, REFUTED, INCONCLUSIVE, NOT_MEASURED)
#: A task counts as solved by a cell when its mean score (0 = baseline, 1 = perfect) reaches
#: SOLVED, and as not learned below FAILED; cells within MARGIN of the best count as the best.
SOLVED = 0.8
FAILED = 0.5
MARGIN = 0.05
#: Presets whose budgets are too small for a trained or timed verdict to stand.
SMALL_BUDGET_PRESETS = frozenset({"quick"})


def verdict(
    claim: str,
    measured: str,
    outcome: str,
    note: str = "",
    *,
    budget_limited: bool,
    **extra: object,
) -> dict:
    """One verdict row; ``outcome`` must be one of :data:`VERDICTS`."""
    if outcome not in VERDICTS:
        raise ValueError(f"outcome: expected one of {VERDICTS}, got {outcome!r}")
    row = {"claim": claim, "measured": measured, "verdict": outcome}
    if note:
        row["note"] = note
    return row | {"budget_limited": budget_limited, **extra}


def graded(hits: int, total: int) -> str:
    """CONFIRMED when every case holds, PARTLY when some do, REFUTED when none does."""
    if total <= 0:
        raise ValueError(f"total: expected a positive number of cases, got {total}")
    return CONFIRMED if hits == total else PARTLY if hits > 0 else REFUTED


def at_budget(verdicts: Iterable[dict], preset: str) -> list[dict]:
    """``verdicts`` as a run of ``preset`` may state them.

    Under a small-budget preset every budget-limited verdict that was decided (confirmed,
    partly confirmed or refuted) becomes :data:`INCONCLUSIVE`; the decision it would have been
    stays in ``verdict_at_budget``. Other verdicts pass unchanged.
    """
    out = []
    for row in verdicts:
        decided = row["verdict"] in (CONFIRMED, PARTLY, REFUTED)
        if preset in SMALL_BUDGET_PRESETS and row.get("budget_limited", True) and decided:
            row = row | {"verdict": INCONCLUSIVE, "verdict_at_budget": row["verdict"]}
        out.append(row)
    return out
