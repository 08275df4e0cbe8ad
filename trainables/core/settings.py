"""Dotted setting names for nested method settings (`partition.steps`, `simclr.lr`), as specs,
search spaces and PBT mutations write them. Pydantic only: the spec check imports it cheaply."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def nest_dotted(settings: dict[str, Any]) -> dict[str, Any]:
    """`{"partition.steps": 5}` → `{"partition": {"steps": 5}}`, merged into nested dicts already
    there: a method part's settings set from a spec, a search space or a PBT mutation."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        head, dot, rest = key.partition(".")
        if isinstance(value, dict):
            value = nest_dotted(value)
        if dot:
            value = nest_dotted({rest: value})
        if isinstance(value, dict) and isinstance(out.get(head), dict):
            value = nest_dotted(flat_dotted(out[head]) | flat_dotted(value))
        out[head] = value
    return out


def flat_dotted(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The inverse of `nest_dotted`: merging flat dicts overrides one nested setting, not all."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            out |= flat_dotted(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def merge_settings(*parts: dict[str, Any]) -> dict[str, Any]:
    """Later parts override earlier ones setting by setting (`partition.steps` from a search
    keeps the spec's other `partition` settings)."""
    flat: dict[str, Any] = {}
    for part in parts:
        flat |= flat_dotted(part)
    return nest_dotted(flat)


def has_setting(model: type[BaseModel], name: str) -> bool:
    """Whether a dotted name (`lr_g`, `partition.steps`) is a setting of the config model."""
    head, _, rest = name.partition(".")
    field = model.model_fields.get(head)
    if field is None or not rest:
        return field is not None
    sub = field.annotation
    return isinstance(sub, type) and issubclass(sub, BaseModel) and has_setting(sub, rest)
