"""Every verdict of ``rnnlab compare`` either side of each of its thresholds.

The measured inputs are built directly (no training): a moved threshold, a reversed comparison or
an inverted verdict fails here. Values sit a small step (EPS) inside and outside each boundary,
never on it, so float rounding cannot decide a test.
"""

from __future__ import annotations

import pytest

from rnnlab.compare import gpu, gradflow, limited_data, longmem, memory, params, timing
from rnnlab.compare.config import GUIDE_TIMING_CONFIG
from rnnlab.compare.runner import collect_verdicts
from rnnlab.compare.temporal_order import complex_dependencies_verdict
from rnnlab.compare.verdicts import (
    CONFIRMED,
    FAILED,
    INCONCLUSIVE,
    MARGIN,
    NOT_MEASURED,
    PARTLY,
    REFUTED,
    SOLVED,
    at_budget,
    graded,
    verdict,
)

EPS = 1e-3


# ---------------------------------------------------------------- section 1: parameters
@pytest.fixture(scope="module")
def param_rows():
    return params.run()["rows"]


def _copy_rows(rows):
    return [r | {"checks": {k: dict(v) for k, v in r["checks"].items()}} for r in rows]


def test_parameter_counts_confirmed_and_one_wrong_count_refutes(param_rows):
    first, ratio = params._verdicts(param_rows, ("rnn", "lstm", "gru"))
    assert (first["verdict"], ratio["verdict"]) == (CONFIRMED, CONFIRMED)
    assert first["budget_limited"] is False
    rows = _copy_rows(param_rows)
    rows[4]["checks"]["total"]["ok"] = False
    assert params._verdicts(rows, ("rnn", "lstm", "gru"))[0]["verdict"] == REFUTED


def test_gru_lstm_parameter_ratio_must_be_three_quarters(param_rows):
    rows = _copy_rows(param_rows)
    gru = next(r for r in rows if (r["cell"], r["hidden_size"]) == ("gru", 50))
    gru["total"] += 1
    assert params._verdicts(rows, ("rnn", "lstm", "gru"))[1]["verdict"] == REFUTED


@pytest.mark.parametrize(("measured", "ok"), [(672, True), (673, False), (608, True), (607, False)])
def test_byte_claims_hold_within_five_percent(measured, ok):
    assert params._matches({"bytes_float64": measured}, 640, "bytes") is ok


# ---------------------------------------------------------------- sections 2, 3, 6
def _memory(**changes):
    got = dict(memory.GUIDE_RELATIVE_MEMORY["lstm"]) | changes
    return memory.memory_verdict("lstm", got, GUIDE_TIMING_CONFIG)


def test_memory_within_ten_percent_confirms_and_beyond_is_partly_then_refuted():
    assert _memory(weights=4.0 * (1.1 - EPS))["verdict"] == CONFIRMED
    assert _memory(weights=4.0 * (1.1 + EPS))["verdict"] == PARTLY
    assert _memory(weights=4.0 * (0.9 - EPS))["verdict"] == PARTLY
    three_off = {"weights": 5.0, "activations": 7.0, "gradients": 5.0}
    assert _memory(**three_off)["verdict"] == PARTLY
    assert _memory(**three_off, total=6.7)["verdict"] == REFUTED
    assert _memory()["budget_limited"] is False


def _timing(config="guide", **changes):
    got = dict(timing.GUIDE_RELATIVE_TIME["gru"]) | changes
    return timing.timing_verdict("gru", got, config)


def test_timing_within_a_quarter_confirms():
    assert _timing(forward=1.5 * (1.25 - EPS))["verdict"] == CONFIRMED
    assert _timing(forward=1.5 * (1.25 + EPS))["verdict"] == REFUTED
    assert _timing(total=1.6 * (0.75 - EPS))["verdict"] == REFUTED
    assert _timing(total=1.6 * (0.75 + EPS))["verdict"] == CONFIRMED


