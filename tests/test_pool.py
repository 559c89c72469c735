"""Pooling: the output-size rule, kernel == NumPy reference (ties included), gradient checks, PyTorch oracle."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.errors import UserError
from scratchdream.layers import pool


def _cases(rng, count, symmetric=False):
    """Random pooling set-ups: odd and even sizes, stride 1-3, padding up to k-1 (k/2 for torch), ceil or floor."""
    out = []
    while len(out) < count:
        kh, kw = rng.integers(1, 5, size=2)
        sh, sw = rng.integers(1, 4, size=2)
        if symmetric:  # torch: one pad per axis, at most half the kernel
            ph, pw = rng.integers(0, kh // 2 + 1), rng.integers(0, kw // 2 + 1)
            pad = [ph, ph, pw, pw]
        else:
            pad = [rng.integers(0, kh), rng.integers(0, kh), rng.integers(0, kw), rng.integers(0, kw)]
        shape = (
            int(rng.integers(1, 3)),
            int(rng.integers(1, 4)),
            int(rng.integers(kh, 14)),
            int(rng.integers(kw, 14)),
        )
        hp = {
            "kernel": [int(kh), int(kw)],
            "stride": [int(sh), int(sw)],
            "pad": [int(p) for p in pad],
            "ceil": bool(rng.integers(0, 2)),
            "count_pad": bool(rng.integers(0, 2)),
        }
        out.append((shape, hp))
    return out


def _spaced(rng, shape, dtype=np.float64):
    """A shuffled arange times 0.01: all values distinct and 0.01 apart, so a +/-1e-6 finite-difference step
    can never change which element wins a max window (no ties, no crossing)."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0).astype(dtype)


# ---- output size ---------------------------------------------------------------------------------
def test_ceil_rule_by_hand():
    # 15 -> 7 with 3/2 (both modes); 14 -> 7 ceil vs 6 floor.
    # H=3, k=3, s=2, pad 1, ceil: ceil((3+2-3)/2)+1 = 3, but window 2 starts at 2*2-1 = 3 = H, in the padding: -> 2
    # H=4, k=2, s=3, pad 1, ceil: ceil((4+2-2)/3)+1 = 3, but window 2 starts at 2*3-1 = 5 >= H: dropped -> 2
    shape = lambda H, k, s, p, ceil: pool.pool_shape(
        [(1, H, H)], {"kernel": k, "stride": s, "pad": p, "ceil": ceil}
    )[1]
    assert shape(15, 3, 2, 0, True) == 7 and shape(15, 3, 2, 0, False) == 7
    assert shape(14, 3, 2, 0, True) == 7 and shape(14, 3, 2, 0, False) == 6
    assert shape(3, 3, 2, 1, True) == 2
    assert shape(4, 2, 3, 1, True) == 2
    assert shape(2, 3, 1, 0, True) == 0  # smaller than the window: no output at all


def test_ceil_rule_matches_torch(torch):
    F = torch.nn.functional
    for H in (112, 56, 28, 14, 113, 57, 300, 301, 5, 4, 3):
        for k, s, p in ((3, 2, 0), (3, 2, 1), (3, 1, 1), (2, 2, 0), (2, 2, 1), (2, 3, 1), (3, 3, 1)):
            for ceil in (True, False):
                want = F.max_pool2d(torch.zeros(1, 1, H, H + 1), k, s, p, ceil_mode=ceil).shape[2:]
                got = pool.pool_shape([(1, H, H + 1)], {"kernel": k, "stride": s, "pad": p, "ceil": ceil})[1:]
                assert tuple(got) == tuple(want), (H, k, s, p, ceil)


def test_bad_geometry_is_one_line_user_error():
    with pytest.raises(UserError, match="padding"):
        pool.maxpool_forward(np.zeros((1, 1, 8, 8)), {"kernel": 2, "stride": 2, "pad": 2})
    with pytest.raises(UserError, match="smaller than"):
        pool.maxpool_forward(np.zeros((1, 1, 2, 8)), {"kernel": 3, "stride": 2, "pad": 0})


