"""Every architecture's ``reference`` pinned to its paper (DESIGN.md section 10): tiny worked
examples whose outputs, final state and gradient are known without rnnbench's code, from the
paper's equations in plain NumPy (paper_equations.py) or from the authors' own reference code
(authors_numbers.py, with the repository, file and commit that printed them). The equivalence
test (tests/test_models.py) then carries each check to every fast path.

Negative controls plant a wrong constant in the equations that every implementation of an
architecture shares and see the worked example fail.
"""

from __future__ import annotations

import pytest
import torch

import paper_equations
from arch_examples import EXAMPLES, Example
from authors_numbers import NUMBERS
from pinning import assert_matches, build_reference, run_reference
from rnnbench.models import MODELS


def expected(example: Example) -> dict:
    if example.source == "paper":
        return paper_equations.expected(example)
    return NUMBERS[example.id]


def check(example: Example) -> None:
    assert_matches(run_reference(example), expected(example), example)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_reference_reproduces_the_worked_example(example):
    check(example)


def test_every_registered_architecture_has_a_worked_example():
    covered = {e.model for e in EXAMPLES}
    missing = sorted(set(MODELS) - covered)
    assert not missing, (f"no worked example for {missing}: add one to tests/models/arch_examples.py "
                         "(docs/worked_examples.md)")


def test_every_example_from_authors_code_has_its_numbers_and_names_a_commit():
    for e in EXAMPLES:
        if e.source != "paper":
            assert e.id in NUMBERS, f"{e.id}: no numbers in authors_numbers.py"
            assert "@" in e.source and len(e.source.split("@")[-1].strip()) == 40, f"{e.id}: name the commit"
            want = NUMBERS[e.id]
            assert (e.grad and "grad" in want) or not e.grad, f"{e.id}: the example asks for a gradient"


def test_the_worked_examples_are_not_degenerate():
    """Each example moves its numbers: a state that stayed zero or an output that repeats would
    hide a missing term."""
    for e in EXAMPLES:
        want = expected(e)
        y = torch.tensor(want["output"])
        assert y.abs().max() > 1e-3 and y.std() > 1e-3, e.id
        assert not torch.allclose(y[0], y[1]), f"{e.id}: the two sequences give the same output"
        assert not torch.allclose(y[:, 0], y[:, -1]), f"{e.id}: first and last steps equal"
