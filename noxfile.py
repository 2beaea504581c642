"""nox sessions: tests, bench, report, microbench, asv.

Every session pins the same torch so numbers from different sessions compare;
``pyproject.toml`` keeps a range for users with their own (e.g. CUDA) build.
"""

from __future__ import annotations

import nox

TORCH = "torch==2.13.0"

nox.options.default_venv_backend = "virtualenv"  # pip, which honours this machine's pip configuration
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]


def _install(session: nox.Session, extras: str = "") -> None:
    session.install(TORCH)  # first, so the package's torch range is already met
    session.install("-e", f".{extras}")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests (benchmarks disabled)."""
    _install(session, "[test]")
    session.run("pytest", *session.posargs)
