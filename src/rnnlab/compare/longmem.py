"""Section 4: long-term memory — task score against sequence length, and the decision tree.

Every (task, cell, length, seed) model is trained for the same number of updates on fresh
batches and scored on a held-out set shared by all cells (see :mod:`.sweep`). Score 0 is the
trivial baseline (the mean for the adding problem, chance for recall), 1 is perfect.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .config import CompareConfig
from .sweep import Job, task_sizes
from .training import CELL_NAMES, hidden_for_budget
from .verdicts import (
    CONFIRMED,
    FAILED,
    INCONCLUSIVE,
    MARGIN,
    NOT_MEASURED,
    PARTLY,
    REFUTED,
    SOLVED,
    verdict,
)

__all__ = ["FAILED", "SOLVED", "decision_tree_verdicts", "make_jobs", "run", "summarise"]


def hidden_sizes(config: CompareConfig) -> dict[tuple[str, str], int]:
    """Hidden size per (task, cell): the same H, or H chosen for equal parameter budgets."""
    sizes = {}
    for task in config.tasks:
        input_size, output_size, _ = task_sizes(task)
        for cell in config.cells:
            if not config.equal_params:
                sizes[(task, cell)] = config.hidden_size
                continue
            # Budget: the LSTM's parameter count at the configured hidden size.
            gates = 4
            H = config.hidden_size
            budget = gates * (input_size * H + H * H + H) + output_size * H + output_size
            sizes[(task, cell)] = hidden_for_budget(cell, input_size, output_size, budget)
    return sizes


def make_jobs(config: CompareConfig) -> list[Job]:
    sizes = hidden_sizes(config)
    return [
        Job(
            task=task,
            cell=cell,
            seq_len=length,
            seed=seed,
            base_seed=config.seed,
            hidden_size=sizes[(task, cell)],
            steps=config.steps,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
        )
        for task in config.tasks
        for cell in config.cells
        for length in config.seq_lens
        for seed in range(config.seeds)
    ]


def summarise(results: Sequence[dict], config: CompareConfig) -> dict:
    """Mean, min and max score over seeds for each (task, cell, length)."""
    table: dict[str, dict[str, list[dict]]] = {}
    for task in config.tasks:
        table[task] = {}
        for cell in config.cells:
            rows = []
            for length in config.seq_lens:
                scores = [
                    r["score"]
                    for r in results
                    if (r["task"], r["cell"], r["seq_len"]) == (task, cell, length)
                ]
                rows.append(
                    {
                        "seq_len": length,
                        "mean": float(np.mean(scores)),
                        "min": float(np.min(scores)),
                        "max": float(np.max(scores)),
                        "scores": scores,
                    }
                )
            table[task][cell] = rows
    return table


def longest_solved(rows: Sequence[dict]) -> int | None:
    """The longest length up to which every length is solved (None: not even the shortest)."""
    best = None
    for row in rows:
        if row["mean"] < SOLVED:
            break
        best = row["seq_len"]
    return best


def first_failure(rows: Sequence[dict]) -> int | None:
    """The shortest length whose mean score falls below FAILED (None: never)."""
    return next((row["seq_len"] for row in rows if row["mean"] < FAILED), None)


def run(results: Sequence[dict], config: CompareConfig) -> dict:
    table = summarise(results, config)
    thresholds = {
        task: {
            cell: {
                "longest_solved": longest_solved(rows),
                "first_failure": first_failure(rows),
            }
            for cell, rows in by_cell.items()
        }
        for task, by_cell in table.items()
    }
    params = {f"{r['task']}/{r['cell']}": r["num_parameters"] for r in results}
    return {
        "table": table,
        "thresholds": thresholds,
        "num_parameters": params,
        "solved_threshold": SOLVED,
        "failed_threshold": FAILED,
        "verdicts": decision_tree_verdicts(table, config),
    }


def _mean_at(table, task, cell, lengths):
    rows = [r for r in table[task][cell] if r["seq_len"] in lengths]
    return float(np.mean([r["mean"] for r in rows])) if rows else None


def branch_verdict(means: dict[str, dict[str, float]], cell: str, claim: str, label: str) -> dict:
    """Verdict for "in this length range, ``cell`` is the right choice".

    ``means[task][cell]`` is each cell's mean score over the branch's lengths. Tasks that no
    cell learned (best < FAILED) cannot tell the cells apart and do not count. Over the others:
    confirmed when ``cell`` is within MARGIN of the best and solves (>= SOLVED) every one,
    partly when it does either somewhere, refuted otherwise; inconclusive when no task counts.
    """
    shown = "; ".join(
        f"{task}: " + ", ".join(f"{CELL_NAMES[c]} {m:.2f}" for c, m in by_cell.items())
        for task, by_cell in means.items()
    )
    measured = f"mean score at lengths {label}: {shown}"
    counted = {t: m for t, m in means.items() if max(m.values()) >= FAILED}
    wins = sum(m[cell] >= max(m.values()) - MARGIN for m in counted.values())
    solved = sum(m[cell] >= SOLVED for m in counted.values())
    note = (
        f"{CELL_NAMES[cell]} within {MARGIN} of the best cell on {wins}/{len(counted)} tasks "
        f"and solved (>= {SOLVED}) {solved}/{len(counted)}; tasks no cell learned "
        f"(< {FAILED}) do not count: {len(means) - len(counted)}"
    )
    if not counted:
        return verdict(claim, measured, INCONCLUSIVE, note, budget_limited=True)
    count = len(counted)
    outcome = (
        CONFIRMED if wins == count and solved == count else PARTLY if wins or solved else REFUTED
    )
    return verdict(claim, measured, outcome, note, budget_limited=True)


def _branch(table, config, cell, lengths, label, claim):
    lengths = [n for n in config.seq_lens if n in lengths]
    if not lengths or cell not in config.cells:
        return verdict(
            claim,
            f"no lengths {label} or cell not in this run",
            INCONCLUSIVE if cell in config.cells else NOT_MEASURED,
            budget_limited=True,
        )
    means = {
        task: {c: _mean_at(table, task, c, lengths) for c in config.cells} for task in config.tasks
    }
    return branch_verdict(means, cell, claim, str(lengths))


def decision_tree_verdicts(table: dict, config: CompareConfig) -> list[dict]:
    short = [n for n in config.seq_lens if n < 10]
    medium = [n for n in config.seq_lens if 10 <= n <= 50]
    long = [n for n in config.seq_lens if n > 50]
    very_long = [n for n in config.seq_lens if n > 100]
    verdicts = [
        _branch(table, config, "rnn", short, "< 10", "< 10 steps: RNN (fast, simple)"),
        _branch(table, config, "gru", medium, "10-50", "10-50 steps: GRU (recommended)"),
        _branch(table, config, "gru", long, "> 50", "> 50 steps: try GRU first"),
        _branch(table, config, "lstm", long, "> 50", "> 50 steps, GRU not working: LSTM"),
    ]
    claim = "Extremely long (> 100): LSTM"
    if very_long:
        verdicts.append(_branch(table, config, "lstm", very_long, "> 100", claim))
    else:
        verdicts.append(
            verdict(
                claim,
                f"no length > 100 in this run (lengths {list(config.seq_lens)})",
                INCONCLUSIVE,
                "the default budget holds lengths to 100; `rnnlab compare --full` trains 200 "
                "and 500",
                budget_limited=True,
            )
        )
    return verdicts


def gru_matches_lstm_verdict(
    pairs: Sequence[tuple[float, float]], evidence: Sequence[dict] = (), note: str = ""
) -> dict:
    """ "GRU often matches LSTM", from (GRU, LSTM) mean scores and extra evidence rows.

    ``pairs``: one (GRU score, LSTM score) per (task, length) of the sweep; pairs where neither
    learned the task (both < FAILED) do not count. ``evidence``: rows from other experiments
    (the chorale NLL of the applications, for example), each a dict with ``label``, ``gru``,
    ``lstm``, ``higher_is_better`` (bool) and ``tolerance`` (how far behind still matches).
    Confirmed when the GRU matches (within MARGIN or the row's tolerance, or better) in at least
    60% of what counts, refuted below; inconclusive when nothing counts.
    """
    claim = "GRU often matches LSTM (Chung et al. 2014)"
    counted = [(g, l) for g, l in pairs if max(g, l) >= FAILED]
    matches = sum(g >= l - MARGIN for g, l in counted)
    parts = [
        f"GRU within {MARGIN} of LSTM or better in {matches}/{len(counted)} (task, length) "
        f"cells where one of them learned the task ({len(pairs) - len(counted)} where neither did)"
    ]
    for row in evidence:
        gru, lstm, tol = float(row["gru"]), float(row["lstm"]), float(row["tolerance"])
        ok = gru >= lstm - tol if row["higher_is_better"] else gru <= lstm + tol
        matches += ok
        parts.append(
            f"{row['label']}: GRU {gru:.3g}, LSTM {lstm:.3g} ({'matches' if ok else 'behind'})"
        )
    total = len(counted) + len(evidence)
    if total == 0:
        return verdict(claim, "; ".join(parts), INCONCLUSIVE, note, budget_limited=True)
    outcome = CONFIRMED if matches >= 0.6 * total else REFUTED
    return verdict(claim, "; ".join(parts), outcome, note, budget_limited=True)


def gru_matches_lstm(table: dict, config: CompareConfig, evidence: Sequence[dict] = ()) -> dict:
    """ "GRU often matches LSTM" from the sweep's table and ``evidence`` rows."""
    if "gru" not in config.cells or "lstm" not in config.cells:
        return verdict(
            "GRU often matches LSTM (Chung et al. 2014)",
            "needs both GRU and LSTM",
            NOT_MEASURED,
            budget_limited=True,
        )
    pairs = [
        (g["mean"], l["mean"])
        for task in config.tasks
        for g, l in zip(table[task]["gru"], table[task]["lstm"], strict=True)
    ]
    note = (
        "same hidden size (GRU has 3/4 of LSTM's parameters)"
        if not config.equal_params
        else "equal parameter budgets"
    )
    return gru_matches_lstm_verdict(pairs, evidence, note)


def need_speed_verdict(total_ms: dict[str, float], config_name: str) -> dict:
    """ "Need speed: RNN or GRU": the RNN fastest and the GRU faster than the LSTM.

    Budget-limited unless measured at the guide's configuration.
    """
    ok = min(total_ms, key=lambda c: total_ms[c]) == "rnn" and total_ms["gru"] < total_ms["lstm"]
    return verdict(
        "Need speed: RNN or GRU (RNN fastest, GRU faster than LSTM)",
        ", ".join(f"{c.upper()} {t:.1f} ms" for c, t in total_ms.items())
        + f" per training step ({config_name} config)",
        CONFIRMED if ok else REFUTED,
        budget_limited=config_name != "guide",
        timing=True,
    )


def general_purpose_verdict(cases: Sequence[dict[str, float]]) -> dict:
    """ "General purpose: GRU", from per-(task, length) mean scores ``{cell: score}``.

    Cases no cell learned (best < FAILED) do not count. Confirmed when the GRU is within MARGIN
    of the best in at least 80% of the others, partly in at least 50%, refuted below.
    """
    counted = [c for c in cases if max(c.values()) >= FAILED]
    near_best = sum(c["gru"] >= max(c.values()) - MARGIN for c in counted)
    measured = (
        f"GRU within {MARGIN} of the best cell in {near_best}/{len(counted)} (task, length) "
        f"cells where some cell learned the task ({len(cases) - len(counted)} where none did)"
    )
    claim = "General purpose: GRU (start with GRU; it works for 80% of tasks)"
    if not counted:
        return verdict(claim, measured, INCONCLUSIVE, budget_limited=True)
    n = len(counted)
    outcome = CONFIRMED if near_best >= 0.8 * n else PARTLY if near_best >= 0.5 * n else REFUTED
    return verdict(claim, measured, outcome, budget_limited=True)


def special_case_verdicts(
    results: dict, config: CompareConfig, evidence: Sequence[dict] = ()
) -> list[dict]:
    """The decision tree's special cases measured from the sweep and the timings.

    Limited data and complex dependencies have sections of their own (:mod:`.limited_data`,
    :mod:`.temporal_order`); ``evidence`` joins "GRU often matches LSTM" (see
    :func:`gru_matches_lstm_verdict`).
    """
    verdicts = []
    configs = results["timing"]["configs"]
    name = "guide" if "guide" in configs else next(iter(configs))
    summary = configs[name]["summary"]
    if {"rnn", "lstm", "gru"} <= set(summary):
        verdicts.append(need_speed_verdict({c: summary[c]["total_ms"] for c in summary}, name))
    table = results["longmem"]["table"]
    if {"rnn", "lstm", "gru"} <= set(config.cells):
        cases = [
            {c: table[t][c][i]["mean"] for c in table[t]}
            for t in table
            for i in range(len(config.seq_lens))
        ]
        verdicts.append(general_purpose_verdict(cases))
    verdicts.append(gru_matches_lstm(table, config, evidence))
    return verdicts
