"""Named random streams: one function of (seed, purpose, step); no two streams coincide."""

from __future__ import annotations

import itertools

import pytest
import torch

from trainables.core import streams


def test_streams_are_distinct_across_seeds_purposes_and_steps():
    keys = list(itertools.product(range(4), streams.PURPOSES, range(50)))
    seeds = {streams.stream_seed(*key) for key in keys}
    assert len(seeds) == len(keys)


def test_the_overlap_the_offset_formulas_had_is_gone():
    # Self-Cond's recluster stream at step t was the loop's evaluation stream at step t + 7.
    for step in range(0, 200, 13):
        assert streams.stream_seed(3, "recluster", step) != streams.stream_seed(3, "eval", step + 7)


def test_a_stream_is_reproducible_and_fits_its_bits():
    a = torch.rand(5, generator=streams.generator(11, "figure"))
    b = torch.rand(5, generator=streams.generator(11, "figure"))
    assert torch.equal(a, b)
    assert 0 <= streams.stream_seed(2**40, "eval", 10**9, bits=32) < 2**32


def test_unknown_purpose_and_negative_step_are_refused():
    with pytest.raises(KeyError, match="unknown random stream 'evall'"):
        streams.stream_seed(0, "evall")
    with pytest.raises(ValueError, match="step must be >= 0"):
        streams.stream_seed(0, "eval", -1)


def test_no_seed_formula_is_left_outside_the_streams():
    """Seeded generators in trainables/ take their seed from `streams` (data loaders, which
    define a data set rather than a run, and the fixed real-reference subset excepted)."""
    import re
    from pathlib import Path

    root = Path(streams.__file__).parents[1]
    allowed = r"stream_seed|streams\.|seed\)|eval_seed\)|draw\)|REAL_SUBSET"
    pattern = re.compile(rf"manual_seed\((?!{allowed})")
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
                 if "data" not in p.parts and p.name != "streams.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders
