"""Every published LaTeX table compiles as a paper would ``\\input`` it: pdflatex, a two-column
``article`` whose preamble loads only booktabs, siunitx, graphicx and threeparttable; no error,
no overfull box, and the PDF's text has every row of the table.

Needs pdflatex and pdftotext (Debian: texlive-latex-base, texlive-latex-recommended,
texlive-science, texlive-latex-extra, poppler-utils); without them the tests are skipped, unless
RNNBENCH_REQUIRE_LATEX=1 (as in .ci/run), where a missing tool fails."""

import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from rnnbench.report.latex import bounds, numbers, tex

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "results"
PREAMBLE = r"""\documentclass[twocolumn]{article}
\usepackage{booktabs}
\usepackage{siunitx}
\usepackage{graphicx}
\usepackage{threeparttable}
\begin{document}
A paragraph of running text before the table, as in a paper.
"""


def tools() -> tuple[str, str]:
    found = shutil.which("pdflatex"), shutil.which("pdftotext")
    if None in found:
        missing = [n for n, p in zip(("pdflatex", "pdftotext"), found) if p is None]
        if os.environ.get("RNNBENCH_REQUIRE_LATEX") == "1":
            pytest.fail(
                f"{', '.join(missing)} not on PATH (apt-get install texlive-latex-base texlive-latex-recommended "
                f"texlive-science texlive-latex-extra poppler-utils)"
            )
        pytest.skip(f"{', '.join(missing)} not on PATH")
    return found  # type: ignore[return-value]


def compile_table(table: Path, tmp: Path) -> tuple[str, str]:
    """(the pdflatex log, the PDF's text) of a two-column article that inputs ``table``."""
    pdflatex, pdftotext = tools()
    doc = tmp / "paper.tex"
    doc.write_text(PREAMBLE + f"\\input{{{table.resolve().as_posix()}}}\n\\clearpage\n\\end{{document}}\n")
    run = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", doc.name],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (tmp / "paper.log").read_text(errors="replace")
    assert run.returncode == 0, f"{table}: pdflatex failed:\n{run.stdout[-3000:]}"
    text = subprocess.run([pdftotext, "-raw", "paper.pdf", "-"], cwd=tmp, capture_output=True, text=True, check=True).stdout
    return log, text


def squeeze(text: str) -> str:
    """Text with ligatures spelled out, dashes and minus signs as '-', and no whitespace or
    underscores (pdflatex's default font draws ``\\_`` as a rule, which pdftotext reads as a space)."""
    text = unicodedata.normalize("NFKC", text).replace("−", "-").replace("–", "-").replace("—", "-")
    return re.sub(r"[\s_]+", "", text)


def markdown_labels(md: Path) -> list[str]:
    """The first cell of every row of a Markdown table (its row label)."""
    rows = [line for line in md.read_text().splitlines() if line.startswith("|")][2:]
    return [row.split("|")[1].strip() for row in rows]


def tex_rows(source: str) -> list[list[str]]:
    """The body rows of a LaTeX table, as cells of LaTeX source."""
    body = source.split("\\midrule", 1)[1].split("\\bottomrule", 1)[0]
    rows = [r.strip() for r in re.split(r"\\\\(?:\[[^\]]*\])?", body) if r.strip()]
    return [[c.strip() for c in re.split(r"(?<!\\)&", r)] for r in rows]


def check_compiles_and_shows_its_rows(table: Path, tmp: Path) -> None:
    log, text = compile_table(table, tmp)
    assert "Overfull" not in log, f"{table}: " + "\n".join(line for line in log.splitlines() if "Overfull" in line)
    assert "Float too large" not in log and "LaTeX Error" not in log, table
    flat = squeeze(text)
    for label in markdown_labels(table.with_suffix(".md")):
        assert squeeze(label) in flat, f"{table}: row {label!r} of {table.with_suffix('.md').name} not in the PDF"
    for cells in tex_rows(table.read_text()):
        for cell in cells:
            if re.fullmatch(r"(\\bfseries )?-?[0-9.]+(e-?[0-9]+)?(\{.*\})?", cell):  # a number in an S column
                mantissa = re.search(r"-?[0-9.]+", cell).group(0)
                assert mantissa.lstrip("-") in flat, f"{table}: {cell!r} not in the PDF"


PUBLISHED_TABLES = sorted(PUBLISHED.glob("*/*.tex"))


