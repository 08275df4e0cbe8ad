"""`study describe TRAINER`: a trainer's settings (type, default, range, meaning), what PBT / PB2
may change mid-run, and the metrics it reports on each kind of data — read from the trainer's
own config model and the metric table, so it cannot drift from what a spec is checked against."""

from __future__ import annotations

import sys
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _type(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    name = getattr(annotation, "__name__", None)
    return name if name and typing.get_origin(annotation) is None else str(annotation).replace(
        "typing.", "")


def _range(field: FieldInfo) -> str:
    parts = [f"{sym} {getattr(m, key)}" for m in field.metadata for key, sym in _BOUNDS.items()
             if getattr(m, key, None) is not None]
    return ", ".join(parts)


def settings_rows(model: type[BaseModel], prefix: str = "") -> list[dict[str, str]]:
    """One row per (dotted) setting: name, type, default, range, meaning."""
    rows = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            rows += settings_rows(sub, f"{prefix}{name}.")
            continue
        default = field.get_default(call_default_factory=True)
        rows.append({"setting": f"{prefix}{name}", "type": _type(sub), "default": repr(default),
                     "range": _range(field), "meaning": field.description or ""})
    return rows


def describe(trainer: str) -> str:
    """The text `study describe` prints."""
    from evaluation import metric_table
    from trainables.registry import get_method

    method = get_method(trainer)
    doc = (sys.modules[method.__module__].__doc__ or method.__doc__ or "").strip()
    doc = doc.splitlines()[0] if doc else method.__name__
    rows = settings_rows(method.Config)
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in ("setting", "type", "default",
                                                                  "range")}
    head = "  ".join(k.ljust(widths[k]) for k in widths) + "  meaning"
    lines = [f"{trainer}: {doc}", f"  (module {method.__module__})", "", "settings (spec: "
             "fixed / search / trainers.<name>; dotted names nest):", "  " + head]
    for r in rows:
        lines.append("  " + "  ".join(r[k].ljust(widths[k]) for k in widths) + "  " + r["meaning"])
    lines += ["", f"PBT / PB2 may mutate (scheduler.mutations): {', '.join(method.mutable)}", "",
              "metrics reported (objective candidates first; `metric:` in a spec):"]
    for kind in metric_table.KINDS:
        names = metric_table.reported(kind, trainer)
        lines.append(f"  {kind}: {', '.join(names) if names else '(none)'}")
    return "\n".join(lines)
