"""Malformed specs give errors that name the field; the CLI exits 2 without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from study.spec import SpecError, load_spec, parse_spec
from tests.study.helpers import toy_spec, write_spec

LR_RANGE = {"type": "loguniform", "low": 1e-5, "high": 1e-3}


def error_of(spec: dict) -> str:
    with pytest.raises(SpecError) as exc:
        parse_spec(spec, "s.yaml")
    return str(exc.value)


def test_valid_spec_loads_and_hashes_stably(tmp_path):
    spec = toy_spec("ok", search={"lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-3}})
    a = load_spec(write_spec(tmp_path, spec))
    b = parse_spec(spec)
    assert a.digest() == b.digest()
    assert a.search["lr_g"].low == 1e-5


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"colour": "red"}, "colour: unknown key"),
        ({"eval_split": "test"}, "eval_split: test applies to image data; grid is toy2d data"),
        ({"eval_split": "val"}, "eval_split: Input should be 'train' or 'test'"),
        ({"scheduler": {"type": "asha", "synch": True}},
         "scheduler: synch applies to pbt and pb2, not asha"),
        ({"budget": {"steps": "many"}}, "budget.steps: Input should be a valid integer"),
        ({"budget": {"steps": 0}}, "budget.steps: Input should be greater than or equal to 1"),
        ({"search": {"lr_g": {"type": "loguniform", "low": 0, "high": 1e-3}}},
         "search.lr_g: a log range needs bounds > 0"),
        ({"search": {"lr_g": {"type": "uniform", "low": 1e-3, "high": 1e-4}}},
         "search.lr_g: low (0.001) must be below high (0.0001)"),
        ({"search": {"lr_g": {"type": "normal", "mu": 0}}}, "search.lr_g"),
        ({"search": {"latent_dim": {"type": "int", "low": 0, "high": 8}}},
         "search.latent_dim.low: Input should be greater than or equal to 1"),
        ({"fixed": {"batch_size": -3}}, "fixed.batch_size: Input should be greater than or equal"),
        ({"fixed": {"no_such_setting": 1}},
         "fixed.no_such_setting: unknown setting of trainer 'baseline_gan'"),
        ({"search": {"k": {"type": "choice", "values": [5, 10]}}},
         "search.k: unknown setting of trainer 'baseline_gan'"),
        ({"trainer": "nope"}, "trainer: unknown trainer 'nope'"),
        ({"resources": {"workers": 0}}, "resources.workers: Input should be greater than or equal"),
        ({"eval_every": 30, "checkpoint_every": 45}, "must be a multiple of eval_every"),
        ({"seeds": [1, 1]}, "seeds: seeds must be distinct"),
        ({"fixed": {}, "scheduler": {"type": "pbt", "mutations": {"batch_size": LR_RANGE}}},
         "scheduler.mutations.batch_size: trainer 'baseline_gan' cannot change it mid-run"),
        ({"scheduler": {"type": "pbt", "mutations": {"dataset.n": LR_RANGE}}},
         "scheduler.mutations.dataset.n: the data set cannot change mid-run"),
        ({"scheduler": {"type": "pbt", "perturbation_interval": 45,
                        "mutations": {"lr_g": LR_RANGE}}},
         "perturbation_interval (45) must be a multiple of checkpoint_every (30)"),
        ({"scheduler": {"type": "pb2",
                        "mutations": {"d_steps": {"type": "choice", "values": [1, 2]}}}},
         "PB2 takes continuous bounds only"),
        ({"scheduler": {"type": "pbt"}}, "PBT/PB2 need at least one parameter to mutate"),
        ({"dataset": {"name": "grids"}},
         "dataset.name: unknown data set 'grids' (did you mean 'grid'?); expected one of"),
        ({"dataset": {"name": "grid", "options": {"colours": 3}}},
         "dataset.options.colours: unknown option of data set 'grid'; expected one of ['n', "),
        ({"dataset": {"name": "grid", "options": {"side": "5"}}},
         "dataset.options.side: expected int (got '5')"),
        ({"search": {"dataset.std": {"type": "grid", "values": [0.1, "wide"]}}},
         "search.dataset.std.values[1]: expected float (got 'wide')"),
        ({"eval_features": "classifier:nonexistent"},
         "eval_features: no reference classifier 'classifier:nonexistent' (expected one of"),
        ({"eval_features": "vgg"}, "eval_features: expected auto, raw, inception or classifier"),
        ({"mode": "maximize"}, "  mode: Input should be 'min' or 'max' (got 'maximize')"),
        ({"metric": "fid"}, "metric: trainer 'baseline_gan' does not report 'fid' on toy2d data "
                            "(grid); it reports ['modes', 'high_quality_pct'"),
        ({"metric": "reverse_k1"}, "metric: trainer 'baseline_gan' does not report 'reverse_k1'"),
        ({"metric": "nmi"}, "metric: trainer 'baseline_gan' does not report 'nmi'"),
        ({"metric": ["modes", "precision"], "mode": ["max", "max"], "num_samples": 2,
          "searcher": {"type": "optuna", "sampler": "nsga2"}},
         "metric[1]: trainer 'baseline_gan' does not report 'precision' on toy2d data"),
        ({"mode": "max"}, "mode: reverse_kl is better lower: expected 'min' (got 'max')"),
        ({"trainers": {"baseline_gan": {}, "selfcond_gan": {}}, "trainer": None, "metric": "nmi",
          "mode": "max"}, "metric: trainer 'baseline_gan' does not report 'nmi'"),
    ],
)
def test_bad_specs_name_the_field(change, expected):
    assert expected in error_of(toy_spec("bad") | change)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "absent.yaml")
    with pytest.raises(SpecError, match="is a directory; expected a YAML file"):
        load_spec(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(SpecError, match="not a text file; expected UTF-8 YAML"):
        load_spec(bad)
    bad.write_text("name: a\ntrainer: baseline_gan\nfixed: {lr_g: 1.0e-4}\nname: b\n")
    with pytest.raises(SpecError, match="duplicate key 'name'"):
        load_spec(bad)


def test_a_check_across_fields_names_them_and_not_the_whole_spec():
    message = error_of(toy_spec("bad", eval_every=30, checkpoint_every=45))
    assert message.splitlines()[1].startswith("  checkpoint_every (45) must be a multiple")
    assert "top level" not in message and "'trainer'" not in message


def test_cli_exits_2_without_traceback(tmp_path):
    path = write_spec(tmp_path, toy_spec("bad", budget={"steps": -1}))
    for command in (["validate", str(path)], ["run", str(path), "--storage", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-m", "study.cli", *command],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "budget.steps" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "bad").exists(), "a rejected spec must not create a study folder"


def test_dataset_options_can_be_searched(tmp_path):
    from study.tuner import trial_plan

    mixture = {"name": "gaussian_mixture", "options": {"dim": 10}}
    spec = parse_spec(toy_spec("modes", dataset=mixture,
                               search={"dataset.m": {"type": "grid", "values": [5, 25]}}))
    loop = trial_plan(spec, tmp_path, None).loop_config({"dataset.m": 25, "seed": 0}, "t0")
    assert loop.dataset == {"name": "gaussian_mixture", "options": {"dim": 10, "m": 25}}
    assert "dataset.m" not in loop.method
    bad = toy_spec("modes", search={"dataset.colours": {"type": "grid", "values": [1]}})
    assert "search.dataset.colours: unknown option of data set 'grid'" in error_of(bad)


SHIPPED = sorted((Path(__file__).parents[2] / "search_spaces").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_study_validates_under_its_file_name(path):
    assert load_spec(path).name == path.stem


def test_a_searched_method_value_out_of_range_names_its_place(tmp_path):
    spec = toy_spec("ema", search={"g_ema": {"type": "grid", "values": [0.0, 1.5]}})
    with pytest.raises(SpecError, match=r"search\.g_ema\.values\[1\].*less than 1"):
        load_spec(write_spec(tmp_path, spec))


def test_settings_added_later_hash_as_absent_at_their_defaults():
    """A study started before `eval_split` existed resumes: its digest is unchanged."""
    spec = toy_spec("old")
    assert parse_spec(spec).digest() == parse_spec(spec | {"eval_split": "train"}).digest()
    assert parse_spec(spec).digest() == parse_spec(
        spec | {"resources": {"train_worker_group": "auto"}}).digest()
    image = spec | {"dataset": {"name": "digits"}, "metric": "fid"}
    assert parse_spec(image).digest() != parse_spec(image | {"eval_split": "test"}).digest()


def test_set_overrides_apply_dotted_paths_and_are_validated_like_the_file(tmp_path):
    path = write_spec(tmp_path, toy_spec("over", trainer="pgmgan",
                                         fixed={"batch_size": 64, "k": 5,
                                                "partition": {"steps": 20, "init": "kmeans"}}))
    base = load_spec(path)
    spec = load_spec(path, ["budget.steps=50", "fixed.lr_g=1e-3", "seeds=[0]",
                            "fixed.partition.steps=7", "searcher.seed=3"])
    assert spec.budget.steps == 50 and spec.seeds == [0] and spec.searcher.seed == 3
    assert spec.fixed["lr_g"] == 1e-3 and isinstance(spec.fixed["lr_g"], float)
    assert spec.fixed["partition"] == {"steps": 7, "init": "kmeans"}
    assert spec.digest() != base.digest()  # the overrides are part of what the study ran
    with pytest.raises(SpecError) as err:
        load_spec(path, ["budget.stepz=5", "fixed.partition.stepz=1"])
    assert "budget.stepz" in str(err.value) and "--set" in str(err.value)
    for bad, said in [("budget", "expected PATH=VALUE"), ("seeds=[0", "not valid YAML"),
                      ("name.x=1", "name is str, not a mapping")]:
        with pytest.raises(SpecError, match=said):
            load_spec(path, [bad])
    done = subprocess.run([sys.executable, "-m", "study.cli", "validate", str(path), "--set",
                           "fixed.k=0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "fixed.k" in done.stderr and "Traceback" not in done.stderr


def test_every_mistake_is_named_in_one_pass_with_the_closest_name():
    five = toy_spec("five", trainer="selfcond_gan", dataset={"name": "rign"}, serach={},
                    fixed={"latnet_dim": 2}, metric="reverse_k1", mode="minimize",
                    search={"k": {"type": "int", "low": 50, "high": 5},
                            "lr_gen": LR_RANGE},
                    searcher={"type": "optuna", "n_startup_trial": 3})
    lines = error_of(five).splitlines()[1:]
    expected = [
        "search.k: low (50) must not exceed high (5)",
        "searcher.n_startup_trial: unknown key (did you mean 'n_startup_trials'?)",
        "mode: Input should be 'min' or 'max' (got 'minimize')",
        "serach: unknown key (did you mean 'search'?)",
        "fixed.latnet_dim: unknown setting of trainer 'selfcond_gan' (did you mean "
        "'latent_dim'?)",
        "search.lr_gen: unknown setting of trainer 'selfcond_gan' (did you mean 'lr_g'?)",
        "dataset.name: unknown data set 'rign' (did you mean 'ring'?)",
        "metric: unknown metric 'reverse_k1' (did you mean 'reverse_kl'?)",
    ]
    for want in expected:
        assert sum(line.strip().startswith(want) for line in lines) == 1, (want, lines)
    assert len(lines) == len(expected)
    # A name with nothing close gets no suggestion, and a bad field hides no later check.
    assert "did you mean" not in error_of(toy_spec("x", zzzzqq=1))
    assert error_of(toy_spec("x", fixed={"latnet_dim": 2}, metric="modez")).count("did you") == 2


def test_tpe_options_and_the_warnings_of_a_budget_they_cannot_act_in():
    from study.spec import spec_warnings
    from study.tuner import tpe_options

    tpe = {"type": "optuna", "sampler": "tpe"}
    random_tpe = parse_spec(toy_spec("t", searcher=tpe, num_samples=4, search={"lr_g": LR_RANGE}))
    [warning] = spec_warnings(random_tpe)
    assert "TPE draws its first 10 trials at random" in warning and "num_samples 4" in warning
    guided = parse_spec(toy_spec("t", searcher=tpe | {"n_startup_trials": 2, "multivariate": True},
                                 num_samples=4, search={"lr_g": LR_RANGE}))
    assert spec_warnings(guided) == []
    assert tpe_options(guided) == {"n_startup_trials": 2, "multivariate": True}
    assert tpe_options(random_tpe) == {"multivariate": False}  # Optuna's own default of 10
    assert "n_startup_trials applies to type optuna with sampler tpe" in error_of(
        toy_spec("t", searcher={"type": "random", "n_startup_trials": 2}))
    # A Self-Cond recluster interval the budget never reaches (the default 5000 in 600 steps).
    sc = parse_spec(toy_spec("sc", trainer="selfcond_gan", budget={"steps": 600}))
    assert any("recluster_every = 5000" in w and "600 steps" in w for w in spec_warnings(sc))
    short = parse_spec(toy_spec("sc", trainer="selfcond_gan", budget={"steps": 600},
                                fixed={"recluster_every": 200}))
    assert spec_warnings(short) == []
