"""What a GPU call brought back (`files_at` of the device tool) into `results/<name>/`: the
runner's files, the last sample and per-condition grids of each run, `results.parquet` (a row a
report, and a row a final scoring) and `report.md`, whose tables compare the arms at each
report step that they all reached (mean ± std over seeds, the learning gate beside each count).

    .venv/bin/python -m bench.gpu.collect FILES_AT --name gpu_paper [--plan PLAN] [--note TEXT]
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = [("modes_covered", "modes", 0), ("modes_confident", "modes (confident)", 0),
           ("reverse_kl_log10", "KL log10 (data)", 3),
           ("reverse_kl_log10_uniform", "KL log10 (uniform)", 3),
           ("confident_frac", "gate", 3),
           ("between_frac", "between", 3), ("fid", "FID", 1), ("precision", "P", 3),
           ("recall", "R", 3), ("coverage", "C", 3), ("acc", "ACC", 3), ("nmi", "NMI", 3)]
KEEP = ("results.jsonl", "progress.jsonl", "runner.log", "gpu.txt", "throughput.json")


def arm_of(name: str) -> str:
    return re.sub(r"_s\d+$", "", name)


def read_records(files: Path) -> list[dict[str, Any]]:
    path = files / "results.jsonl"
    return [json.loads(line) for line in path.open()] if path.exists() else []


def read_progress(files: Path) -> list[dict[str, Any]]:
    path = files / "progress.jsonl"
    return [json.loads(line) for line in path.open()] if path.exists() else []


def table_rows(records: list[dict[str, Any]], progress: list[dict[str, Any]]) -> pd.DataFrame:
    """A row per report (from the records, else from progress.jsonl) and per final scoring."""
    rows, seen = [], set()
    for rec in records:
        run = rec["run"]
        base = {"run": run["name"], "arm": arm_of(run["name"]), "trainer": run.get("trainer"),
                "seed": run.get("seed", 0), "dataset": (run.get("dataset") or {}).get("name"),
                "ok": bool(rec.get("ok")), "error": rec.get("error")}
        for rep in rec.get("reports") or []:
            rows.append(base | {"kind": "report"} | rep)
            seen.add((run["name"], rep["step"]))
        fin = rec.get("final")
        if fin:
            rows.append(base | {"kind": f"final_n{fin['n_samples']}", "step": fin["step"]} |
                        {k.removeprefix("final/"): v for k, v in fin.items()
                         if k.startswith("final/")})
    for rep in progress:  # runs cut before they finished
        if (rep["run"], rep["step"]) not in seen:
            rows.append({"run": rep["run"], "arm": arm_of(rep["run"]), "ok": False,
                         "kind": "report", **{k: v for k, v in rep.items() if k != "run"}})
    df = pd.DataFrame(rows)
    return df


def fmt(values: pd.Series, digits: int) -> str:
    v = values.dropna().astype(float)
    if v.empty:
        return "–"
    if len(v) == 1:
        return f"{v.iloc[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def compare_md(df: pd.DataFrame, kind: str = "report") -> str:
    """Per data set and step: one row an arm, mean ± std over the seeds that reached it."""
    out = []
    sub = df[df["kind"] == kind] if kind == "report" else df[df["kind"].str.startswith("final")]
    for dataset, dsub in sub.groupby(sub["run"].map(lambda r: r.split("_")[0])):
        for step, ssub in dsub.groupby("step"):
            cols = [c for c in COLUMNS if c[0] in ssub and ssub[c[0]].notna().any()]
            head = "| arm | seeds | " + " | ".join(c[1] for c in cols) + " |"
            out += [f"**{dataset}, step {int(step)}** ({kind})", "", head,
                    "|" + "---|" * (len(cols) + 2)]
            for arm, asub in ssub.groupby("arm"):
                seeds = ", ".join(str(int(s)) for s in sorted(asub["seed"].dropna()))
                out.append(f"| {arm} | {seeds or len(asub)} | " +
                           " | ".join(fmt(asub[c], d) for c, _, d in cols) + " |")
            out.append("")
    return "\n".join(out)


def extract_grids(files: Path, dest: Path) -> list[str]:
    """The last sample grid and per-condition grid of each run, as `<run>_<file>.png`."""
    tar_path = files / "figures.tar"
    if not tar_path.exists():
        return []
    with tarfile.open(tar_path) as tar:
        members = {m.name: m for m in tar.getmembers() if m.name.endswith(".png")}
        last: dict[tuple[str, str], str] = {}
        for name in sorted(members):
            run, file = name.split("/", 1)
            last[(run, file.split("_step")[0])] = name
        written = []
        for (run, _kind), name in sorted(last.items()):
            data = tar.extractfile(members[name])
            if data is None:
                continue
            target = dest / f"{run}_{Path(name).name}"
            target.write_bytes(io.BytesIO(data.read()).getvalue())
            written.append(target.name)
    return written


def run_state(record: dict[str, Any]) -> str:
    return "ok" if record.get("ok") else "failed: " + str(record.get("error"))[:80]


def throughput_md(table: dict[str, Any]) -> str:
    """The throughput phase: trainer vs bare loop, and runs sharing the device."""
    out = [f"## Throughput ({table.get('device')}, torch {table.get('torch')}, "
           f"{table.get('precision')}, best of {table.get('repeats')} x {table.get('steps')} "
           "steps)", "", "| trainer | trainer img/s | bare loop img/s | ratio |",
           "|---|---|---|---|"]
    for name, row in table.get("trainers", {}).items():
        if "error" in row:
            out.append(f"| {name} | {row['error']} | | |")
        else:
            out.append(f"| {name} | {row['trainer_img_s']:.0f} | {row['bare_img_s']:.0f} | "
                       f"{row['ratio']:.2f} |")
    if table.get("sharing"):
        out += ["", "| processes sharing the GPU | total img/s | per process |", "|---|---|---|"]
        for n, row in table["sharing"].items():
            per = [p.get("img_s", 0.0) for p in row["per_process"]]
            out.append(f"| {n} | {row['total_img_s']:.0f} | {sum(per) / max(len(per), 1):.0f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", help="the folder the GPU call's files came back to")
    ap.add_argument("--name", required=True, help="results/<name>/")
    ap.add_argument("--plan", help="the plan that ran (copied as plan.yaml)")
    ap.add_argument("--results", default="results")
    ap.add_argument("--note", default="", help="a paragraph for the report's head")
    args = ap.parse_args(argv)
    files, dest = Path(args.files), Path(args.results) / args.name
    (dest / "grids").mkdir(parents=True, exist_ok=True)
    for f in KEEP:
        if (files / f).exists():
            shutil.copyfile(files / f, dest / f)
    if args.plan:
        shutil.copyfile(args.plan, dest / "plan.yaml")
    records, progress = read_records(files), read_progress(files)
    df = table_rows(records, progress)
    grids = extract_grids(files, dest / "grids")
    if not df.empty:
        df.to_parquet(dest / "results.parquet", index=False)
    gpu = (files / "gpu.txt").read_text() if (files / "gpu.txt").exists() else ""
    lines = [f"# {args.name}", "", args.note, "", "```", gpu.strip(), "```", "",
             "Runs: " + ", ".join(f"{r['run']['name']} ({run_state(r)})" for r in records), ""]
    if (files / "throughput.json").exists():
        lines += [throughput_md(json.loads((files / "throughput.json").read_text())), ""]
    if not df.empty:
        lines += ["## At each report step (eval_samples samples)", "", compare_md(df), "",
                  "## Final scoring of the finished runs", "", compare_md(df, "final"), ""]
    lines += ["## Grids", ""] + [f"![{g}](grids/{g})" for g in grids]
    (dest / "report.md").write_text("\n".join(lines) + "\n")
    protocol = {"files": sorted(p.name for p in dest.iterdir()), "gpu": gpu.strip(),
                "n_runs": len(records), "n_ok": sum(bool(r.get("ok")) for r in records),
                "torch": next((r.get("torch") for r in records if r.get("torch")), None),
                "precision": "fp32"}
    (dest / "protocol.json").write_text(json.dumps(protocol, indent=2))
    print(f"{dest}: {len(records)} runs ({protocol['n_ok']} ok), {len(grids)} grids")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
