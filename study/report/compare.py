"""`study compare A B ...`: grouped tables of several studies, side by side."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from study.report.document import Doc
from study.report.load import Study
from study.report.tables import LABELS, display, fmt, grouped, pm, table_metrics


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
        col["best configuration"] = ", ".join(
            f"{c}={fmt(row[c])}" for c in s.group_cols) or "all trials"
        col["seeds"] = str(int(row["n"]))
        for m in metrics:
            col[LABELS.get(m, m)] = pm(row[f"{m}_mean"], row[f"{m}_std"]) \
                if f"{m}_mean" in row else "–"
    side = pd.DataFrame(best_rows).rename_axis("").reset_index()
    doc.heading("Best configuration of each study (mean ± std over seeds)")
    doc.table(side)

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
