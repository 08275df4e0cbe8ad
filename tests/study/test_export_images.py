"""`study sample`'s writer on image data: a checkpoint of a short real DCGAN run restored
(weights equal, no training state needed) and written as samples.npz + one PNG per sample."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from study.export import write_samples
from trainables.checkpoint import module_digest, weights_digest
from trainables.loop import LocalReporter, train_loop
from trainables.restore import restore


def test_image_samples_round_trip_through_a_checkpoint(tmp_path, shared_datasets):
    cfg = {"trainer": "baseline_gan", "steps": 2, "eval_every": 2, "checkpoint_every": 2,
           "eval_samples": 20, "eval_features": "raw", "data_root": str(shared_datasets),
           "dataset": {"name": "stacked_mnist", "options": {"n": 200, "size": 32}},
           "method": {"batch_size": 8, "latent_dim": 8, "network": "dcgan",
                      "network_options": {"g_ch": 4, "d_ch": 4}}}
    reporter = LocalReporter(checkpoint_root=tmp_path / "ckpt")
    train_loop(cfg, reporter)
    restored = restore(reporter.last_checkpoint)
    state = torch.load(reporter.last_checkpoint / "state.pt", weights_only=True)
    assert module_digest(restored.method.networks()) == weights_digest(state["networks"])
    out = tmp_path / "samples"
    proto = write_samples(restored, 12, out, False, {"trial_id": "t"})
    x = np.load(out / "samples.npz")["x"]
    assert x.shape == (12, 3, 32, 32) and x.dtype == np.float32 and np.abs(x).max() <= 1.0001
    pngs = sorted((out / "png").glob("*.png"))
    assert len(pngs) == 12
    with Image.open(pngs[0]) as im:
        assert im.size == (32, 32) and im.mode == "RGB"
        first = np.asarray(im)
    expected = np.floor((x[0].transpose(1, 2, 0) + 1) * 127.5 + 0.5).clip(0, 255)
    assert np.array_equal(first, expected.astype(np.uint8))  # the PNG is the uint8 sample
    saved = json.loads((out / "protocol.json").read_text())
    assert saved == json.loads(json.dumps(proto, default=str))
    assert (saved["step"], saved["trainer"], saved["shape"]) == (2, "baseline_gan", [12, 3, 32, 32])

