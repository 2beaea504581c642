"""The native kernel for the tests that run it: built (about 20 s, once per machine) or loaded;
they skip where no compiler or ninja is found, unless RNNBENCH_REQUIRE_NATIVE=1 (as in .ci/run),
where that fails."""

import os

import pytest

from rnnbench.ops import native


@pytest.fixture
def built():
    """The native kernel's operators, built (or loaded) here."""
    if (why := native.unavailable()) is not None:
        if os.environ.get("RNNBENCH_REQUIRE_NATIVE") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return native.ops()
