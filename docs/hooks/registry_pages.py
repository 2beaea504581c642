"""MkDocs hook: the reference tables of the site, generated from rnnbench's registries.

A page asks for a table with a marker on a line of its own::

    <!-- rnnbench:tasks -->

and the hook replaces it, when the site builds, with Markdown made from the registry, so
that a task, model, op, report section or profile registered tomorrow appears on the site
without editing a page. The markers are listed in :data:`GENERATORS`; an unknown one fails
the build. The hook also

- checks that every object the API reference documents (``::: name`` lines) and each of
  its public functions, methods and properties has a docstring (a missing one fails
  ``mkdocs build --strict``; ``tests/docs/test_docs.py`` runs the same check);
- adds the published results (``results/``) to the site, so that a page can link to
  ``../results/quick/accuracy.md`` (the path that also works when reading the repository)
  and the link is checked like any other.

Nothing here imports mkdocs at module level: the tests import this file without it.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
import os
import re
import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RESULTS = ROOT / "results"
MARKER = re.compile(r"^<!-- rnnbench:([a-z_]+) -->[ \t]*$", re.MULTILINE)
API_DIRECTIVE = re.compile(r"^::: ([\w.]+)[ \t]*$", re.MULTILINE)
log = logging.getLogger("mkdocs.hooks.rnnbench")  # under "mkdocs": --strict counts its warnings


# --------------------------------------------------------------------------------------- helpers


def cell(text: Any) -> str:
    """One Markdown table cell: pipes escaped, newlines folded."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def code(text: Any) -> str:
    return f"`{text}`"


def text_block(text: str, indent: str = "") -> str:
    """A docstring as a plain-text block: docstrings are plain text with RST touches, which
    Markdown would mangle (``*``, ``_`` in equations)."""
    body = textwrap.indent(text.strip("\n"), indent)
    return f"{indent}```text\n{body}\n{indent}```"


def module_docstring(obj: Any) -> str:
    module = inspect.getmodule(obj)
    return inspect.getdoc(module) or "" if module is not None else ""


def field_comments(cls: type) -> dict[str, str]:
    """``name: type = default  # comment``: the comment of each field of a dataclass, read from
    its source (and its bases'), since dataclass fields carry no docstrings; else the field's
    entry in an ``Attributes:`` section of a class docstring."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = klass.__dict__.get("__doc__") or ""
        if "Attributes:" in doc:
            section = textwrap.dedent(doc.split("Attributes:", 1)[1])
            for m in re.finditer(r"^(\w+):\s*(.+(?:\n[ \t]+.+)*)", section, re.MULTILINE):
                comments[m.group(1)] = " ".join(m.group(2).split())
        try:
            lines, _ = inspect.getsourcelines(klass)
        except (OSError, TypeError):
            continue
        for line in lines:
            m = re.match(r"\s+(\w+)\s*:[^#=]+(?:=[^#]*)?#\s*(.+)$", line)
            if m:
                comments[m.group(1)] = m.group(2).strip()
    return comments


def field_rows(Params: type, values: dict[str, Any] | None = None) -> list[list[Any]]:
    comments = field_comments(Params)
    rows = []
    for f in dataclasses.fields(Params):
        default = (values or {}).get(f.name, f.default)
        shown = "required" if default is dataclasses.MISSING else code(repr(default))
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        rows.append([code(f.name), code(kind), shown, comments.get(f.name, "")])
    return rows


# ------------------------------------------------------------------------------------ generators


def tasks_page() -> str:
    """Every registered task: a summary table, then each task's definition and parameters."""
    from rnnbench.tasks import TASKS
    from rnnbench.tasks.base import direction

    summary, details = [], []
    for name, cls in TASKS.items():
        presets = ", ".join(f"`{p}`" + (" (default)" if p == cls.default_preset else "") for p in cls.presets)
        task = _task_without_validation(cls, cls.default_preset)
        spec = _spec_text(task)
        summary.append(
            [
                f"[`{name}`](#task-{name})",
                presets,
                cls.version,
                spec,
                f"`{cls.primary_metric}` ({direction(cls.primary_metric)})",
                code(cls.rule),
            ]
        )
        details.append(_task_section(name, cls))
    head = ["task", "presets", "version", "input → output (default preset)", "metric", "solved when"]
    return table(head, summary) + "\n\n" + "\n\n".join(details)