@pytest.mark.parametrize("table", PUBLISHED_TABLES, ids=[str(p.relative_to(PUBLISHED)) for p in PUBLISHED_TABLES])
def test_published_table_compiles_fits_and_shows_its_rows(table, tmp_path):
    check_compiles_and_shows_its_rows(table, tmp_path)


def test_the_compile_check_catches_an_overfull_table(tmp_path):
    """Negative control: a table with the resize guard taken out, wider than the page, fails."""
    wide = tmp_path / "wide.tex"
    wide.write_text(
        "\\begin{table}\\centering\\begin{tabular}{"
        + "l" * 30
        + "}\\toprule\n"
        + " & ".join(f"column{i}" for i in range(30))
        + " \\\\\n\\bottomrule\\end{tabular}\\end{table}\n"
    )
    wide.with_suffix(".md").write_text("| a |\n|---|\n")
    build = tmp_path / "build"
    build.mkdir()
    log, _ = compile_table(wide, build)
    assert "Overfull \\hbox" in log


def test_tex_escapes_specials_and_spells_unicode():
    assert tex("copy_task 50% & $x#{y}") == r"copy\_task 50\% \& \$x\#\{y\}"
    assert tex("0.2 ± 0.1 × 3 – ‖∂") == r"0.2 $\pm$ 0.1 $\times$ 3 -- $\|$$\partial$"
    assert tex("Ü") == "?"  # pdflatex would stop on a character it has no glyph for


def test_numbers_share_one_notation_per_column():
    fixed = numbers([0.392, 0.00239, 0.5])
    assert [fixed.fmt(v) for v in (0.392, 0.00239)] == ["0.392", "0.00239"] and fixed.table_format == "1.5"
    sci = numbers([0.392, 3.4e-05])
    assert [sci.fmt(v) for v in (0.392, 3.4e-05)] == ["3.92e-1", "3.40e-5"] and sci.table_format == "1.2e-1"
    assert bounds(0.3911, 0.3935) == r"\scriptsize[\num{0.391}, \num{0.394}]"  # digits enough to tell them apart


def test_a_constructed_table_with_bold_daggers_and_intervals_compiles(tmp_path):
    """What the published tables lack today: significant leads (a dagger after a bold number in an
    S column), t intervals on both scales, an accuracy at exactly 1, a value in scientific notation."""
    import random

    from rnnbench.report.build import build
    from rnnbench.results import append_record

    rng = random.Random(0)
    env = {
        "rnnbench": "0.1.0",
        "git_commit": "0123456789abcdef",
        "git_dirty": False,
        "torch": "2.13.0",
        "device_name": "cpu-x",
        "cpu": "cpu-x",
        "threads": 2,
        "python": "3.11",
    }
    for task, metric, centres in (
        ("adding", "mse", {"gru": 3e-5, "lstm": 0.02, "rnn": 0.15}),
        ("mqar", "acc", {"gru": 1.0, "lstm": 0.6, "rnn": 0.1}),
    ):
        for model, centre in centres.items():
            for seed in range(4):
                value = (
                    min(1.0, centre * (1 + 0.03 * rng.gauss(0, 1))) if metric == "acc" else centre * (1 + 0.1 * rng.gauss(0, 1))
                )
                value = 1.0 if centre == 1.0 and seed < 2 else value
                append_record(
                    tmp_path / "raw" / "made.jsonl",
                    {
                        "schema_version": 2,
                        "kind": "train",
                        "profile": "made",
                        "section": "accuracy",
                        "status": "ok",
                        "created_at": f"2026-01-01T00:00:00.{seed:06d}",
                        "run_id": f"{task}{model}{seed}",
                        "task": {"name": task, "preset": "arjovsky2016", "params": {"T": 10}, "version": 1, "metric": metric},
                        "model": {
                            "name": model,
                            "implementation": "fused",
                            "default_implementation": "fused",
                            "display": model,
                            "params": {"hidden_size": 8},
                            "n_params": 100,
                        },
                        "train": {"seed": seed, "steps": 10, "batch_size": 4},
                        "metrics": {metric: value, "baseline": 0.2, "solved": False},
                        "history": [{"step": 10, metric: value}],
                        "env": env,
                    },
                )
    build(tmp_path)
    table = tmp_path / "made" / "accuracy.tex"
    source = table.read_text()
    # both leads significant (a dagger after a bold number), gru's mse in e-notation
    assert len(re.findall(r"\\bfseries [0-9.e-]+\{\$\^\\dagger\$\}", source)) == 2 and "e-5" in source
    (tmp_path / "build").mkdir()
    check_compiles_and_shows_its_rows(table, tmp_path / "build")
