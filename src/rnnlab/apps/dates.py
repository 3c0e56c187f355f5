"""Machine translation in miniature: dates as people write them -> ISO 8601 dates.

The RNN Encoder–Decoder of Cho et al. (2014) (:class:`~rnnlab.apps.seq2seq.Seq2Seq`) learns to
read "3rd of March 1998", "03/03/98" or "March 3, 1998" and write "1998-03-03", one character
at a time. Pairs are generated on the fly; every tenth calendar day is held out, so the test
dates are days the model never saw in any format. Years run 1950–2049, so that a two-digit
year has one reading (50–99 -> 19xx, 00–49 -> 20xx); numeric dates are day first.

Metric: exact match of the greedy decoding. Baseline: the most frequent character at each
output position (the same string for every input).
"""

from __future__ import annotations

import datetime

import numpy as np

from ..data import as_rng
from .seq2seq import BOS, PAD, Seq2Seq

__all__ = [
    "FORMATS",
    "SOURCE_STEPS",
    "TARGET_STEPS",
    "DateBatches",
    "decode_target",
    "encode_source",
    "exact_match",
    "make_model",
    "make_pairs",
    "spell_date",
]

MONTHS = tuple(
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
)
FIRST_DAY = datetime.date(1950, 1, 1)
NUM_DAYS = (datetime.date(2049, 12, 31) - FIRST_DAY).days + 1
#: Every HOLD_OUT-th day is a test date, never a training one.
HOLD_OUT = 10
SOURCE_CHARS = " ,./0123456789" + "".join(sorted(set("".join(MONTHS) + "ofstndrh")))
TARGET_CHARS = "-0123456789"
SOURCE_STEPS = 24
TARGET_STEPS = 10  # "YYYY-MM-DD"


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


#: How people write a date: one function per format.
FORMATS = (
    lambda d: f"{_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",
    lambda d: f"{d.day}.{d.month}.{d.year}",
)


def spell_date(day_index: int, style: int) -> tuple[str, str]:
    """(written date, ISO date) for day ``day_index`` since 1950-01-01 in format ``style``."""
    date = FIRST_DAY + datetime.timedelta(days=int(day_index))
    return FORMATS[style](date), date.isoformat()


_SOURCE_IDS = {c: i + 1 for i, c in enumerate(SOURCE_CHARS)}  # 0 is PAD
_TARGET_IDS = {c: i + 1 for i, c in enumerate(TARGET_CHARS)}  # 0 is BOS


def encode_source(texts: list[str]) -> np.ndarray:
    """Written dates -> (N, SOURCE_STEPS) ids, PAD after the text."""
    out = np.full((len(texts), SOURCE_STEPS), PAD, np.int64)
    for row, text in enumerate(texts):
        if len(text) > SOURCE_STEPS or not set(text) <= _SOURCE_IDS.keys():
            raise ValueError(f"texts: cannot encode {text!r} (at most {SOURCE_STEPS} characters)")
        out[row, : len(text)] = [_SOURCE_IDS[c] for c in text]
    return out


def decode_target(ids: np.ndarray) -> list[str]:
    """(N, TARGET_STEPS) ids -> strings ("?" for BOS, which is never a valid output)."""
    chars = "?" + TARGET_CHARS
    return ["".join(chars[int(i)] for i in row) for row in np.asarray(ids)]


def make_pairs(rng: np.random.Generator, count: int, *, held_out: bool) -> tuple[list, list]:
    """``count`` random (written, ISO) pairs from the training days or the held-out days."""
    days = rng.integers(0, NUM_DAYS // HOLD_OUT, size=count) * HOLD_OUT
    if not held_out:
        days = days + rng.integers(1, HOLD_OUT, size=count)
        days = np.where(days >= NUM_DAYS, days - HOLD_OUT, days)
    styles = rng.integers(0, len(FORMATS), size=count)
    pairs = [spell_date(d, s) for d, s in zip(days, styles, strict=True)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _arrays(written: list[str], iso: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Model input (N, T, 1 + S) (:meth:`Seq2Seq.pack`) and targets (N, T)."""
    targets = np.array([[_TARGET_IDS[c] for c in text] for text in iso], np.int64)
    shifted = np.concatenate([np.full((len(iso), 1), BOS, np.int64), targets[:, :-1]], axis=1)
    return Seq2Seq.pack(encode_source(written), shifted), targets


class DateBatches:
    """A batch source for :func:`rnnlab.fit`: ``source(rng) -> (X, Y)`` of fresh training pairs.

    X (B, T, 1 + S) int64 (:meth:`Seq2Seq.pack`: each step's teacher-forced decoder input and
    the source ids), Y (B, T) int64.
    """

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = int(batch_size)

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return _arrays(*make_pairs(rng, self.batch_size, held_out=False))


def held_out_set(count: int, seed: int = 0) -> tuple[np.ndarray, list[str], list[str]]:
    """(source ids (N, S), written dates, ISO dates) of ``count`` held-out pairs."""
    written, iso = make_pairs(np.random.default_rng([seed, 11]), count, held_out=True)
    return encode_source(written), written, iso


def make_model(
    hidden: int = 128, embed: int = 16, seed: int | np.random.Generator | None = None
) -> Seq2Seq:
    """The encoder–decoder sized for dates."""
    return Seq2Seq(
        len(SOURCE_CHARS) + 1,
        len(TARGET_CHARS) + 1,
        source_steps=SOURCE_STEPS,
        embed=embed,
        hidden=hidden,
        seed=as_rng(seed),
    )


def exact_match(model: Seq2Seq, source: np.ndarray, iso: list[str]) -> tuple[float, list[str]]:
    """Fraction of greedy translations equal to the ISO date, and the translations."""
    guesses = decode_target(model.translate(source, TARGET_STEPS))
    return float(np.mean([g == t for g, t in zip(guesses, iso, strict=True)])), guesses


def baseline_exact_match(iso: list[str], train_iso: list[str]) -> float:
    """Exact match of always writing the training targets' most frequent character per place."""
    columns = np.array([list(t) for t in train_iso])
    guess = "".join(max(set(col), key=list(col).count) for col in columns.T)
    return float(np.mean([t == guess for t in iso]))


def train_dates(
    *,
    hidden: int = 128,
    embed: int = 16,
    steps: int = 1000,
    lr: float = 5e-3,
    batch_size: int = 64,
    test_size: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> tuple[Seq2Seq, dict]:
    """Train the encoder–decoder on fresh pairs (teacher forcing); score greedy decoding."""
    from ._common import fit_with_adam, subsample

    rng = np.random.default_rng(seed)
    model = make_model(hidden, embed, seed=rng)
    fitted = fit_with_adam(
        model,
        DateBatches(batch_size),
        updates=steps,
        loss="cross_entropy",
        lr=lr,
        seed=rng,
        targets="steps",
        progress=progress,
    )
    source, written, iso = held_out_set(test_size, seed)
    score, guesses = exact_match(model, source, iso)
    _, train_iso = make_pairs(np.random.default_rng([seed, 12]), 2000, held_out=False)
    return model, {
        "kind": "translation",
        "exact_match": score,
        "baseline_exact_match": baseline_exact_match(iso, train_iso),
        "baseline": "the most frequent character at each place",
        "goal": 0.95,
        "test_pairs": test_size,
        "loss_curve": subsample(fitted.step_loss),
        "examples": [[w, g, t] for w, g, t in zip(written[:8], guesses[:8], iso[:8], strict=True)],
    }
