"""The applications section of ``rnnlab compare``: its jobs, verdicts and text (the training
itself is covered by the quick compare run in tests/test_compare.py)."""

import sys

import pytest

from rnnlab.compare import apps, make_config


def test_jobs_cover_every_application_with_the_presets_budget():
    quick = {job.app: job for job in apps.make_jobs(make_config("quick"))}
    assert set(quick) == {"sine", "sunspots", "text", *apps.BUDGETS["quick"]}
    assert quick["dates"].options == apps.BUDGETS["quick"]["dates"]
    full = {job.app: job for job in apps.make_jobs(make_config("full"))}
    assert full["chorales"].options == {}  # the goal budgets of rnnlab train --task


@pytest.mark.parametrize(
    ("score", "verdict"),
    [(0.97, "confirmed"), (0.9, "partly confirmed"), (0.1, "inconclusive at this budget")],
)
def test_verdicts_against_goal_and_baseline(score, verdict):
    row = {"accuracy": score, "baseline_accuracy": 0.2, "goal": 0.97, "reference": "r"}
    assert apps._verdict("vowels", row)["verdict"] == verdict


def test_chorales_need_every_cell_below_the_baseline():
    cells = {
        c: {"nll": v, "paper_test_nll": 9.0}
        for c, v in (("rnn", 9.5), ("gru", 12.5), ("lstm", 9.2))
    }
    row = {"cells": cells, "baseline_nll": 11.7}
    assert apps._verdict("chorales", row)["verdict"] == "inconclusive at this budget"
    cells["gru"]["nll"] = 9.7
    assert apps._verdict("chorales", row)["verdict"] == "confirmed"
    assert "GRU 9.70 (paper 9.00)" in apps.measured_text("chorales", row)


def test_a_missing_package_is_not_measured_with_the_install_line():
    row = {"missing": "the Bach chorales need ... pip install 'rnnlab[apps]'"}
    verdict = apps._verdict("chorales", row)
    assert verdict["verdict"] == "not measured"
    assert "pip install 'rnnlab[apps]'" in verdict["note"]


def test_a_job_without_its_package_reports_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sktime.datasets", None)  # import now raises ImportError
    result = apps.AppJob("vowels", 0, options={"steps": 1}).run()
    assert result["app"] == "vowels"
    assert "pip install 'rnnlab[apps]'" in result["missing"]


def test_chorales_give_gru_against_lstm_evidence():
    cells = {"gru": {"nll": 9.75}, "lstm": {"nll": 9.26}, "rnn": {"nll": 9.5}}
    (row,) = apps.gru_lstm_evidence({"chorales": {"cells": cells}})
    assert (row["gru"], row["lstm"], row["higher_is_better"]) == (9.75, 9.26, False)
    assert apps.gru_lstm_evidence({"chorales": {"missing": "pip install"}}) == []
