"""Every code example of the documentation runs, so that a documented command or snippet that
stops working fails the tests (the convention is in doc_examples.py and docs/writing_docs.md).

Pages run in this process, one test per page: Python blocks in one namespace per page, the
``rnnbench`` commands through ``rnnbench.cli.main`` (a command with ``VAR=value`` before it in a
fresh process, since some variables are read at start-up), each in the page's scratch folder and
under a time limit: a documented example must be cheap, or marked not-run.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from doc_examples import Block, blocks, commands, output_matches, pages

DOCS = Path(__file__).resolve().parents[2] / "docs"
LIMIT = 120  # seconds for one block: generous for a loaded 2-core machine; a cheap example takes a few


class TooSlow(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float, what: str):
    def alarm(signum, frame):
        raise TooSlow(
            f"{what} ran past {seconds:.0f} s; documentation examples must be cheap: make it smaller "
            "or mark it <!-- not-run: reason -->"
        )

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """rnnbench's exit status and everything it printed (stdout and stderr, in order)."""
    if env:
        try:
            p = subprocess.run(
                [sys.executable, "-m", "rnnbench", *argv],
                cwd=cwd,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=LIMIT,
            )
        except subprocess.TimeoutExpired:
            raise TooSlow(
                f"`rnnbench {' '.join(argv)}` ran past {LIMIT} s; documentation examples must be cheap: "
                "make it smaller or mark it <!-- not-run: reason -->"
            ) from None
        return p.returncode, p.stdout + p.stderr
    from rnnbench.cli import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help, a bad command line
            code = exc.code if isinstance(exc.code, int) else 1
    return code, buffer.getvalue()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A scratch folder, and whatever a page's examples change in this process put back after."""
    import rnnbench.models as models

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(models, "_LOADED", dict(models._LOADED))  # users' models loaded by name
    monkeypatch.setenv("COLUMNS", "100")
    threads = torch.get_num_threads()
    # one intra-op thread: on a machine shared with other work (CI, the other tests), two threads
    # wait on each other at every op, which made a 100-step training 10x slower here
    torch.set_num_threads(1)
    modules = set(sys.modules)
    yield tmp_path
    torch.set_num_threads(threads)
    for name in set(sys.modules) - modules:  # modules imported from the scratch folder
        origin = str(getattr(sys.modules[name], "__file__", None) or "")
        if name.startswith("rnnbench_user_") or origin.startswith(str(tmp_path)):
            del sys.modules[name]


def run_block(block: Block, namespace: dict, cwd: Path) -> None:
    if "file" in block.marks:
        target = cwd / block.marks["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text)
    if not block.runs:
        return
    with time_limit(LIMIT, block.where):
        if block.lang == "python":
            exec(compile(block.text, f"{block.where} (python block)", "exec"), namespace)
            return
        expected = int(block.marks.get("exit", "0"))
        for command in commands(block):
            code, printed = run_cli(command.argv, command.env, cwd)
            assert code == expected, (
                f"{block.where}: `{command.text}` exited {code}, the page says {expected}; it printed:\n{printed}"
            )
            if block.marks.get("output") == "checked":
                assert output_matches(command.output, printed), (
                    f"{block.where}: `{command.text}` printed\n{printed}\nwhich is not what the page shows:\n"
                    + "\n".join(command.output)
                )


PAGES = [p for p in pages(DOCS) if any(b.runs for b in blocks(p)) or any("file" in b.marks for b in blocks(p))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_the_examples_of_a_page_run(page, isolated):
    # a real module, so that what the examples define (dataclasses, pickled objects) finds it
    module = types.ModuleType("docs_example_" + re.sub(r"\W", "_", page.relative_to(DOCS).as_posix()[:-3]))
    sys.modules[module.__name__] = module
    try:
        for block in blocks(page):
            start = time.perf_counter()
            run_block(block, module.__dict__, isolated)
            print(f"{block.where}: {time.perf_counter() - start:.1f} s")
    finally:
        del sys.modules[module.__name__]


def test_every_shell_block_is_runnable_or_marked():
    """A shell block with a command the tests cannot run must say why it is not run."""
    problems = []
    for page in pages(DOCS):
        for block in blocks(page):
            if block.runs and block.lang != "python":
                try:
                    commands(block)
                except ValueError as exc:
                    problems.append(str(exc))
            if "not-run" in block.marks and not block.marks["not-run"]:
                problems.append(f"{block.where}: <!-- not-run: --> needs a reason")
    assert not problems, "\n".join(problems)
