"""The package's import graph: every module imports on its own in a fresh interpreter, and no
two modules import each other, not even through an import tucked inside a function (the usual
way to dodge a cycle, which only moves the failure to the first call)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import rnnbench

ROOT = Path(rnnbench.__file__).parent


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The rnnbench modules ``name`` imports anywhere in its file. ``from pkg import sub`` of a
    submodule is an edge to the submodule only (the package's own ``__init__`` may import it)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])])
            subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
            found |= subs
            if len(subs) < len(node.names):
                found.add(base)
    return {m for m in found if m in known and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_import_graph_has_no_cycle():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert "rnnbench.cells" in graph["rnnbench.executors"] and "rnnbench.cells" in graph["rnnbench.sweep"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_sees_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(m for m in modules() if not m.endswith("__main__"))  # that one runs the command line
    code = f"import importlib, sys\nfor name in {names!r}:\n    importlib.import_module(name)\n    print(name)\n"
    proc = subprocess.run([sys.executable, "-c", "import rnnbench.sweep, rnnbench.executors"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == names


def test_importing_rnnbench_runs_no_parallel_op():
    """A torch op at import (the word-problem group tables used to index a tensor) starts torch's
    thread pool, and a process forked after the import (asv's forkserver, a multiprocessing
    fork) hangs on its first parallel op. Here a child forked after importing every task, model
    and the command line runs a 2-thread op; with the old import it never returned."""
    code = (
        "import os, torch; torch.set_num_threads(2)\n"
        "import rnnbench.cli, rnnbench.tasks, rnnbench.models\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    torch.ones(1 << 20).add_(1).sum(); os._exit(0)\n"
        "os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=120)
    assert done.returncode == 0
