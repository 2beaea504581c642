"""rnnbench: a benchmark and reproducibility harness for recurrent neural networks."""

__version__ = "0.1.0"
