"""Data sets selected by name in a study spec (see `registry.load_dataset`)."""

from trainables.data.bundle import DataBundle, DatasetError, resolve_data_root
from trainables.data.registry import available, load_dataset

__all__ = ["DataBundle", "DatasetError", "available", "load_dataset", "resolve_data_root"]
