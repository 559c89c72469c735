import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tests import gradcheck.py, the shared helper


def require_torch():
    """torch is the test oracle: in CI (SCRATCHDREAM_REQUIRE_TORCH=1) its absence fails; elsewhere the test
    skips."""
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


# ---- make test-fast: the gradient checks and unit tests, without what takes minutes ------------------
# Whole files that dream many pictures, train, start many subprocesses or compare full-size nets with torch.
SLOW_FILES = {
    "test_toyworld.py",  # 64 dreams at 256 px on two nets: the judged table
    "test_toyworld_photos.py",  # 60 dreams on photo-like skies up to 400 x 300
    "test_toyworld_train.py",  # trains small nets
    "test_bad_inputs.py",  # one CLI subprocess per bad input
    "test_fuzz_readers.py",  # thousands of mutated checkpoints, under resource limits
    "test_fuzz_images.py",  # mutated pictures
    "test_bench.py",  # times full-size architectures
    "test_zoo_vgg.py",  # full-size VGG16/19 against torch
    "test_zoo_keras.py",
    "test_zoo_alexnet_squeezenet.py",
    "test_zoo_googlenet.py",
    "test_zoo_tv_googlenet.py",
    "test_zoo_convert.py",
    "test_video_dask.py",  # starts Dask LocalClusters of 2 processes
    "test_zoo_resnet.py",  # full-size ResNet-18/50 and the Places365 checkpoints against torch
    "test_zoo_onnx.py",  # full-size VGG16 and GoogLeNet exported to ONNX, converted, dreamed
}
# Single tests elsewhere that run the CLI end to end or dream big pictures.
SLOW_NAMES = ("test_readme_command_runs", "bounded_memory", "end_to_end", "boundscheck")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: minutes of CPU; `make test-fast` leaves these out")
    # the cost model's cache (nets/cost.py): one calibration per test session, never in the user's folder
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="scratchdream-test-cache-")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_FILES or any(s in item.name for s in SLOW_NAMES):
            item.add_marker(pytest.mark.slow)
