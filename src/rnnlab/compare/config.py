"""What one ``rnnlab compare`` run measures and how hard: the quick, default and full presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

CELLS = ("rnn", "lstm", "gru")
TASKS = ("adding", "copy")

#: The guide's GPU-table configuration (seq 50, batch 64, hidden 128); input 32 assumed.
GUIDE_TIMING_CONFIG = {"seq_len": 50, "batch_size": 64, "input_size": 32, "hidden_size": 128}
SMALL_TIMING_CONFIG = {"seq_len": 20, "batch_size": 16, "input_size": 8, "hidden_size": 32}


@dataclass(frozen=True)
class CompareConfig:
    """Every knob of a comparison run; ``results.json`` records it."""

    preset: str = "default"
    cells: tuple[str, ...] = CELLS
    tasks: tuple[str, ...] = TASKS
    seq_lens: tuple[int, ...] = (5, 10, 20, 50, 100)
    seeds: int = 2
    seed: int = 0
    # long-term-memory sweep
    hidden_size: int = 32
    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 1e-2
    equal_params: bool = False
    # limited data (section 8): fixed training sets of these sizes, adding problem at this length
    data_sizes: tuple[int, ...] = (50, 200, 1000, 5000)
    data_seq_len: int = 20
    # complex dependencies (section 9): temporal order with 3 relevant symbols at these lengths
    order_lens: tuple[int, ...] = (50, 100)
    order_relevant: int = 3
    # timing
    timing_reps: int = 15
    timing_warmup: int = 2
    timing_configs: tuple[str, ...] = ("guide", "small")
    # applications
    app_steps: int = 300
    text_steps: int = 200
    text_hidden: int = 128
    sample_chars: int = 300
    # execution
    jobs: int | None = None
    scheduler: str | None = None
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "seq_lens": (5, 20),
        "steps": 30,
        "batch_size": 16,
        "hidden_size": 16,
        "timing_reps": 3,
        "timing_warmup": 1,
        "timing_configs": ("small",),
        "app_steps": 30,
        "text_steps": 10,
        "text_hidden": 32,
        "sample_chars": 60,
        "data_sizes": (50, 1000),
        "order_lens": (30,),
    },
    "default": {},
    "full": {
        # "Extremely long (> 100)": 200 and 500 steps cost more than the default's 3 minutes
        "seq_lens": (5, 10, 20, 50, 100, 200, 500),
        "data_sizes": (50, 100, 200, 500, 1000, 2000, 5000),
        "order_lens": (50, 100, 200),
        "seeds": 3,
        "steps": 1500,
        "timing_reps": 31,
        "app_steps": 1500,
        "text_steps": 1500,
        "sample_chars": 600,
    },
}


def make_config(preset: str = "default", **overrides: Any) -> CompareConfig:
    """A preset with ``overrides`` applied (None values leave the preset's choice)."""
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {sorted(PRESETS)}, got {preset!r}")
    config = replace(CompareConfig(preset=preset), **PRESETS[preset])
    chosen = {k: v for k, v in overrides.items() if v is not None}
    for name in ("cells", "tasks", "seq_lens", "data_sizes", "order_lens"):
        if name in chosen:
            chosen[name] = tuple(chosen[name])
    config = replace(config, **chosen)
    _check(config)
    return config


def _check(config: CompareConfig) -> None:
    for cell in config.cells:
        if cell not in CELLS:
            raise ValueError(f"cells: expected names from {CELLS}, got {cell!r}")
    if not config.cells:
        raise ValueError("cells: expected at least one cell")
    for task in config.tasks:
        if task not in TASKS:
            raise ValueError(f"tasks: expected names from {TASKS}, got {task!r}")
    for length in config.seq_lens:
        if length < 2:
            raise ValueError(f"seq_lens: expected lengths >= 2, got {length}")
    for size in config.data_sizes:
        if size < 1:
            raise ValueError(f"data_sizes: expected positive numbers of sequences, got {size}")
    for length in config.order_lens:
        if length < 10:
            raise ValueError(f"order_lens: expected lengths >= 10, got {length}")
    if config.order_relevant not in (2, 3):
        raise ValueError(f"order_relevant: expected 2 or 3, got {config.order_relevant}")
    if config.seeds < 1:
        raise ValueError(f"seeds: expected at least 1, got {config.seeds}")
    if config.jobs is not None and config.jobs < 1:
        raise ValueError(f"jobs: expected a positive number of processes, got {config.jobs}")
