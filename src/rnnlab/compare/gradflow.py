"""Gradient flow: how much of ∂L/∂h(T) is left k steps before the loss.

The guide claims a vanilla RNN's gradient shrinks like 0.5^k ("after 20 steps ≈ 0.5²⁰"), while
the LSTM's cell state carries it ("∂C(t)/∂C(t-1) = f(t)"). We measure it exactly: run forward,
put the loss on the last output only, and walk backward with the reference cells' step backward
functions, recording the norm of ∂L/∂h(t) at every step. For the LSTM the gradient reaching
h(t) includes what flowed through the cell state (it re-enters h through the gates).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import losses
from . import sweep
from .config import CompareConfig
from .gradients import hidden_gradient_norms, relative_profile
from .training import make_layer
from .verdicts import CONFIRMED, PARTLY, REFUTED, graded, verdict

__all__ = [
    "hidden_gradient_norms",
    "init_profiles",
    "lstm_keeps_verdict",
    "profile_for",
    "relative_profile",
    "rnn_decay_verdict",
    "run",
]


def profile_for(
    cell: str,
    seq_len: int,
    *,
    task: str = "adding",
    hidden: int = 32,
    train_steps: int = 0,
    seed: int = 0,
) -> dict[str, list[float] | None]:
    """Relative profiles of a fresh model at init and, when ``train_steps`` > 0, after training.

    Returns ``{"init": [...], "trained": [...] or None}``; ``[k]`` is ‖∂L/∂h(T-k)‖/‖∂L/∂h(T)‖.
    """
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 2:
        raise ValueError(f"seq_len: expected an integer >= 2, got {seq_len!r}")
    job = sweep.Job(
        task=task,
        cell=cell,
        seq_len=seq_len,
        seed=0,
        base_seed=seed,
        hidden_size=hidden,
        steps=train_steps,
        batch_size=32,
        learning_rate=1e-2,
    )
    result = sweep.run_job(job)
    return {
        "init": result["gradflow_init"],
        "trained": result["gradflow_trained"] if train_steps > 0 else None,
    }


#: The initialisations measured: rnnlab's default, and the two the guide's tips name.
INITS = ("orthogonal", "xavier", "he")
#: Fixed for every preset (a few ms of work): the claims are about k = 20 and 100+ steps.
INIT_SEQ_LEN, INIT_HIDDEN, INIT_SEEDS, PROBE = 101, 32, 3, 64
K_CLAIM, K_LONG = 20, 100


def init_profiles(cells: Sequence[str], base_seed: int = 0) -> dict[str, dict[str, list[float]]]:
    """Relative profiles at initialisation, ``{init: {cell: profile}}``, the median over seeds.

    Adding problem at T = 101, hidden 32, 64 probe sequences, loss on the last output only;
    no training, so the numbers do not depend on any budget.
    """
    x, target = sweep.evaluation_set("adding", INIT_SEQ_LEN, base_seed)
    x, target = x[:, :PROBE], target[:PROBE]
    out: dict[str, dict[str, list[float]]] = {}
    for init in INITS:
        out[init] = {}
        for cell in cells:
            profiles = []
            for seed in range(INIT_SEEDS):
                rng = np.random.default_rng([base_seed, 9, sweep.CELL_IDS[cell], seed])
                layer = make_layer(cell, 2, INIT_HIDDEN, 1, seed=rng, recurrent_init=init)
                y_last = layer.forward(x)[-1]
                _, dy_last = losses.mse(y_last, target)
                profiles.append(relative_profile(hidden_gradient_norms(layer, x, dy_last)))
            out[init][cell] = np.median(profiles, axis=0).tolist()
    return out


def run(results: Sequence[dict], config: CompareConfig) -> dict:
    """Profiles at initialisation under each init, and of the sweep's seed-0 models trained.

    The trained profiles are those of the first task at the longest length <= 100.
    """
    task = config.tasks[0]
    lengths = [n for n in config.seq_lens if n <= 100] or list(config.seq_lens)
    seq_len = max(lengths)
    picked = {
        r["cell"]: r for r in results if (r["task"], r["seq_len"], r["seed"]) == (task, seq_len, 0)
    }
    init = {c: picked[c]["gradflow_init"] for c in config.cells}
    trained = {c: picked[c]["gradflow_trained"] for c in config.cells}
    inits = init_profiles(config.cells, config.seed)
    verdicts = []
    if "rnn" in config.cells:
        at_k = {name: profiles["rnn"][K_CLAIM] for name, profiles in inits.items()}
        verdicts += [rnn_decay_verdict(name, at_k, K_CLAIM) for name in INITS]
    if "rnn" in config.cells and "lstm" in config.cells:
        last = seq_len - 1
        verdicts.append(
            lstm_keeps_verdict(
                (inits["orthogonal"]["lstm"][K_LONG], inits["orthogonal"]["rnn"][K_LONG]),
                (trained["lstm"][last], trained["rnn"][last]),
                K_LONG,
                last,
            )
        )
    return {
        "task": task,
        "seq_len": seq_len,
        "steps": config.steps,
        "init": init,
        "trained": trained,
        "inits": inits,
        "init_config": {"seq_len": INIT_SEQ_LEN, "hidden": INIT_HIDDEN, "seeds": INIT_SEEDS},
        "k": K_CLAIM,
        "verdicts": verdicts,
    }


def rate(value: float, k: int) -> float:
    """The geometric per-step factor that gives ``value`` after ``k`` steps."""
    return max(value, 1e-300) ** (1.0 / k) if k > 0 else 1.0


#: Within this factor of 0.5^k the claim holds; below VANISHED it at least vanishes.
FACTOR = 10.0
VANISHED = 1e-2


def decay_outcome(value: float, k: int) -> str:
    """Confirmed within FACTOR of 0.5^k, partly when it vanishes (< VANISHED) at another rate."""
    claim = 0.5**k
    if claim / FACTOR <= value <= claim * FACTOR:
        return CONFIRMED
    return PARTLY if value < VANISHED else REFUTED


def rnn_decay_verdict(init: str, at_k: dict[str, float], k: int = K_CLAIM) -> dict:
    """ "After k steps the gradient ≈ 0.5^k" for a vanilla RNN initialised with ``init``.

    ``at_k[name]`` is the ratio ‖∂L/∂h(T-k)‖/‖∂L/∂h(T)‖ at initialisation under each init;
    the note says under which inits the claim holds. Not budget-limited: no training.
    """
    value = at_k[init]
    holds = [name for name, v in at_k.items() if decay_outcome(v, k) == CONFIRMED]
    who = "rnnlab's default" if init == "orthogonal" else "the guide's tip"
    return verdict(
        f"RNN: after {k} steps the gradient ≈ 0.5^{k} = {0.5**k:.1e} (recurrent init {init}, "
        f"{who})",
        f"‖∂L/∂h(T-{k})‖/‖∂L/∂h(T)‖ = {value:.2e} at initialisation (per step "
        f"{rate(value, k):.2f}; median of {INIT_SEEDS} seeds, hidden {INIT_HIDDEN})",
        decay_outcome(value, k),
        f"confirmed = within {FACTOR:g}x of 0.5^{k}; partly = vanishes (< {VANISHED:g}) at "
        f"another rate. Holds under: {', '.join(holds) if holds else 'none of ' + '/'.join(at_k)}",
        budget_limited=False,
    )


#: The LSTM keeps the gradient when more than KEPT of it is left and over RATIO x the RNN's.
KEPT = 1e-3
RATIO = 100.0


def keeps(lstm: float, rnn: float) -> bool:
    """Whether the LSTM keeps the gradient: more than KEPT of it, and RATIO x the RNN's."""
    return lstm > KEPT and lstm > RATIO * rnn


def lstm_keeps_verdict(
    at_init: tuple[float, float], trained: tuple[float, float], k_init: int, k_trained: int
) -> dict:
    """ "LSTM: the cell state keeps the gradient over 100+ steps", at init and after training.

    ``at_init`` and ``trained`` are (LSTM, RNN) ratios ``k_init`` and ``k_trained`` steps back.
    Confirmed when kept in both, partly in one, refuted in neither. The trained half depends on
    the training budget.
    """
    kept = [keeps(*at_init), keeps(*trained)]
    return verdict(
        "LSTM: the cell state keeps the gradient over 100+ steps (no vanishing)",
        f"‖∂L/∂h‖ ratio {k_init} steps back at initialisation: LSTM {at_init[0]:.1e}, RNN "
        f"{at_init[1]:.1e}; {k_trained} steps back after training: LSTM {trained[0]:.1e}, RNN "
        f"{trained[1]:.1e}",
        graded(sum(kept), 2),
        f"kept = LSTM keeps > {KEPT:g} of the gradient and > {RATIO:g}x the RNN's; partly = at "
        "init or after training only",
        budget_limited=True,
    )
