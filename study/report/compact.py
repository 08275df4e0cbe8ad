"""Committed results stay light: every PNG above a size under a folder is rewritten with a
256-colour palette (median cut, no dithering), which keeps plots and sample grids readable at a
third to a half of their bytes, and one whose longer side exceeds `MAX_SIDE` pixels becomes a
thumbnail of that size first (Lanczos; a 28-pixel digit of a 1360-pixel grid keeps 21 pixels).
Idempotent: a palette PNG within the size is left as it is.

    .venv/bin/python -m study.report.compact results      # before committing a study's report
"""

from __future__ import annotations

import sys
from pathlib import Path

RESULTS_BUDGET = 15 * 2**20  # what results/ may hold in all (tests/study/test_compact.py)
MAX_SIDE = 1024  # pixels on the longer side of a committed picture


def compact_png(path: Path, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """(bytes before, after) of one PNG rewritten with a 256-colour palette, at most
    `max_side` pixels on its longer side."""
    from PIL import Image

    before = path.stat().st_size
    with Image.open(path) as im:
        big = max(im.size) > max_side
        if im.mode == "P" and not big:
            return before, before
        rgb = im.convert("RGB")
    if big:
        scale = max_side / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    q = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    tmp = path.with_suffix(".tmp.png")
    q.save(tmp, optimize=True)
    if big or tmp.stat().st_size < before:
        tmp.replace(path)
    else:
        tmp.unlink()
    return before, path.stat().st_size


def compact_tree(root: Path, min_bytes: int = 10_000) -> tuple[int, int]:
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