def test_timing_is_budget_limited_only_off_the_guides_configuration():
    assert _timing("guide")["budget_limited"] is False
    assert _timing("small")["budget_limited"] is True


def _gpu(speedup):
    row = {"cpu_ms": 10.0, "gpu_ms": 10.0 / speedup, "speedup": speedup}
    return gpu.gpu_verdict("rnn", row | {"guide": gpu.GUIDE_GPU_TABLE["rnn"]}, "measured on X")


def test_gpu_speedup_needs_half_the_guides():
    half = 0.5 * gpu.GUIDE_GPU_TABLE["rnn"]["speedup"]
    assert _gpu(half + EPS)["verdict"] == CONFIRMED
    assert _gpu(half - EPS)["verdict"] == REFUTED
    no_gpu = gpu.gpu_verdict(
        "rnn", {"cpu_ms": 5.0, "guide": gpu.GUIDE_GPU_TABLE["rnn"]}, "not measured: no CuPy"
    )
    assert no_gpu["verdict"] == NOT_MEASURED
    assert "no CuPy" in no_gpu["note"]


# ---------------------------------------------------------------- section 4: long-term memory
def _rows(*means):
    return [{"seq_len": n, "mean": m} for n, m in zip((5, 10, 20, 50), means, strict=False)]


def test_longest_solved_and_first_failure_thresholds():
    assert longmem.longest_solved(_rows(SOLVED + EPS, SOLVED - EPS)) == 5
    assert longmem.longest_solved(_rows(SOLVED - EPS)) is None
    assert longmem.longest_solved(_rows(1.0, 1.0, 1.0)) == 20
    assert longmem.first_failure(_rows(1.0, FAILED + EPS, FAILED - EPS)) == 20
    assert longmem.first_failure(_rows(1.0, FAILED + EPS)) is None


def _branch(**by_task):
    return longmem.branch_verdict(by_task, "gru", "claim", "[20]")


def test_branch_confirmed_needs_near_best_and_solved_on_every_learned_task():
    best = 0.95
    near = {"rnn": 0.1, "lstm": best, "gru": best - MARGIN + EPS}
    far = {"rnn": 0.1, "lstm": best, "gru": best - MARGIN - EPS}
    assert _branch(adding=near, copy=near)["verdict"] == CONFIRMED
    assert _branch(adding=near, copy=far)["verdict"] == PARTLY  # solved, not near the best
    unsolved = {"rnn": 0.1, "lstm": SOLVED - EPS + MARGIN / 2, "gru": SOLVED - EPS}
    assert _branch(adding=unsolved)["verdict"] == PARTLY  # near the best, not solved
    beaten = {"rnn": 0.1, "lstm": 0.7, "gru": 0.7 - MARGIN - EPS}
    assert _branch(adding=beaten)["verdict"] == REFUTED
    assert _branch(adding=near)["budget_limited"] is True


def test_branch_tasks_no_cell_learned_do_not_count():
    nobody = {"rnn": 0.0, "lstm": FAILED - EPS, "gru": 0.0}
    learned = {"rnn": 0.0, "lstm": FAILED + EPS, "gru": 0.0}
    assert _branch(adding=nobody)["verdict"] == INCONCLUSIVE
    assert _branch(adding=learned)["verdict"] == REFUTED
    near = {"rnn": 0.1, "lstm": 0.9, "gru": 0.9}
    assert _branch(adding=near, copy=nobody)["verdict"] == CONFIRMED


def test_extremely_long_without_lengths_over_100_is_inconclusive():
    from rnnlab.compare import make_config

    config = make_config("default")
    out = [v for v in _tree_with_constant_scores(config, 0.9) if v["claim"].startswith("Extr")]
    assert out[0]["verdict"] == INCONCLUSIVE
    assert "--full" in out[0]["note"]


def _tree_with_constant_scores(config, score):
    table = {
        t: {c: [{"seq_len": n, "mean": score} for n in config.seq_lens] for c in config.cells}
        for t in config.tasks
    }
    return longmem.decision_tree_verdicts(table, config)


