"""The report as one model of sections: what it says, written once, and no format of its own.

``sections.build_report`` writes every sentence of the report into these small frozen
dataclasses; ``render_markdown`` and ``render_html`` only turn them into their format, so both
formats say the same things. What differs is presentation only: where HTML starts a block on
the line of the one before (``glue``, kept so that index.html keeps its line breaks), folding,
CSS classes and table layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------------------------------------
# inline text: a paragraph, a list item or a note is a tuple of pieces


@dataclass(frozen=True)
class Strong:
    """Emphasised words (bold in both formats)."""

    text: str


@dataclass(frozen=True)
class Code:
    """Words shown as code (a path)."""

    text: str


@dataclass(frozen=True)
class Link:
    """A link to a file of the report (``href`` relative to the report's folder)."""

    text: str
    href: str


Inline = str | Strong | Code | Link
Text = tuple[Inline, ...]

# the word before a figure's data links, in both formats
DATA_LABEL = "data"


# ------------------------------------------------------------------------------------------
# blocks: the parts of a section, in reading order
#
# ``glue``: in index.html the block starts on the line of the one before (the report's HTML
# has always put e.g. a section's note on the line of its heading); no meaning in markdown.


@dataclass(frozen=True)
class Heading:
    """A sub-heading inside a section (level 3)."""

    text: str
    glue: bool = False


@dataclass(frozen=True)
class Label:
    """Introduces the block after it: ``Versions:`` in markdown, a sub-heading in HTML."""

    text: str
    glue: bool = False


@dataclass(frozen=True)
class Paragraph:
    """Running text. ``css``: an HTML class (``ns``: a comparison not computed)."""

    text: Text
    css: str = ""
    glue: bool = False


@dataclass(frozen=True)
class BulletList:
    """Items of one list (a bullet each in both formats)."""

    items: tuple[Text, ...]
    glue: bool = False


@dataclass(frozen=True)
class Notes:
    """Statements that stand alone: a bullet each in markdown, a paragraph each in HTML."""

    items: tuple[Text, ...]
    glue: bool = False


@dataclass(frozen=True)
class Cell:
    """A table cell; ``best``: the best value of its row (bold)."""

    text: str
    best: bool = False


@dataclass(frozen=True)
class Table:
    """A table of plain strings or cells. ``row_headers``: the first column names the row
    (HTML ``<th>``); ``wide``: many columns (HTML scrolls it sideways)."""

    head: tuple[str, ...]
    rows: tuple[tuple[str | Cell, ...], ...]
    row_headers: bool = False
    wide: bool = False
    glue: bool = False


@dataclass(frozen=True)
class Fields:
    """Named values: ``- name: value`` in markdown, a two-column table (``head``) in HTML."""

    items: tuple[tuple[str, str], ...]
    head: tuple[str, str] = ("field", "value")
    glue: bool = False


@dataclass(frozen=True)
class Settings:
    """Each optimizer's settings (JSON objects): inline in markdown, folded in HTML."""

    items: tuple[tuple[str, Any], ...]
    glue: bool = False


@dataclass(frozen=True)
class Figure:
    """A figure of ``figures/``: its caption, the files to download, the data behind it, and
    its PNG as base64 for the self-contained HTML. ``narrow``: a square plot (the p-value
    matrix) that HTML keeps from filling the page."""

    caption: str
    image: str  # the PNG, relative to the report's folder
    downloads: tuple[Link, ...]  # PNG and SVG
    data: tuple[Link, ...]
    base64: str = field(repr=False, default="")
    narrow: bool = False
    glue: bool = False


Block = Heading | Label | Paragraph | BulletList | Notes | Table | Fields | Settings | Figure


@dataclass(frozen=True)
class Section:
    """A top-level section: ``key`` is its anchor in HTML."""

    key: str
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Report:
    title: str
    sections: tuple[Section, ...]
