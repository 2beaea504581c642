"""Extract the code blocks of the documentation pages and run them (``test_examples.py``, ``test_docs.py``).

The convention, documented for writers in ``docs/writing_docs.md``:

- a ```` ```python ```` block runs; the blocks of one page run in order in one namespace, in a
  scratch folder of that page;
- a ```` ```bash ````, ```` ```sh ````, ```` ```shell ```` or ```` ```console ```` block runs its
  commands (in ``console``, the lines that start with ``$ ``; the other lines are the output
  shown). Only ``rnnbench`` commands run (``rnnbench``, ``python -m rnnbench``, ``.nox/*/bin/rnnbench``),
  each must exit 0, and a block holding anything else must be marked not-run;
- HTML comments on the lines right above a block's fence mark it:
  ``<!-- not-run: REASON -->`` (skipped; the reason is required),
  ``<!-- file: PATH -->`` (the block is also written to PATH in the scratch folder, for the
  commands after it), ``<!-- exit: N -->`` (its commands must exit N), ``<!-- output: checked -->``
  (a console block's output must be what the page shows; ``...`` matches any text within a line);
- blocks in any other language (``text``, ``toml``, ``json``, ...) are not run, except that a
  ``file:`` mark writes them.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<lang>[\w+-]*)[^\n]*$")
MARK = re.compile(r"<!--\s*(?P<key>not-run|file|exit|output)\s*:\s*(?P<value>.*?)\s*-->")
SHELL = {"bash", "sh", "shell", "console"}
RNNBENCH = re.compile(r"^(rnnbench|(\S*/)?\.nox/[\w.-]+/bin/rnnbench)$")
UNSUPPORTED = {"&&", "||", "|", ";", ">", ">>", "<", "&"}


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marks: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page.name}:{self.line}"

    @property
    def runs(self) -> bool:
        return "not-run" not in self.marks and (self.lang == "python" or self.lang in SHELL)


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page with the marks above each."""
    lines = page.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group("indent"), m.group("fence"), m.group("lang").lower()
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        marks: dict[str, str] = {}
        k = i - 1
        while k >= 0 and lines[k].strip().startswith("<!--"):
            for mark in MARK.finditer(lines[k]):
                marks[mark.group("key")] = mark.group("value")
            k -= 1
        found.append(Block(page, i + 1, lang, "\n".join(body) + "\n", marks))
        i = j + 1
    return found


@dataclass
class Command:
    argv: list[str]  # without the program: rnnbench's own arguments
    env: dict[str, str]
    output: list[str]  # the lines a console block shows after it
    text: str


def commands(block: Block) -> list[Command]:
    """The commands of a shell block; ValueError names one that the docs tests cannot run."""
    logical: list[tuple[str, list[str]]] = []
    pending = ""
    for raw in block.text.splitlines():
        if block.lang == "console":
            if raw.startswith("$ "):
                pending = raw[2:]
            elif pending:
                pending += "\n" + raw  # a continuation line after a backslash
            else:
                if logical:
                    logical[-1][1].append(raw)
                continue
        else:
            pending = (pending + "\n" + raw) if pending else raw
        if pending.rstrip().endswith("\\"):
            pending = pending.rstrip()[:-1] + " "
            continue
        if pending.strip():
            logical.append((pending.strip(), []))
        pending = ""
    out = []
    for text, output in logical:
        words = shlex.split(text, comments=True)
        if not words:
            continue
        env = {}
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        if any(w in UNSUPPORTED for w in words):
            raise ValueError(
                f"{block.where}: `{text}` chains or redirects commands, which the docs tests do not "
                "run; split it, or mark the block <!-- not-run: reason -->"
            )
        if words[:3] in (["python", "-m", "rnnbench"], ["python3", "-m", "rnnbench"]):
            argv = words[3:]
        elif words and RNNBENCH.match(words[0]):
            argv = words[1:]
        else:
            raise ValueError(
                f"{block.where}: `{text}` is not an rnnbench command, which the docs tests do not run; "
                "mark the block <!-- not-run: reason --> above its fence"
            )
        out.append(Command(argv, env, output, text))
    return out


def output_matches(shown: list[str], printed: str) -> bool:
    """Whether ``printed`` is what a console block shows: line by line, trailing spaces ignored,
    ``...`` standing for any text within a line."""
    got = [line.rstrip() for line in printed.rstrip("\n").splitlines()]
    want = [line.rstrip() for line in shown]
    while want and not want[-1]:
        want.pop()
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        pattern = ".*".join(re.escape(part) for part in w.split("..."))
        if not re.fullmatch(pattern, g):
            return False
    return True


def pages(docs: Path) -> list[Path]:
    """Every Markdown page of the site (the hooks' folder excluded)."""
    return sorted(p for p in docs.rglob("*.md") if "hooks" not in p.relative_to(docs).parts)