def test_extremely_long_with_lengths_over_100_is_decided():
    from rnnlab.compare import make_config

    config = make_config("default", seq_lens=(50, 200))
    out = [v for v in _tree_with_constant_scores(config, 0.9) if v["claim"].startswith("Extr")]
    assert out[0]["verdict"] == CONFIRMED


def test_gru_matches_lstm_sixty_percent_and_extra_evidence():
    yes, no = (0.9 - MARGIN + EPS, 0.9), (0.9 - MARGIN - EPS, 0.9)
    assert longmem.gru_matches_lstm_verdict([yes, yes, yes, no, no])["verdict"] == CONFIRMED
    assert longmem.gru_matches_lstm_verdict([yes, yes, no, no, no])["verdict"] == REFUTED
    neither = (FAILED - EPS, FAILED - EPS)
    assert longmem.gru_matches_lstm_verdict([neither, neither])["verdict"] == INCONCLUSIVE
    assert longmem.gru_matches_lstm_verdict([yes, neither, neither])["verdict"] == CONFIRMED
    nll = {"label": "chorales NLL", "higher_is_better": False, "tolerance": 0.1}
    behind = nll | {"gru": 8.0 + 0.1 + EPS, "lstm": 8.0}
    close = nll | {"gru": 8.0 + 0.1 - EPS, "lstm": 8.0}
    # 2 of 4 match: refuted; the chorale row matching makes it 3 of 5: confirmed
    assert longmem.gru_matches_lstm_verdict([yes, yes, no], [behind])["verdict"] == REFUTED
    row = longmem.gru_matches_lstm_verdict([yes, yes, no], [close, close])
    assert row["verdict"] == CONFIRMED
    assert "chorales NLL: GRU 8.1, LSTM 8 (matches)" in row["measured"]
    acc = {"label": "accuracy", "higher_is_better": True, "tolerance": 0.02}
    assert (
        longmem.gru_matches_lstm_verdict([], [acc | {"gru": 0.9 - 0.02 + EPS, "lstm": 0.9}])[
            "verdict"
        ]
        == CONFIRMED
    )
    assert (
        longmem.gru_matches_lstm_verdict([], [acc | {"gru": 0.9 - 0.02 - EPS, "lstm": 0.9}])[
            "verdict"
        ]
        == REFUTED
    )


def _cases(near, far):
    return [{"rnn": 0.0, "lstm": 0.9, "gru": 0.9}] * near + [
        {"rnn": 0.0, "lstm": 0.9, "gru": 0.9 - MARGIN - EPS}
    ] * far


def test_general_purpose_thresholds():
    assert longmem.general_purpose_verdict(_cases(8, 2))["verdict"] == CONFIRMED
    assert longmem.general_purpose_verdict(_cases(7, 3))["verdict"] == PARTLY
    assert longmem.general_purpose_verdict(_cases(5, 5))["verdict"] == PARTLY
    assert longmem.general_purpose_verdict(_cases(4, 6))["verdict"] == REFUTED
    nobody = [{"rnn": 0.0, "lstm": FAILED - EPS, "gru": 0.0}] * 3
    assert longmem.general_purpose_verdict(nobody)["verdict"] == INCONCLUSIVE
    assert longmem.general_purpose_verdict(_cases(8, 2) + nobody)["verdict"] == CONFIRMED


def test_need_speed():
    ok = longmem.need_speed_verdict({"rnn": 1.0, "lstm": 3.0, "gru": 2.0}, "guide")
    assert (ok["verdict"], ok["budget_limited"]) == (CONFIRMED, False)
    slow_rnn = {"rnn": 2.5, "lstm": 3.0, "gru": 2.0}
    assert longmem.need_speed_verdict(slow_rnn, "guide")["verdict"] == REFUTED
    slow_gru = {"rnn": 1.0, "lstm": 3.0, "gru": 3.1}
    assert longmem.need_speed_verdict(slow_gru, "small")["verdict"] == REFUTED
    assert longmem.need_speed_verdict(slow_gru, "small")["budget_limited"] is True


