"""docs/ops_matrix.md: its examples run as written and print what the page says."""

import re
from pathlib import Path

import torch

PAGE = Path(__file__).resolve().parents[2] / "docs" / "ops_matrix.md"


def test_the_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    exec("\n".join(blocks), namespace)  # one session, in the page's order
    assert namespace["y"].shape == (2, 100, 4, 16)  # ssd's output, as its comment says
    assert namespace["h"].shape == (2, 100, 4, 32)  # mlstm's (it reuses the name h)
    assert namespace["o"].shape == (16, 1024, 2, 32)  # the registry example: 2 heads of 32 at hidden = 64


def test_the_error_line_is_the_ops_own():
    from rnnbench.errors import UsageError
    from rnnbench.ops import delta_rule

    quoted = re.search(r"`(delta_rule: beta has shape [^`]*)`", PAGE.read_text()).group(1)
    try:
        delta_rule(torch.randn(2, 5, 2, 4), torch.randn(2, 5, 2, 4), torch.randn(2, 5, 2, 3), torch.rand(2, 5, 2, 1))
    except UsageError as err:
        assert str(err) == quoted
    else:
        raise AssertionError("no UsageError")
