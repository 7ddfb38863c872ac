"""Tables of display strings as Markdown, HTML and LaTeX (booktabs), for the leaderboard and the report."""

from __future__ import annotations

import html
import re

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
