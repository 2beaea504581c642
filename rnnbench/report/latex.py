"""LaTeX tables a paper can ``\\input`` as they are.

Each table is one float with a two-sentence caption, booktabs rules, numbers aligned on the
decimal point by siunitx ``S`` columns, and the provenance as a threeparttable note. A paper
needs exactly these packages in its preamble (and no other)::

    \\usepackage{booktabs}
    \\usepackage{siunitx}
    \\usepackage{graphicx}
    \\usepackage{threeparttable}

A table wider than the column (or the page, for ``table*``) is scaled down to fit it, never
past it (graphicx's ``\\resizebox``), so no table overflows the margin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

TEXT = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "×": r"$\times$",
    "–": "--",
    "—": "---",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "÷": r"$\div$",
    "·": r"$\cdot$",
    "‖": r"$\|$",
    "∂": r"$\partial$",
    "→": r"$\to$",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "†": r"$^\dagger$",
    "…": r"\dots{}",
    "’": "'",
    "‘": "`",
    "“": "``",
    "”": "''",
    "≈": r"$\approx$",
    "−": "-",
    "∞": r"$\infty$",
    "²": r"$^2$",
    "⁻": "-",
    "¹": r"$^1$",
}
DAGGER = r"$^\dagger$"
WIDE = 5  # more data columns than this: a table* across both columns of a two-column paper


def tex(text: object) -> str:
    """Plain text as LaTeX: specials escaped, the non-ASCII characters rnnbench writes spelled
    in LaTeX, anything else non-ASCII dropped to '?' (pdflatex would stop on it)."""
    out = []
    for ch in str(text):
        if ch in TEXT:
            out.append(TEXT[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


@dataclass(frozen=True)
class Numbers:
    """How one column's numbers are written: the same notation for all, aligned by siunitx."""

    fmt: Callable[[float], str]
    table_format: str

    def spec(self, marked: bool) -> str:
        options = [f"table-format={self.table_format}", "group-digits=none", "detect-weight", "mode=text"]
        if marked:
            options.append(f"table-space-text-post={{{DAGGER}}}")
        return "S[" + ", ".join(options) + "]"


def numbers(values: Sequence[float], digits: int = 3) -> Numbers:
    """Scientific notation with ``digits`` significant digits when the column holds a value below
    10^-4 or above 10^5, else fixed notation with ``digits`` significant digits per value."""
    xs = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    negative = any(v is not None and math.isfinite(v) and v < 0 for v in values)
    sign = "-" if negative else ""
    if xs and (min(xs) < 1e-4 or max(xs) >= 1e5):

        def sci(v: float) -> str:
            mantissa, exponent = f"{v:.{digits - 1}e}".split("e")
            return f"{mantissa}e{int(exponent)}"

        exps = [int(f"{v:e}".split("e")[1]) for v in xs]
        width = max(len(str(abs(e))) for e in exps)
        return Numbers(sci, f"{sign}1.{digits - 1}e{'-' if min(exps) < 0 else ''}{width}")

    def decimals(v: float) -> int:
        return max(0, digits - 1 - math.floor(math.log10(abs(v)))) if v else 0

    def fixed(v: float) -> str:
        return f"{v:.{decimals(v)}f}"

    ints = max((len(str(int(abs(v)))) for v in xs), default=1)
    decs = max((decimals(v) for v in xs), default=0)
    return Numbers(fixed, f"{sign}{ints}.{decs}" if decs else f"{sign}{ints}")


def fixed(decimals: int, values: Sequence[float]) -> Numbers:
    """Every value with ``decimals`` decimals (ratios, percentages)."""
    xs = [abs(v) for v in values if v is not None and math.isfinite(v)]
    ints = max((len(str(int(v))) for v in xs), default=1)
    return Numbers(lambda v: f"{v:.{decimals}f}", f"{ints}.{decimals}")


def num(v: float, digits: int = 2) -> str:
    """One number in running text (an interval's bound), as siunitx's ``\\num``."""
    if not math.isfinite(v):
        return "--"
    text = f"{v:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return rf"\num{{{text}}}"


def bounds(low: float, high: float) -> str:
    """``[0.18, 0.24]`` in ``\\num``s, with as few significant digits (2 to 4) as tell them apart."""
    digits = next((d for d in (2, 3, 4) if f"{low:.{d}g}" != f"{high:.{d}g}"), 4)
    return rf"\scriptsize[{num(low, digits)}, {num(high, digits)}]"


@dataclass
class Paper:
    """A table as a paper prints it: LaTeX cells, already escaped."""

    spec: list[str]  # one tabular column spec per column ("l", an S[...] spec, ...)
    header: list[str]
    rows: list[list[str]]
    caption: str  # two sentences
    notes: list[str] = field(default_factory=list)  # table notes (the provenance is added last)
    gaps: list[int] = field(default_factory=list)  # a little space after these rows (pairs of mean and interval rows)


def render(paper: Paper, label: str, provenance: str) -> str:
    """The float: caption, label, and the tabular with its notes in a threeparttable, scaled
    down only where it would be wider than the line."""
    wide = len(paper.spec) - 1 > WIDE
    env = "table*" if wide else "table"
    lines = [
        rf"\begin{{{env}}}[tbp]",
        r"\centering",
        rf"\caption{{{paper.caption}}}",
        rf"\label{{{label}}}",
        r"\footnotesize",
        r"\setlength{\tabcolsep}{4pt}",
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        r"\begin{threeparttable}",
        rf"\begin{{tabular}}{{@{{}}{''.join(paper.spec)}@{{}}}}",
        r"\toprule",
        " & ".join(paper.header) + r" \\",
        r"\midrule",
    ]
    for i, row in enumerate(paper.rows):
        lines.append(" & ".join(row) + (r" \\[2pt]" if i in paper.gaps else r" \\"))
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        r"\begin{tablenotes}[flushleft]\footnotesize\raggedright\hyphenpenalty=10000\exhyphenpenalty=10000",
    ]
    lines += [rf"\item {note}" for note in [*paper.notes, f"Source: {provenance}."]]
    lines += [r"\end{tablenotes}", r"\end{threeparttable}}", rf"\end{{{env}}}", ""]
    return "\n".join(lines)


def plain(text: str) -> str:
    """Text in an ``S`` column, or over one (braced, so siunitx does not read it as a number)."""
    return "{" + text + "}"


header = plain
