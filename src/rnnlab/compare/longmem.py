"""Section 4: long-term memory — task score against sequence length, and the decision tree.

Every (task, cell, length, seed) model is trained for the same number of updates on fresh
batches and scored on a held-out set shared by all cells (see :mod:`.sweep`). Score 0 is the
trivial baseline (the mean for the adding problem, chance for recall), 1 is perfect.
"""

from __future__ import annotations

import numpy as np

from .sweep import Job, task_sizes
from .training import CELL_NAMES, hidden_for_budget

#: A (task, length) counts as solved by a cell when its mean score over seeds reaches this.
SOLVED = 0.8
#: ... and as failed below this.
FAILED = 0.5


def hidden_sizes(config) -> dict:
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


def make_jobs(config) -> list[Job]:
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


def summarise(results, config) -> dict:
    """Mean, min and max score over seeds for each (task, cell, length)."""
    table = {}
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


def longest_solved(rows) -> int | None:
    """The longest length up to which every length is solved (None: not even the shortest)."""
    best = None
    for row in rows:
        if row["mean"] < SOLVED:
            break
        best = row["seq_len"]
    return best


def first_failure(rows) -> int | None:
    """The shortest length whose mean score falls below FAILED (None: never)."""
    return next((row["seq_len"] for row in rows if row["mean"] < FAILED), None)


def run(results, config) -> dict:
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


def _branch(table, config, cell, lengths, label, claim):
    """Verdict for "in this length range, ``cell`` is the right choice"."""
    lengths = [n for n in config.seq_lens if n in lengths]
    if not lengths or cell not in config.cells:
        return {
            "claim": claim,
            "measured": f"no lengths {label} or cell not in this run",
            "verdict": "not measured",
        }
    parts, wins, solved = [], 0, 0
    for task in config.tasks:
        means = {c: _mean_at(table, task, c, lengths) for c in config.cells}
        best = max(means.values())
        wins += means[cell] >= best - 0.05
        solved += means[cell] >= SOLVED
        parts.append(f"{task}: " + ", ".join(f"{CELL_NAMES[c]} {m:.2f}" for c, m in means.items()))
    count = len(config.tasks)
    verdict = (
        "confirmed"
        if wins == count and solved == count
        else "partly confirmed"
        if wins or solved
        else "refuted"
    )
    return {
        "claim": claim,
        "measured": f"mean score at lengths {lengths}: " + "; ".join(parts),
        "verdict": verdict,
        "note": f"{CELL_NAMES[cell]} within 0.05 of the best cell on {wins}/{count} tasks and "
        f"solved (>= {SOLVED}) {solved}/{count}",
    }


def decision_tree_verdicts(table, config) -> list[dict]:
    short = [n for n in config.seq_lens if n < 10]
    medium = [n for n in config.seq_lens if 10 <= n <= 50]
    long = [n for n in config.seq_lens if n > 50]
    very_long = [n for n in config.seq_lens if n > 100]
    verdicts = [
        _branch(table, config, "rnn", short, "< 10", "< 10 steps: RNN (fast, simple)"),
        _branch(table, config, "gru", medium, "10-50", "10-50 steps: GRU (recommended)"),
        _branch(table, config, "gru", long, "> 50", "> 50 steps: try GRU first"),
        _branch(table, config, "lstm", long, "> 50", "> 50 steps, GRU not working: LSTM"),
        _branch(table, config, "lstm", very_long, "> 100", "Extremely long (> 100): LSTM"),
    ]
    verdicts.append(_gru_matches_lstm(table, config))
    return verdicts


def _gru_matches_lstm(table, config):
    claim = "GRU often matches LSTM (Chung et al. 2014)"
    if "gru" not in config.cells or "lstm" not in config.cells:
        return {"claim": claim, "measured": "needs both GRU and LSTM", "verdict": "not measured"}
    pairs = [
        (g["mean"], l["mean"])
        for task in config.tasks
        for g, l in zip(table[task]["gru"], table[task]["lstm"], strict=True)
    ]
    matches = sum(g >= l - 0.05 for g, l in pairs)
    better = sum(g > l + 0.05 for g, l in pairs)
    return {
        "claim": claim,
        "measured": f"GRU within 0.05 of LSTM or better in {matches}/{len(pairs)} "
        f"(task, length) cells; clearly better in {better}",
        "verdict": "confirmed" if matches >= 0.6 * len(pairs) else "refuted",
        "note": "same hidden size (GRU has 3/4 of LSTM's parameters)"
        if not config.equal_params
        else "equal parameter budgets",
    }


def special_case_verdicts(results, config) -> list[dict]:
    """The decision tree's special cases: need speed, general purpose, limited data, complex."""
    verdicts = []
    configs = results["timing"]["configs"]
    name = "guide" if "guide" in configs else next(iter(configs))
    summary = configs[name]["summary"]
    if {"rnn", "lstm", "gru"} <= set(summary):
        total = {c: summary[c]["total_ms"] for c in summary}
        fastest = min(total, key=total.get)
        ok = fastest == "rnn" and total["gru"] < total["lstm"]
        verdicts.append(
            {
                "claim": "Need speed: RNN or GRU (RNN fastest, GRU faster than LSTM)",
                "measured": ", ".join(f"{c.upper()} {t:.1f} ms" for c, t in total.items())
                + f" per training step ({name} config)",
                "verdict": "confirmed" if ok else "refuted",
                "timing": True,
            }
        )
    table = results["longmem"]["table"]
    if {"rnn", "lstm", "gru"} <= set(config.cells):
        cells_ = [(t, i) for t in table for i in range(len(config.seq_lens))]
        near_best = sum(
            table[t]["gru"][i]["mean"] >= max(table[t][c][i]["mean"] for c in table[t]) - 0.05
            for t, i in cells_
        )
        verdicts.append(
            {
                "claim": "General purpose: GRU (start with GRU; it works for 80% of tasks)",
                "measured": f"GRU within 0.05 of the best cell in {near_best}/{len(cells_)} "
                "(task, length) cells",
                "verdict": "confirmed"
                if near_best >= 0.8 * len(cells_)
                else "partly confirmed"
                if near_best >= 0.5 * len(cells_)
                else "refuted",
            }
        )
    for claim in ("Limited data: GRU", "Complex dependencies: LSTM"):
        verdicts.append(
            {
                "claim": claim,
                "measured": "not part of this comparison (every model sees fresh data each update)",
                "verdict": "not measured",
            }
        )
    return verdicts
