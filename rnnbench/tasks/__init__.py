"""Sequence tasks, registered by name."""

from __future__ import annotations

from typing import Any

from rnnbench.registry import Registry
from rnnbench.tasks.adding import AddingTask
from rnnbench.tasks.base import Batch, IOSpec, Task
from rnnbench.tasks.copy import CopyTask
from rnnbench.tasks.cs.binary_addition import BinaryAdditionTask
from rnnbench.tasks.cs.binary_multiplication import BinaryMultiplicationTask
from rnnbench.tasks.cs.bucket_sort import BucketSortTask
from rnnbench.tasks.cs.compute_sqrt import ComputeSqrtTask
from rnnbench.tasks.cs.duplicate_string import DuplicateStringTask
from rnnbench.tasks.cs.missing_duplicate_string import MissingDuplicateStringTask
from rnnbench.tasks.cs.odds_first import OddsFirstTask
from rnnbench.tasks.dcf.modular_arithmetic_brackets import ModularArithmeticBracketsTask
from rnnbench.tasks.dcf.reverse_string import ReverseStringTask
from rnnbench.tasks.dcf.solve_equation import SolveEquationTask
from rnnbench.tasks.dcf.stack_manipulation import StackManipulationTask
from rnnbench.tasks.induction_heads import InductionHeadsTask
from rnnbench.tasks.mackey_glass import MackeyGlassTask
from rnnbench.tasks.mqar import MQARTask
from rnnbench.tasks.pixels import DigitsTask, MNISTTask, PermutedDigitsTask, PermutedMNISTTask
from rnnbench.tasks.regular.cycle_navigation import CycleNavigationTask
from rnnbench.tasks.regular.even_pairs import EvenPairsTask
from rnnbench.tasks.regular.modular_arithmetic import ModularArithmeticTask
from rnnbench.tasks.regular.parity_check import ParityCheckTask
from rnnbench.tasks.selective_copy import SelectiveCopyTask
from rnnbench.tasks.sine import SineTask
from rnnbench.tasks.word_problems.a4xz5 import A4xZ5Task
from rnnbench.tasks.word_problems.a5 import A5Task
from rnnbench.tasks.word_problems.s5 import S5Task
from rnnbench.tasks.word_problems.z60 import Z60Task

TASKS: Registry[type[Task]] = Registry("task")
for _cls in (
    CopyTask,
    AddingTask,
    SineTask,
    SelectiveCopyTask,
    MQARTask,
    MackeyGlassTask,
    DigitsTask,
    PermutedDigitsTask,
    MNISTTask,
    PermutedMNISTTask,
    # length generalisation (docs/formal.md): Delétang et al.'s regular, context-free and
    # context-sensitive tasks, the group word problems, induction heads
    ParityCheckTask,
    EvenPairsTask,
    CycleNavigationTask,
    ModularArithmeticTask,
    ReverseStringTask,
    StackManipulationTask,
    ModularArithmeticBracketsTask,
    SolveEquationTask,
    DuplicateStringTask,
    MissingDuplicateStringTask,
    OddsFirstTask,
    BinaryAdditionTask,
    BinaryMultiplicationTask,
    ComputeSqrtTask,
    BucketSortTask,
    S5Task,
    A5Task,
    Z60Task,
    A4xZ5Task,
    InductionHeadsTask,
):
    TASKS.add(_cls.name, _cls)


def make_task(name: str, preset: str | None = None, params: dict[str, Any] | None = None) -> Task:
    """Build a registered task; unknown names and bad parameters raise UsageError."""
    return TASKS.get(name)(preset, params)


__all__ = ["TASKS", "Batch", "IOSpec", "Task", "make_task"]
