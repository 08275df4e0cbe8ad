"""Committed results stay light: every PNG above a size under a folder is rewritten with a
256-colour palette (median cut, no dithering), which keeps plots and sample grids readable at a
third to a half of their bytes. Idempotent: a palette PNG is left as it is.

    .venv/bin/python -m study.report.compact results      # before committing a study's report
"""

from __future__ import annotations

import sys
from pathlib import Path

RESULTS_BUDGET = 15 * 2**20  # what results/ may hold in all (tests/study/test_compact.py)


def compact_png(path: Path) -> tuple[int, int]:
    """(bytes before, after) of one PNG rewritten with a 256-colour palette."""
    from PIL import Image

    before = path.stat().st_size
    with Image.open(path) as im:
        if im.mode == "P":
            return before, before
        q = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                       dither=Image.Dither.NONE)
    tmp = path.with_suffix(".tmp.png")
    q.save(tmp, optimize=True)
    if tmp.stat().st_size < before:
        tmp.replace(path)
    else:
        tmp.unlink()
    return before, path.stat().st_size


def compact_tree(root: Path, min_bytes: int = 50_000) -> tuple[int, int]:
    """Every PNG of at least `min_bytes` under `root`; (bytes before, after) in all."""
    total = [0, 0]
    for path in sorted(root.rglob("*.png")):
        if path.stat().st_size >= min_bytes:
            b, a = compact_png(path)
            total[0] += b
            total[1] += a
    return total[0], total[1]


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m study.report.compact FOLDER", file=sys.stderr)
        return 2
    before, after = compact_tree(Path(args[0]))
    print(f"{args[0]}: PNGs {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
