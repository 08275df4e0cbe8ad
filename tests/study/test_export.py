"""Results out of a finished study: `study sample`, `study evaluate`, the generator as an MLflow
model, the data set as the run's MLflow input and the results as an MLflow table. One short real
PGMGAN study on the 2D grid (real Ray, real MLflow sqlite store) serves every test here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from evaluation.toy import hq_radius, toy_metrics
from study import api
from study.cli import main
from study.runner import mlflow_runs_page, mlflow_table
from tests.study.helpers import (
    free_port,
    fresh_store,
    runs_of,
    session_ray,
    toy_spec,
    write_spec,
)
from trainables.checkpoint import read_meta
from trainables.data import load_dataset

pytestmark = pytest.mark.ray

METRICS = ("modes", "high_quality_pct", "reverse_kl", "mode_freq_l1", "mode_spread")


@pytest.fixture(scope="module")
def study(tmp_path_factory, _ray_session):
    session_ray()  # as the (function-scoped) ray_cluster fixture
    tmp = tmp_path_factory.mktemp("export")
    # Through the Python API, its budget set from the command line's --set (the file says 1000).
    spec = toy_spec("export", trainer="pgmgan", budget={"steps": 1000}, eval_every=20,
                    description="PGMGAN on the grid, for taking results out of a study",
                    seeds=[0, 1],
                    checkpoint_every=20,
                    fixed={"batch_size": 64, "k": 4, "rejection": True,
                           "partition": {"init": "kmeans", "steps": 20, "kmeans_restarts": 1}})
    uri = fresh_store(tmp)
    outcome = api.run(write_spec(tmp, spec), set=["budget.steps=40"], storage=str(tmp / "runs"),
                      tracking_uri=uri)
    assert outcome.errors == 0
    return {"tmp": tmp, "uri": uri, "storage": str(tmp / "runs"), "outcome": outcome}


def test_set_overrides_reach_the_trials_and_the_stored_spec(study):
    folder = Path(study["storage"]) / "export"
    stored = (folder / "spec.yaml").read_text()
    assert stored.startswith("# --set budget.steps=40\n") and "steps: 40" in stored
    table = api.results("export", storage=study["storage"])
    assert list(table["trial_id"]) == list(study["outcome"].table["trial_id"])
    assert (table["step"] == 40).all()


def cli(study, *args: str) -> int:
    return main([*args[:1], "export", *args[1:], "--storage", study["storage"]])


def test_sample_reproduces_what_the_study_scored(study, tmp_path):
    row = study["outcome"].table.iloc[0]
    # The stage cache is gone: sampling must not need (or rebuild) the partition.
    stages = study["outcome"].folder / "stages"
    shutil.rmtree(stages)
    out = tmp_path / "samples"
    assert cli(study, "sample", "--trial", row["trial_id"], "-n", "500", "--out", str(out)) == 0
    assert not stages.exists()
    x = np.load(out / "samples.npy")
    assert x.shape == (500, 2) and x.dtype == np.float32
    # An independent recount on the exported samples: the study's own final numbers.
    grid = load_dataset("grid", n=5000)
    centers, std = np.asarray(grid.info["centers"]), float(grid.info["std"])
    recount = toy_metrics(x.astype(np.float64), centers, std, radius=hq_radius(std, 2))
    for name in METRICS:
        assert recount[name] == pytest.approx(row[name], rel=1e-9, abs=1e-12), name
    proto = json.loads((out / "protocol.json").read_text())
    assert (proto["trial_id"], proto["step"], proto["n"]) == (row["trial_id"], 40, 500)
    assert proto["method"]["rejection"] is True and 0 < proto["sampling"]["acceptance_rate"] <= 1
    assert read_meta(Path(proto["checkpoint"]))["trainer"] == "pgmgan"  # no state.pt read for it


def test_best_seeded_and_per_condition_samples(study, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli(study, "sample", "--best", "-n", "50", "--seed", "3", "--per-condition",
               "--out", str(a)) == 0
    assert cli(study, "sample", "--best", "-n", "50", "--seed", "3", "--out", str(b)) == 0
    assert np.array_equal(np.load(a / "samples.npy"), np.load(b / "samples.npy"))
    rows = np.load(a / "samples_by_condition.npz")
    assert rows["x"].shape[1:] == (50, 2) and len(rows["labels"]) == rows["x"].shape[0] <= 4


@pytest.mark.parametrize(("args", "message"), [
    (["sample", "--trial", "nope", "-n", "5", "--out", "x"], "no checkpoint of trial 'nope'"),
    (["sample", "--best", "--tau-infer", "0.2", "--out", "x"], "--tau-infer applies to simplicial"),
    (["evaluate", "--features", "classifier:nothing"], "--features: expected auto, raw"),
    (["evaluate", "--split", "test"], "--split test applies to image data"),
])
def test_bad_requests_exit_2_naming_what_is_wrong(study, capsys, args, message):
    assert cli(study, *args) == 2
    assert message in capsys.readouterr().err


def test_evaluate_with_inception_but_no_weights_stops_before_anything(study, capsys,
                                                                      monkeypatch, tmp_path):
    monkeypatch.setenv("STUDY_INCEPTION_WEIGHTS", str(tmp_path / "missing.pth"))
    before = (study["outcome"].folder / "results.parquet").read_bytes()
    assert cli(study, "evaluate", "--features", "inception") == 2
    assert "Inception weights unavailable" in capsys.readouterr().err
    assert (study["outcome"].folder / "results.parquet").read_bytes() == before


def test_evaluate_adds_a_protocol_without_touching_training_numbers(study):
    folder = study["outcome"].folder
    before = pd.read_parquet(folder / "results.parquet")
    assert cli(study, "evaluate", "--all", "--samples", "800", "--seed", "1") == 0
    after = pd.read_parquet(folder / "results.parquet")
    pd.testing.assert_frame_equal(after[before.columns], before)
    column = "rescore/raw-train-n800/reverse_kl"
    assert after[column].notna().all()
    _, children = runs_of(study["uri"], "export")
    for child in children:  # each trial's own run holds its own re-scored values
        run = MlflowClient(study["uri"]).get_run(child.info.run_id)
        row = after[after["trial_id"] == run.data.tags["trial_id"]].iloc[0]
        assert run.data.metrics[column] == pytest.approx(row[column])
    artifacts = {a.path for a in MlflowClient(study["uri"]).list_artifacts(
        run.info.run_id, "rescore/raw-train-n800")}
    assert "rescore/raw-train-n800/protocol.json" in artifacts
    from study.report import write_report

    md = (write_report("export", study["storage"]) / "results.md").read_text()
    section = md.split("## Re-scored: raw-train-n800 (study evaluate)")[1]
    assert f"{after[column].mean():.4g}" in section.split("##")[0]


def test_the_generator_is_an_mlflow_model_that_samples(study, monkeypatch):
    _, children = runs_of(study["uri"], "export")
    mlflow.set_tracking_uri(study["uri"])
    model = mlflow.pyfunc.load_model(f"runs:/{children[0].info.run_id}/generator")
    x = model.predict({"n": [64], "seed": [5]})
    assert x.shape == (64, 2) and np.isfinite(x).all()
    python_model = model.unwrap_python_model()
    assert np.array_equal(python_model.sample(64, seed=5), x)
    assert not np.array_equal(python_model.sample(64, seed=6), x)
    # the samples land on the grid's modes as the trial's do (same weights, accepted only)
    assert python_model.restored.method.cfg.rejection is True


def test_model_uri_of_the_best_trial_is_its_run_in_the_results(study, capsys):
    table = study["outcome"].table  # sorted best first
    _, children = runs_of(study["uri"], "export")
    by_trial = {c.data.tags["trial_id"]: c.info.run_id for c in children}
    assert dict(zip(table["trial_id"], table["mlflow_run_id"], strict=True)) == by_trial
    assert cli(study, "model", "--best") == 0
    best = table.iloc[0]
    assert f"trial {best['trial_id']}: runs:/{best['mlflow_run_id']}/generator" in \
        capsys.readouterr().out
    other = table.iloc[1]
    assert cli(study, "model", "--trial", other["trial_id"]) == 0
    assert f"runs:/{other['mlflow_run_id']}/generator" in capsys.readouterr().out
    assert cli(study, "model", "--trial", "nope_00000") == 2
    # Each trial's protocol.json (in the study folder and on its run) names its run too.
    for tid, run in by_trial.items():
        protocol = json.loads((study["outcome"].folder / "artifacts" / tid / "protocol.json")
                              .read_text())
        assert protocol["mlflow_run_id"] == run


def test_defining_the_model_class_prints_no_advice():
    # MLflow warns about predict's missing type hints under a "once" filter of its own.
    out = subprocess.run([sys.executable, "-c", "import study.generator_model"],
                         capture_output=True, text=True, check=True)
    assert "type hints" not in out.stderr and out.stderr.strip() == ""


def test_dataset_input_and_results_table_in_mlflow(study):
    parent, children = runs_of(study["uri"], "export")
    client = MlflowClient(study["uri"])
    # Marked as model training: MLflow 3's UI then opens the experiment on its runs table.
    kind = client.get_experiment(parent.info.experiment_id).tags.get("mlflow.experimentKind")
    assert kind == "custom_model_development"
    inputs = client.get_run(children[0].info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    fingerprint = load_dataset("grid", n=5000).fingerprint
    assert inputs[0].dataset.name == "grid" and inputs[0].dataset.digest == fingerprint[:16]
    assert json.loads(inputs[0].dataset.source)["tags"]["sha256"] == fingerprint
    mlflow.set_tracking_uri(study["uri"])
    mlflow.set_experiment(experiment_id=parent.info.experiment_id)
    table = mlflow.load_table("results_table.json", run_ids=[parent.info.run_id])
    assert list(table["trial"]) == [f"trial_{t}" for t in study["outcome"].table["trial_id"]]


def test_trial_ids_of_digits_come_back_from_the_mlflow_table_as_text(tmp_path):
    # Tune's ids are 5 hex digits and a counter: ids of digits only, or digits around one 'e',
    # are valid numbers to the type inference of mlflow.load_table.
    ids = ["12345_00000", "305e5_00001", "a0c3f_00002"]
    table = pd.DataFrame({"trial_id": ids, "status": "TERMINATED", "fid": [1.0, 2.0, 3.0]})
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("table", artifact_location=(tmp_path / "a").as_uri())
    run = client.create_run(experiment)
    client.log_table(run.info.run_id, mlflow_table(table), "results_table.json")
    mlflow.set_tracking_uri(client.tracking_uri)
    mlflow.set_experiment(experiment_id=experiment)
    back = mlflow.load_table("results_table.json", run_ids=[run.info.run_id])
    assert [t.removeprefix("trial_") for t in back["trial"]] == ids
    assert list(back["fid"]) == [1.0, 2.0, 3.0] and "trial_id" not in back
    # the plain ids of a study whose ids are all numbers do not survive: the reason for the prefix
    client.log_table(run.info.run_id, table[:2], "plain.json")
    plain = mlflow.load_table("plain.json", run_ids=[run.info.run_id])["trial_id"]
    assert plain.dtype.kind == "f" and list(plain) != ids[:2]


def test_the_mlflow_ui_shows_the_runs_in_a_real_browser(study, tmp_path):
    """MLflow's own UI server on the study's store, read by headless Chromium: the child run
    page shows its short name and its settings, the parent its description."""
    import subprocess
    import sys
    import urllib.request

    from tests.study.helpers import wait_for

    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    parent, children = runs_of(study["uri"], "export")
    child = children[0]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                               study["uri"], "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return urllib.request.urlopen(f"{base}/health", timeout=2).status == 200
        except OSError:
            return False

    def page(route: str, shot: str, size: str = "1400,1000") -> str:
        out = subprocess.run(
            [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--virtual-time-budget=20000", f"--window-size={size}",
             f"--screenshot={tmp_path / shot}", "--dump-dom", f"{base}/#{route}"],
            capture_output=True, text=True, timeout=120)
        return out.stdout

    from study.report import write_report

    write_report("export", study["storage"])  # logs report/ to the parent run
    try:
        wait_for(up, 120, "the MLflow UI server")
        exp = child.info.experiment_id
        # The page the study prints opens on the runs table (MLflow 3.17's bare experiment
        # page is the GenAI overview: traces, token usage), with the study's parent run in it.
        landing = page(mlflow_runs_page(exp, "").removeprefix("/#"), "landing.png")
        assert "Run Name" in landing and parent.data.tags["mlflow.runName"] in landing
        assert "Token usage" not in landing and "Detect Issues" not in landing
        names = set()
        for run in children:  # each child page shows its own short, distinct name
            dom = page(f"/experiments/{exp}/runs/{run.info.run_id}", "child.png")
            assert run.data.tags["mlflow.runName"] in dom
            names.add(run.data.tags["mlflow.runName"])
        assert len(names) == len(children) == 2
        assert "setting.partition.steps" in dom  # nested settings, flattened, defaults included
        parent_dom = page(f"/experiments/{exp}/runs/{parent.info.run_id}", "parent.png")
        assert "PGMGAN on the grid, for taking results out" in parent_dom
        # The report inside MLflow's artifact viewer: its plots are drawn (the scatter plots'
        # red "generated" points), not broken-image boxes. A large window: beside MLflow
        # 3.17's assistant panel, the viewer at 1400 px drew the plots small enough that a
        # loaded report showed exactly the bound's 200 red pixels.
        # The viewer fetches the 400 kB page through the one-worker server and shows it in a
        # blob: iframe; on a loaded machine (CI: 27 red pixels, the "GenAI" badge's outline) the
        # screenshot can come before the frame is drawn, so a fresh browser looks again, up to
        # three times (four tries). The DOM is dumped apart from the screenshot and can come
        # before the frame too (CI, once): both are looked at again. A report that never draws
        # still fails.
        route = f"/experiments/{exp}/runs/{parent.info.run_id}/artifacts/report/results.html"
        counts, frames = [], []
        for _ in range(4):
            dom = page(route, "report.png", size="2000,1400")
            pixels = np.asarray(Image.open(tmp_path / "report.png").convert("RGB")).astype(int)
            red = (pixels[..., 0] > 180) & (pixels[..., 1] < 110) & (pixels[..., 2] < 110)
            counts.append(int(red.sum()))
            frames.append("mlflow-html-iframe" in dom)
            if counts[-1] > 200 and frames[-1]:
                break
        assert frames[-1], f"the artifact viewer shows no HTML frame (frame seen per try: {frames})"
        assert counts[-1] > 200, f"{counts} red pixels: the report's images did not load"
    finally:
        server.terminate()
        server.wait(timeout=30)