# ---- kernel == reference -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_kernel_matches_reference_with_ties(dtype):
    rng = np.random.default_rng(1)
    for shape, hp in _cases(rng, 25):
        x = rng.integers(0, 3, size=shape).astype(dtype)  # three values only: ties in most windows
        y, (arg, x_shape, g) = pool.maxpool_forward(x, hp)
        y_ref, arg_ref = pool._maxpool_ref(x, g, *y.shape[2:])
        assert y.dtype == dtype and arg.dtype == np.uint8
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(arg, arg_ref)  # the same winner: the first maximum
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx = pool.maxpool_backward(dy, (arg, x_shape, g))
        assert_close("maxpool backward", dx, pool._maxpool_backward_ref(dy, arg, x_shape, g), 1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avgpool_kernel_matches_reference(dtype):
    rng = np.random.default_rng(2)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for shape, hp in _cases(rng, 25):
        x = rng.standard_normal(shape).astype(dtype)
        y, cache = pool.avgpool_forward(x, hp)
        g = cache[1]
        assert y.dtype == dtype
        assert_close("avgpool forward", y, pool._avgpool_ref(x, g, *y.shape[2:], hp["count_pad"]), tol)
        dy = rng.standard_normal(y.shape).astype(dtype)
        assert_close(
            "avgpool backward",
            pool.avgpool_backward(dy, cache),
            pool._avgpool_backward_ref(dy, x.shape, g, hp["count_pad"]),
            tol,
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_kernel_matches_reference(dtype):
    rng = np.random.default_rng(3)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for H, W, oh, ow in ((7, 7, 1, 1), (13, 11, 3, 4), (5, 9, 5, 9), (6, 10, 4, 7), (3, 3, 5, 6)):
        x = rng.standard_normal((2, 3, H, W)).astype(dtype)
        y, cache = pool.adaptive_avgpool_forward(x, {"size": [oh, ow]})
        assert y.shape == (2, 3, oh, ow) and y.dtype == dtype
        assert_close("adaptive forward", y, pool._adaptive_ref(x, oh, ow), tol)
        dy = rng.standard_normal(y.shape).astype(dtype)
        assert_close(
            "adaptive backward",
            pool.adaptive_avgpool_backward(dy, cache),
            pool._adaptive_backward_ref(dy, x.shape),
            tol,
        )


# ---- gradient checks (float64, central differences) --------------------------------------------------
def test_maxpool_gradient():
    rng = np.random.default_rng(4)
    for shape, hp in _cases(rng, 8):
        x = _spaced(rng, shape)  # distinct values 0.01 apart: no ties within +/-h
        y, cache = pool.maxpool_forward(x, hp)
        dy = rng.standard_normal(y.shape)
        num = numerical_vjp(lambda a: pool.maxpool_forward(a, hp)[0], x, dy)
        assert_close(f"maxpool dx {hp}", pool.maxpool_backward(dy, cache), num, 1e-6)


def test_avgpool_gradient():
    rng = np.random.default_rng(5)
    for shape, hp in _cases(rng, 8):
        x = rng.standard_normal(shape)  # linear layer: no kinks to avoid
        y, cache = pool.avgpool_forward(x, hp)
        dy = rng.standard_normal(y.shape)
        num = numerical_vjp(lambda a: pool.avgpool_forward(a, hp)[0], x, dy)
        assert_close(f"avgpool dx {hp}", pool.avgpool_backward(dy, cache), num, 1e-6)


def test_adaptive_gradient():
    rng = np.random.default_rng(6)
    for H, W, oh, ow in ((7, 6, 3, 4), (5, 5, 1, 1), (4, 9, 3, 2)):
        x = rng.standard_normal((2, 2, H, W))
        y, cache = pool.adaptive_avgpool_forward(x, {"size": [oh, ow]})
        dy = rng.standard_normal(y.shape)
        num = numerical_vjp(lambda a: pool.adaptive_avgpool_forward(a, {"size": [oh, ow]})[0], x, dy)
        assert_close("adaptive dx", pool.adaptive_avgpool_backward(dy, cache), num, 1e-6)


# ---- PyTorch oracle ------------------------------------------------------------------------------
def _torch_pool(torch, fn, x, dy, **kw):
    t = torch.tensor(x, requires_grad=True)
    y = fn(t, **kw)
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), t.grad.numpy()


def test_maxpool_matches_torch_including_ties(torch):
    rng = np.random.default_rng(7)
    for shape, hp in _cases(rng, 25, symmetric=True):
        x = rng.integers(0, 3, size=shape).astype(np.float64)  # ties: torch also keeps the first maximum
        y, cache = pool.maxpool_forward(x, hp)
        dy = rng.standard_normal(y.shape)
        (kh, kw), (sh, sw), (ph, _, pw, _) = hp["kernel"], hp["stride"], hp["pad"]
        ty, tdx = _torch_pool(
            torch,
            torch.nn.functional.max_pool2d,
            x,
            dy,
            kernel_size=(kh, kw),
            stride=(sh, sw),
            padding=(ph, pw),
            ceil_mode=hp["ceil"],
        )
        np.testing.assert_array_equal(y, ty)
        assert_close(f"maxpool dx vs torch {hp}", pool.maxpool_backward(dy, cache), tdx, 1e-12)


def test_avgpool_matches_torch(torch):
    rng = np.random.default_rng(8)
    for shape, hp in _cases(rng, 25, symmetric=True):
        x = rng.standard_normal(shape)
        y, cache = pool.avgpool_forward(x, hp)
        dy = rng.standard_normal(y.shape)
        (kh, kw), (sh, sw), (ph, _, pw, _) = hp["kernel"], hp["stride"], hp["pad"]
        ty, tdx = _torch_pool(
            torch,
            torch.nn.functional.avg_pool2d,
            x,
            dy,
            kernel_size=(kh, kw),
            stride=(sh, sw),
            padding=(ph, pw),
            ceil_mode=hp["ceil"],
            count_include_pad=hp["count_pad"],
        )
        assert_close(f"avgpool vs torch {hp}", y, ty, 1e-12)
        assert_close(f"avgpool dx vs torch {hp}", pool.avgpool_backward(dy, cache), tdx, 1e-12)


def test_adaptive_matches_torch(torch):
    rng = np.random.default_rng(9)
    for H, W, oh, ow in ((7, 7, 1, 1), (13, 11, 3, 4), (6, 10, 4, 7), (3, 3, 5, 6), (14, 14, 6, 6)):
        x = rng.standard_normal((2, 3, H, W))
        y, cache = pool.adaptive_avgpool_forward(x, {"size": [oh, ow]})
        dy = rng.standard_normal(y.shape)
        ty, tdx = _torch_pool(torch, torch.nn.functional.adaptive_avg_pool2d, x, dy, output_size=(oh, ow))
        assert_close("adaptive vs torch", y, ty, 1e-12)
        assert_close("adaptive dx vs torch", pool.adaptive_avgpool_backward(dy, cache), tdx, 1e-12)


def test_keras_same_padding_counts_only_real_pixels():
    # 3x3 window, stride 1, pad 1, count_pad=False: the corner output averages the 4 real pixels it covers
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    y, _ = pool.avgpool_forward(x, {"kernel": 3, "stride": 1, "pad": 1, "count_pad": False})
    assert y[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 4
    y, _ = pool.avgpool_forward(x, {"kernel": 3, "stride": 1, "pad": 1, "count_pad": True})
    assert y[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 9


def test_maxpool_nan_wins_like_the_reference():
    # a NaN activation must not hide behind a max: the first NaN of a window wins, in kernel and reference
    rng = np.random.default_rng(10)
    x = rng.standard_normal((1, 2, 9, 8))
    x[0, 0, 1, 2] = x[0, 0, 2, 1] = x[0, 1, 8, 7] = np.nan
    hp = {"kernel": 3, "stride": 2, "pad": 1, "ceil": True}
    y, (arg, _, g) = pool.maxpool_forward(x, hp)
    y_ref, arg_ref = pool._maxpool_ref(x, g, *y.shape[2:])
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    assert np.isnan(y[0, 0, 1, 1]) and np.isnan(y[0, 1, -1, -1])


def test_parallel_path_matches_reference():
    # above PARALLEL_MIN elements the kernels run on every thread: planes must not interfere
    from scratchdream.layers._threads import PARALLEL_MIN

    rng = np.random.default_rng(11)
    x = rng.integers(0, 5, size=(2, 8, 48, 47)).astype(np.float32)  # ties again
    assert x.size >= PARALLEL_MIN
    for hp in (
        {"kernel": 3, "stride": 2, "pad": 1, "ceil": True, "count_pad": False},
        {"kernel": 3, "stride": 1, "pad": 1, "ceil": True, "count_pad": True},
    ):
        y, (arg, shape, g) = pool.maxpool_forward(x, hp)
        y_ref, arg_ref = pool._maxpool_ref(x, g, *y.shape[2:])
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(arg, arg_ref)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        assert_close(
            "maxpool dx parallel",
            pool.maxpool_backward(dy, (arg, shape, g)),
            pool._maxpool_backward_ref(dy, arg, shape, g),
            1e-6,
        )
        ya, ca = pool.avgpool_forward(x, hp)
        assert_close("avgpool parallel", ya, pool._avgpool_ref(x, g, *ya.shape[2:], hp["count_pad"]), 1e-6)
        assert_close(
            "avgpool dx parallel",
            pool.avgpool_backward(dy, ca),
            pool._avgpool_backward_ref(dy, x.shape, g, hp["count_pad"]),
            1e-6,
        )
    y, cache = pool.adaptive_avgpool_forward(x, {"size": [5, 7]})
    assert_close("adaptive parallel", y, pool._adaptive_ref(x, 5, 7), 1e-6)
