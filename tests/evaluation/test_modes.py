from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.errors import MetricInputError
from evaluation.modes import mode_histogram, mode_metrics, modes_covered, reverse_kl


def test_reverse_kl_hand_made() -> None:
    # 4 modes, uniform data; generated p = (1/2, 1/4, 1/4, 0)
    counts = [2, 1, 1, 0]
    expected = 0.5 * math.log(0.5 * 4) + 2 * 0.25 * math.log(0.25 * 4)  # = 0.5 ln 2
    assert reverse_kl(counts) == pytest.approx(expected)
    assert reverse_kl(counts, base=10) == pytest.approx(0.5 * math.log10(2))
    assert reverse_kl([5, 5, 5, 5]) == pytest.approx(0.0, abs=1e-15)
    # all mass on one of K modes → ln K
    assert reverse_kl([0] * 999 + [7]) == pytest.approx(math.log(1000))
    assert reverse_kl([0] * 999 + [7], base=10) == pytest.approx(3.0)
    # non-uniform data distribution
    assert reverse_kl([1, 1], p_data=[0.25, 0.75]) == pytest.approx(
        0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75))
    with pytest.raises(MetricInputError, match="empty modes"):
        reverse_kl(counts, skip_empty=False)


def test_modes_covered_and_histogram() -> None:
    counts = mode_histogram(np.array([0, 0, 3, 3, 3, 7]), 10)
    assert counts.tolist() == [2, 0, 0, 3, 0, 0, 0, 1, 0, 0]
    assert modes_covered(counts) == 3
    assert modes_covered(counts, min_count=2) == 2
    m = mode_metrics(counts)
    assert m["modes_covered"] == 3
    assert m["reverse_kl_log10"] == pytest.approx(m["reverse_kl"] / math.log(10))


def test_modes_bad_inputs() -> None:
    with pytest.raises(MetricInputError, match="counts"):
        reverse_kl([0, 0])
    with pytest.raises(MetricInputError, match="counts"):
        reverse_kl([1, -1])
    with pytest.raises(MetricInputError, match="base"):
        reverse_kl([1, 2], base="2")
    with pytest.raises(MetricInputError, match="mode_ids"):
        mode_histogram(np.array([0, 10]), 10)


def test_mode_frequency_l1_against_the_data_frequencies():
    from evaluation.modes import mode_freq_l1

    q = np.array([0.5, 0.3, 0.2])
    assert mode_freq_l1([50, 30, 20], q) == pytest.approx(0.0)
    assert mode_freq_l1([100, 0, 0], q) == pytest.approx(0.5 + 0.3 + 0.2)
    assert mode_freq_l1([1, 1], None) == pytest.approx(0.0)  # uniform by default
    assert mode_freq_l1([0, 10]) == pytest.approx(1.0)
    with pytest.raises(MetricInputError, match="p_data"):
        mode_freq_l1([1, 1, 1], [0.5, 0.5])


def test_a_generator_that_reproduces_an_imbalanced_ring_scores_zero_against_its_weights():
    from evaluation.toy import toy_metrics
    from trainables.data import load_dataset
    from trainables.scoring.evaluate import toy_scores

    data = load_dataset("ring", n=50_000, imbalance=10.0)
    w = np.asarray(data.info["weights"])
    assert w.max() / w.min() == pytest.approx(10.0)
    # The mixture's own points: nearest-mean frequencies follow the weights, not uniform.
    x = load_dataset("ring", n=50_000, imbalance=10.0, split="test").x.numpy()
    ours = toy_scores(x, data)
    assert ours["reverse_kl"] < 0.005 and ours["mode_freq_l1"] < 0.03
    uniform = toy_metrics(x, np.asarray(data.info["centers"]), float(data.info["std"]))
    assert uniform["reverse_kl"] > 0.2  # what the uniform reference charged a perfect generator
    assert uniform["mode_freq_l1"] > 0.5


def test_modes_confident_ignores_samples_read_without_confidence():
    from evaluation.modes import confident_mask, confident_share, modes_confident

    rng = np.random.default_rng(0)
    sure = np.full((6, 10), -10.0)
    sure[np.arange(6), [0, 0, 1, 1, 2, 2]] = 10.0  # three classes, read with p ~ 1
    noise = rng.normal(0, 0.1, (40, 10))  # near-flat logits: top p ~ 0.1
    logits = np.vstack([sure, noise])
    modes = logits.argmax(1)
    mask = confident_mask(logits)
    assert mask[:6].all() and not mask[6:].any()
    assert confident_share(logits) == pytest.approx(6 / 46)
    assert modes_confident(modes, mask, 10) == 3  # the noise rows' argmaxes do not count
    assert len(np.unique(modes)) > 3  # ... which a plain count would
    assert modes_confident(modes, np.zeros(len(modes), bool), 10) == 0  # all noise: none
    with pytest.raises(MetricInputError, match="one flag per sample"):
        modes_confident(modes, mask[:-1], 10)


def test_between_mask_finds_the_rows_read_as_two_classes_at_once():
    from evaluation.modes import between_mask, confident_mask

    p = np.array([[0.95, 0.05, 0.0, 0.0],   # confident: not between
                  [0.5, 0.45, 0.05, 0.0],   # two classes at once (0.95 together)
                  [0.62, 0.3, 0.08, 0.0],   # 0.92 together: between
                  [0.4, 0.3, 0.2, 0.1],     # no class
                  [0.25, 0.25, 0.25, 0.25]])
    logits = np.log(np.clip(p, 1e-12, None)) + 3.0  # a shift leaves the softmax alone
    assert between_mask(logits).tolist() == [False, True, True, False, False]
    assert confident_mask(logits).tolist() == [True, False, False, False, False]
    assert between_mask(logits, threshold=0.96).tolist() == [True, False, False, False, False]
    with pytest.raises(MetricInputError, match="logits"):
        between_mask(np.zeros(4))
