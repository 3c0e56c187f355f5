"""``report.md``: each of the guide's claims beside our measurement and a verdict."""

from __future__ import annotations

import os
from pathlib import Path

from ..io import atomic_write_bytes
from .training import CELL_NAMES
from .verdicts import CONFIRMED, INCONCLUSIVE, NOT_MEASURED, PARTLY, REFUTED

ICONS = {CONFIRMED: "✅", PARTLY: "🟡", REFUTED: "❌", INCONCLUSIVE: "❔", NOT_MEASURED: "⚪"}


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _note(v):
    note = v.get("note", "")
    if "verdict_at_budget" in v:
        note = f"at this budget the numbers said: {v['verdict_at_budget']}. " + note
    return note


def _verdict_rows(verdicts):
    return [
        (ICONS.get(v["verdict"], "") + " " + v["verdict"], v["claim"], v["measured"], _note(v))
        for v in verdicts
    ]


def _verdicts_table(verdicts):
    return _table(("verdict", "the guide says", "we measured", "note"), _verdict_rows(verdicts))


def _params(results):
    rows = [
        (
            f"{CELL_NAMES[r['cell']]} ({r['input_size']}, {r['hidden_size']})",
            f"{r['W_input']:,}",
            f"{r['W_hidden']:,}",
            f"{r['biases']:,}",
            f"**{r['total']:,}**",
            f"{r['checks']['total']['claim']:,}",
            f"{r['bytes_float32']:,}",
            f"{r['bytes_float64']:,}",
        )
        for r in results["params"]["rows"]
    ]
    header = (
        "layer (input, hidden)",
        "W_input",
        "W_hidden",
        "biases",
        "total",
        "guide",
        "bytes f32",
        "bytes f64",
    )
    return _table(header, rows)


def _timing(results):
    parts = []
    for name, data in results["timing"]["configs"].items():
        cfg = data["config"]
        rows = []
        for cell, s in data["summary"].items():
            cells_ = [CELL_NAMES[cell]]
            for phase in ("forward", "backward", "total"):
                ms = s[f"{phase}_ms"]
                if phase in s:
                    r = s[phase]
                    cells_.append(
                        f"{r['median']:.2f}x [{r['q25']:.2f}–{r['q75']:.2f}] ({ms:.2f} ms)"
                    )
                else:
                    cells_.append(f"{ms:.2f} ms")
            rows.append(cells_)
        parts.append(
            f"**{name}**: seq {cfg['seq_len']}, batch {cfg['batch_size']}, input "
            f"{cfg['input_size']}, hidden {cfg['hidden_size']}; {data['reps']} interleaved "
            "repetitions, median ratio [interquartile range] (median time)\n\n"
            + _table(("cell", "forward", "backward", "total"), rows)
        )
    kernels = ", ".join(f"{CELL_NAMES[c]}: {k}" for c, k in results["timing"]["kernels"].items())
    parts.append(f"Kernels: {kernels}. Guide: LSTM 1.8/2.2/2.0x, GRU 1.5/1.8/1.6x.")
    return "\n\n".join(parts)


def _memory(results):
    mem = results["memory"]
    rows = []
    for cell, b in mem["bytes"].items():
        rel = mem["relative"].get(cell, {})
        rows.append(
            [CELL_NAMES[cell]]
            + [
                f"{b[p] / 1024:,.0f} KiB" + (f" ({rel[p]:.2f}x)" if p in rel else "")
                for p in ("weights", "activations", "gradients", "total", "peak")
            ]
        )
    cfg = mem["config"]
    return (
        f"seq {cfg['seq_len']}, batch {cfg['batch_size']}, input {cfg['input_size']}, hidden "
        f"{cfg['hidden_size']}, float32. Activations = every array the forward cache keeps for "
        "backward (input and initial state excluded); peak = tracemalloc peak of one "
        "forward+backward.\n\n"
        + _table(("cell", "weights", "activations", "gradients", "total", "peak"), rows)
    )


