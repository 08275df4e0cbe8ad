"""The papers' table: one row per configuration, mean ± std (ddof=1) over seeds."""

from __future__ import annotations

import html
import math

import pandas as pd

from evaluation import metric_table
from study.report.load import Study

# From the one metric table (evaluation.metric_table): columns, labels with arrows, directions.
TABLE_METRICS = tuple(metric_table.table_metrics())
LABELS = {name: metric_table.label(name) for name in metric_table.names()}
LOWER_IS_BETTER = metric_table.lower_is_better()


def table_metrics(study: Study) -> list[str]:
    """The paper metrics this study has values for, then its own objective(s)."""
    df = study.results
    present = [m for m in TABLE_METRICS if m in df and df[m].notna().any()]
    return present + [m for m in study.metrics if m in df and m not in present]


def grouped(study: Study, metrics: list[str]) -> pd.DataFrame:
    """Per configuration: n (finished seeds), failed, `<metric>_mean`, `<metric>_std`."""
    df = study.results.copy()
    keys = study.group_cols or ["_all"]
    if not study.group_cols:
        df["_all"] = "all trials"
    ok = df[df["status"] == "TERMINATED"]
    g = ok.groupby(keys, dropna=False, sort=True)
    out = g.size().rename("n").to_frame()
    for m in metrics:
        out[f"{m}_mean"] = g[m].mean()
        out[f"{m}_std"] = g[m].std(ddof=1)
    failed = df[df["status"] == "ERROR"].groupby(keys, dropna=False).size()
    out = out.join(failed.rename("failed"), how="outer").fillna({"n": 0, "failed": 0})
    out[["n", "failed"]] = out[["n", "failed"]].astype(int)
    out = out.reset_index()
    primary, mode = study.metrics[0], study.modes[0]
    if f"{primary}_mean" in out:
        keys_, ascending = [f"{primary}_mean"], [mode == "min"]
        if "constraints_met" in ok:  # a spec with constraints: every seed inside them first
            out["constraints_met"] = g["constraints_met"].min()
            keys_, ascending = ["constraints_met", *keys_], [False, *ascending]
        out = out.sort_values(keys_, ascending=ascending, na_position="last")
    return out.reset_index(drop=True)


def fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def pm(mean: float, std: float, as_printed: bool = False) -> str:
    """`mean ± std` to the precision the spread allows: the std to 2 significant figures, the
    mean to the same decimal place (0.0009147 ± 0.000357 → 0.00091 ± 0.00036). `as_printed`:
    a paper's figures, shown as the paper prints them."""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return fmt(mean)
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if as_printed or std <= 0 or not math.isfinite(std) or not math.isfinite(mean):
        return f"{fmt(mean)} ± {fmt(std)}"
    places = max(0, 1 - math.floor(math.log10(std)))
    return f"{mean:.{places}f} ± {std:.{places}f}"


# A generator wider or narrower than the data can still score a low reverse KL (it assigns every
# sample to its nearest mode, however far): such rows are flagged wherever they are shown.
SPREAD_RANGE = (0.5, 2.0)  # mode_spread: samples' distance to their mode over the data's
HQ_FLOOR = 20.0  # % of samples within 3 std of a mode


def flag(row: pd.Series) -> str:
    """Why a configuration's (mean) reverse KL should not be read as a good generator, or ''."""
    out = []
    spread = row.get("mode_spread_mean")
    if spread is not None and math.isfinite(spread) and not (
            SPREAD_RANGE[0] <= spread <= SPREAD_RANGE[1]):
        out.append(f"samples {spread:.2g}× as spread as the data around the modes "
                   f"(outside {SPREAD_RANGE[0]:g}–{SPREAD_RANGE[1]:g})")
    hq = row.get("high_quality_pct_mean")
    if hq is not None and math.isfinite(hq) and hq < HQ_FLOOR:
        out.append(f"{hq:.3g} % high quality (< {HQ_FLOOR:g} %)")
    return "; ".join(out)


def display(table: pd.DataFrame, metrics: list[str], keys: list[str]) -> pd.DataFrame:
    """Strings for Markdown/HTML: config columns, seeds, then `mean ± std` per metric."""
    cols = keys or ["_all"]
    out = pd.DataFrame({c: table[c].map(fmt) for c in cols})
    out["seeds"] = [f"{n}" + (f" (+{f} failed)" if f else "")
                    for n, f in zip(table["n"], table["failed"], strict=True)]
    for m in metrics:
        out[LABELS.get(m, m)] = [pm(a, b) for a, b in
                                 zip(table[f"{m}_mean"], table[f"{m}_std"], strict=True)]
    flags = [flag(row) for _, row in table.iterrows()]
    if any(flags):
        out["⚠ not a good generator"] = flags
    return out.rename(columns={"_all": "configuration"})


def markdown(df: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |",
             "|" + "|".join("---" for _ in df.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>{rows}</tbody>\n</table>"
