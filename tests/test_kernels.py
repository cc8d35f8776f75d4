"""Whether charnn's optional C kernels are built. A missing one is a skip that says so in every run's
summary (pytest runs with -rs); where CI asks for them (CHARNN_REQUIRE_KERNELS=1, set by .ci/run,
whose scripts/setup.sh builds them) it is a failure, so a broken build cannot pass as "skipped".

    pytest -q tests/test_kernels.py
"""

from __future__ import annotations

import importlib
import os

import pytest

KERNELS = ["charnn.search._tilestats", "charnn.recording._pack", "charnn._lstm_cell",  # setup.py's extensions
           "charnn.attribution._halflife"]


@pytest.mark.parametrize("module", KERNELS)
def test_the_c_kernel_is_built(module):
    try:
        importlib.import_module(module)
        return
    except ImportError as err:
        message = (f"{module} is not built ({err}; no C compiler when charnn was installed?): "
                   "its tests are skipped and charnn uses torch ops instead")
    if os.environ.get("CHARNN_REQUIRE_KERNELS") == "1":
        pytest.fail(message)
    pytest.skip(message)
