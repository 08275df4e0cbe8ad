"""Load time and samples/s of every data-set loader, cold (caches cleared) and cached.

    python bench/bench_loaders.py --data-root ../shared/datasets [--repeat 3]

"cold" clears the per-process caches (the OS page cache stays warm, so it measures decoding,
not disk); "cached" is a repeated `load_dataset` call as a trial step would make it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from trainables.data import DatasetError, load_dataset, registry
from trainables.data.mnist import mnist_arrays

CASES: list[tuple[str, dict]] = [
    ("ring", {}),
    ("grid", {}),
    ("gaussian_mixture", {"m": 10, "dim": 100}),
    ("digits", {}),
    ("mnist", {}),
    ("mnist", {"split": "test"}),
    ("fashion_mnist", {}),
    ("stacked_mnist", {"n": 100_000}),
    ("stacked_mnist", {"n": 100_000, "size": 32}),
    ("mnist2_3v5_90", {}),
    ("mnist5", {}),
    ("fmnist5", {}),
    ("cifar10", {}),
    ("cifar10", {"split": "test"}),
    ("cifar100", {}),
    ("stl10", {"split": "train+unlabeled"}),
]


def _clear() -> None:
    registry._CACHE.clear()
    mnist_arrays.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None, help="default: $STUDY_DATA_ROOT")
    parser.add_argument("--repeat", type=int, default=3, help="cold loads per case (median)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{'data set':<36}{'N':>9}{'shape':>16}{'cold s':>9}{'samples/s':>12}{'cached s':>10}")
    for name, opts in CASES:
        label = name + "".join(f" {k}={v}" for k, v in opts.items())
        cold = []
        try:
            for _ in range(args.repeat):
                _clear()
                t = time.perf_counter()
                ds = load_dataset(name, root=args.data_root, **opts)
                cold.append(time.perf_counter() - t)
        except DatasetError as exc:
            print(f"{label:<36}  skipped: {str(exc).splitlines()[0]}")
            continue
        t = time.perf_counter()
        load_dataset(name, root=args.data_root, **opts)
        cached = time.perf_counter() - t
        med = statistics.median(cold)
        shape = "×".join(map(str, ds.x.shape[1:]))
        print(f"{label:<36}{len(ds.x):>9}{shape:>16}{med:>9.3f}{len(ds.x) / med:>12,.0f}"
              f"{cached:>10.1e}")
        del ds
        _clear()


if __name__ == "__main__":
    main()
