"""NEMGAN: how widely each latent mode's samples spread, against their digit group in the data
(not in CI). For every checkpoint of a NEMGAN study's trials and each latent mode y: the mean
pairwise distance of the reference classifier's features of G(e_y + ν), over the same figure
for real images of the data group that most of those samples are classified into (1: as varied
as that group). Without C1 (unimodal latent), G's samples are grouped by the classifier. Ratios
far below 1 while every group is reached mean collapse within modes: G ignores ν.

    .venv/bin/python bench/nemgan_mode_spread.py STUDY [--storage DIR] [--data-root DIR] \
        [--n 1000] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.distance import pdist

from study.paths import find_study, storage_root
from trainables.checkpoint import read_meta
from trainables.restore import restore
from trainables.scoring.images import build_extractor, class_to_mode, resolve_features


def spread(features: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs of rows."""
    return float(pdist(features.double().numpy()).mean())


def groups_of(ex, x: torch.Tensor, c2m: np.ndarray) -> np.ndarray:
    return c2m[ex.logits(x).argmax(1).numpy()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study")
    ap.add_argument("--storage", default=None)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--n", type=int, default=1000, help="samples per mode and per data group")
    ap.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    folder = find_study(args.study, storage_root(args.storage))
    ckpts = sorted(((read_meta(m.parent), m.parent) for m in folder.rglob("meta.json")
                    if (m.parent / "state.pt").is_file()),
                   key=lambda mc: (mc[0]["trial_id"], int(mc[0]["step"])))
    lines = ["| trial | conditions | z weight | seed | step | spread of all samples / data's "
             "| per latent mode (→ data group): spread / group's | mean |",
             "|---|---|---|---|---|---|---|---|"]
    real: dict[int, float] | None = None
    means: dict[tuple[str, float, int], list[float]] = {}
    for meta, ckpt in ckpts:
        r = restore(ckpt, data_root=args.data_root)
        m, data = r.method, r.data
        if real is None:  # one data set per study: the extractor and the data's spreads once
            ex = build_extractor(resolve_features(data, "auto"), data)
            c2m = class_to_mode(data, ex.logits(data.x[:2]).shape[1])
            x = data.x[torch.randperm(len(data.x), generator=torch.Generator().manual_seed(0))]
            x = x[: 20 * args.n]
            g, f = groups_of(ex, x, c2m), ex(x)
            real = {k: spread(f[g == k][: args.n]) for k in range(int(c2m.max()) + 1)}
            real_all = spread(f[: args.n])
            lines.insert(0, f"Data: spread {real_all:.2f} over all, per group "
                         + ", ".join(f"{k}: {v:.2f}" for k, v in real.items()) + "\n")
        x = m.sample(args.n)
        f = ex(x)
        ratio_all = spread(f) / real_all
        cells = []
        if m.multimodal:
            for y in range(m.k):
                z, _ = m.draw_latent(args.n, m.eval_gen, torch.full((args.n,), y))
                xy = m.generate(z)
                g = groups_of(ex, xy, c2m)
                grp = int(np.bincount(g[g >= 0], minlength=len(real)).argmax())
                cells.append((f"{y}→{grp}", spread(ex(xy)) / real[grp]))
        else:
            g = groups_of(ex, x, c2m)
            cells = [(f"→{k}", spread(f[g == k]) / real[k]) for k in real if (g == k).sum() > 10]
        mean = statistics.fmean(v for _, v in cells)
        label = "[" + ", ".join(m.cfg.conditions) + "]"
        zw = m.cfg.inverter_z_weight
        means.setdefault((label, zw, r.step), []).append(mean)
        lines.append(f"| {meta['trial_id']} | {label} | {zw:g} | {r.config.seed} | {r.step} | "
                     f"{ratio_all:.2f} | " + ", ".join(f"{c} {v:.2f}" for c, v in cells)
                     + f" | {mean:.2f} |")
        print(lines[-1], flush=True)
    lines += ["", "| conditions | z weight | step | mean within-mode spread / group's (mean ± "
              "std over trials) |", "|---|---|---|---|"]
    for (label, zw, step), vals in sorted(means.items()):
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        lines.append(f"| {label} | {zw:g} | {step} | {statistics.fmean(vals):.2f} ± {sd:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
