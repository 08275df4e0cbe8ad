"""PGMGAN's image partition stage alone, in several variants of one spec (not in CI): what each
representation learned about the data's modes, beside an untrained encoder and the pixels'
principal components measured in the same run (`pgmgan_partitioner`'s references).

Each variant is the spec's PGMGAN settings (`fixed`) with `--variant NAME PATH=VALUE ...`
overrides; every variant runs the whole stage (SimCLR or PCA, k-NN graph, SCAN head) into a
fresh folder and the table gets one row: neighbour agreement (share of k-NN edges inside one
class; Stacked MNIST: one triple) and NMI of the head's partition on the training subset, for the
variant's representation / the untrained encoder / the pixels, the NMI over every image, the
partitions used, SimCLR's last loss and the stage's seconds.

    .venv/bin/python -m bench.partition_stage search_spaces/repro_stacked_mnist_pgmgan_mean.yaml \
        --data-root DIR --seed 10 --variant crop_only --variant channel_jitter \
        simclr.channel_jitter=0.8 --variant pca partition.representation=pca --out FILE.md
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from trainables.data.registry import load_dataset
from trainables.methods.pgmgan import PGMGANConfig
from trainables.methods.pgmgan_partitioner import partition_for

COLUMNS = [("agreement", "neighbour_agreement"), ("untrained", "agreement_untrained"),
           ("pixels", "agreement_pixels"), ("NMI", "nmi_subset"), ("untrained", "nmi_untrained"),
           ("pixels", "nmi_pixels"), ("random", "nmi_random"), ("NMI (all)", "nmi"),
           ("random (all)", "nmi_random_all"), ("partitions", "nonempty"),
           ("SimCLR loss", "simclr_loss_last"), ("s", "seconds")]


def variants(raw: list[list[str]]) -> dict[str, dict[str, Any]]:
    """--variant NAME [PATH=VALUE ...] → {NAME: {PATH: value}} (values read as YAML)."""
    out: dict[str, dict[str, Any]] = {}
    for name, *pairs in raw:
        sets = {}
        for pair in pairs:
            path, sep, value = pair.partition("=")
            if not sep:
                raise SystemExit(f"error: --variant {name}: expected PATH=VALUE, got {pair!r}")
            sets[path] = yaml.safe_load(value)
        out[name] = sets
    return out


def cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.0f}" if value >= 100 else f"{value:.4f}" if value < 0.1 else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec", help="a PGMGAN study spec on image data")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--seed", type=int, default=10, help="a tuning seed (10, 11): this picks")
    ap.add_argument("--variant", nargs="+", action="append", required=True,
                    metavar=("NAME", "PATH=VALUE"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="write the table here (Markdown)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = yaml.safe_load(Path(args.spec).read_text())
    ds = spec["dataset"]
    data = load_dataset(ds["name"], root=args.data_root, **ds.get("options", {}))
    rows = []
    for name, sets in variants(args.variant).items():
        cfg = PGMGANConfig.model_validate(spec["fixed"] | sets)
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.perf_counter()
            _, _, info = partition_for(data, cfg.k, args.seed, cfg.partition, folder, cfg.simclr)
        info["seconds"] = time.perf_counter() - t0
        if data.y is not None:  # the whole data set's floor: random labels on every image
            from evaluation.clustering import nmi
            from trainables.core import streams

            chance = torch.randint(cfg.k, (len(data.y),),
                                   generator=streams.generator(args.seed, "random_partition"))
            info["nmi_random_all"] = nmi(data.y.cpu().numpy(), chance.numpy())
        rows.append((name, sets, info))
        print(json.dumps({"variant": name, **{k: info.get(k) for _, k in COLUMNS}}), flush=True)
    head = "| variant | " + " | ".join(c for c, _ in COLUMNS) + " |"
    lines = [f"Partition stage of `{args.spec}` on {data.name} (k {cfg.k}, seed {args.seed}); "
             "agreement and NMI on the head's training subset, for the variant's "
             "representation, an untrained encoder and the pixels' principal components.", "",
             head, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, _, info in rows:
        lines.append(f"| {name} | " + " | ".join(cell(info.get(k)) for _, k in COLUMNS) + " |")
    lines += ["", "Variants: " + "; ".join(
        f"`{name}`: " + (", ".join(f"{k}={v}" for k, v in sets.items()) or "the spec as is")
        for name, sets, _ in rows)]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
