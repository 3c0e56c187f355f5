"""The guide's decision tree as a function, with the measured evidence of a report beside it."""

from __future__ import annotations

import json
from pathlib import Path

#: Below this many training sequences the guide's "limited data" branch applies (our choice:
#: the guide gives no number).
LIMITED_DATA = 1000


def decide(seq_len: int, data_size: int | None = None, need_speed: bool = False) -> tuple[str, str]:
    """The guide's answer: (cell, reason)."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len: expected a positive integer, got {seq_len!r}")
    if data_size is not None and (not isinstance(data_size, int) or data_size < 1):
        raise ValueError(f"data_size: expected a positive integer, got {data_size!r}")
    if need_speed:
        if seq_len < 10:
            return "rnn", "need speed: RNN or GRU; under 10 steps the RNN suffices"
        return "gru", "need speed: RNN or GRU; at 10+ steps the GRU keeps memory"
    if seq_len < 10:
        return "rnn", "< 10 steps: RNN (fast, simple)"
    if data_size is not None and data_size < LIMITED_DATA:
        return "gru", f"limited data (< {LIMITED_DATA} sequences): GRU"
    if seq_len <= 50:
        return "gru", "10-50 steps: GRU (recommended, good balance)"
    if seq_len <= 100:
        return "gru", "> 50 steps: try GRU first; if it does not work, LSTM"
    return "lstm", "extremely long (> 100 steps): LSTM"


def evidence(results_path: str | Path, seq_len: int) -> dict | None:
    """Measured scores at the report's length nearest ``seq_len``, and the timing ratios."""
    path = Path(results_path)
    if not path.is_file():
        return None
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        table = results["longmem"]["table"]
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a results.json written by rnnlab compare ({exc})") from None
    lengths = [row["seq_len"] for row in next(iter(next(iter(table.values())).values()))]
    nearest = min(lengths, key=lambda n: (abs(n - seq_len), n))
    scores = {
        task: {
            cell: next(r["mean"] for r in rows if r["seq_len"] == nearest)
            for cell, rows in by_cell.items()
        }
        for task, by_cell in table.items()
    }
    timing = {}
    for name, data in results.get("timing", {}).get("configs", {}).items():
        timing[name] = {c: s["total"]["median"] for c, s in data["summary"].items() if "total" in s}
    return {"path": str(path), "seq_len": nearest, "scores": scores, "timing": timing}
