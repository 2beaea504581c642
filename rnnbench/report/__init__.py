"""Tables (Markdown, CSV, LaTeX) and figures from run records, one report section at a time.

The sections are registered in ``rnnbench.sections``; each lives in its own module here
(``accuracy``, ``retention``, ``gradient_flow``, ``paper``, ``throughput``, ``speedup``). The
shared parts are split by concern: ``labels`` (one row per record, the cells a table groups by,
row and column labels, provenance), ``rnnbench.stats`` (intervals and tests) with ``best`` (the
best entry of a row and whether its lead is significant), ``formats`` (Markdown and CSV) with
``latex`` (the tables for papers), and ``build`` (the ``report`` command itself and its manifest).
"""

from rnnbench.report.build import report
from rnnbench.report.labels import task_label, throughput_frame, train_frame
from rnnbench.report.paper import paper_comparison
from rnnbench.report.retention import retention_table
from rnnbench.report.throughput import throughput_table

__all__ = ["paper_comparison", "report", "retention_table", "task_label", "throughput_frame", "throughput_table", "train_frame"]