def _longmem(results):
    lm = results["longmem"]
    cfg = results["config"]
    parts = [
        f"Each model: hidden {cfg['hidden_size']}"
        + (" (equal parameter budgets)" if cfg["equal_params"] else "")
        + f", {cfg['steps']} Adam updates (lr {cfg['learning_rate']}, clip 5.0) on batches of "
        f"{cfg['batch_size']} fresh sequences, {cfg['seeds']} seeds, scored on 512 held-out "
        f"sequences. Score 0 = baseline (predict the mean / guess), 1 = perfect; solved >= "
        f"{lm['solved_threshold']}."
    ]
    for task, by_cell in lm["table"].items():
        lengths = [r["seq_len"] for r in next(iter(by_cell.values()))]
        rows = []
        for cell, cells_rows in by_cell.items():
            th = lm["thresholds"][task][cell]
            rows.append(
                [CELL_NAMES[cell]]
                + [f"{r['mean']:.2f} ({r['min']:.2f}–{r['max']:.2f})" for r in cells_rows]
                + [th["longest_solved"] or "—", th["first_failure"] or "—"]
            )
        header = ["cell"] + [f"T={n}" for n in lengths] + ["solved up to", "fails from"]
        parts.append(f"**{task}**\n\n" + _table(header, rows))
    return "\n\n".join(parts)


def _gpu(results):
    g = results["gpu"]
    rows = []
    for cell, r in g["rows"].items():
        guide = r["guide"]
        gpu_ms = f"{r['gpu_ms']:.2f} ms" if "gpu_ms" in r else "not measured"
        speed = f"{r['speedup']:.1f}x" if "speedup" in r else "—"
        rows.append(
            (
                CELL_NAMES[cell],
                f"{r['cpu_ms']:.2f} ms",
                gpu_ms,
                speed,
                f"{guide['cpu_ms']:.0f} / {guide['gpu_ms']:.0f} ms, {guide['speedup']:.0f}x",
            )
        )
    table = _table(("forward", "CPU (measured)", "GPU", "speedup", "guide CPU / GPU"), rows)
    return f"{table}\n\nGPU: {g['gpu']}."


def _gradflow(results):
    flow = results["gradflow"]
    ks = [k for k in (1, 5, 10, 20, 50, 99, 199) if k < flow["seq_len"]]
    rows = []
    for stage in ("init", "trained"):
        for cell, profile in flow[stage].items():
            rows.append([f"{CELL_NAMES[cell]}, {stage}"] + [f"{profile[k]:.1e}" for k in ks])
    rows.append(["guide: 0.5^k"] + [f"{0.5**k:.1e}" for k in ks])
    init_cfg = flow["init_config"]
    init_ks = [k for k in (1, 5, 10, 20, 50, 100) if k < init_cfg["seq_len"]]
    init_rows = [
        [f"{CELL_NAMES[cell]}, {init}"] + [f"{profile[k]:.1e}" for k in init_ks]
        for init, by_cell in flow["inits"].items()
        for cell, profile in by_cell.items()
    ]
    init_rows.append(["guide: 0.5^k"] + [f"{0.5**k:.1e}" for k in init_ks])
    return (
        "Norm of ∂L/∂h(T-k) relative to ∂L/∂h(T), loss on the last output only, computed "
        "exactly with the reference step backward functions.\n\n"
        f"**At initialisation**, by recurrent initialisation (orthogonal: rnnlab's default; "
        f"Xavier and He: the guide's tips), adding problem at T = {init_cfg['seq_len']}, hidden "
        f"{init_cfg['hidden']}, median of {init_cfg['seeds']} seeds; no training, so no budget "
        "enters these numbers.\n\n"
        + _table(["model, recurrent init"] + [f"k={k}" for k in init_ks], init_rows)
        + f"\n\n**Before and after training**: {flow['task']} at T = {flow['seq_len']}, the "
        f"seed-0 models of section 4 before and after their {flow['steps']} updates.\n\n"
        + _table(["model"] + [f"k={k}" for k in ks], rows)
    )


def _limited_data(results):
    data = results["data"]
    cfg = results["config"]
    sizes = data["sizes"]
    rows = [
        [CELL_NAMES[cell]] + [f"{r['mean']:.2f} ({r['train_mean']:.2f})" for r in by_size]
        for cell, by_size in data["table"].items()
    ]
    return (
        f"Every cell trains on the same fixed set of N adding-problem sequences (T = "
        f"{data['seq_len']}), {cfg['steps']} updates of {cfg['batch_size']} drawn from it, "
        f"{cfg['seeds']} seeds, and is scored on the 512 held-out sequences of section 4: "
        "held-out score (score on its own training set). The guide gives no number for "
        f'"limited"; `rnnlab recommend` uses < {data["limited_below"]:,} sequences, and so '
        "does the verdict.\n\n" + _table(["cell"] + [f"N={n:,}" for n in sizes], rows)
    )


