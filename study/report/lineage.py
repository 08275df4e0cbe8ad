"""The PBT lineage figure: one line per trial over training steps, an arrow per exploit from the
donor (at the step copied) to the trial that cloned it, labelled with the mutation."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from study.paths import LINEAGE_TABLE  # noqa: E402
from study.report.load import Study  # noqa: E402


def _short(mutation: str) -> str:
    changes = json.loads(mutation or "{}")
    return ", ".join(f"{k} {c['from']:.3g}→{c['to']:.3g}" if isinstance(c.get("to"), float)
                     else f"{k} {c['from']}→{c['to']}" for k, c in changes.items())


def pbt_lineage(study: Study, out: Path) -> list[Path]:
    path = study.folder / LINEAGE_TABLE
    if not path.is_file():
        return []
    events = pd.read_parquet(path)
    if events.empty:
        return []
    trials = sorted(set(study.results.get("trial_id", [])) | set(events["trial_id"])
                    | set(events["donor"]))
    y = {t: i for i, t in enumerate(trials)}
    last = dict(zip(study.results.get("trial_id", []), study.results.get("step", []),
                    strict=False))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(trials) + 2))
    for t in trials:
        ax.plot([0, last.get(t, events["step"].max())], [y[t], y[t]], c="tab:gray", lw=1)
    for _, e in events.sort_values("step").iterrows():
        ax.annotate("", xy=(e["step"], y[e["trial_id"]]), xytext=(e["step"], y[e["donor"]]),
                    arrowprops={"arrowstyle": "->", "color": "tab:red", "alpha": 0.8})
        ax.plot([e["step"]], [y[e["donor"]]], "o", c="tab:green", ms=4)
        ax.text(e["step"], y[e["trial_id"]] + 0.15, _short(e["mutation"]), fontsize=6)
    ax.set_yticks(range(len(trials)), trials, fontsize=7)
    ax.set_xlabel("step")
    ax.set_title(f"{study.name}: PBT exploits (green: donor at the copied step → clone)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "pbt_lineage.png", dpi=100)
    plt.close(fig)
    return [out / "pbt_lineage.png"]
