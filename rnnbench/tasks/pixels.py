"""Images read one pixel per step, classified at the last step: real data with long
dependencies (Le, Jaitly & Hinton 2015, IRNN; Li et al. 2018, IndRNN, Table 1).

``sdigits`` / ``pdigits``: scikit-learn's bundled ``load_digits`` (1,797 8×8
images, values 0..16, no download), T = 64, pixels / 16. A fixed stratified split
(``train_test_split(test_size=0.2, stratify=labels, random_state=0)``: 1,437 train,
360 test). ``pdigits`` reads the pixels in the fixed order
``numpy.random.RandomState(92916).permutation(64)``.

``smnist`` / ``pmnist``: MNIST from the standard IDX files (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
each gzipped or not) in the directory given by ``--set task.path=DIR``; the 60,000
training images train, the 10,000 test images evaluate. T = 784, pixels / 255.
``pmnist`` uses ``numpy.random.RandomState(92916).permutation(784)``, the
permutation of the expRNN code (Lezcano-Casado & Martínez-Rubio 2019).

Worked example (``sdigits``): image i of the training split is the sequence
``x = pixels_i.flatten() / 16`` as ``(64, 1)``, target ``y = label_i`` read at step 64;
``pdigits`` feeds ``x[perm]`` instead.

Training batches are drawn from the training split, with replacement, by the run's
data generator. The held-out set is the whole test split, or, when
``train.eval_size`` is smaller, a fixed subset (a fixed-seed permutation's first
``eval_size``; the record says which). Metrics: ``acc`` and ``ce`` at the last step.
Baseline: the majority class's share of the test split. Published test accuracies
(IndRNN paper, Table 1, s/p MNIST): LSTM 98.2/88.0, IRNN 97.0/82.0, IndRNN 99.0/96.0.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from rnnbench.config import require
from rnnbench.errors import UsageError
from rnnbench.tasks.base import Batch, IOSpec, SolvedRule, Task

EXPRNN_PERMUTATION_SEED = 92916
IDX_FILES = {  # split -> (images, labels)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # (N, T) uint8 pixels
    labels: torch.Tensor  # (N,) long


class PixelTask(Task):
    """A classification dataset read pixel by pixel; subclasses load the splits."""

    n_classes: ClassVar[int] = 10
    max_pixel: ClassVar[float]
    permuted: ClassVar[bool] = False
    primary_metric = "acc"

    @property
    def spec(self) -> IOSpec:
        return IOSpec("real", 1, "classes", self.n_classes, "last")

    def splits(self) -> dict[str, Split]:
        raise NotImplementedError

    @functools.cached_property
    def _data(self) -> dict[str, Split]:
        splits = self.splits()
        if self.permuted:
            order = torch.from_numpy(np.random.RandomState(EXPRNN_PERMUTATION_SEED).permutation(splits["train"].images.shape[1]))
            splits = {k: Split(s.images[:, order], s.labels) for k, s in splits.items()}
        return splits

    @functools.lru_cache(maxsize=4)  # noqa: B019  (one task object per run; its splits moved once per device)
    def _on(self, device: str) -> dict[str, Split]:
        return {k: Split(s.images.to(device), s.labels.to(device)) for k, s in self._data.items()}

    def _batch(self, split: Split, index: torch.Tensor) -> Batch:
        x = split.images[index].float() / self.max_pixel  # (B, T), on the split's device
        return Batch(x.unsqueeze(-1), split.labels[index])

    def sample(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu", split: str = "train"
    ) -> Batch:
        data = self._on(str(torch.device(device)))[split]  # uint8 on the device: no host copy per step
        index = torch.randint(0, len(data.labels), (batch_size,), generator=generator, device=data.labels.device)
        return self._batch(data, index)

    def evaluation(self, size: int, generator: torch.Generator, device: torch.device | str = "cpu") -> Batch:
        test = self._on(str(torch.device(device)))["test"]
        n = len(test.labels)
        if size >= n:
            return self._batch(test, torch.arange(n, device=test.labels.device))
        order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
        return self._batch(test, order[:size].sort().values.to(test.labels.device))

    def evaluation_note(self, size: int) -> str:
        n = len(self._data["test"].labels)
        if size >= n:
            return f"the whole test split ({n} images)"
        return f"a fixed subset of {size} of the {n} test images (the first {size} of randperm({n}) seeded 0)"

    def loss(self, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(output[:, -1], batch.y)

    def metrics(self, output: torch.Tensor, batch: Batch) -> dict[str, float]:
        logits = output[:, -1]
        return {"acc": float((logits.argmax(-1) == batch.y).float().mean()), "ce": float(F.cross_entropy(logits, batch.y))}

    def baselines(self, batch: Batch) -> dict[str, float]:
        counts = torch.bincount(batch.y, minlength=self.n_classes)
        return {"baseline": float(counts.max()) / len(batch.y), "chance_ce": math.log(self.n_classes)}


@dataclass(frozen=True)
class DigitsParams:
    def validate(self) -> None:
        pass


@functools.lru_cache(maxsize=1)
def digits_splits() -> dict[str, Split]:
    """scikit-learn's digits in the fixed stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(images, labels, test_size=0.2, stratify=labels, random_state=0)
    as_split = lambda x, y: Split(torch.tensor(x, dtype=torch.uint8), torch.tensor(y, dtype=torch.long))  # noqa: E731
    return {"train": as_split(xtr, ytr), "test": as_split(xte, yte)}