def _temporal_order(results):
    order = results["order"]
    lengths = order["lengths"]
    rows = [
        [CELL_NAMES[cell]] + [f"{r['mean']:.2f} ({r['min']:.2f}–{r['max']:.2f})" for r in rows_]
        for cell, rows_ in order["table"].items()
    ]
    return (
        f"The temporal-order problem of Hochreiter & Schmidhuber (1997): {order['num_relevant']} "
        "symbols X or Y at random steps in fixed windows spread over a sequence of distractors; "
        f"the class ({order['classes']} of them) is their order, so the answer depends on "
        "several events far apart and on how they combine. Fresh batches every update, scored "
        "on 512 held-out sequences; score 0 = chance, 1 = perfect.\n\n"
        + _table(["cell"] + [f"T={n}" for n in lengths], rows)
    )


def _apps(results):
    from .apps import render

    return render(results["apps"])


def _load(meta):
    start, end = meta.get("load_average_start"), meta.get("load_average_end")
    if not start or not end:
        return ""
    return f" (1-minute load average {start[0]:.1f} at start, {end[0]:.1f} at end)"


def _budget_line(meta):
    if meta["preset"] != "quick":
        return ""
    return (
        "`--quick` budgets are too small for trained or timed verdicts to stand: those are "
        "*inconclusive at this budget*, with what the quick numbers said in the note.\n\n"
    )


def render(results: dict) -> str:
    figs = results["figures"]
    meta = results["meta"]
    counts: dict[str, int] = {}
    for v in results["verdicts"]:
        counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
    tally = ", ".join(f"{n} {k}" for k, n in counts.items())
    sections = [
        "# rnnlab compare: the guide's claims, measured",
        f"Preset `{meta['preset']}`, seed {results['config']['seed']}, "
        f"{meta['wall_seconds']:.0f} s wall, {meta['cpu_seconds']:.0f} s CPU on "
        f"{meta['machine']['cpu_count']} cores{_load(meta)} "
        f"({meta['machine']['platform']}), BLAS limited to {meta['blas_threads']} thread, GPU: "
        f"{results['gpu']['gpu']}. Verdicts: {tally}.",
        f"![overview]({figs['overview']})",
        "## Verdicts\n\n" + _budget_line(meta) + _verdicts_table(results["verdicts"]),
        "## 1. Parameters and parameter memory\n\n" + _params(results),
        "## 2. Relative training time (RNN = 1.0x)\n\n"
        + _timing(results)
        + f"\n\n![timing]({figs['timing']})",
        "## 3. Relative memory (RNN = 1.0x)\n\n"
        + _memory(results)
        + f"\n\n![memory]({figs['memory']})",
        "## 4. Long-term memory: score against sequence length\n\n"
        + _longmem(results)
        + f"\n\n![long-term memory]({figs['long_memory']})",
        "## 5. Gradient flow\n\n"
        + _gradflow(results)
        + f"\n\n![gradient flow]({figs['gradient_flow']})",
        "## 6. CPU versus GPU (forward, seq 50, batch 64, hidden 128)\n\n" + _gpu(results),
        "## 7. Example applications\n\n"
        + _apps(results)
        + f"\n\n![applications]({figs['applications']})",
        "## 8. Limited data: held-out score against training-set size\n\n" + _limited_data(results),
        "## 9. Complex dependencies: the temporal-order problem\n\n"
        + _temporal_order(results)
        + f"\n\n![limited data and complex dependencies]({figs['special_cases']})",
        "Every raw number is in `results.json`; rerunning with the same `--seed` reproduces all "
        "of them except the timings.",
    ]
    return "\n\n".join(sections) + "\n"


def write(results: dict, path: str | Path) -> None:
    path = Path(path)
    atomic_write_bytes(os.fspath(path), render(results).encode("utf-8"))
