"""Committed results stay light: palette PNGs, and results/ under its budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from study.report.compact import RESULTS_BUDGET, compact_png, compact_tree

REPO = Path(__file__).resolve().parents[2]


def test_a_png_keeps_its_picture_in_fewer_bytes(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(8, 8, 3), dtype=np.uint8)
    picture = np.kron(base, np.ones((40, 40, 1), dtype=np.uint8))  # blocks, as a sample grid
    picture = np.clip(picture.astype(int) + rng.integers(-3, 4, picture.shape), 0, 255)
    path = tmp_path / "grid.png"
    Image.fromarray(picture.astype(np.uint8)).save(path)
    before, after = compact_png(path)
    assert after < before
    with Image.open(path) as im:
        assert im.mode == "P" and im.size == (320, 320)
        back = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(back - picture).mean() < 4  # the same picture to the eye
    assert compact_png(path) == (after, after)  # idempotent
    assert compact_tree(tmp_path, min_bytes=1) == (after, after)


def test_a_picture_larger_than_the_bound_becomes_a_thumbnail(tmp_path):
    from study.report.compact import MAX_SIDE

    path = tmp_path / "grid.png"
    Image.fromarray(np.zeros((MAX_SIDE * 2, MAX_SIDE // 2, 3), np.uint8)).convert("P").save(path)
    compact_png(path)
    with Image.open(path) as im:
        assert im.size == (MAX_SIDE // 4, MAX_SIDE) and im.mode == "P"
    size = path.stat().st_size
    assert compact_png(path) == (size, size)  # idempotent


def test_the_committed_results_fit_their_budget():
    total = sum(f.stat().st_size for f in (REPO / "results").rglob("*") if f.is_file())
    assert total < RESULTS_BUDGET, (
        f"results/ holds {total / 2**20:.1f} MiB (budget {RESULTS_BUDGET / 2**20:.0f} MiB): run "
        "`python -m study.report.compact results` and drop what repeats")
