"""Study reports: paper-style tables, plots, Parquet, comparisons. Reads a finished study
folder (and MLflow), never Ray. Heavy imports stay inside the functions so the CLI starts fast.
"""

from __future__ import annotations

from pathlib import Path

from study.report.errors import ReportError

__all__ = ["ReportError", "compare_studies", "write_report"]


def write_report(name_or_path: str | Path, storage: str | None = None,
                 out: str | Path | None = None) -> Path:
    """Write `<study>/report/` (or `out`), log it to the MLflow parent run; return the folder.
    A study whose MLflow records are gone is refused first (`study.records.TrackingError`)."""
    from study.records import check_tracking
    from study.report.build import build_report
    from study.report.load import load_finished

    study = load_finished(name_or_path, storage)
    check_tracking(study.record, study.record.tracking_uri, "report")
    return build_report(study, Path(out) if out else None)


def compare_studies(names: list[str], storage: str | None = None,
                    out: str | Path | None = None) -> Path:
    """Side-by-side tables of finished studies in `out` (default `<storage>/compare/A_vs_B`)."""
    from study.paths import storage_root
    from study.report.compare import compare
    from study.report.load import load_finished

    studies = [load_finished(n, storage) for n in names]
    folder = Path(out) if out else (
        storage_root(storage) / "compare" / "_vs_".join(s.name for s in studies))
    return compare(studies, folder)
