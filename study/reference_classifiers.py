"""Train the reference classifiers of `evaluation.classifiers` on the data sets' train split and
store them with their held-out test accuracy (the CLI's `study classifiers train NAME`).

Recipes are compact on purpose: MNIST reaches >= 99.0% test accuracy in about two CPU minutes on
2 cores; CIFAR-10 trains for as many epochs as `time_budget_s` allows.
"""

from __future__ import annotations

import hashlib
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from evaluation.classifiers import build_classifier, predict_logits, save_classifier
from trainables.data import load_dataset


@dataclass(frozen=True)
class Recipe:
    dataset: str
    epochs: int
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    shift: int = 0  # random translation in pixels (pad by edge replication, crop)
    flip: bool = False
    label_smoothing: float = 0.0
    threads: int = 2  # tiny nets run faster on one thread: OpenMP sync costs more than it saves


RECIPES = {
    "mnist": Recipe("mnist", epochs=2, shift=2),
    "fashion_mnist": Recipe("fashion_mnist", epochs=4, shift=2, flip=True, label_smoothing=0.1),
    "digits": Recipe("digits", epochs=30, batch_size=64, shift=1, threads=1),
    "cifar10": Recipe("cifar10", epochs=30, shift=4, flip=True, label_smoothing=0.1),
}


def random_shift(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to `pad` pixels (edge replication fills the border)."""
    b, _, h, w = x.shape
    xp = F.pad(x, (pad,) * 4, mode="replicate")
    dy = torch.randint(0, 2 * pad + 1, (b, 1), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (b, 1), generator=gen)
    rows = (dy + torch.arange(h))[:, None, :, None]
    cols = (dx + torch.arange(w))[:, None, None, :]
    return xp[torch.arange(b)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None],
              rows, cols]


def _augment(recipe: Recipe, gen: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
    def aug(x: torch.Tensor) -> torch.Tensor:
        if recipe.shift:
            x = random_shift(x, recipe.shift, gen)
        if recipe.flip:
            flip = torch.rand(len(x), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x

    return aug


def data_hash(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(str((tuple(t.shape), t.dtype)).encode())
        h.update(t.contiguous().numpy().tobytes())
    return "sha256:" + h.hexdigest()


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict_logits(model, x).argmax(1) == y).float().mean())


def _versions() -> dict[str, str]:
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__}


def train_classifier(
    name: str, data_root: str | Path | None = None, out_dir: str | Path | None = None,
    epochs: int | None = None, seed: int = 0, time_budget_s: float | None = None,
    num_threads: int | None = None, verbose: bool = True,
) -> dict[str, Any]:
    """Train classifier `name`, measure held-out test accuracy, save it; returns its metadata.

    `time_budget_s` (CIFAR-10) sets the epoch count from a timed calibration so that training
    ends within the budget; `epochs` otherwise overrides the recipe. `num_threads` defaults to
    the recipe's (2; 1 for digits) and is restored afterwards.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown classifier {name!r}; expected one of {sorted(RECIPES)}")
    recipe = RECIPES[name]
    old_threads = torch.get_num_threads()
    torch.set_num_threads(num_threads or recipe.threads)
    try:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        train = load_dataset(recipe.dataset, root=data_root, split="train")
        test = load_dataset(recipe.dataset, root=data_root, split="test")
        model = build_classifier(name)
        aug = _augment(recipe, gen)
        steps_per_epoch = math.ceil(len(train.x) / recipe.batch_size)
        if time_budget_s is not None:
            epochs = _epochs_for_budget(model, train.x, recipe, aug, time_budget_s)
        epochs = epochs or recipe.epochs
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=recipe.lr, total_steps=epochs * steps_per_epoch, pct_start=0.25
        )
        start = time.perf_counter()
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(len(train.x), generator=gen)
            for i in range(0, len(order), recipe.batch_size):
                idx = order[i : i + recipe.batch_size]
                if len(idx) < 2:  # BatchNorm needs two samples
                    continue
                loss = F.cross_entropy(
                    model(aug(train.x[idx])), train.y[idx], label_smoothing=recipe.label_smoothing
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            if verbose:
                print(f"[{name}] epoch {epoch + 1}/{epochs} loss {loss.item():.4f} "
                      f"{time.perf_counter() - start:.0f}s", flush=True)
        train_time = time.perf_counter() - start
        test_acc = accuracy(model, test.x, test.y)
        meta = {
            "test_accuracy": test_acc, "n_test": len(test.x), "n_train": len(train.x),
            "train_time_s": round(train_time, 1), "epochs": epochs, "seed": seed,
            "time_budget_s": time_budget_s, "num_threads": torch.get_num_threads(),
            "dataset": recipe.dataset, "data_source": train.info.get("source"),
            "data_subset": bool(train.info.get("subset", False)),
            "data_hash": data_hash(train.x, train.y, test.x, test.y),
            "recipe": asdict(recipe), "input_range": [-1.0, 1.0],
            "versions": _versions(), "created": datetime.now(timezone.utc).isoformat(),
        }
        save_classifier(model, name, out_dir, meta)
        if verbose:
            print(f"[{name}] test accuracy {test_acc:.4f} in {train_time:.0f}s", flush=True)
        return meta
    finally:
        torch.set_num_threads(old_threads)


def _epochs_for_budget(
    model: torch.nn.Module, x: torch.Tensor, recipe: Recipe,
    aug: Callable[[torch.Tensor], torch.Tensor], budget_s: float, probe_steps: int = 10,
) -> int:
    # Time a few steps on a throw-away copy so the real run's schedule can span the budget.
    import copy

    probe = copy.deepcopy(model).train()
    opt = torch.optim.SGD(probe.parameters(), lr=0.0)
    xb = x[: recipe.batch_size]
    yb = torch.zeros(len(xb), dtype=torch.long)
    probe(aug(xb)).sum().backward()  # warm-up
    start = time.perf_counter()
    for _ in range(probe_steps):
        opt.zero_grad()
        F.cross_entropy(probe(aug(xb)), yb).backward()
        opt.step()
    step_s = (time.perf_counter() - start) / probe_steps
    epoch_s = step_s * math.ceil(len(x) / recipe.batch_size)
    return max(1, int(0.95 * budget_s / epoch_s))