def _task_without_validation(cls: type, preset: str) -> Any:
    """The task at a preset's defaults, without validating them (MNIST's ``path`` has no default)."""
    task = cls.__new__(cls)
    task.preset = preset
    task.params = task.preset_params(preset)
    return task


def _spec_text(task: Any) -> str:
    try:
        spec = task.spec
    except Exception:  # a spec that needs the data (none today)
        return "see the definition"
    if spec.input_kind == "tokens":
        enc = f"embedding of width {spec.embed_dim}" if spec.embed_dim else "one-hot"
        inp = f"tokens from {spec.input_size} ({enc})"
    else:
        inp = f"{spec.input_size} real feature{'s' if spec.input_size != 1 else ''}"
    out = f"{spec.output_size} classes" if spec.output_kind == "classes" else f"{spec.output_size} real"
    where = "at every step" if spec.target == "every" else "at the last step"
    return f"{inp} → {out}, {where}"


def _task_section(name: str, cls: type) -> str:
    parts = [f"### `{name}` {{#task-{name}}}", ""]
    parts.append(
        f"Version {cls.version}; metric `{cls.primary_metric}`; solved when `{cls.rule}`; "
        f"defined in `{cls.__module__.replace('.', '/')}.py` (`{cls.__name__}`)."
    )
    parts += ["", text_block(inspect.getdoc(inspect.getmodule(cls)) or ""), ""]
    rows = []
    for preset, text in cls.presets.items():
        params = dataclasses.asdict(_task_without_validation(cls, preset).params)
        changed = {k: v for k, v in params.items() if v != _field_default(cls.Params, k)}
        shown = ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "the defaults below"
        star = " (default)" if preset == cls.default_preset else ""
        rows.append([f"`{preset}`{star}", text, shown])
    parts += [table(["preset", "what it is", "parameters"], rows), ""]
    fields = field_rows(cls.Params)
    if fields:
        parts += [
            "Parameters (`--set task.NAME=VALUE`; the defaults of the `Params` dataclass):",
            "",
            table(["name", "type", "default", "meaning"], fields),
        ]
    else:
        parts.append("No parameters.")
    return "\n".join(parts)


def _field_default(Params: type, name: str) -> Any:
    for f in dataclasses.fields(Params):
        if f.name == name:
            return f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
    return dataclasses.MISSING


def models_page() -> str:
    """Every registered architecture, in table order: implementations, defaults per device,
    parameters, equations, citation and training rules."""
    from rnnbench.models import MODELS, model_order
    from rnnbench.models.contract import ArchParams

    common = {f.name for f in dataclasses.fields(ArchParams)}
    summary, details = [], []
    for name in model_order():
        arch = MODELS.get(name)
        impls = ", ".join(f"`{i}`" for i in arch.implementations)
        own = ", ".join(f"`{f.name}`" for f in dataclasses.fields(arch.Params) if f.name not in common)
        summary.append(
            [
                f"[`{name}`](#model-{name})",
                arch.title,
                impls,
                code(arch.default_for("cpu")),
                code(arch.default_for("cuda")),
                own or "—",
            ]
        )
        details.append(_model_section(name, arch))
    head = ["name", "architecture", "implementations", "default on cpu", "default on cuda", "own parameters"]
    return table(head, summary) + "\n\n" + "\n\n".join(details)


