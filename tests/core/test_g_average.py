"""The moving average of G (`g_ema`): its arithmetic, its BN statistics, that it leaves training
alone, that sampling uses it, and that a resumed run holds the same average."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables.checkpoint import STATE_FILE
from trainables.core.g_average import GeneratorAverage
from trainables.loop import LocalReporter, train_loop


def small_g() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def test_the_average_moves_by_one_minus_decay_towards_g():
    g = small_g()
    avg = GeneratorAverage(g, decay=0.9, bn_batches=1, batch=4)
    start = [p.detach().clone() for p in g.parameters()]
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    avg.update(g)
    avg.update(g)
    for a, s in zip(avg.module.parameters(), start, strict=True):
        # two steps towards s + 1: s + (1 − 0.9²)
        torch.testing.assert_close(a, s + 0.19)


def test_bn_statistics_are_the_mean_over_the_draws_of_the_averaged_weights():
    g = small_g()
    avg = GeneratorAverage(g, decay=0.5, bn_batches=3, batch=50)
    with torch.no_grad():
        g[0].weight.mul_(3.0)  # the live G moves; its running statistics are not the average's
    avg.update(g)
    gen = torch.Generator().manual_seed(1)
    draws = [torch.randn(50, 2, generator=gen) for _ in range(3)]
    it = iter(draws)
    module = avg.ready(lambda n: (next(it), None))
    assert not module.training and not avg.stale
    with torch.no_grad():
        pre = [module[0](z) for z in draws]
    expected_mean = torch.stack([h.mean(0) for h in pre]).mean(0)
    expected_var = torch.stack([h.var(0, unbiased=True) for h in pre]).mean(0)
    torch.testing.assert_close(module[1].running_mean, expected_mean)
    torch.testing.assert_close(module[1].running_var, expected_var)
    assert module[1].momentum == 0.1  # put back for any later use
    # Fresh weights are estimated once: a second call draws nothing.
    assert avg.ready(lambda n: pytest.fail("estimated twice")) is module


def test_decay_outside_the_open_interval_is_refused():
    with pytest.raises(ValueError, match="g_ema"):
        GeneratorAverage(small_g(), decay=1.0, bn_batches=1, batch=2)


def run(tmp_path, name: str, g_ema: float, steps: int = 24,
        resume: LocalReporter | None = None) -> tuple[dict[str, float], dict, LocalReporter]:
    reporter = resume or LocalReporter(checkpoint_root=tmp_path / name)
    last = train_loop({
        "trainer": "selfcond_gan", "method": {"k": 5, "cluster_subset": 400, "kmeans_restarts": 1,
                                              "recluster_every": 8, "batch_size": 32,
                                              "g_ema": g_ema, "g_ema_bn_batches": 4},
        "dataset": {"name": "ring", "options": {"n": 800}}, "steps": steps,
        "eval_every": 12, "checkpoint_every": 12, "eval_samples": 1000,
    }, reporter)
    return last, torch.load(reporter.last_checkpoint / STATE_FILE, weights_only=True), reporter


def test_the_average_changes_what_is_sampled_but_not_how_training_goes(tmp_path):
    plain, state_plain, _ = run(tmp_path, "plain", 0.0)
    averaged, state_avg, _ = run(tmp_path, "avg", 0.9)
    assert state_plain["g_average"] is None
    for part in ("g", "d"):
        for key, value in state_plain["networks"][part].items():
            assert torch.equal(value, state_avg["networks"][part][key]), f"{part}.{key}"
    g, avg = state_avg["networks"]["g"], state_avg["g_average"]
    assert avg.keys() == g.keys()
    assert any(not torch.equal(g[k], avg[k]) for k in g if k.endswith("weight"))
    # Scored on the average's samples, not G's; G's own scores beside them (toy data).
    assert averaged["reverse_kl"] != plain["reverse_kl"]
    assert "live_high_quality_pct_box" in averaged and "live_reverse_kl" not in plain


def test_a_resumed_run_holds_the_average_an_uninterrupted_one_does(tmp_path):
    _, straight, _ = run(tmp_path, "straight", 0.9)
    _, _, half = run(tmp_path, "half", 0.9, steps=12)
    _, resumed, _ = run(tmp_path, "half", 0.9, resume=half)
    assert resumed["step"] == 24
    for key, value in straight["g_average"].items():
        assert torch.equal(value, resumed["g_average"][key]), key


def small_method(trainer: str, tmp_path):
    from tests.methods.test_nemgan import MIXTURE as NEM_MIXTURE
    from tests.methods.test_nemgan import SMALL as NEM_SMALL
    from tests.methods.test_pgmgan import method_cfg
    from tests.methods.test_simplicial import MIXTURE, SMALL
    from trainables.core.context import RunContext
    from trainables.data import load_dataset
    from trainables.registry import get_method

    data, method = load_dataset("grid", n=1500), {"batch_size": 32}
    if trainer == "selfcond_gan":
        method |= {"k": 5, "cluster_subset": 400, "kmeans_restarts": 1}
    elif trainer == "pgmgan":
        method = method_cfg(tmp_path, rejection=False)  # an untrained G fills no partition
    elif trainer == "simplicial":
        data, method = load_dataset(MIXTURE["name"], **MIXTURE["options"]), dict(SMALL)
    elif trainer == "nemgan":
        data, method = load_dataset("gaussian_mixture", **NEM_MIXTURE), dict(NEM_SMALL)
    cls = get_method(trainer)
    cfg = cls.Config.model_validate(method | {"g_ema": 0.5, "g_ema_bn_batches": 2})
    return cls(cfg, data, RunContext(torch.device("cpu"), seed=0)), data


@pytest.mark.parametrize("trainer", ["baseline_gan", "selfcond_gan", "pgmgan", "simplicial",
                                     "nemgan"])
def test_every_method_samples_from_its_average(trainer, tmp_path):
    method, data = small_method(trainer, tmp_path)
    for step in range(2):
        method.train_step(step)
        method.update_average()
    with method.sampling_g() as g:
        assert g is method.g_average.module and not g.training
    assert method.g.training  # G itself is left in train mode
    x = method.sample(64)
    assert x.shape == (64, *data.x.shape[1:]) and torch.isfinite(x).all()
