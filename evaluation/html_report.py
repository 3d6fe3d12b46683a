"""One self-contained HTML page per dataset run: every figure embedded, readable on a laptop screen.

The report is assembled from what the pipeline left under ``xtiny_dir(dataset)``; a section whose inputs
are missing says so instead of failing, so a partial run still gets a page.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from xtiny.atomic import atomic_write_text

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:0 auto;
padding:16px 20px;color:#1d232a;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:2px solid #e3e7ec;padding-bottom:4px;margin-top:1.6em}
.sub{color:#5b6670} figure{margin:12px 0} figure img{max-width:100%;height:auto;border:1px solid #e3e7ec}
figcaption{color:#5b6670;font-size:.9em} table{border-collapse:collapse;width:100%;font-size:.92em;
display:block;overflow-x:auto} th,td{border:1px solid #d6dce2;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left} thead th{background:#f2f5f8} .missing{color:#a15c00}
pre{background:#f5f7f9;padding:10px;overflow-x:auto;font-size:.85em;white-space:pre-wrap}
.pick{background:#fff6d6}
"""


@dataclass
class Section:
    """A titled part of the report: paragraphs, figures (PNG paths) and tables (header + rows)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[tuple[Path, str]] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]], set[int]]] = field(default_factory=list)
    preformatted: list[str] = field(default_factory=list)
    missing: str | None = None


def embed_png(path: Path) -> str:
    """A PNG file as a data: URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _render_table(header: list[str], rows: list[list[str]], highlight: set[int]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="pick"' if i in highlight else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_section(section: Section) -> str:
    parts = [f"<section><h2>{html.escape(section.title)}</h2>"]
    if section.missing:
        parts.append(f'<p class="missing">{html.escape(section.missing)}</p>')
    parts += [f"<p>{p}</p>" for p in section.paragraphs]  # paragraphs are trusted, built from escaped values
    for header, rows, highlight in section.tables:
        parts.append(_render_table(header, rows, highlight))
    for path, caption in section.figures:
        parts.append(f'<figure><img class="fig" alt="{html.escape(caption)}" src="{embed_png(path)}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts += [f"<pre>{html.escape(text)}</pre>" for text in section.preformatted]
    parts.append("</section>")
    return "\n".join(parts)


def render_page(title: str, subtitle: str, sections: list[Section]) -> str:
    body = "\n".join(render_section(s) for s in sections)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=\"sub\">{html.escape(subtitle)} · generated {stamp}</p>"
            f"{body}</body></html>")


def write_report(path: Path, title: str, subtitle: str, sections: list[Section]) -> Path:
    """Render and write the page atomically; returns its path."""
    return atomic_write_text(path, render_page(title, subtitle, sections))




def load_json_if_present(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
