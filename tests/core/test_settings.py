"""Nested method settings (`partition: {...}`, `simclr: {...}`) set with dotted keys from specs,
search spaces and trials, merged setting by setting."""

from __future__ import annotations

import pytest

from study.spec import SpecError, parse_spec
from study.trial import STAGES_DIR, TrialPlan
from tests.study.helpers import toy_spec
from trainables.core.settings import flat_dotted, has_setting, merge_settings, nest_dotted
from trainables.methods.pgmgan import PGMGANConfig


def test_dotted_keys_nest_and_flatten_back():
    nested = {"k": 5, "partition": {"steps": 7, "lr": 0.2}, "network_options": {"g_ch": 8}}
    assert nest_dotted(flat_dotted(nested)) == nested
    assert nest_dotted({"partition.steps": 7, "partition": {"lr": 0.2}}) == {
        "partition": {"steps": 7, "lr": 0.2}}


def test_later_parts_override_one_setting_not_the_whole_part():
    merged = merge_settings({"partition": {"steps": 5, "lr": 0.1}},
                            {"partition.steps": 7}, {"partition.lr": 0.2, "k": 3})
    assert merged == {"partition": {"steps": 7, "lr": 0.2}, "k": 3}


def test_every_partition_and_simclr_setting_is_reachable():
    cfg = PGMGANConfig.model_validate({"partition.kmeans_iters": 7, "partition.layers": 3,
                                       "partition.activation": "leaky_relu",
                                       "simclr": {"momentum": 0.5, "jitter_p": 0.1}})
    assert (cfg.partition.kmeans_iters, cfg.partition.layers) == (7, 3)
    assert cfg.partition.activation == "leaky_relu"
    assert (cfg.simclr.momentum, cfg.simclr.jitter_p) == (0.5, 0.1)
    assert has_setting(PGMGANConfig, "partition.steps")
    assert not has_setting(PGMGANConfig, "partition.stepz")
    assert not has_setting(PGMGANConfig, "lr_g.steps")


def pgmgan_spec(**over) -> dict:
    fixed = {"batch_size": 64, "k": 5, "partition": {"steps": 20, "init": "kmeans"}}
    return toy_spec("nested", trainer="pgmgan", **({"fixed": fixed} | over))


def test_a_spec_searches_a_nested_setting_and_the_trial_gets_it_nested(tmp_path):
    spec = parse_spec(pgmgan_spec(search={"partition.lr": {"type": "loguniform", "low": 1e-4,
                                                           "high": 1e-2}}))
    plan = TrialPlan(study="nested", study_dir=str(tmp_path), trainer="pgmgan",
                     dataset=spec.dataset.model_dump(), fixed=spec.fixed, seeds=[0], steps=10,
                     eval_every=10, checkpoint_every=10, eval_samples=100)
    loop = plan.loop_config({"partition.lr": 3e-3, "seed": 0}, "t0")
    assert loop.method["partition"] == {"steps": 20, "init": "kmeans", "lr": 3e-3}
    assert loop.stage_dir == str(tmp_path / STAGES_DIR)  # passed, not found by walking up


@pytest.mark.parametrize(("over", "expected"), [
    ({"search": {"partition.stepz": {"type": "choice", "values": [1, 2]}}},
     "search.partition.stepz: unknown setting of trainer 'pgmgan' (did you mean "
     "'partition.steps'?)"),
    ({"search": {"partition.lr": {"type": "uniform", "low": -1.0, "high": 1.0}}},
     "search.partition.lr.low"),
    ({"search": {"partition.steps": {"type": "choice", "values": [1, 2]}}},
     "appear both in fixed and in search"),
    ({"fixed": {"partition": {"init": "spectral"}}}, "fixed.partition.init"),
    ({"fixed": {"lr_g": 1e-4, "k": 5}, "metric": "reverse_kl", "checkpoint_every": 100,
      "eval_every": 100,
      "scheduler": {"type": "pbt", "perturbation_interval": 100,
                    "mutations": {"lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-3}}}},
     "['lr_g'] appear both in fixed and in scheduler.mutations"),
])
def test_bad_nested_settings_are_refused_naming_the_dotted_field(over, expected):
    with pytest.raises(SpecError) as exc:
        parse_spec(pgmgan_spec(**over), "s.yaml")
    assert expected in str(exc.value)