# ---------------------------------------------------------------- sections 8 and 9
def _by_size(gru_50, gru_200, best=0.9):
    return {
        "rnn": {50: 0.0, 200: 0.0, 1000: 0.0},
        "lstm": {50: best, 200: best, 1000: best},
        "gru": {50: gru_50, 200: gru_200, 1000: 0.0},
    }


def test_limited_data_gru_near_the_best_below_the_limit():
    near, far = 0.9 - MARGIN + EPS, 0.9 - MARGIN - EPS
    assert limited_data.limited_data_verdict(_by_size(near, near))["verdict"] == CONFIRMED
    assert limited_data.limited_data_verdict(_by_size(near, far))["verdict"] == PARTLY
    assert limited_data.limited_data_verdict(_by_size(far, far))["verdict"] == REFUTED
    # 1000 is not limited data (the GRU's 0.0 there does not count) ...
    assert limited_data.limited_data_verdict(_by_size(near, near), 1000)["verdict"] == CONFIRMED
    # ... unless the limit is moved above it
    assert limited_data.limited_data_verdict(_by_size(near, near), 1001)["verdict"] == PARTLY


def test_limited_data_sizes_nobody_learned_do_not_count():
    nobody = _by_size(0.0, 0.0, best=FAILED - EPS)
    assert limited_data.limited_data_verdict(nobody)["verdict"] == INCONCLUSIVE
    learned = _by_size(0.0, 0.0, best=FAILED + EPS)
    assert limited_data.limited_data_verdict(learned)["verdict"] == REFUTED
    assert limited_data.limited_data_verdict({"gru": {50: 1.0}})["verdict"] == NOT_MEASURED


def test_complex_dependencies_lstm_near_the_best():
    def means(lstm_50, lstm_100, best=0.9):
        return {
            "rnn": {50: 0.0, 100: 0.0},
            "gru": {50: best, 100: best},
            "lstm": {50: lstm_50, 100: lstm_100},
        }

    near, far = 0.9 - MARGIN + EPS, 0.9 - MARGIN - EPS
    assert complex_dependencies_verdict(means(near, near))["verdict"] == CONFIRMED
    assert complex_dependencies_verdict(means(far, near))["verdict"] == PARTLY
    assert complex_dependencies_verdict(means(far, far))["verdict"] == REFUTED
    nobody = means(0.0, 0.0, best=FAILED - EPS)
    assert complex_dependencies_verdict(nobody)["verdict"] == INCONCLUSIVE
    assert complex_dependencies_verdict(means(0.0, 0.0, best=FAILED + EPS))["verdict"] == REFUTED


# ---------------------------------------------------------------- section 5: gradient flow
def test_decay_within_a_factor_ten_of_half_to_the_k():
    claim = 0.5**20
    assert gradflow.decay_outcome(claim * (10 - EPS), 20) == CONFIRMED
    assert gradflow.decay_outcome(claim / (10 - EPS), 20) == CONFIRMED
    assert gradflow.decay_outcome(claim * (10 + EPS), 20) == PARTLY  # vanishes, more slowly
    assert gradflow.decay_outcome(claim / (10 + EPS), 20) == PARTLY  # vanishes, faster
    assert gradflow.decay_outcome(1e-2 * (1 - EPS), 20) == PARTLY
    assert gradflow.decay_outcome(1e-2 * (1 + EPS), 20) == REFUTED


