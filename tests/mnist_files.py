"""Small IDX files, written the way MNIST's are, for the tests."""

import gzip

import numpy as np


def write_idx(path, array, magic, gz):
    """``array`` as an IDX file: magic, one big-endian uint32 per dimension, uint8 data."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)
