"""The documentation's machinery: tables generated from the registries, the docstring check of
the API reference, and the examples' runner (each with a negative control)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from doc_examples import blocks, commands, output_matches
from test_examples import run_block

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "docs" / "hooks" / "registry_pages.py"


@pytest.fixture(scope="module")
def hook():
    spec = importlib.util.spec_from_file_location("registry_pages", HOOK)
    module = importlib.util.module_from_spec(spec)
    sys.modules["registry_pages"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["registry_pages"]


# ------------------------------------------------------------------------- generated tables


def test_every_registered_task_and_model_is_on_the_generated_pages(hook):
    from rnnbench.models import MODELS
    from rnnbench.tasks import TASKS

    tasks, models = hook.expand("<!-- rnnbench:tasks -->"), hook.expand("<!-- rnnbench:models -->")
    for name, cls in TASKS.items():
        assert f"{{#task-{name}}}" in tasks and f"`{cls.rule}`" in tasks
        for preset in cls.presets:
            assert f"`{preset}`" in tasks
    for name in MODELS:
        arch = MODELS.get(name)
        section = models.split(f"{{#model-{name}}}", 1)[1].split("{#model-", 1)[0]
        assert arch.citation in section
        assert f"`{arch.default_for('cpu')}` on a CPU, `{arch.default_for('cuda')}` on CUDA" in section
        for impl in arch.implementations:
            assert f"`{impl}`" in section
        for field in arch.Params.__dataclass_fields__:
            assert f"| `{field}` |" in section


def test_the_model_catalogue_follows_the_registry_not_a_hand_written_list(hook, monkeypatch):
    """A newly registered architecture appears without editing any page (negative control: the
    table of the registry without it has no such row)."""
    import dataclasses

    import rnnbench.models as models
    import rnnbench.models.contract as contract
    from rnnbench.registry import Registry

    before = hook.expand("<!-- rnnbench:models -->")
    grown = Registry("model")
    for name, arch in contract.MODELS.items():
        grown.add(name, arch)
    grown.add(
        "docs_toy",
        dataclasses.replace(contract.MODELS.get("lstm"), name="docs_toy", title="a docs toy", citation="nobody (2099)"),
    )
    monkeypatch.setattr(contract, "MODELS", grown)
    monkeypatch.setattr(models, "MODELS", grown)
    after = hook.expand("<!-- rnnbench:models -->")
    assert "docs_toy" not in before and "{#model-docs_toy}" in after and "nobody (2099)" in after


def test_ops_sections_profiles_and_cli_are_generated(hook):
    from rnnbench.ops import OPS
    from rnnbench.profiles import builtin_profiles
    from rnnbench.sections import SECTIONS

    ops = hook.expand("<!-- rnnbench:ops -->")
    assert all(f"[`{name}`][rnnbench.ops.{name}]" in ops for name in OPS)
    sections = hook.expand("<!-- rnnbench:sections -->")
    assert all(f"| `{name}` |" in sections for name in SECTIONS)
    profiles = hook.expand("<!-- rnnbench:profiles -->")
    assert all(f"| `{name}` |" in profiles for name in builtin_profiles())
    cli = hook.expand("<!-- rnnbench:cli -->")
    assert "## `rnnbench sweep`" in cli and "--dry-run" in cli


def test_an_unknown_marker_fails_the_build(hook):
    with pytest.raises(ValueError, match="unknown marker <!-- rnnbench:modles -->"):
        hook.expand("text\n<!-- rnnbench:modles -->\n", "models.md")


# -------------------------------------------------------------------------- docstring check


def test_every_object_of_the_api_reference_has_a_docstring(hook):
    pages = hook.api_pages()
    names = [name for page_names in pages.values() for name in page_names]
    assert "rnnbench.models.build_core" in names and "rnnbench.tasks.base.Task" in names
    assert hook.missing_docstrings(names) == []


def test_a_missing_docstring_is_found(hook, monkeypatch):
    from rnnbench.models.contract import Architecture
    from rnnbench.tasks.base import SolvedRule

    monkeypatch.setattr(Architecture.describe, "__doc__", None)
    monkeypatch.setattr(SolvedRule, "__doc__", None)
    missing = hook.missing_docstrings(["rnnbench.models.contract.Architecture", "rnnbench.tasks.base.SolvedRule"])
    assert missing == ["rnnbench.models.contract.Architecture.describe", "rnnbench.tasks.base.SolvedRule"]


# ------------------------------------------------------------------------------- the runner


def page(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "page.md"
    p.write_text(text)
    return p


def test_marks_are_read_from_the_lines_above_a_fence(tmp_path):
    found = blocks(
        page(
            tmp_path,
            "<!-- exit: 2 --> <!-- output: checked -->\n```console\n$ rnnbench list\n```\n\n"
            "<!-- not-run: slow -->\n```bash\nrnnbench sweep quick\n```\n\n"
            "<!-- file: a/b.py -->\n```python\nx = 1\n```\n```text\nnot code\n```\n",
        )
    )
    assert [b.lang for b in found] == ["console", "bash", "python", "text"]
    assert found[0].marks == {"exit": "2", "output": "checked"} and found[0].runs
    assert found[1].marks == {"not-run": "slow"} and not found[1].runs
    assert found[2].marks == {"file": "a/b.py"} and found[2].runs and not found[3].runs


def test_commands_are_split_and_anything_but_rnnbench_is_refused(tmp_path):
    (console,) = blocks(
        page(
            tmp_path,
            "```console\n$ rnnbench sample --task copy \\\n    -n 1  # two lines\nout 1\n"
            "out 2\n$ RNNBENCH_ALLOCATOR=default python -m rnnbench list tasks\n```\n",
        )
    )
    first, second = commands(console)
    assert first.argv == ["sample", "--task", "copy", "-n", "1"] and first.output == ["out 1", "out 2"]
    assert second.argv == ["list", "tasks"] and second.env == {"RNNBENCH_ALLOCATOR": "default"}
    for text in ("pip install rnnbench", "rnnbench list && rnnbench report", "git rev-parse HEAD"):
        (block,) = blocks(page(tmp_path, f"```bash\n{text}\n```\n"))
        with pytest.raises(ValueError, match="not-run"):
            commands(block)


def test_output_is_matched_line_by_line_with_ellipses():
    assert output_matches(["a 1.5 s", "b"], "a 1.5 s\nb\n")
    assert output_matches(["a ... s", "b"], "a 99.1 s\nb")
    assert not output_matches(["a ... s"], "a 99.1 ms")
    assert not output_matches(["a", "b"], "a\n")


def test_a_broken_example_fails_and_a_marked_one_does_not_run(tmp_path):
    """Negative controls for the runner: a Python block that raises, a command that exits
    otherwise than the page says, an output that drifted; a not-run block is skipped."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    text = (
        "```python\nraise RuntimeError('drifted')\n```\n"
        "```console\n$ rnnbench list tasks --no-such-option\n```\n"
        "<!-- output: checked -->\n```console\n$ rnnbench sample --task copy --set task.T=1 --set task.K=1 -n 1\n"
        '{"task": "not what it prints"}\n```\n'
        "<!-- not-run: would fail -->\n```python\nraise RuntimeError('never')\n```\n"
        "<!-- file: made.txt -->\n```text\nhello\n```\n"
    )
    b = blocks(page(tmp_path, text))
    with pytest.raises(RuntimeError, match="drifted"):
        run_block(b[0], {}, scratch)
    with pytest.raises(AssertionError, match="exited 2, the page says 0"):
        run_block(b[1], {}, scratch)
    with pytest.raises(AssertionError, match="which is not what the page shows"):
        run_block(b[2], {}, scratch)
    run_block(b[3], {}, scratch)
    run_block(b[4], {}, scratch)
    assert (scratch / "made.txt").read_text() == "hello\n"
