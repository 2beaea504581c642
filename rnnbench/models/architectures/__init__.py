"""The built-in architectures, one module each, beside the parts a family shares
(``classic`` and ``reference``: the Elman/LSTM/GRU families and their step-by-step reference;
``minrnn``: minGRU and minLSTM; ``linear_attention``: the linear-attention family's layers).

Importing this package registers every built-in architecture in
:data:`rnnbench.models.contract.MODELS` (``import rnnbench.models`` does it). A new
architecture is one module here and one import below; the contract it declares and the
machinery around it (the harness's wrapper, users' models and blocks) live in
:mod:`rnnbench.models`.
"""

from __future__ import annotations

from rnnbench.models.architectures import (  # noqa: F401  (registration, in this order)
    deltanet,
    elman,
    exprnn,
    gated_deltanet,
    gla,
    gru,
    hawk,
    indrnn,
    irnn,
    lru,
    lstm,
    mamba,
    mamba2,
    mingru,
    minlstm,
    mlstm,
    rwkv7,
    slstm,
    transformer,
)
