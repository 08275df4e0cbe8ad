import numpy as np
import pytest

from trainables.data import DatasetError, load_dataset


def test_ring_and_grid_shapes_and_modes(tmp_path):
    ring = load_dataset("ring", root=tmp_path, n=8000, radius=2.0)
    assert ring.x.shape == (8000, 2) and ring.x.dtype.is_floating_point
    assert ring.n_modes == 8 and ring.info["std"] == 0.01
    radii = ring.x.norm(dim=1)
    assert float((radii - 2.0).abs().max()) < 0.1
    grid = load_dataset("grid", root=tmp_path, n=10_000)
    assert grid.x.shape == (10_000, 2) and grid.n_modes == 25
    centers = grid.info["centers"]
    assert centers.min() == -4 and centers.max() == 4
    # Every point lies within 3 std (per coordinate) of its own mode's mean.
    dev = (grid.x.numpy() - centers[grid.y.numpy()]) / grid.info["std"]
    assert np.mean(np.abs(dev).max(axis=1) < 3) > 0.99
    np.testing.assert_allclose(grid.info["priors"], 1 / 25, atol=0.01)


def test_splits_differ_and_seeds_repeat(tmp_path):
    a = load_dataset("ring", root=tmp_path, n=100)
    b = load_dataset("ring", root=tmp_path, n=100, split="test")
    c = load_dataset("ring", root=tmp_path, n=100, seed=0, std=0.01)
    assert not np.allclose(a.x, b.x)
    assert np.array_equal(a.x, c.x)


@pytest.mark.parametrize("name", ["ring", "grid", "gaussian_mixture"])
def test_imbalanced_weights(tmp_path, name):
    m = {"ring": 8, "grid": 25, "gaussian_mixture": 10}[name]
    w = np.arange(1, m + 1, dtype=float)
    ds = load_dataset(name, root=tmp_path, n=50_000, weights=w.tolist())
    np.testing.assert_allclose(ds.info["weights"], w / w.sum())
    np.testing.assert_allclose(ds.info["priors"], w / w.sum(), atol=0.01)
    geo = load_dataset(name, root=tmp_path, n=50_000, imbalance=10.0)
    assert geo.info["weights"][0] / geo.info["weights"][-1] == pytest.approx(10.0)


def test_gaussian_mixture_in_r100(tmp_path):
    ds = load_dataset("gaussian_mixture", root=tmp_path, n=5000, m=20, dim=100)
    assert ds.x.shape == (5000, 100) and ds.n_modes == 20
    assert ds.info["centers"].shape == (20, 100)
    # Modes are disjoint: the nearest mean is the true mode.
    c = ds.info["centers"]
    d = ((ds.x.numpy()[:, None, :] - c[None]) ** 2).sum(-1)
    assert np.array_equal(d.argmin(1), ds.y.numpy())
    # The means stay fixed across sampling seeds, move with means_seed.
    other = load_dataset("gaussian_mixture", root=tmp_path, n=10, m=20, seed=3)
    assert np.array_equal(other.info["centers"], c)
    moved = load_dataset("gaussian_mixture", root=tmp_path, n=10, m=20, means_seed=1)
    assert not np.array_equal(moved.info["centers"], c)


def test_bad_options(tmp_path):
    with pytest.raises(DatasetError, match="weights"):
        load_dataset("ring", root=tmp_path, n=10, weights=[1, 2])
    with pytest.raises(DatasetError, match="imbalance"):
        load_dataset("grid", root=tmp_path, n=10, imbalance=0.5)
    with pytest.raises(DatasetError, match="unknown data set"):
        load_dataset("no_such_set", root=tmp_path)
