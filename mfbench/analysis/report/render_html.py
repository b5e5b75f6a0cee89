"""index.html from the section model: HTML markup only, no words of its own.

A self-contained page: figures inlined as base64 PNG. A block renders to one or more lines
(joined by newlines); a ``glue`` block starts on the previous line.
"""

from __future__ import annotations

import html
import json
from typing import Any

from mfbench.analysis.report.model import (
    DATA_LABEL,
    Block,
    BulletList,
    Cell,
    Code,
    Fields,
    Figure,
    Heading,
    Label,
    Link,
    Notes,
    Paragraph,
    Report,
    Settings,
    Strong,
    Table,
    Text,
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #bbb}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444}table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top;overflow-wrap:anywhere}th{background:#f3f3f3}
td.best{font-weight:bold;background:#eef6ee}code,pre{font-size:.85em;background:#f6f6f6}
nav a{margin-right:1em}.ns{color:#b00020}
.wide{overflow-x:auto}.wide table{font-size:.8em}.wide td{white-space:nowrap;overflow-wrap:normal}
"""

# the widest a narrow (square) figure is drawn
NARROW_PX = 640


def _h(s: Any) -> str:
    return html.escape(str(s))


def inline(text: Text) -> str:
    """HTML of a piece of running text, every word escaped."""
    out = []
    for p in text:
        if isinstance(p, Strong):
            out.append(f"<b>{_h(p.text)}</b>")
        elif isinstance(p, Code):
            out.append(f"<code>{_h(p.text)}</code>")
        elif isinstance(p, Link):
            out.append(f"<a href='{p.href}'>{_h(p.text)}</a>")
        else:
            out.append(_h(p))
    return "".join(out)


def _table(t: Table) -> str:
    head = "".join(f"<th>{_h(c)}</th>" for c in t.head)

    def td(c: str | Cell) -> str:
        if isinstance(c, Cell):
            return f"<td class='best'>{_h(c.text)}</td>" if c.best else f"<td>{_h(c.text)}</td>"
        return f"<td>{_h(c)}</td>"

    def tr(r: tuple[str | Cell, ...]) -> str:
        if t.row_headers:
            return f"<tr><th>{_h(r[0])}</th>" + "".join(td(c) for c in r[1:]) + "</tr>"
        return "<tr>" + "".join(td(c) for c in r) + "</tr>"

    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(tr(r) for r in t.rows)}</tbody></table>"
    return f"<div class='wide'>{table}</div>" if t.wide else table


def block(b: Block) -> list[str]:
    """The lines of one block."""
    if isinstance(b, Heading | Label):
        return [f"<h3>{_h(b.text)}</h3>"]
    if isinstance(b, Paragraph):
        css = f" class='{b.css}'" if b.css else ""
        return [f"<p{css}>{inline(b.text)}</p>"]
    if isinstance(b, BulletList):
        return ["<ul>", *(f"<li>{inline(t)}</li>" for t in b.items), "</ul>"]
    if isinstance(b, Notes):
        return [f"<p>{inline(t)}</p>" for t in b.items]
    if isinstance(b, Table):
        return [_table(b)]
    if isinstance(b, Fields):
        return [_table(Table(b.head, b.items))]
    if isinstance(b, Settings):
        return [
            "".join(
                f"<details><summary>{_h(o)}</summary><pre>{_h(json.dumps(s, indent=2, sort_keys=True, default=str))}"
                "</pre></details>"
                for o, s in b.items
            )
        ]
    if isinstance(b, Figure):
        links = " \u00b7 ".join(inline((d,)) for d in b.downloads)
        data = ", ".join(inline((d,)) for d in b.data)
        width = f" style='max-width:{NARROW_PX}px'" if b.narrow else ""
        return [
            f"<figure{width}><img alt='{_h(b.caption)}' src='data:image/png;base64,{b.base64}'>"
            f"<figcaption>{_h(b.caption)} {links} \u00b7 {DATA_LABEL}: {data}</figcaption></figure>"
        ]
    raise TypeError(f"not a report block: {b!r}")


def render(report: Report) -> str:
    """The whole index.html."""
    lines = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_h(report.title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_h(report.title)}</h1>",
        "<nav>" + "".join(f"<a href='#{s.key}'>{_h(s.title)}</a>" for s in report.sections) + "</nav>",
    ]
    for section in report.sections:
        lines.append(f"<h2 id='{section.key}'>{_h(section.title)}</h2>")
        for b in section.blocks:
            first, *rest = block(b)
            if b.glue:
                lines[-1] += first
            else:
                lines.append(first)
            lines += rest
    lines[-1] += "</body></html>"
    return "\n".join(lines)
