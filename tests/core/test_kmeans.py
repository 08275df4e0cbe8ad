"""k-means as pure functions: the seeding against scikit-learn's, restarts, warm start, matching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

from trainables.core import kmeans


def blobs(n_per: int = 40, k: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    means = torch.arange(k, dtype=torch.float32)[:, None] * torch.tensor([10.0, -7.0])
    y = torch.arange(k).repeat_interleave(n_per)
    return means[y] + 0.3 * torch.randn(len(y), 2, generator=g), y


def test_kmeans_pp_with_restarts_recovers_separated_blobs():
    x, y = blobs()
    res = kmeans.kmeans(x, 5, restarts=3, generator=torch.Generator().manual_seed(1))
    # Same partition as the truth up to a relabelling: each true blob maps to one cluster.
    pairs = set(zip(y.tolist(), res.assign.tolist(), strict=True))
    assert len(pairs) == 5 and len({c for _, c in pairs}) == 5
    assert res.centres.shape == (5, 2)


def test_matching_returns_the_permutation_that_undoes_a_shuffled_relabelling():
    g = torch.Generator().manual_seed(0)
    k = 12
    old = torch.randint(k, (500,), generator=g)
    shuffle = torch.randperm(k, generator=g)
    new = shuffle[old]  # same partition, labels permuted
    perm = kmeans.match_clusters(new, old, k)
    assert torch.equal(perm[new], old)
    assert torch.equal(perm[shuffle], torch.arange(k))


def test_matching_minimises_changes_when_a_few_points_move():
    g = torch.Generator().manual_seed(1)
    k = 6
    old = torch.randint(k, (300,), generator=g)
    new = torch.randperm(k, generator=g)[old]
    new[:10] = (new[:10] + 1) % k  # 10 points genuinely change cluster
    perm = kmeans.match_clusters(new, old, k)
    assert int((perm[new] != old).sum()) == 10


def test_warm_started_kmeans_on_unchanged_features_returns_the_same_partition():
    x, _ = blobs(k=6, seed=2)
    first = kmeans.recluster(x, 6, restarts=2, generator=torch.Generator().manual_seed(0))
    again = kmeans.recluster(x, 6, old_assign=first.assign)
    assert torch.equal(again.assign, first.assign)
    assert again.changed == 0
    assert torch.equal(again.permutation, torch.arange(6))
    assert torch.allclose(again.centres, first.centres, atol=1e-5)


def test_reclustering_with_relabelled_old_assignment_keeps_the_old_labels():
    x, _ = blobs(k=4, seed=3)
    first = kmeans.recluster(x, 4, restarts=2, generator=torch.Generator().manual_seed(0))
    old = torch.tensor([2, 0, 3, 1])[first.assign]
    again = kmeans.recluster(x, 4, old_assign=old)
    assert torch.equal(again.assign, old) and again.changed == 0


def test_empty_clusters_do_not_crash():
    x, _ = blobs(k=3, seed=4)
    # Old assignment uses only 2 of 6 labels: 4 clusters start empty.
    old = (torch.arange(len(x)) % 2).long()
    res = kmeans.recluster(x, 6, old_assign=old)
    assert res.assign.shape == (len(x),) and torch.isfinite(res.centres).all()
    assert len(res.assign.unique()) == 6  # the empty ones were re-seeded
    # A centre far from every point gets no point in Lloyd's first pass.
    centres = torch.tensor([[0.0, 0.0], [10.0, -7.0], [1e4, 1e4]])
    assert len(kmeans.lloyd(x[:80], centres).assign.unique()) == 3
    # Fewer distinct points than k: duplicates, still no crash.
    dup = torch.zeros(10, 2)
    dup[5:] = 1.0
    res = kmeans.kmeans(dup, 4, restarts=2, generator=torch.Generator().manual_seed(0))
    assert res.assign.shape == (10,) and torch.isfinite(res.centres).all()


def test_online_kmeans_moves_centres_towards_their_batch_means():
    centres = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    counts = torch.tensor([1.0, 3.0])
    x = torch.tensor([[1.0, 1.0], [1.0, 1.0], [9.0, 9.0]])
    labels, new, total = kmeans.online_kmeans_update(x, centres, counts)
    assert labels.tolist() == [0, 0, 1]
    assert torch.allclose(new[0], torch.tensor([2 / 3, 2 / 3]))  # (0·1 + 2) / 3
    assert torch.allclose(new[1], torch.tensor([9.75, 9.75]))  # (10·3 + 9) / 4
    assert total.tolist() == [3.0, 4.0]


def mixture(n: int, d: int, dtype: np.dtype) -> np.ndarray:
    g = np.random.default_rng(0)
    means = 4 * g.normal(size=(30, d))
    return (means[g.integers(30, size=n)] + g.normal(size=(n, d))).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeans_plusplus_chooses_the_points_scikit_learn_chooses(dtype):
    x = mixture(3000, 32, dtype)
    for seed in range(2):
        # Three seedings at once, drawn as three calls in a row draw them from one stream.
        centres, ours = kmeans.kmeans_plusplus(torch.from_numpy(x), 20,
                                               np.random.RandomState(seed), restarts=3)
        rs = np.random.RandomState(seed)
        for r in range(3):
            sk_centres, theirs = sk_kmeans_plusplus(x, 20, random_state=rs)
            assert np.array_equal(ours[r], theirs)
            assert np.array_equal(centres[r].numpy(), sk_centres)


def test_restarts_give_scikit_learns_multi_init_result():
    x = mixture(2000, 16, np.float32)
    gen = torch.Generator().manual_seed(3)
    seed = int(torch.randint(2**31 - 1, (1,), generator=torch.Generator().manual_seed(3)))
    ours = kmeans.kmeans(torch.from_numpy(x), 20, restarts=4, generator=gen)
    theirs = KMeans(20, n_init=4, random_state=seed, max_iter=100).fit(x)
    assert ours.inertia == pytest.approx(theirs.inertia_, rel=1e-5)
    # The same partition up to the labels' names.
    pairs = set(zip(ours.assign.tolist(), theirs.labels_.tolist(), strict=True))
    assert len(pairs) == 20
