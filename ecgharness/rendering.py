"""Tables of display strings as Markdown, HTML and LaTeX (booktabs), for the leaderboard and the report."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def markdown(frame: pd.DataFrame, left: int = 1) -> str:
    """GitHub Markdown; the first ``left`` columns left-aligned, the others right-aligned."""
    cols = [str(c) for c in frame.columns]
    rows = [[str(v).replace("|", "\\|") for v in row] for row in frame.itertuples(index=False)]
    align = [":---" if i < left else "---:" for i in range(len(cols))]
    return "\n".join("| " + " | ".join(r) + " |" for r in [cols, align, *rows])


def html_table(frame: pd.DataFrame, caption: str = "") -> str:
    """An HTML table; Markdown ``**bold**`` in cells becomes <b>."""
    def cell(value: object) -> str:
        return _BOLD.sub(r"<b>\1</b>", html.escape(str(value)))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr" + (' class="published"' if "published" in str(row[0]) else "") + ">"
        + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False))
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex_escape(text: str) -> str:
    out = "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)
    return out.replace("±", r"$\pm$").replace("—", "--").replace("<", r"$<$").replace("↑", "")


def latex_table(frame: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table; Markdown ``**bold**`` in cells becomes \\textbf."""
    def cell(value: object) -> str:
        text = str(value)
        parts = _BOLD.split(text)  # odd items were bold
        return "".join(r"\textbf{" + _tex_escape(p) + "}" if i % 2 else _tex_escape(p) for i, p in enumerate(parts))

    spec = "l" + "r" * (len(frame.columns) - 1)
    lines = [
        r"\begin{table}[htbp]", r"\centering", r"\small",
        rf"\caption{{{_tex_escape(caption)}}}", rf"\label{{{label}}}",
        rf"\resizebox{{\textwidth}}{{!}}{{\begin{{tabular}}{{{spec}}}", r"\toprule",
        " & ".join(_tex_escape(str(c)) for c in frame.columns) + r" \\", r"\midrule",
    ]
    published_started = False
    for row in frame.itertuples(index=False):
        if "published" in str(row[0]) and not published_started:
            lines.append(r"\midrule")
            published_started = True
        lines.append(" & ".join(cell(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return "\n".join(lines)


PAGE_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1400px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { font-size: 1.05em; }
.scroll { overflow-x: auto; margin: 0.6em 0; }
table { border-collapse: collapse; font-size: 0.82em; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3em 0.6em; border-bottom: 1px solid #e3e3e3; text-align: right; white-space: nowrap; }
th { border-bottom: 2px solid #444; background: #f6f6f6; white-space: normal; vertical-align: bottom; min-width: 4em; }
td:first-child, th:first-child { text-align: left; }
tr.published td { color: #555; font-style: italic; background: #fafafa; }
p.caption { font-size: 0.85em; color: #555; max-width: 70em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1em; }
.grid figure.wide { grid-column: 1 / -1; max-width: 1000px; }
"""


def figure_html(path: Path, caption: str, wide: bool = False) -> str:
    """A PNG embedded in the page (base64) with its caption; ``wide`` spans the whole grid row."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    text, css_class = html.escape(caption), ' class="wide"' if wide else ""
    return (f'<figure{css_class}><img alt="{text}" src="data:image/png;base64,{data}">'
            f"<figcaption>{text}</figcaption></figure>")
