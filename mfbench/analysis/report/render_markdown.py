"""report.md from the section model: markdown syntax only, no words of its own.

Every block is followed by an empty line.
"""

from __future__ import annotations

import json

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


def inline(text: Text) -> str:
    """Markdown of a piece of running text (not escaped: the report's words are its own)."""
    out = []
    for p in text:
        if isinstance(p, Strong):
            out.append(f"**{p.text}**")
        elif isinstance(p, Code):
            out.append(f"`{p.text}`")
        elif isinstance(p, Link):
            out.append(f"[{p.text}]({p.href})")
        else:
            out.append(p)
    return "".join(out)


def _table(head: tuple[str, ...], rows: tuple[tuple[str | Cell, ...], ...]) -> list[str]:
    def esc(s: object) -> str:
        return str(s).replace("|", "\\|").replace("\n", " ")

    def cell(c: str | Cell) -> str:
        if isinstance(c, Cell):
            return esc(f"**{c.text}**" if c.best else c.text)
        return esc(c)

    return [
        "| " + " | ".join(esc(h) for h in head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(cell(c) for c in r) + " |" for r in rows),
    ]


def block(b: Block) -> list[str]:
    """The lines of one block (without the empty line after it)."""
    if isinstance(b, Heading):
        return [f"### {b.text}"]
    if isinstance(b, Label):
        return [f"{b.text}:"]
    if isinstance(b, Paragraph):
        return [inline(b.text)]
    if isinstance(b, BulletList | Notes):
        return [f"- {inline(t)}" for t in b.items]
    if isinstance(b, Table):
        return _table(b.head, b.rows)
    if isinstance(b, Fields):
        return [f"- {k}: {v}" for k, v in b.items]
    if isinstance(b, Settings):
        return [f"- **{o}**: `{json.dumps(s, sort_keys=True, default=str)}`" for o, s in b.items]
    if isinstance(b, Figure):
        links = [inline((d,)) for d in b.downloads if d.href != b.image]  # the image is shown itself
        data = ", ".join(inline((d,)) for d in b.data)
        return [
            f"![{b.caption}]({b.image})",
            "",
            f"*{b.caption}* " + " \u00b7 ".join([*links, f"{DATA_LABEL}: {data}"]),
        ]
    raise TypeError(f"not a report block: {b!r}")


def render(report: Report) -> str:
    """The whole report.md."""
    lines = [f"# {report.title}", ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for b in section.blocks:
            lines += [*block(b), ""]
    return "\n".join(lines)
