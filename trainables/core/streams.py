"""Named random streams: every seeded draw of a run takes its seed from (run seed, purpose,
step), hashed by numpy's `SeedSequence`, so no two purposes or steps share a stream (offset
formulas such as seed·1000003 + step + 7 did overlap another purpose's stream a few steps on).

The loop seeds Python, NumPy and torch's global RNGs with the run seed itself; everything else
draws from a stream named here. A new purpose is one line in `PURPOSES`.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

PURPOSES: dict[str, str] = {
    "train": "data order and training latents of one rank (step = the rank)",
    "eval": "the loop's evaluation at a step (latents, sampling); training streams untouched",
    "method_eval": "a method's own evaluation draws (simplicial, NEMGAN), continued over steps",
    "eval_subset": "a fixed subset of held-out data every run scores on (seed 0 for all runs)",
    "real_reference": "real points held for PR/DC on vector data (simplicial)",
    "figure": "the per-condition figure's latents: the same rows at every evaluation",
    "tau_probe": "simplicial's start-up check that every τ is reachable",
    "recluster": "Self-Cond's reclustering at a step: the same on every rank and on resume",
    "cluster_eval": "k-means of NEMGAN's inverted latents for the clustering metrics",
    "random_partition": "PGMGAN's random-partition ablation labels",
    "partition.subset": "the points PGMGAN's partitioner trains on and its batches",
    "partition.init": "the partitioner's initial weights",
    "partition.reference.untrained": "the partition stage's untrained-encoder reference head",
    "partition.reference.pixels": "the partition stage's pixel-PCA reference head",
    "simclr.subset": "the images SimCLR trains on and its batches and augmentations",
    "simclr.init": "the SimCLR encoder's initial weights",
    "labelled_subset": "NEMGAN's sparse labelled set",
    "sample": "draws from a restored checkpoint (study sample / evaluate, the MLflow model)",
    "guide_probe": "PGMGAN's probe of G's samples against the partitioner at each evaluation",
}


def stream_seed(seed: int, purpose: str, step: int = 0, bits: int = 63) -> int:
    """The seed of stream `purpose` at `step` of the run seeded `seed` (below 2**bits)."""
    if purpose not in PURPOSES:
        raise KeyError(f"unknown random stream {purpose!r}; expected one of {sorted(PURPOSES)}")
    if step < 0:
        raise ValueError(f"stream {purpose!r}: step must be >= 0, got {step}")
    sequence = np.random.SeedSequence(seed % 2**64, spawn_key=(zlib.crc32(purpose.encode()), step))
    return int(sequence.generate_state(1, np.uint64)[0]) >> (64 - bits)


def generator(seed: int, purpose: str, step: int = 0) -> torch.Generator:
    """A CPU torch generator on stream `purpose` at `step`."""
    return torch.Generator().manual_seed(stream_seed(seed, purpose, step))
