"""Images per second of each image trainer beside a bare PyTorch loop of the same networks and
batch (run on demand, not in CI; on the GPU when there is one).

The bare loop: the method's own G and D (conditioned as the method conditions them), fresh Adam
optimisers, a random real batch from the same tensor, the non-saturating loss, one D step on
gradient-free fakes and one G step on fresh ones (as the papers' code and mimicry do). For the
baseline the ratio is the platform's overhead alone (target >= 0.95); for the other methods it
also holds what the method adds (guide, inverter, gradient penalty, extra D steps).

    .venv/bin/python bench/bench_throughput.py --data-root DIR [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
import torch.nn.functional as F

from trainables.core.context import RunContext
from trainables.data import load_dataset
from trainables.registry import get_method

DCGAN = {"network": "dcgan", "network_options": {"g_ch": 16, "d_ch": 4}, "latent_dim": 100,
         "batch_size": 64}
TRAINERS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "baseline_gan": ("stacked_mnist", {"n": 10_000}, DCGAN),
    "selfcond_gan": ("stacked_mnist", {"n": 10_000}, DCGAN | {"k": 100, "cluster_subset": 2000}),
    "pgmgan": ("stacked_mnist", {"n": 10_000}, DCGAN | {
        "k": 100, "partition.labels": "random", "rejection": False,
        "network_options": {"g_ch": 16, "d_ch": 4, "cond": "bn"}}),
    "simplicial": ("mnist", {}, {"network": "wgan_conv_mnist", "latent_dim": 64,
                                 "batch_size": 64, "network_options": {"g_ch": 16, "d_ch": 64}}),
    "nemgan": ("mnist5", {}, {"network": "nemgan_conv", "net_width": 0.25, "latent_dim": 50,
                              "batch_size": 64, "priors": "data"}),
}


def bare_step(g: torch.nn.Module, d: torch.nn.Module, opt_g: torch.optim.Optimizer,
              opt_d: torch.optim.Optimizer, x: torch.Tensor, inputs: Any) -> None:
    z, c = inputs()
    n = len(z)

    def gen(z: torch.Tensor) -> torch.Tensor:
        return g(z, c) if c is not None else g(z)

    def dis(v: torch.Tensor) -> torch.Tensor:
        return d(v, c) if c is not None else d(v)

    real = x[torch.randint(len(x), (n,))]
    with torch.no_grad():
        fake = gen(z)
    ones, zeros = torch.ones(n, device=x.device), torch.zeros(n, device=x.device)
    loss_d = F.binary_cross_entropy_with_logits(dis(real).flatten(), ones) + \
        F.binary_cross_entropy_with_logits(dis(fake).flatten(), zeros)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    loss_g = F.binary_cross_entropy_with_logits(dis(gen(inputs()[0])).flatten(), ones)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()


def images_per_s(step: Any, steps: int, batch: int, device: torch.device) -> float:
    step()  # warm-up (lazy allocations, cuDNN autotuning)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--trainers", nargs="+", choices=list(TRAINERS), default=list(TRAINERS))
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"{device}, {torch.get_num_threads()} threads, {args.steps} steps x {args.repeats} "
          "repeats, alternating (best of each)")
    print(f"{'trainer':14} {'trainer img/s':>14} {'bare img/s':>12} {'ratio':>7}")
    for name in args.trainers:
        ours, bare = compare(name, args.data_root, args.steps, args.repeats, device)
        print(f"{name:14} {ours:14.1f} {bare:12.1f} {ours / bare:7.2f}", flush=True)


def compare(name: str, data_root: str | None, steps: int, repeats: int, device: torch.device,
            setting: tuple[str, dict[str, Any], dict[str, Any]] | None = None,
            ) -> tuple[float, float]:
    """Best images/s of the trainer's own step and of the bare loop, measured alternately
    (`setting`: (data set, its options, trainer config) instead of TRAINERS[name])."""
    dataset, options, cfg = setting or TRAINERS[name]
    torch.manual_seed(0)
    data = load_dataset(dataset, root=data_root, **options)
    cls = get_method(name)
    method = cls(cls.Config.model_validate(cfg), data, RunContext(device, seed=0))
    g, d = method.g, method.d
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    x = data.x.to(device)
    batch = cfg["batch_size"]
    counter = iter(range(10**9))
    ours, bare = [], []
    for _ in range(repeats):
        ours.append(images_per_s(lambda: method.train_step(next(counter)), steps, batch, device))
        bare.append(images_per_s(
            lambda: bare_step(g, d, opt_g, opt_d, x, lambda: method.g_inputs(batch)),
            steps, batch, device))
    return max(ours), max(bare)

if __name__ == "__main__":
    main()