class DigitsTask(PixelTask):
    name = "sdigits"
    version = 1
    Params = DigitsParams
    presets = {"sklearn": "scikit-learn's 8x8 digits, one pixel per step (T=64), stratified 80/20 split"}
    default_preset = "sklearn"
    max_pixel = 16.0
    rule = SolvedRule("acc", ">=", 0.95)

    def splits(self) -> dict[str, Split]:
        return digits_splits()


class PermutedDigitsTask(DigitsTask):
    name = "pdigits"
    presets = {"sklearn": "sdigits with the pixels in a fixed random order (RandomState(92916).permutation(64))"}
    permuted = True


@dataclass(frozen=True)
class MNISTParams:
    path: str = ""  # directory holding the four IDX files

    def validate(self) -> None:
        require(
            bool(self.path),
            "task.path is not set; MNIST is read from the standard IDX files "
            "(train-images-idx3-ubyte and the rest, gzipped or not): give their "
            "directory with --set task.path=DIR",
        )
        for split in IDX_FILES.values():
            for stem in split:
                idx_file(self.path, stem)


def idx_file(directory: str, stem: str) -> Path:
    """The IDX file ``stem`` (or ``stem.gz``) in ``directory``; UsageError naming it when missing."""
    for name in (stem, stem + ".gz"):
        path = Path(directory) / name
        if path.is_file():
            return path
    raise UsageError(
        f"MNIST file {Path(directory) / stem} (or {stem}.gz) not found; task.path must be a "
        "directory with the four standard IDX files from http://yann.lecun.com/exdb/mnist/"
    )


def read_idx(path: Path, magic: int) -> np.ndarray:
    """One IDX file (big-endian header: magic, then one uint32 per dimension; uint8 data)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise UsageError(f"MNIST file {path} cannot be read ({exc}); expected an IDX file, gzipped or not") from None
    ndim = magic - 2048
    header = 4 * (1 + ndim)
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
        raise UsageError(
            f"MNIST file {path} is not an IDX file of {'images' if ndim == 3 else 'labels'}: "
            f"expected magic number {magic}, found {found}"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise UsageError(
            f"MNIST file {path} is truncated or padded: its header says {shape}, {expected} bytes, but it has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@functools.lru_cache(maxsize=2)
def mnist_splits(directory: str) -> dict[str, Split]:
    out = {}
    for split, (images_stem, labels_stem) in IDX_FILES.items():
        images_path, labels_path = idx_file(directory, images_stem), idx_file(directory, labels_stem)
        images, labels = read_idx(images_path, 2051), read_idx(labels_path, 2049)
        if images.shape[1:] != (28, 28):
            raise UsageError(f"MNIST file {images_path} holds {images.shape[1]}x{images.shape[2]} images; expected 28x28")
        if len(images) != len(labels):
            raise UsageError(f"MNIST files {images_path} and {labels_path} disagree: {len(images)} images, {len(labels)} labels")
        if labels.size and labels.max() > 9:
            raise UsageError(f"MNIST file {labels_path} has label {labels.max()}; expected digits 0..9")
        out[split] = Split(torch.from_numpy(images.reshape(len(images), -1).copy()), torch.from_numpy(labels.astype(np.int64)))
    return out


@functools.lru_cache(maxsize=2)
def mnist_sha256(directory: str) -> str:
    """One digest of the four files' decompressed contents: the data's identity, whatever its path."""
    h = hashlib.sha256()
    for split in ("train", "test"):
        s = mnist_splits(directory)[split]
        h.update(s.images.numpy().tobytes())
        h.update(s.labels.numpy().tobytes())
    return h.hexdigest()[:16]


class MNISTTask(PixelTask):
    name = "smnist"
    version = 1
    Params = MNISTParams
    presets = {"lecun1998": "MNIST from the IDX files in task.path, one pixel per step (T=784)"}
    default_preset = "lecun1998"
    max_pixel = 255.0
    rule = SolvedRule("acc", ">=", 0.98)  # the LSTM's published 98.2% (IndRNN paper, Table 1)

    def splits(self) -> dict[str, Split]:
        return mnist_splits(str(Path(self.params.path).resolve()))

    def identity(self) -> dict:
        """Parameters for the cell key: the data's digest instead of where it lies."""
        return {"data_sha256": mnist_sha256(str(Path(self.params.path).resolve()))}


class PermutedMNISTTask(MNISTTask):
    name = "pmnist"
    presets = {"lecun1998": "smnist with the expRNN code's fixed permutation (RandomState(92916).permutation(784))"}
    permuted = True
    rule = SolvedRule("acc", ">=", 0.88)  # the LSTM's published 88.0% (IndRNN paper, Table 1)
