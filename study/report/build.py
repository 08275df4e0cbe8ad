"""Assemble one study's report folder and log it to the study's MLflow parent run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from study.paths import RESCORE_PREFIX
from study.report import plots
from study.report.document import Doc
from study.report.lineage import pbt_lineage
from study.report.load import Study
from study.report.parquet import steps_table, trials_table, write_parquet
from study.report.references import references_for
from study.report.tables import (
    LABELS,
    TABLE_METRICS,
    display,
    flag,
    fmt,
    grouped,
    pm,
    table_metrics,
)
from study.report.tau_curves import tau_infer_curves

REPORT_DIR = "report"


def build_report(study: Study, out: Path | None = None) -> Path:
    default = study.folder / REPORT_DIR
    out = Path(out) if out else default
    if out == default and out.is_dir():
        shutil.rmtree(out)  # a rerun must not keep plots of parameters no longer present
    out.mkdir(parents=True, exist_ok=True)

    metrics = table_metrics(study)
    trials = trials_table(study)
    steps = steps_table(study, trials, metrics)
    write_parquet(trials, out / "trials.parquet")
    write_parquet(steps, out / "steps.parquet")
    table = grouped(study, metrics)
    write_parquet(table, out / "summary.parquet")

    doc = Doc(f"Study report: {study.name}")
    n_err = int((trials["status"] == "ERROR").sum())
    doc.text(f"trainer {study.trainer}, data set {study.dataset}, {len(trials)} trials "
             f"({n_err} failed), objective {', '.join(study.metrics)} "
             f"({', '.join(study.modes)}), created {study.record.created}.")
    if fixed := study.spec.get("fixed"):
        doc.text("fixed settings: " + ", ".join(f"{k}={v}" for k, v in fixed.items()))
    ok = trials[trials["status"] == "TERMINATED"]
    # What the study is about first: what the generators drew, then the table.
    if samples := plots.sample_grid(study, ok, out)[-1:]:
        doc.heading("Samples at the last evaluation")
        doc.image(samples[0], out, samples[0].stem)
    doc.heading("Results by configuration (mean ± std over seeds)")
    doc.table(display(table, metrics, study.group_cols))
    _references(doc, study, table, metrics)
    _rescored(doc, study)

    figures = [
        ("Sensitivity to the swept parameters", plots.sensitivity(study, table, metrics, out)),
        ("Learning curves", plots.learning_curves(study, steps, trials, metrics, out)),
        ("Pareto front", plots.pareto(study, table, out)),
        ("PBT lineage", pbt_lineage(study, out)),
        ("Samples per condition at the last evaluation (one row per partition, cluster or "
         "latent mode)", plots.conditions_grid(study, ok, out)[-1:]),
        ("Precision, recall, density, coverage and acceptance vs τ_infer",
         tau_infer_curves(study, steps, trials, out)),
    ]
    for title, paths in figures:
        if paths:
            doc.heading(title)
            for p in paths:
                doc.image(p, out, p.stem)
    doc.heading("Files")
    doc.text("trials.parquet: one row per trial (config columns, final metrics); steps.parquet: "
             "one row per trial × report step; summary.parquet: the table above as numbers; "
             "samples/ and conditions/: each trial's last samples plot and per-condition rows; "
             "tau_infer_curves.parquet (when the trainer logs <metric>_tau<τ>): the plotted "
             "mean ± std over seeds of each finished trial's last report, per configuration, "
             "metric and τ.")
    doc.write(out, "results")
    log_to_mlflow(study, out)
    return out


def _rescored(doc: Doc, study: Study) -> None:
    """`study evaluate`'s protocols (`rescore/<protocol>/<metric>` columns): one table each,
    the summary metrics only, beside (never replacing) the training-time table."""
    cols = [c for c in study.results.columns if c.startswith(RESCORE_PREFIX + "/")]
    for protocol in dict.fromkeys(c.split("/")[1] for c in cols):
        names = {c: c.split("/", 2)[2] for c in cols if c.split("/")[1] == protocol}
        keep = [c for c, m in names.items() if m in TABLE_METRICS or m in study.metrics]
        if not keep:
            continue
        shown = display(grouped(study, keep), keep, study.group_cols)
        doc.heading(f"Re-scored: {protocol} (study evaluate)")
        doc.table(shown.rename(columns={c: LABELS.get(names[c], names[c]) for c in keep}))


def _our_budget(study: Study, trainer: str) -> str:
    """`2000 steps × batch 100` from the spec (the trainer's own batch where it sets one)."""
    steps = (study.spec.get("budget") or {}).get("steps", "?")
    batch = ((study.spec.get("trainers") or {}).get(trainer) or {}).get("batch_size") \
        or (study.spec.get("fixed") or {}).get("batch_size")
    return f"{steps} steps" + (f" × batch {batch}" if batch else "")


def _references(doc: Doc, study: Study, table: pd.DataFrame, metrics: list[str]) -> None:
    """Per trainer: its best configuration (the table is ranked) beside the papers' rows."""
    rows, shown, seen = [], [], []
    for trainer in study.trainer_names:
        refs = references_for(trainer, study.dataset)
        own = table[table["trainer"] == trainer] if "trainer" in table else table
        if not refs or own.empty:
            continue
        names = [m for m in dict.fromkeys(k for r in refs for k in r.values) if m in metrics]
        shown += [m for m in names if m not in shown]
        best = own.iloc[0]
        conf = ", ".join(f"{c}={fmt(best[c])}" for c in study.group_cols
                         if c != "trainer") or "all trials"
        rows.append({"source": "this study", "method": f"{trainer}, best configuration ({conf})",
                     "budget": _our_budget(study, trainer)}
                    | {LABELS.get(m, m): pm(best[f"{m}_mean"], best[f"{m}_std"])
                       for m in names}
                    | ({"⚠ not a good generator": warn} if (warn := flag(best)) else {}))
        rows += [{"source": f"{r.paper}, {r.where}", "method": r.method, "budget": r.budget}
                 | {LABELS.get(m, m): pm(r.values[m], r.err.get(m, float("nan")), True)
                    for m in names if m in r.values} for r in refs if r not in seen]
        seen += refs  # a baseline row shared by several trainers' references: once
    if not rows:
        return
    doc.heading("Beside the papers' numbers")
    doc.text(f"reference rows for {study.trainer} on {study.dataset!r} "
             "(study.report.references); ours is each trainer's best configuration by "
             f"{study.metrics[0]}, mean ± std over seeds.")
    doc.table(pd.DataFrame(rows).fillna("–"))


def log_to_mlflow(study: Study, out: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(study.record.tracking_uri)
    client.log_artifacts(study.record.parent_run_id, str(out), REPORT_DIR)
