import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tests import gradcheck.py, the shared helper


def require_torch():
    """torch is the test oracle: in CI (SCRATCHDREAM_REQUIRE_TORCH=1) its absence fails, elsewhere it skips."""
    try:
        import torch
    except ImportError:
        if os.environ.get("SCRATCHDREAM_REQUIRE_TORCH") or os.environ.get("CI"):
            pytest.fail("torch==2.13.0 is required in CI: `pip install -e .[test]`")
        pytest.skip("torch not installed (it is the test oracle: pip install -e .[test])")
    torch.set_num_threads(2)
    return torch


@pytest.fixture
def torch():
    return require_torch()
