"""The report document: sections rendered to Markdown (images as files beside it) and to
self-contained HTML (images inlined as data URIs, so the page also shows inside MLflow's
artifact viewer, which serves it without its neighbours)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from study.report.tables import html_table, markdown

_CSS = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto}"
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}")


@dataclass
class Doc:
    title: str
    md: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.md.append(f"{'#' * level} {text}\n")
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def text(self, text: str) -> None:
        self.md.append(text + "\n")
        self.html.append(f"<p>{html.escape(text)}</p>")

    def table(self, df: pd.DataFrame) -> None:
        self.md.append(markdown(df) + "\n")
        self.html.append(html_table(df))

    def image(self, path: Path, base: Path, caption: str = "") -> None:
        rel = path.relative_to(base).as_posix()
        self.md.append(f"![{caption or path.stem}]({rel})\n")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        self.html.append(f'<figure><img src="data:image/png;base64,{data}" '
                         f'alt="{html.escape(path.stem)}" title="{html.escape(rel)}">'
                         f"{cap}</figure>")

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        md = folder / f"{stem}.md"
        md.write_text(f"# {self.title}\n\n" + "\n".join(self.md))
        page = folder / f"{stem}.html"
        page.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}"
            f"</title><style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>\n"
            + "\n".join(self.html) + "\n</body></html>\n")
        return md, page
