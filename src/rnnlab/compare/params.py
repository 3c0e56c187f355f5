"""Section 1: parameter counts and parameter memory, read from the layers themselves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .training import CELL_NAMES, CELLS

#: The guide's numbers. (1, 8): "Parameters: 80 / 320 / 240", "Memory: ~640 bytes / ~2.5 KB /
#: ~1.9 KB". (10, 50): the comparison table's W_input / W_hidden / biases / total.
GUIDE_PARAMS = {
    (1, 8): {
        "rnn": {"total": 80, "bytes": 640},
        "lstm": {"total": 320, "bytes": 2500},
        "gru": {"total": 240, "bytes": 1900},
    },
    (10, 50): {
        "rnn": {"W_input": 500, "W_hidden": 2500, "biases": 50, "total": 3050},
        "lstm": {"W_input": 2000, "W_hidden": 10000, "biases": 200, "total": 12200},
        "gru": {"W_input": 1500, "W_hidden": 7500, "biases": 150, "total": 9150},
    },
}


def count(cell: str, input_size: int, hidden_size: int) -> dict:
    """Parameter groups and bytes of a layer without output head, at float32 and float64."""
    row = {}
    for dtype in (np.float32, np.float64):
        layer = CELLS[cell](input_size, hidden_size, dtype=dtype, seed=0)
        row[f"bytes_{np.dtype(dtype).name}"] = layer.nbytes
    stacked = layer._w  # W (G·H, I), U (G·H, H), b (G·H,): the guide's groups
    row |= {
        "W_input": int(stacked["W"].size),
        "W_hidden": int(stacked["U"].size),
        "biases": int(stacked["b"].size),
        "total": layer.num_parameters(),
    }
    return row


def _matches(measured, claimed, key):
    if key == "bytes":  # "~640 bytes", "~2.5 KB": approximate, within 5%, at float64
        return abs(measured["bytes_float64"] - claimed) <= 0.05 * claimed
    return measured[key] == claimed


def run(cells: Sequence[str] = tuple(CELLS)) -> dict:
    """Rows for both of the guide's configurations, each claim beside the measured number."""
    rows = []
    for (input_size, hidden_size), claims in GUIDE_PARAMS.items():
        for cell in cells:
            measured = count(cell, input_size, hidden_size)
            checks = {
                key: {
                    "claim": value,
                    "measured": measured["bytes_float64" if key == "bytes" else key],
                    "ok": _matches(measured, value, key),
                }
                for key, value in claims[cell].items()
            }
            rows.append(
                {
                    "cell": cell,
                    "input_size": input_size,
                    "hidden_size": hidden_size,
                    **measured,
                    "checks": checks,
                }
            )
    return {"rows": rows, "verdicts": _verdicts(rows, cells)}


def _verdicts(rows, cells):
    verdicts = []
    all_ok = all(c["ok"] for r in rows for c in r["checks"].values())
    verdicts.append(
        {
            "budget_limited": False,
            "claim": "Parameter counts 80/320/240 (input 1, hidden 8) and 3,050/12,200/9,150 "
            "(input 10, hidden 50), memory ~640 B/~2.5 KB/~1.9 KB",
            "measured": "; ".join(
                f"{CELL_NAMES[r['cell']]}({r['input_size']},{r['hidden_size']}) = {r['total']:,}"
                f" params, {r['bytes_float64']:,} B float64 / {r['bytes_float32']:,} B float32"
                for r in rows
            ),
            "verdict": "confirmed" if all_ok else "refuted",
            "note": "The guide's byte figures are float64 (8 bytes a parameter); "
            "rnnlab's default float32 halves them.",
        }
    )
    by = {(r["cell"], r["hidden_size"]): r for r in rows}
    if "gru" in cells and "lstm" in cells:
        ratio = by[("gru", 50)]["total"] / by[("lstm", 50)]["total"]
        verdicts.append(
            {
                "budget_limited": False,
                "claim": "GRU has 25% fewer parameters than LSTM",
                "measured": f"GRU/LSTM = {ratio:.3f}",
                "verdict": "confirmed" if abs(ratio - 0.75) < 1e-9 else "refuted",
                "note": "Exactly 3/4 for the guide's GRU form; the reset-after form used by "
                "PyTorch adds H biases.",
            }
        )
    return verdicts
