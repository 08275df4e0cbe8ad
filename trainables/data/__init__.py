"""Data sets selected by name in a study spec (see `registry.load_dataset`)."""

from trainables.data.registry import (
    DataBundle,
    DatasetError,
    available,
    load_dataset,
    resolve_data_root,
)

__all__ = ["DataBundle", "DatasetError", "available", "load_dataset", "resolve_data_root"]
