"""The report's two renderers on a hand-made section model: each block in both formats.

The words come from the model only (report/sections.py writes them); a renderer adds markup,
escapes what HTML needs escaped, and nothing else.
"""

from __future__ import annotations

from mfbench.analysis.report import render_html, render_markdown
from mfbench.analysis.report.model import (
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
    Section,
    Settings,
    Strong,
    Table,
)

REPORT = Report(
    "T",
    (
        Section(
            "one",
            "First & only",
            (
                BulletList((("a ", Strong("b"), " ", Code("c<d>")), ("x|y",)), glue=True),
                Paragraph(("not computed",), css="ns"),
                Paragraph(("p ", Strong("q"), " ", Link("f.csv", "data/f.csv")), glue=True),
                Heading("h"),
                Table(("k", "v|w"), (("1", "a|b"), ("2", Cell("3", best=True))), wide=True, glue=True),
                Table(("row", "o"), (("r", Cell("9", best=True)),), row_headers=True),
                Label("Opts (settings)"),
                Settings((("o", {"b": "x&y", "a": 2}),), glue=True),
                Fields((("seeds", "[0, 1]"),)),
                Notes((("n1",), ("n ", Strong("2")))),
                Figure(
                    "cap 'x'",
                    "figures/s.png",
                    (Link("PNG", "figures/s.png"), Link("SVG", "figures/s.svg")),
                    (Link("d.csv", "data/d.csv"),),
                    base64="QUJD",
                    narrow=True,
                ),
            ),
        ),
    ),
)


def test_markdown_renders_every_block_with_the_words_html_has():
    assert render_markdown.render(REPORT).split("\n") == [
        "# T",
        "",
        "## First & only",
        "",
        "- a **b** `c<d>`",
        "- x|y",
        "",
        "not computed",
        "",
        "p **q** [f.csv](data/f.csv)",
        "",
        "### h",
        "",
        "| k | v\\|w |",
        "|---|---|",
        "| 1 | a\\|b |",
        "| 2 | **3** |",
        "",
        "| row | o |",
        "|---|---|",
        "| r | **9** |",
        "",
        "Opts (settings):",
        "",
        '- **o**: `{"a": 2, "b": "x&y"}`',
        "",
        "- seeds: [0, 1]",
        "",
        "- n1",
        "- n **2**",
        "",
        "![cap 'x'](figures/s.png)",
        "",
        "*cap 'x'* [SVG](figures/s.svg) \u00b7 data: [d.csv](data/d.csv)",
        "",
    ]


def test_html_renders_every_block_escaped_and_glued_where_the_model_says():
    page = render_html.render(REPORT)
    assert page.startswith("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>\n<title>T</title>\n<style>")
    lines = page.split("</style></head><body>\n", 1)[1].split("\n")
    assert lines[0] == "<h1>T</h1>"
    assert lines[1] == "<nav><a href='#one'>First &amp; only</a></nav>"
    assert lines[2:] == [
        "<h2 id='one'>First &amp; only</h2><ul>",
        "<li>a <b>b</b> <code>c&lt;d&gt;</code></li>",
        "<li>x|y</li>",
        "</ul>",
        "<p class='ns'>not computed</p><p>p <b>q</b> <a href='data/f.csv'>f.csv</a></p>",
        "<h3>h</h3><div class='wide'><table><thead><tr><th>k</th><th>v|w</th></tr></thead><tbody>"
        "<tr><td>1</td><td>a|b</td></tr><tr><td>2</td><td class='best'>3</td></tr></tbody></table></div>",
        "<table><thead><tr><th>row</th><th>o</th></tr></thead><tbody>"
        "<tr><th>r</th><td class='best'>9</td></tr></tbody></table>",
        "<h3>Opts (settings)</h3><details><summary>o</summary><pre>{",
        "  &quot;a&quot;: 2,",
        "  &quot;b&quot;: &quot;x&amp;y&quot;",
        "}</pre></details>",
        "<table><thead><tr><th>field</th><th>value</th></tr></thead><tbody>"
        "<tr><td>seeds</td><td>[0, 1]</td></tr></tbody></table>",
        "<p>n1</p>",
        "<p>n <b>2</b></p>",
        "<figure style='max-width:640px'><img alt='cap &#x27;x&#x27;' src='data:image/png;base64,QUJD'>"
        "<figcaption>cap &#x27;x&#x27; <a href='figures/s.png'>PNG</a> \u00b7 <a href='figures/s.svg'>SVG</a> "
        "\u00b7 data: <a href='data/d.csv'>d.csv</a></figcaption></figure></body></html>",
    ]


def test_the_summary_names_few_nemenyi_pairs_and_counts_many():
    from mfbench.analysis.report.sections import MAX_PAIRS_LISTED, nemenyi_pairs_text

    assert nemenyi_pairs_text([], 5) == ""
    few = [f"m{i} vs m{i + 1}" for i in range(3)]
    assert nemenyi_pairs_text(few, 5) == "; Nemenyi-significant pairs: m0 vs m1, m1 vs m2, m2 vs m3"
    many = [f"m{i} vs n{i}" for i in range(MAX_PAIRS_LISTED + 1)]
    text = nemenyi_pairs_text(many, 20)
    assert f"separates {MAX_PAIRS_LISTED + 1} of the 190 pairs" in text and "m0 vs n0" not in text
