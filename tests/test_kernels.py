"""The two kernel sets: a dream on the NumPy references (layers/) and on the Numba kernels (layers/fast/)
gives the same picture, chosen by sd.use_kernels or SCRATCHDREAM_KERNELS; a wrong name is one line."""

import os
import subprocess
import sys

import numpy as np
import pytest
from dream_pictures import sky
from gradcheck import assert_close
from PIL import Image

import scratchdream as sd
from scratchdream import cli, layers
from scratchdream.errors import UsageError
from scratchdream.layers import kernel_sets

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def restore_kernels():
    """Put back the kernel set in use before the test."""
    before = layers.kernels()
    yield
    layers.use_kernels(before.name)


@pytest.fixture(scope="module")
def toyworld():
    return sd.load_net("toyworld")


def _python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": REPO, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_use_kernels_switches_every_layer(restore_kernels):
    sd.use_kernels("reference")
    assert layers.kernels() is layers.REFERENCE and layers.kernels().conv is layers.conv
    sd.use_kernels("fast")
    assert (
        layers.kernels().name == "fast" and layers.kernels().conv.__name__ == "scratchdream.layers.fast.conv"
    )
    with pytest.raises(UsageError, match="use_kernels: no kernel set 'numpy'; use 'fast'"):
        sd.use_kernels("numpy")
    assert layers.kernels().name == "fast"  # a refused name changes nothing


def test_both_kernel_sets_give_the_same_gradient_on_toyworld(toyworld, restore_kernels):
    """One step of slide 34 in float64 on the trained net: the chain through every layer, both ways. The
    picture is noise: a plain sky has exact ties in the max pools, which the last bit decides."""
    noise = np.random.default_rng(2).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    x = toyworld.preprocess(noise).astype(np.float64)
    grads = {}
    for name in ("reference", "fast"):
        sd.use_kernels(name)
        h = toyworld.forward(x, upto="conv3")
        grads[name] = toyworld.backward(2 * h)
    assert np.abs(grads["fast"]).max() > 0
    assert_close("dL/dI fast vs reference", grads["fast"], grads["reference"], 1e-10)


def test_a_dream_on_the_references_looks_like_the_fast_one(toyworld, restore_kernels):
    """A few float32 steps: close, not bitwise (a max-pool winner can flip on a rounding difference, and the
    steps compound it), and the two differ far less than the dream changed the picture."""
    img = sky(64, 96, seed=0)
    out = {}
    for name in ("reference", "fast"):
        sd.use_kernels(name)
        out[name] = sd.dream(toyworld, img, octaves=2, steps=3, progress=False, seed=1).astype(np.int64)
    change = np.abs(out["fast"] - img).mean()
    diff = np.abs(out["fast"] - out["reference"])
    assert change > 2.0, "the dream hardly changed the picture: the comparison below would prove nothing"
    # robust toy net (2026-12-03): mean difference 0.26 against a change of 6.75, 95.6% of values within 1
    assert diff.mean() < 0.05 * change and np.mean(diff <= 1) > 0.9, (diff.mean(), change, diff.max())


def test_cli_dream_on_the_references_end_to_end(tmp_path):
    """SCRATCHDREAM_KERNELS=reference python -m scratchdream dream ...: runs, writes the picture, and never
    imports Numba (a student can step through nothing but NumPy)."""
    Image.fromarray(sky(48, 64, seed=0)).save(tmp_path / "sky.png")
    code = (
        "import sys; from scratchdream import cli; code = cli.main(sys.argv[1:]); "
        "print('numba loaded' if 'numba' in sys.modules else 'numba not loaded'); sys.exit(code)"
    )
    argv = ["dream", str(tmp_path / "sky.png"), "--net", "toyworld", "--octaves", "2", "--steps", "2"]
    r = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env={**os.environ, "PYTHONPATH": REPO, "SCRATCHDREAM_KERNELS": "reference"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "numba not loaded" in r.stdout, r.stdout
    with Image.open(tmp_path / "sky_dream.png") as im:
        assert im.size == (64, 48)


def test_cli_module_runs_on_the_references(tmp_path):
    """The command exactly as a user types it: SCRATCHDREAM_KERNELS=reference python -m scratchdream dream."""
    Image.fromarray(sky(48, 64, seed=1)).save(tmp_path / "sky.png")
    r = subprocess.run(
        [sys.executable, "-m", "scratchdream", "dream", "sky.png", "--net", "toyworld", "--steps", "2"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": REPO, "SCRATCHDREAM_KERNELS": "reference"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "sky_dream.png").is_file()


def test_a_bad_kernels_variable_is_one_line(tmp_path, monkeypatch, capsys):
    Image.fromarray(sky(48, 64, seed=0)).save(tmp_path / "sky.png")
    monkeypatch.setenv("SCRATCHDREAM_KERNELS", "gpu")
    # as in a fresh process: the variable is read on first use
    monkeypatch.setattr(kernel_sets, "_active", None)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["dream", "sky.png", "--net", "toyworld", "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip() == (
        "scratchdream: error: SCRATCHDREAM_KERNELS: no kernel set 'gpu'; "
        "use 'fast' (the default) or 'reference'"
    )
    assert not (tmp_path / "sky_dream.png").exists()


def test_the_compile_note_counts_every_cached_kernel_of_layers_fast():
    """cache.MODULES lists every module of layers/fast/ that holds a cached Numba kernel, so the first-run
    note's time covers a kernel added with a new layer too."""
    import importlib
    import pkgutil

    from scratchdream.layers import fast
    from scratchdream.layers.fast import cache

    holding = set()
    for info in pkgutil.iter_modules(fast.__path__):
        module = importlib.import_module(f"scratchdream.layers.fast.{info.name}")
        if any(
            getattr(obj, "_cache", None) is not None and hasattr(obj, "py_func")
            for obj in vars(module).values()
        ):
            holding.add(module.__name__)
    assert holding and holding <= {m.__name__ for m in cache.MODULES}, holding - {
        m.__name__ for m in cache.MODULES
    }
