"""Where a restoring worker reads a checkpoint: in place on a local or shared disk, else a
download of its own (Ray's shared temporary copy is rewritten under a reader by a late worker)."""

from __future__ import annotations

import shutil

import ray.train

from trainables.checkpoint import local_folder, location


def test_a_local_checkpoint_is_read_in_place(tmp_path):
    (tmp_path / "state.pt").write_bytes(b"weights")
    ckpt = ray.train.Checkpoint.from_directory(str(tmp_path))
    assert location(ckpt) == str(tmp_path)
    assert local_folder(location(ckpt)) == tmp_path


def test_each_download_of_a_uri_gets_its_own_folder(tmp_path):
    src = tmp_path / "stored"
    src.mkdir()
    (src / "state.pt").write_bytes(b"weights")
    uri = f"file://{src}"
    first, second = local_folder(uri), local_folder(uri)
    assert first != second and src not in (first, second)
    for folder in (first, second):
        assert (folder / "state.pt").read_bytes() == b"weights"
        assert not folder.name.startswith("checkpoint_tmp_")  # Ray's shared folder's prefix
        shutil.rmtree(folder)
