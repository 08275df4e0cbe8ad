"""`study report` / `study compare` on one tiny finished study (real Ray, real MLflow)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from PIL import Image

from study.cli import main as cli_main
from study.driver import INTERRUPTED, mark_ended, mark_started
from study.paths import StudyNotFound, StudyRecord
from study.report import ReportError, compare_studies, write_report
from study.report.tables import LABELS
from study.runner import run_study
from tests.study.helpers import fresh_store, session_ray, toy_spec, write_spec

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = pytest.mark.ray

PNG = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study(tmp_path_factory, _ray_session):
    """baseline GAN on the grid, 2 lr_g × 2 seeds, reported once for every test here."""
    session_ray()  # as the (function-scoped) ray_cluster fixture
    tmp = tmp_path_factory.mktemp("report")
    spec = toy_spec("rep", search={"lr_g": {"type": "grid", "values": [1e-4, 5e-4]}},
                    seeds=[0, 1], searcher={"type": "grid"})
    uri = fresh_store(tmp)
    outcome = run_study(write_spec(tmp, spec), storage=str(tmp / "runs"), tracking=uri)
    assert outcome.errors == 0
    report = write_report("rep", storage=str(tmp / "runs"))
    return {"folder": outcome.folder, "report": report, "storage": str(tmp / "runs"),
            "uri": uri, "record": outcome.record}


def _md_table(text: str) -> pd.DataFrame:
    """The first Markdown table after the results heading, as strings."""
    body = text.split("## Results by configuration", 1)[1].split("\n|", 1)[1]
    lines = ("|" + body).split("\n\n", 1)[0].splitlines()
    cells = [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines]
    return pd.DataFrame(cells[2:], columns=cells[0])


def test_table_means_and_stds_match_the_parquet(study):
    trials = pd.read_parquet(study["report"] / "trials.parquet")
    metrics = ["modes", "high_quality_pct", "high_quality_pct_box", "reverse_kl"]
    expect = trials.groupby("lr_g")[metrics].agg(["mean", "std"])
    summary = pd.read_parquet(study["report"] / "summary.parquet").set_index("lr_g")
    md = _md_table((study["report"] / "results.md").read_text())
    assert len(md) == 2 and set(md["seeds"]) == {"2"}
    for metric in metrics:
        for lr in (1e-4, 5e-4):
            mean, std = expect.loc[lr, (metric, "mean")], expect.loc[lr, (metric, "std")]
            assert np.isclose(summary.loc[lr, f"{metric}_mean"], mean)
            assert np.isclose(summary.loc[lr, f"{metric}_std"], std)
            cell = md.loc[md["lr_g"].astype(float) == lr, LABELS[metric]].item()
            shown = [float(x) for x in cell.split(" ± ")]
            # Both to the std's second significant figure (the precision the spread allows).
            places = len(cell.split(" ± ")[1].partition(".")[2])
            assert std == 0 or 10 <= round(std * 10**places) <= 99 or places == 0, cell
            assert np.allclose(shown, [mean, std], rtol=0, atol=0.51 * 10**-places), \
                (metric, lr, cell)
    html = (study["report"] / "results.html").read_text()
    assert "<table>" in html and "reverse KL" in html
    # Self-contained: MLflow's artifact viewer shows the page without the files beside it.
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    first = base64.b64decode(sources[0].removeprefix("data:image/png;base64,"))
    assert first[:8] == PNG


def test_every_plot_is_a_valid_png(study):
    report = study["report"]
    pngs = sorted(report.rglob("*.png"))
    names = {p.name for p in pngs}
    assert {"sensitivity_lr_g.png", "learning_curves.png", "samples_grid.png"} <= names
    assert len(list((report / "samples").glob("*.png"))) == 4  # one per trial
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (report / "results.md").read_text())
    assert linked and all((report / rel).is_file() for rel in linked)
    for p in pngs:
        assert p.read_bytes()[:8] == PNG, p
        with Image.open(p) as im:
            im.verify()
        assert plt.imread(p).ndim == 3


def test_parquet_round_trips_with_pandas(study, tmp_path):
    trials = pd.read_parquet(study["report"] / "trials.parquet")
    steps = pd.read_parquet(study["report"] / "steps.parquet")
    assert len(trials) == 4 and {"trial_id", "lr_g", "seed", "reverse_kl", "trainer"} <= set(
        trials.columns)
    assert set(trials["seed"]) == {0, 1} and set(trials["status"]) == {"TERMINATED"}
    assert len(steps) == 8 and not steps.duplicated(["trial_id", "step"]).any()
    assert set(steps["step"]) == {30, 60} and {"lr_g", "seed", "modes"} <= set(steps.columns)
    last = steps[steps["step"] == 60].set_index("trial_id")["reverse_kl"]
    assert np.allclose(last.loc[trials["trial_id"]], trials["reverse_kl"])
    for df in (trials, steps):
        df.to_parquet(tmp_path / "x.parquet", index=False)
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "x.parquet"), df)


def test_report_is_logged_to_the_parent_run_and_shows_paper_numbers(study):
    client = MlflowClient(study["uri"])
    logged = {a.path for a in client.list_artifacts(study["record"].parent_run_id, "report")}
    assert {"report/results.md", "report/results.html", "report/trials.parquet",
            "report/steps.parquet", "report/learning_curves.png"} <= logged
    md = (study["report"] / "results.md").read_text()
    assert "Self-Conditioned GANs" in md and "17.3 ± 0.8" in md  # baseline GAN, 2D-Grid
    # both budgets beside the numbers: the paper's and this study's
    assert "400 epochs × batch 100 (400k steps on 100k points)" in md
    assert "60 steps × batch 64" in md


def test_compare_puts_tables_side_by_side(study, tmp_path):
    # A renamed copy of the finished study stands in for a second one.
    twin = Path(study["storage"]) / "rep_twin"
    shutil.copytree(study["folder"], twin, ignore=shutil.ignore_patterns("report", "train"))
    record = StudyRecord.load(twin)
    record.name = "rep_twin"
    record.save(twin)
    # The twin's spec claims twice the steps and another sample count: compare must say so.
    spec = yaml.safe_load((twin / "spec.yaml").read_text())
    steps = spec["budget"]["steps"]
    spec |= {"budget": {"steps": 2 * steps}, "eval_samples": 777}
    (twin / "spec.yaml").write_text(yaml.safe_dump(spec))
    out = compare_studies(["rep", "rep_twin"], study["storage"], tmp_path / "cmp")
    md = (out / "compare.md").read_text()
    header = next(ln for ln in md.splitlines() if ln.startswith("|"))
    assert "rep" in header and "rep_twin" in header
    assert f"{2 * steps} steps, 777 samples scored" in md
    section = md.split("## Where the specs differ", 1)[1].split("\n## ", 1)[0]
    rows = {ln.split("|")[1].strip(): ln for ln in section.splitlines() if ln.startswith("|")}
    assert f"| {steps} " in rows["budget.steps"] and f"| {2 * steps} " in rows["budget.steps"]
    assert set(rows) == {"spec key", "---", "budget.steps", "eval_samples"}  # what differs
    assert "<table>" in (out / "compare.html").read_text()


def _fake_study(root: Path, name: str, state: str | None) -> Path:
    folder = root / name
    (folder / "tune").mkdir(parents=True)
    StudyRecord(name, "h", "sqlite:///x.db", "1", "p", "now").save(folder)
    (folder / "spec.yaml").write_text(json.dumps(toy_spec(name)))
    if state:
        trial = json.dumps({"trial_id": "abc_00000", "status": state, "config": {}})
        (folder / "tune" / "experiment_state-2024.json").write_text(
            json.dumps({"trial_data": [[trial, json.dumps({})]]}))
    return folder


def test_unknown_or_unfinished_study_gives_a_clear_error(tmp_path):
    with pytest.raises(StudyNotFound, match="no study 'nope'"):
        write_report("nope", storage=str(tmp_path))
    mark_started(_fake_study(tmp_path, "busy", "RUNNING"))  # this process: a live driver
    with pytest.raises(ReportError, match="still running"):
        write_report("busy", storage=str(tmp_path))
    stopped = _fake_study(tmp_path, "stopped", "PENDING")
    mark_started(stopped)
    mark_ended(stopped, INTERRUPTED, "interrupted by SIGTERM")
    with pytest.raises(ReportError, match=r"stopped before its trials ended \(driver "
                                          r"interrupted\).*`study resume stopped`"):
        write_report("stopped", storage=str(tmp_path))
    _fake_study(tmp_path, "early", None)
    with pytest.raises(ReportError, match="no results.parquet"):
        write_report("early", storage=str(tmp_path))
    assert cli_main(["report", "busy", "--storage", str(tmp_path)]) == 2
    assert cli_main(["compare", "busy", "early", "--storage", str(tmp_path)]) == 2


def test_cli_report_of_an_unknown_name_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "study.cli", "report", "nope", "--storage",
                           str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no study 'nope'")


def test_pareto_and_pbt_lineage_plots_from_synthetic_data(tmp_path):
    from study.report.lineage import pbt_lineage
    from study.report.load import Study
    from study.report.plots import pareto
    from study.report.tables import grouped
    from study.runner import lineage_table

    rng = np.random.default_rng(0)
    results = pd.DataFrame({"trial_id": [f"t{i}" for i in range(8)], "status": "TERMINATED",
                            "k": np.repeat([10, 20, 30, 40], 2), "seed": [0, 1] * 4,
                            "fid": rng.uniform(10, 50, 8), "recall": rng.uniform(0, 1, 8)})
    spec = {"trainer": "x", "dataset": {"name": "grid"}, "search": {"k": {}},
            "metric": ["fid", "recall"], "mode": ["min", "max"]}
    study = Study(tmp_path, StudyRecord("multi", "h", "u", "1", "p", "now"), spec, results)
    table = grouped(study, ["fid", "recall"])
    assert list(table["n"]) == [2, 2, 2, 2]
    events = [{"trial_id": "t0", "donor": "t2", "step": 40, "donor_digest": "a",
               "loaded_digest": "a", "mutation": {"k": {"from": 20, "to": 24}}},
              {"trial_id": "t4", "donor": "t2", "step": 80, "donor_digest": "b",
               "loaded_digest": "b", "mutation": {"lr_g": {"from": 1e-4, "to": 1.2e-4}}}]
    (tmp_path / "lineage.jsonl").write_text("\n".join(json.dumps(e) for e in events))
    lineage = lineage_table(tmp_path / "lineage.jsonl")
    assert list(lineage["donor"]) == ["t2", "t2"] and list(lineage["k.to"][:1]) == [24]
    lineage.to_parquet(tmp_path / "lineage.parquet")
    paths = pareto(study, table, tmp_path) + pbt_lineage(study, tmp_path)
    assert [p.name for p in paths] == ["pareto.png", "pbt_lineage.png"]
    assert all(p.read_bytes()[:8] == PNG for p in paths)


def _png(path: Path, value: float, shape: tuple[int, int] = (24, 40)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, np.full((*shape, 3), value))


def _synthetic_simplicial_study(root: Path) -> tuple[Path, pd.DataFrame]:
    """A finished study folder written by hand (no Ray): 2 tau_train × 3 seeds + one failed
    trial, two reports each with the τ_infer sweep, per-condition PNGs at both steps."""
    rng = np.random.default_rng(7)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("syn", artifact_location=(root / "mlartifacts").as_uri())
    parent = client.create_run(exp).info.run_id
    folder = root / "runs" / "syn"
    folder.mkdir(parents=True)
    StudyRecord("syn", "h", uri, exp, parent, "now").save(folder)
    spec = {"name": "syn", "trainer": "simplicial", "dataset": {"name": "mnist"},
            "search": {"tau_train": {"type": "grid", "values": [0.1, 0.2]}},
            "seeds": [0, 1, 2], "metric": "precision", "mode": "max"}
    (folder / "spec.yaml").write_text(json.dumps(spec))
    trials, reports = [], []
    for i, (tau_train, seed) in enumerate([(t, s) for t in (0.1, 0.2) for s in (0, 1, 2)]
                                          + [(0.2, 3)]):
        tid = f"t{i}"
        status = "ERROR" if seed == 3 else "TERMINATED"
        for step in (30, 60):
            row = {"trial_id": tid, "step": step, "tau_train": tau_train, "seed": seed}
            for tau in (0.1, 0.135, 0.2):
                for m in ("precision", "recall", "density", "coverage", "acceptance"):
                    row[f"{m}_tau{tau:g}"] = float(rng.uniform(0, 1))
            row["precision"] = row["precision_tau0.135"]
            reports.append(row)
            _png(folder / "artifacts" / tid / f"conditions_step{step:07d}.png", step / 100)
            _png(folder / "artifacts" / tid / f"samples_step{step:07d}.png", step / 100)
        (folder / "tune" / tid).mkdir(parents=True)
        (folder / "tune" / tid / "result.json").write_text(
            "\n".join(json.dumps(r) for r in reports if r["trial_id"] == tid) + "\n")
        trials.append({**{k: v for k, v in reports[-1].items() if k != "step"},
                       "status": status})
    pd.DataFrame(trials).to_parquet(folder / "results.parquet", index=False)
    return folder, pd.DataFrame(reports)


def test_tau_curves_and_condition_rows_from_synthetic_data(tmp_path):
    from study.report.load import load_finished
    from study.report.tau_curves import tau_columns, tau_curve_table

    folder, reports = _synthetic_simplicial_study(tmp_path)
    report = write_report(str(folder))

    # The plotted numbers: mean ± std over the 3 finished seeds of each trial's last step.
    curves = pd.read_parquet(report / "tau_infer_curves.parquet")
    last = reports[(reports["step"] == 60) & (reports["seed"] < 3)]
    cols = tau_columns(last.columns)
    assert len(cols) == 15 and cols["density_tau0.135"] == ("density", 0.135)
    assert len(curves) == 2 * 15 and set(curves["n"]) == {3}
    for _, row in curves.iterrows():
        col = next(c for c, (m, t) in cols.items() if m == row["metric"] and t == row["tau"])
        values = last.loc[last["tau_train"] == row["tau_train"], col]
        assert np.isclose(row["mean"], values.mean()) and np.isclose(row["std"], values.std())
    # The pure function gives the same table from the report's own Parquet files.
    study = load_finished(str(folder))
    again = tau_curve_table(study, pd.read_parquet(report / "steps.parquet"),
                            pd.read_parquet(report / "trials.parquet"))
    pd.testing.assert_frame_equal(again.reset_index(drop=True), curves)

    # Each finished trial's last per-condition figure is copied; the failed one is not.
    copied = sorted(p.name for p in (report / "conditions").iterdir())
    assert copied == [f"t{i}_conditions_step0000060.png" for i in range(6)]
    src = folder / "artifacts" / "t0" / "conditions_step0000060.png"
    assert (report / "conditions" / copied[0]).read_bytes() == src.read_bytes()

    md = (report / "results.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert {"conditions_grid.png", "tau_infer_curves.png", "samples_grid.png"} <= set(linked)
    assert "vs τ_infer" in md and "Samples per condition" in md
    for rel in linked:
        p = report / rel
        assert p.read_bytes()[:8] == PNG, p
        with Image.open(p) as im:
            im.verify()


def test_no_tau_columns_means_no_curve(tmp_path):
    from study.report.load import Study
    from study.report.tau_curves import tau_curve_table, tau_infer_curves

    results = pd.DataFrame({"trial_id": ["a", "b"], "status": "TERMINATED", "seed": [0, 1],
                            "precision": [0.5, 0.6], "fid_tau": [1.0, 2.0]})
    study = Study(tmp_path, StudyRecord("x", "h", "u", "1", "p", "now"),
                  {"trainer": "x", "metric": "precision", "mode": "max"}, results)
    steps = results.assign(step=10)
    assert tau_curve_table(study, steps, results).empty
    assert tau_infer_curves(study, steps, results, tmp_path) == []
    assert not (tmp_path / "tau_infer_curves.png").exists()


def test_list_valued_settings_group_as_text(tmp_path):
    """NEMGAN's `conditions` comes back from Parquet as arrays, which pandas cannot group."""
    from study.report.load import load_finished
    from study.report.tables import grouped

    folder, _ = _synthetic_simplicial_study(tmp_path)
    results = pd.read_parquet(folder / "results.parquet")
    results["conditions"] = [[], ["C1"], ["C1", "C2", "C3"]] * 2 + [["C1"]]
    results.to_parquet(folder / "results.parquet", index=False)
    spec = json.loads((folder / "spec.yaml").read_text())
    spec["search"] = {"conditions": {"type": "grid", "values": [[], ["C1"], ["C1", "C2", "C3"]]}}
    (folder / "spec.yaml").write_text(json.dumps(spec))
    study = load_finished(str(folder))
    table = grouped(study, ["precision"])
    assert sorted(table["conditions"]) == ["[C1, C2, C3]", "[C1]", "[]"]
    assert list(table.sort_values("conditions")["n"]) == [2, 2, 2]


@pytest.mark.parametrize(("mean", "std", "shown"), [
    (0.0009147, 0.000357, "0.00091 ± 0.00036"), (325.4, 29.1, "325 ± 29"),
    (16.67, 4.163, "16.7 ± 4.2"), (0.5, 0.0, "0.5 ± 0"), (2.0, float("nan"), "2"),
])
def test_mean_and_std_are_shown_to_the_precision_the_spread_allows(mean, std, shown):
    from study.report.tables import pm

    assert pm(mean, std) == shown
    assert pm(17.3, 0.8, as_printed=True) == "17.3 ± 0.8"  # a paper's figures as printed
