"""Trainer name → method class. Modules are imported lazily so a study loads only its own."""

from __future__ import annotations

import importlib

from trainables.core.method import GANMethod


class TrainerError(ValueError):
    """Unknown trainer name."""


# One module per method; add a line here when a method lands.
METHODS: dict[str, str] = {
    "baseline_gan": "trainables.methods.baseline_gan:BaselineGAN",
    "selfcond_gan": "trainables.methods.selfcond_gan:SelfCondGAN",
    "pgmgan": "trainables.methods.pgmgan:PGMGAN",
    "simplicial": "trainables.methods.simplicial:SimplicialGAN",
    "nemgan": "trainables.methods.nemgan:NEMGAN",
}


def get_method(name: str) -> type[GANMethod]:
    if name not in METHODS:
        raise TrainerError(f"unknown trainer {name!r}; expected one of {sorted(METHODS)}")
    module, cls = METHODS[name].split(":")
    return getattr(importlib.import_module(module), cls)