def _model_section(name: str, arch: Any) -> str:
    parts = [f"### `{name}`: {arch.title} {{#model-{name}}}", ""]
    if arch.equations:
        parts += [f"`{arch.equations}`", ""]
    parts += [f"**Citation:** {arch.citation}", ""]
    impls = ", ".join(f"`{i}`" for i in arch.implementations)
    parts.append(
        f"**Implementations:** {impls}; used when none is named: `{arch.default_for('cpu')}` on a CPU, "
        f"`{arch.default_for('cuda')}` on CUDA."
    )
    rules = [
        what
        for what, present in (
            ("parameter groups with their own learning rate", arch.param_groups),
            ("a projection after every optimiser step", arch.after_step),
        )
        if present
    ]
    extras = []
    if arch.bidirectional:
        extras.append("bidirectional (refused on variable-length presets)")
    if rules:
        extras.append("trains by its own rules: " + " and ".join(rules))
    if extras:
        parts += ["", "**Notes:** " + "; ".join(extras) + "."]
    module = inspect.getmodule(arch.Params)
    parts += [
        "",
        f"Parameters (`--set model.NAME=VALUE`), from `{module.__name__}.Params`:" if module else "Parameters:",
        "",
        table(["name", "type", "default", "meaning"], field_rows(arch.Params)),
    ]
    doc = module_docstring(arch.Params)
    if doc:
        parts += ["", f'??? info "The docstring of `{module.__name__.replace(".", "/")}.py`"', "", text_block(doc, indent="    ")]
    return "\n".join(parts)


def ops_page() -> str:
    """Every registered op: forms, equations, citation, shape parameters, API link."""
    from rnnbench.ops import OPS

    rows = []
    for name, op in OPS.items():
        shape = ", ".join(f"`{f.name}={f.default!r}`" for f in dataclasses.fields(op.Params)) or "—"
        rows.append([f"[`{name}`][rnnbench.ops.{name}]", ", ".join(f"`{f}`" for f in op.forms), op.equations, op.citation, shape])
    return table(["op", "forms", "recurrence", "citation", "shape parameters (`--set op.NAME=VALUE`)"], rows)


def sections_page() -> str:
    """The report sections: the kinds of table ``rnnbench report`` writes."""
    from rnnbench.sections import SECTIONS

    rows = []
    for name, s in SECTIONS.items():
        entry = f"`[[{name}]]`" if s.trained else "—"
        rows.append([f"`{name}`", s.title, f"{s.records} records", entry, f"`{s.module}`"])
    return table(["table (file stem)", "title", "reads", "profile entries", "built by"], rows)


def profiles_page() -> str:
    """The built-in profiles, read from their TOML files."""
    import tomllib

    from rnnbench.profiles import builtin_profiles

    rows = []
    for name, path in builtin_profiles().items():
        data = tomllib.loads(path.read_text())
        seeds = data.get("seeds", [0])
        models = ", ".join(f"`{m}`" for m in data.get("models", [])) or "each entry's"
        entries = sorted({k for k, v in data.items() if isinstance(v, list) and v and isinstance(v[0], dict)})
        kinds = ", ".join(f"`[[{k}]]`" for k in entries) + (", `[throughput]`" if "throughput" in data else "")
        rows.append([f"`{name}`", data.get("description", ""), models, len(seeds), kinds, f"`rnnbench/profiles/{path.name}`"])
    return table(["profile", "what it runs", "models", "seeds", "sections", "file"], rows)


def cli_page() -> str:
    """``rnnbench --help`` and every subcommand's help, from the argument parser itself."""
    from rnnbench.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal's width: a fixed one for the site
    parser = build_parser()
    parts = ["```text", parser.format_help().rstrip(), "```"]
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        parts += ["", f"## `rnnbench {name}`", "", "```text", p.format_help().rstrip(), "```"]
    return "\n".join(parts)


GENERATORS: dict[str, Callable[[], str]] = {
    "tasks": tasks_page,
    "models": models_page,
    "ops": ops_page,
    "sections": sections_page,
    "profiles": profiles_page,
    "cli": cli_page,
}


