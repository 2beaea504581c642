"""Sequence tasks, registered by name."""

from __future__ import annotations

from typing import Any

from rnnbench.registry import Registry
from rnnbench.tasks.adding import AddingTask
from rnnbench.tasks.base import Batch, IOSpec, Task
from rnnbench.tasks.copy import CopyTask
from rnnbench.tasks.mackey_glass import MackeyGlassTask
from rnnbench.tasks.mqar import MQARTask
from rnnbench.tasks.pixels import DigitsTask, MNISTTask, PermutedDigitsTask, PermutedMNISTTask
from rnnbench.tasks.selective_copy import SelectiveCopyTask
from rnnbench.tasks.sine import SineTask

TASKS: Registry[type[Task]] = Registry("task")
for _cls in (CopyTask, AddingTask, SineTask, SelectiveCopyTask, MQARTask, MackeyGlassTask,
             DigitsTask, PermutedDigitsTask, MNISTTask, PermutedMNISTTask):
    TASKS.add(_cls.name, _cls)


def make_task(name: str, preset: str | None = None, params: dict[str, Any] | None = None) -> Task:
    """Build a registered task; unknown names and bad parameters raise UsageError."""
    return TASKS.get(name)(preset, params)


__all__ = ["TASKS", "Batch", "IOSpec", "Task", "make_task"]
