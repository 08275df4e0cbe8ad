"""`study describe TRAINER` reads the trainer's own config model and the metric table."""

from __future__ import annotations

import pytest

from study.cli import main
from study.describe import settings_rows
from trainables.methods.pgmgan import PGMGANConfig
from trainables.methods.selfcond_gan import SelfCondGAN


def test_describe_lists_settings_mutations_and_metrics(capsys):
    assert main(["describe", "selfcond_gan"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("recluster_every"))
    assert row.split()[1:4] == ["int", "5000", ">="]  # type, default, range
    assert "steps between batch reclusterings" in row
    assert f"may mutate (scheduler.mutations): {', '.join(SelfCondGAN.mutable)}" in out
    assert "toy2d: modes," in out and "image: " in out and "confident_frac" in out
    assert main(["describe", "selfcond"]) == 2
    assert "did you mean 'selfcond_gan'" in capsys.readouterr().err


def test_nested_settings_are_dotted_with_their_defaults():
    rows = {r["setting"]: r for r in settings_rows(PGMGANConfig)}
    assert rows["partition.representation"]["default"] == "'simclr'"
    assert rows["simclr.channel_jitter"]["range"] == ">= 0, < 1"
    assert rows["guide_reduce"]["type"] == "'sum' | 'mean'"
    assert len(rows) == len(set(rows))


@pytest.mark.parametrize("trainer", ["baseline_gan", "pgmgan", "simplicial", "nemgan"])
def test_every_trainer_describes(trainer, capsys):
    assert main(["describe", trainer]) == 0
    assert capsys.readouterr().out.startswith(f"{trainer}: ")