def expand(markdown: str, where: str = "page") -> str:
    """Replace every ``<!-- rnnbench:NAME -->`` marker of a page with its generated Markdown."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{where}: unknown marker <!-- rnnbench:{name} -->; known: {', '.join(GENERATORS)}")
        return GENERATORS[name]()

    return MARKER.sub(one, markdown)


# ------------------------------------------------------------------------------- docstring check


def documented_names(markdown: str) -> list[str]:
    """The objects a page documents with mkdocstrings (``::: dotted.name`` lines)."""
    return API_DIRECTIVE.findall(markdown)


def resolve(dotted: str) -> Any:
    """Import ``package.module.attr`` (the longest importable module prefix, then attributes)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def public_members(dotted: str, obj: Any) -> Iterator[tuple[str, Any]]:
    """What mkdocstrings shows of ``obj``: a module's ``__all__`` (else its public names defined
    there); a class's own public functions, properties and nested classes."""
    if inspect.ismodule(obj):
        names = getattr(obj, "__all__", None) or [
            n for n, v in vars(obj).items() if not n.startswith("_") and getattr(v, "__module__", None) == obj.__name__
        ]
        for n in names:
            value = getattr(obj, n)
            if inspect.isfunction(value) or inspect.isclass(value):
                yield f"{dotted}.{n}", value
    elif inspect.isclass(obj):
        for n, value in vars(obj).items():
            if n.startswith("_"):
                continue
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if inspect.isfunction(value) or isinstance(value, property) or inspect.isclass(value):
                yield f"{dotted}.{n}", value


def has_docstring(obj: Any) -> bool:
    doc = (
        obj.__doc__
        if isinstance(obj, property)
        else inspect.getdoc(obj)
        if not inspect.isclass(obj)
        else obj.__dict__.get("__doc__")
    )
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and doc and doc.startswith(obj.__name__ + "("):
        return False  # the signature dataclasses write when a class has no docstring
    return bool(doc and doc.strip())


def missing_docstrings(names: list[str]) -> list[str]:
    """The documented objects (and their public members) that have no docstring."""
    missing = []
    for dotted in names:
        obj = resolve(dotted)
        if not has_docstring(obj):
            missing.append(dotted)
        for member, value in public_members(dotted, obj):
            if not has_docstring(value):
                missing.append(member)
    return missing


def api_pages() -> dict[Path, list[str]]:
    """Every page under docs/ with ``:::`` directives, and the names it documents."""
    found = {}
    for page in sorted(DOCS.rglob("*.md")):
        names = documented_names(page.read_text())
        if names:
            found[page] = names
    return found


# --------------------------------------------------------------------------------- mkdocs events

OUTSIDE_LINK = re.compile(r"(\]\(|^\[[^\]]+\]:\s*)((?:\.\./)+)(results/[^)\s#]*)", re.MULTILINE)


def on_files(files: Any, config: Any) -> Any:
    """Add ``results/`` to the site: its Markdown as pages (outside the nav), the rest as is."""
    from mkdocs.structure.files import File, InclusionLevel

    for path in sorted(RESULTS.rglob("*")):
        if path.is_file():
            uri = path.relative_to(ROOT).as_posix()
            readme = uri == "results/README.md"  # in the nav; its page must not take results/index.html
            files.append(
                File(
                    uri,
                    str(ROOT),
                    config["site_dir"],
                    config["use_directory_urls"],
                    dest_uri="results/README/index.html" if readme else None,
                    inclusion=InclusionLevel.INCLUDED if readme else InclusionLevel.NOT_IN_NAV,
                )
            )
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Expand the markers, check the API pages' docstrings, point links into ``results/``."""
    where = page.file.src_uri
    if page.file.src_uri.startswith("results/"):
        return markdown
    markdown = expand(markdown, where)
    names = documented_names(markdown)
    if names:
        for name in missing_docstrings(names):
            log.warning("%s documents %s, which has no docstring: write one", where, name)
    depth = where.count("/")

    def relink(m: re.Match[str]) -> str:
        ups = m.group(2).count("../")
        if ups != depth + 1:  # not from the repository's root: leave it for mkdocs to report
            return m.group(0)
        return m.group(1) + "../" * depth + m.group(3)

    return OUTSIDE_LINK.sub(relink, markdown)


def on_post_build(config: Any) -> None:
    """The results' web page links to the tables' Markdown files: copy them beside their pages."""
    site = Path(config["site_dir"])
    for path in RESULTS.rglob("*.md"):
        target = site / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


__all__ = ["GENERATORS", "api_pages", "expand", "missing_docstrings"]
