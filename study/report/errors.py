"""Report errors the CLI shows as `error: ...` (exit 2) instead of a traceback."""

from __future__ import annotations


class ReportError(RuntimeError):
    """A report cannot be written: the study is still running or has no results yet."""