def test_rnn_decay_verdict_names_the_inits_it_holds_for():
    at_k = {"orthogonal": 6.7e-2, "xavier": 0.5**20, "he": 0.9}
    orth = gradflow.rnn_decay_verdict("orthogonal", at_k)
    assert orth["verdict"] == REFUTED
    assert orth["budget_limited"] is False
    assert "Holds under: xavier" in orth["note"]
    assert gradflow.rnn_decay_verdict("xavier", at_k)["verdict"] == CONFIRMED
    none = gradflow.rnn_decay_verdict("he", {"orthogonal": 0.1, "xavier": 0.2, "he": 0.9})
    assert "Holds under: none of orthogonal/xavier/he" in none["note"]


def test_lstm_keeps_the_gradient_thresholds():
    kept = (1e-3 * (1 + EPS), 1e-3 * (1 + EPS) / (100 * (1 + EPS)))
    too_small = (1e-3 * (1 - EPS), 1e-8)
    not_ahead = (0.5, 0.5 / (100 * (1 - EPS)))
    assert gradflow.lstm_keeps_verdict(kept, kept, 100, 99)["verdict"] == CONFIRMED
    assert gradflow.lstm_keeps_verdict(kept, too_small, 100, 99)["verdict"] == PARTLY
    assert gradflow.lstm_keeps_verdict(not_ahead, kept, 100, 99)["verdict"] == PARTLY
    assert gradflow.lstm_keeps_verdict(too_small, not_ahead, 100, 99)["verdict"] == REFUTED


# ---------------------------------------------------------------- the --quick rule
def _row(outcome, limited):
    return verdict("c", "m", outcome, budget_limited=limited)


@pytest.mark.parametrize("outcome", [CONFIRMED, PARTLY, REFUTED])
def test_quick_turns_budget_limited_decisions_inconclusive(outcome):
    (row,) = at_budget([_row(outcome, True)], "quick")
    assert row["verdict"] == INCONCLUSIVE
    assert row["verdict_at_budget"] == outcome
    (kept,) = at_budget([_row(outcome, False)], "quick")
    assert kept["verdict"] == outcome
    for preset in ("default", "full"):
        assert at_budget([_row(outcome, True)], preset)[0]["verdict"] == outcome


def test_quick_leaves_not_measured_and_treats_unmarked_rows_as_limited():
    assert at_budget([_row(NOT_MEASURED, True)], "quick")[0]["verdict"] == NOT_MEASURED
    unmarked = {"claim": "app", "measured": "m", "verdict": CONFIRMED}
    assert at_budget([unmarked], "quick")[0]["verdict"] == INCONCLUSIVE


def test_collect_verdicts_applies_the_rule_and_tags_sections():
    from rnnlab.compare.runner import SECTIONS

    results = {section: {"verdicts": []} for section in SECTIONS}
    results["data"]["verdicts"] = [_row(REFUTED, True)]
    results["params"]["verdicts"] = [_row(CONFIRMED, False)]
    quick = collect_verdicts(results, "quick")
    assert [(v["section"], v["verdict"]) for v in quick] == [
        ("params", CONFIRMED),
        ("data", INCONCLUSIVE),
    ]
    assert [v["verdict"] for v in collect_verdicts(results, "default")] == [CONFIRMED, REFUTED]


def test_graded_and_verdict_words():
    assert [graded(2, 2), graded(1, 2), graded(0, 2)] == [CONFIRMED, PARTLY, REFUTED]
    with pytest.raises(ValueError, match="total"):
        graded(0, 0)
    with pytest.raises(ValueError, match="outcome: expected one of"):
        verdict("c", "m", "maybe", budget_limited=True)


def test_thresholds_are_the_documented_ones():
    """docs/compare.md and the report state these numbers; the tests above move with them."""
    assert (SOLVED, FAILED, MARGIN) == (0.8, 0.5, 0.05)
    assert (gradflow.FACTOR, gradflow.VANISHED, gradflow.KEPT, gradflow.RATIO) == (
        10,
        1e-2,
        1e-3,
        100,
    )
    assert (timing.TOLERANCE, memory.TOLERANCE, gpu.SPEEDUP_FRACTION) == (0.25, 0.1, 0.5)
    assert limited_data.LIMITED_DATA == 1000
