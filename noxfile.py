"""nox sessions: tests, lint, bench, report, microbench, asv, docs.

Every session pins the same torch so numbers from different sessions compare;
``pyproject.toml`` keeps a range for users with their own (e.g. CUDA) build.
"""

from __future__ import annotations

import nox

TORCH = "torch==2.13.0"
# asv compares in two passes, each with its own factor (results/README.md, "The asv noise floor").
# ASV_FACTOR: instruction counts under callgrind (bench_models.Instructions), peak memory and the
# fixed-seed trainings, which do not depend on the machine's speed: on the 2-core VM (2026-12-02,
# whole sessions from a clone) the counts of b782452 -> 014170d moved by 0.983-1.002 and those of
# 634433b -> 47a54dd not at all, peak memory by 0.953-1.069, and the planted 25% slowdown of the
# LSTM's forward (benchmarks/planted-slowdown.patch) was flagged by its count (results/README.md).
ASV_FACTOR = "1.2"
# ASV_TIME_FACTOR: wall time. Measured on the same VM with the timings as they are (6 rounds
# interleaved across the commits, one thread, forkserver) over four pairs, b782452 -> 014170d and
# 634433b -> 47a54dd, which do not touch the models, 14abec9 -> planted-asv (35298df, a throwaway
# branch that slows the LSTM and the GRU) for every other model, and f99e2e3 -> b782452: asv flagged
# no fast-path timing of any pair at 1.4 (2 at 1.3). The VM slows for seconds at a time, unevenly
# across kernels, which no sampling scheme affordable in 20 minutes averaged out; a quieter machine
# can ask for less: nox -s asv -- A B --factor 1.1 (which sets both factors)
ASV_TIME_FACTOR = "1.4"
# the two passes' benchmarks (asv -b regular expressions)
ASV_EXACT = "Instructions|peakmem_|bench_models\\.track_"
ASV_TIMED = "time_|HarnessOverhead"
# asv continuous's options that take a value: what follows one is not a commit
_ASV_VALUE_OPTIONS = {"-b", "--bench", "-a", "--attribute", "-f", "--factor", "-m", "--machine", "-E", "--environment"}
_ASV_VALUE_OPTIONS |= {"--python", "--cpu-affinity", "--launch-method", "--sort", "--config"}

nox.options.default_venv_backend = "virtualenv"  # pip, which honours this machine's pip configuration
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]


def _install(session: nox.Session, extras: str = "") -> None:
    session.install(TORCH)  # first, so the package's torch range is already met
    session.install("-e", f".{extras}")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff's linter and formatter (check only) over the package, tests, benchmarks and docs hooks
    (the rules are in pyproject.toml); `ruff format .` applies the formatting."""
    session.install("ruff==0.17.6")  # pinned: another formatter release may lay out the same code differently
    paths = session.posargs or ["."]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests (benchmarks disabled), one pytest-xdist worker per core (`-- -n 0` runs them in one process)."""
    _install(session, "[test]")
    # worksteal: the slow tests (trainings, distributed sweeps) do not end up queued behind one worker;
    # the few that time themselves or read the machine's load then run alone
    session.run("pytest", "-n", "auto", "--dist", "worksteal", "--serial=skip", *session.posargs)
    session.run("pytest", "--serial=only", *session.posargs, success_codes=[0, 5])  # 5: none selected


def _profile(session: nox.Session) -> tuple[str, list[str]]:
    """``-- --profile NAME`` picks the profile (default quick); other posargs go to the sweep."""
    args = list(session.posargs)
    profile = "quick"
    if "--profile" in args:
        i = args.index("--profile")
        if i + 1 >= len(args):
            session.error("--profile needs a name or a TOML path, e.g. nox -s bench -- --profile full")
        profile = args[i + 1]
        del args[i : i + 2]
    return profile, args


@nox.session
def bench(session: nox.Session) -> None:
    """Run a benchmark profile (quick by default) into results/, then rebuild the report."""
    _install(session)
    profile, extra = _profile(session)
    session.run("rnnbench", "sweep", profile, "--out", "results", *extra)
    session.run("rnnbench", "report", "--results", "results")


@nox.session
def report(session: nox.Session) -> None:
    """Rebuild tables and figures from the records already in results/."""
    _install(session)
    session.run("rnnbench", "report", "--results", "results")


@nox.session
def microbench(session: nox.Session) -> None:
    """pytest-benchmark micro-benchmarks (one training step per cell, batch generation)."""
    _install(session, "[test]")
    session.run("pytest", "tests/microbench", "--benchmark-only", "--benchmark-enable", *session.posargs)


def _asv_commits(args: list[str]) -> list[str]:
    """The commits among ``asv continuous``'s arguments: not options, nor an option's value."""
    return [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] not in _ASV_VALUE_OPTIONS)]


@nox.session
def asv(session: nox.Session) -> None:
    """asv continuous between two commits (default HEAD~1 HEAD), in two passes, then asv publish.

    ``nox -s asv -- main HEAD`` compares main with HEAD: first the instruction counts, peak memory
    and trainings at ``ASV_FACTOR``, then the wall-time timings at ``ASV_TIME_FACTOR``. Further
    arguments go to ``asv continuous`` (e.g. ``--quick``); with ``-b`` the session runs one pass of
    those benchmarks (at the time factor), with ``--factor`` both passes use that factor. The site
    is in .asv/html.
    """
    session.install("asv", "virtualenv")
    args = list(session.posargs) or ["HEAD~1", "HEAD"]
    if len(_asv_commits(args)) != 2:
        session.error("give two commits, e.g. nox -s asv -- main HEAD")
    session.run("asv", "machine", "--yes")
    chosen = any(a in ("-b", "--bench") or a.startswith("--bench=") for a in args)
    passes = [(ASV_TIME_FACTOR, [])] if chosen else [(ASV_FACTOR, ["-b", ASV_EXACT]), (ASV_TIME_FACTOR, ["-b", ASV_TIMED])]
    for factor, bench in passes:
        # a --factor among args comes later and wins; exit 1 is asv's "a benchmark got worse"
        session.run("asv", "continuous", "--factor", factor, "--show-stderr", *bench, *args, success_codes=[0, 1])
    session.run("asv", "publish")
    session.log("asv site written to .asv/html; view it with: asv preview")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site (``mkdocs.yml``, ``docs/``) into ``site/`` with ``--strict``.

    A broken link, a page missing from the nav, a missing docstring in the API reference or a
    registry table that cannot be generated fails the build. ``nox -s docs -- serve`` serves
    the site at http://127.0.0.1:8000 while you edit instead.
    """
    _install(session, "[docs]")  # torch first: the hook builds the tables from rnnbench's registries
    session.env["NO_MKDOCS_2_WARNING"] = "1"  # Material's banner about its successor, printed on every build
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", "--strict", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs)
