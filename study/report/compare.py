"""`study compare A B ...`: grouped tables of several studies, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from study.report.document import Doc
from study.report.load import Study
from study.report.tables import LABELS, display, fmt, grouped, pm, table_metrics


def _full(s: Study) -> dict[str, Any]:
    """The study's spec with every default filled in (as validated), else as stored."""
    from study.spec import StudySpec

    try:
        return StudySpec.model_validate(s.spec).model_dump(mode="json")
    except ValueError:
        return dict(s.spec)


def budget_text(s: Study) -> str:
    """Steps (and time limit), evaluation samples and seeds: what an equal budget compares."""
    spec = _full(s)
    b = spec.get("budget") or {}
    time = f", ≤ {b['time_s']:g} s" if b.get("time_s") else ""
    return (f"{b.get('steps', '?')} steps{time}, {spec.get('eval_samples', '?')} samples "
            f"scored, {len(spec.get('seeds') or [])} seed(s)")


def spec_differences(studies: list[Study]) -> pd.DataFrame:
    """Every spec key (dotted) whose value differs between the studies, one column a study."""
    from trainables.core.settings import flat_dotted

    flat = {s.name: flat_dotted({k: v for k, v in _full(s).items()
                                 if k not in ("name", "description")}) for s in studies}
    keys = sorted(set().union(*flat.values()))
    rows = []
    for key in keys:
        values = [flat[name].get(key, "–") for name in flat]
        if len({repr(v) for v in values}) > 1:
            rows.append({"spec key": key, **{n: fmt_value(v) for n, v in zip(flat, values,
                                                                            strict=True)}})
    return pd.DataFrame(rows)


def fmt_value(v: object) -> str:
    return v if isinstance(v, str) else repr(v)


def compare(studies: list[Study], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in studies]
    doc = Doc("Study comparison: " + " vs ".join(names))
    tables = {s.name: (s, grouped(s, table_metrics(s)), table_metrics(s)) for s in studies}
    metrics = list(dict.fromkeys(m for _, _, ms in tables.values() for m in ms))

    # Side by side: one column per study, its best configuration (by its own objective).
    best_rows: dict[str, dict[str, str]] = {}
    for name, (s, table, _) in tables.items():
        if table.empty:
            continue
        row = table.iloc[0]
        col = best_rows.setdefault(name, {})
        col["trainer / data set"] = f"{s.trainer} / {s.dataset}"
        col["budget"] = budget_text(s)
        col["best configuration"] = ", ".join(
            f"{c}={fmt(row[c])}" for c in s.group_cols) or "all trials"
        col["seeds"] = str(int(row["n"]))
        for m in metrics:
            col[LABELS.get(m, m)] = pm(row[f"{m}_mean"], row[f"{m}_std"]) \
                if f"{m}_mean" in row else "–"
    side = pd.DataFrame(best_rows).rename_axis("").reset_index()
    doc.heading("Best configuration of each study (mean ± std over seeds)")
    doc.table(side)
    diff = spec_differences(studies)
    doc.heading("Where the specs differ")
    if diff.empty:
        doc.text("the studies' specs agree on everything but their names and descriptions")
    else:
        doc.text("a comparison is at equal budget only where these rows allow it")
        doc.table(diff)

    # All configurations, stacked with a study column (config columns may differ).
    doc.heading("Every configuration")
    parts = []
    for name, (s, table, ms) in tables.items():
        part = display(table, ms, s.group_cols)
        part.insert(0, "study", name)
        parts.append(part)
    doc.table(pd.concat(parts, ignore_index=True).fillna("–"))
    doc.write(out, "compare")
    return out
