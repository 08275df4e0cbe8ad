"""Objectives that cannot reward a generator wider or narrower than the data: the spec's
constraints (the objective a trial reports), and the report's flag beside every reverse KL."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from study.report.tables import flag
from study.spec import SpecError, parse_spec
from study.trial import PENALTY, constrain
from tests.study.helpers import toy_spec

OBJECTIVE = {"metric": "reverse_kl", "mode": "min", "constraints": {"mode_spread": [0.5, 2.0]}}


def test_a_trial_outside_its_constraints_ranks_after_every_trial_inside():
    inside = {"reverse_kl": 0.30, "mode_spread": 1.1}
    wide = {"reverse_kl": 0.001, "mode_spread": 7.2}  # the "best" trial
    for m in (inside, wide):
        constrain(m, OBJECTIVE)
    assert inside["objective"] == 0.30 and inside["constraints_met"] == 1.0
    assert wide["objective"] == pytest.approx(0.001 + PENALTY) and wide["constraints_met"] == 0
    assert wide["objective"] > inside["objective"]
    narrow = {"reverse_kl": 0.002, "mode_spread": 0.3}
    constrain(narrow, OBJECTIVE)
    assert wide["objective"] < narrow["objective"]  # among violators: by the metric
    maxed = {"coverage": 0.9, "mode_spread": 3.0}
    constrain(maxed, {"metric": "coverage", "mode": "max", "constraints": OBJECTIVE["constraints"]})
    assert maxed["objective"] == pytest.approx(0.9 - PENALTY)
    missing = {"mode_spread": 1.0}  # a report without the metric: untouched
    constrain(missing, OBJECTIVE)
    assert "objective" not in missing
    untouched = {"reverse_kl": 0.1}
    constrain(untouched, None)
    assert untouched == {"reverse_kl": 0.1}


def test_constraints_in_the_spec_are_checked():
    spec = parse_spec(toy_spec("c", constraints={"mode_spread": [0.5, 2]}))
    assert spec.tune_metric == "objective" and spec.constraints["mode_spread"] == (0.5, 2.0)
    assert parse_spec(toy_spec("c")).tune_metric == "reverse_kl"
    for bad, message in [
        ({"mode_spread": [2, 0.5]}, r"constraints.mode_spread: low \(2.0\) must be below high"),
        ({"mode_sprad": [0.5, 2]}, "did you mean 'mode_spread'"),
    ]:
        with pytest.raises(SpecError, match=message):
            parse_spec(toy_spec("c", constraints=bad))
    with pytest.raises(SpecError, match="constraints apply to a single objective"):
        parse_spec(toy_spec("c", constraints={"mode_spread": [0.5, 2]},
                            metric=["reverse_kl", "modes"], mode=["min", "max"],
                            searcher={"type": "optuna", "sampler": "nsga2"}))


def test_the_report_flags_a_wrong_generator_beside_its_reverse_kl():
    good = pd.Series({"reverse_kl_mean": 0.3, "mode_spread_mean": 1.1,
                      "high_quality_pct_mean": 60.0})
    wide = pd.Series({"reverse_kl_mean": 0.001, "mode_spread_mean": 7.2,
                      "high_quality_pct_mean": 9.96})
    assert flag(good) == ""
    text = flag(wide)
    assert "7.2× as spread as the data" in text and "9.96 % high quality (< 20 %)" in text
    assert flag(pd.Series({"fid_mean": 30.0})) == ""  # images: nothing to flag here
    assert flag(pd.Series({"mode_spread_mean": math.nan})) == ""
