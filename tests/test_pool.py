"""Pooling: the output-size rule, fast kernel == NumPy reference (ties and NaNs included), gradient checks
of both, the PyTorch oracle, and the kernels' preconditions."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.errors import UserError
from scratchdream.layers import pool
from scratchdream.layers.fast import pool as fast_pool
from scratchdream.layers.geometry import Geometry, pool_geometry

IMPLS = {"reference": pool, "fast": fast_pool}


def _cases(rng, count, symmetric=False):
    """Random pooling set-ups: odd and even sizes, stride 1-3, padding up to k-1 (k/2 for torch), ceil or
    floor. Returns (x shape, geometry, count_pad)."""
    out = []
    while len(out) < count:
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        if symmetric:  # torch: one pad per axis, at most half the kernel
            ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
            pad = (ph, ph, pw, pw)
        else:
            pad = tuple(
                int(v)
                for v in (rng.integers(0, kh), rng.integers(0, kh), rng.integers(0, kw), rng.integers(0, kw))
            )
        shape = (
            int(rng.integers(1, 3)),
            int(rng.integers(1, 4)),
            int(rng.integers(kh, 14)),
            int(rng.integers(kw, 14)),
        )
        geo = Geometry(kh, kw, sh, sw, *pad, ceil=bool(rng.integers(0, 2)))
        out.append((shape, geo, bool(rng.integers(0, 2))))
    return out


def _spaced(rng, shape, dtype=np.float64):
    """A shuffled arange times 0.01: all values distinct and 0.01 apart, so a +/-1e-6 finite-difference step
    can never change which element wins a max window (no ties, no crossing)."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0).astype(dtype)


# ---- output size ---------------------------------------------------------------------------------
def _side(H, k, s, p, ceil):
    return pool.pool_shape((1, H, H), pool_geometry({"kernel": k, "stride": s, "pad": p, "ceil": ceil}))[1]


def test_ceil_rule_by_hand():
    # 15 -> 7 with 3/2 (both modes); 14 -> 7 ceil vs 6 floor.
    # H=3, k=3, s=2, pad 1, ceil: ceil((3+2-3)/2)+1 = 3, but window 2 starts at 2*2-1 = 3 = H,
    #   in the padding: -> 2
    # H=4, k=2, s=3, pad 1, ceil: ceil((4+2-2)/3)+1 = 3, but window 2 starts at 2*3-1 = 5 >= H: dropped -> 2
    assert _side(15, 3, 2, 0, True) == 7 and _side(15, 3, 2, 0, False) == 7
    assert _side(14, 3, 2, 0, True) == 7 and _side(14, 3, 2, 0, False) == 6
    assert _side(3, 3, 2, 1, True) == 2
    assert _side(4, 2, 3, 1, True) == 2
    assert _side(2, 3, 1, 0, True) == 0  # smaller than the window: no output at all


def test_ceil_rule_matches_torch(torch):
    F = torch.nn.functional
    for H in (112, 56, 28, 14, 113, 57, 300, 301, 5, 4, 3):
        for k, s, p in ((3, 2, 0), (3, 2, 1), (3, 1, 1), (2, 2, 0), (2, 2, 1), (2, 3, 1), (3, 3, 1)):
            for ceil in (True, False):
                want = F.max_pool2d(torch.zeros(1, 1, H, H + 1), k, s, p, ceil_mode=ceil).shape[2:]
                geo = pool_geometry({"kernel": k, "stride": s, "pad": p, "ceil": ceil})
                assert tuple(pool.pool_shape((1, H, H + 1), geo)[1:]) == tuple(want), (H, k, s, p, ceil)


@pytest.mark.parametrize("impl", IMPLS)
def test_bad_geometry_is_one_line_user_error(impl):
    with pytest.raises(UserError, match="padding"):
        pool_geometry({"kernel": 2, "stride": 2, "pad": 2})
    with pytest.raises(UserError, match="smaller than"):
        IMPLS[impl].maxpool_forward(
            np.zeros((1, 1, 2, 8)), pool_geometry({"kernel": 3, "stride": 2, "pad": 0})
        )


@pytest.mark.parametrize(
    "bad", [dict(pl=-3), dict(pt=2), dict(sh=0), dict(sw=-2), dict(kh=0)], ids=lambda d: str(d)
)
def test_fast_kernels_refuse_a_bad_window(bad):
    """A window that bypassed the spec's checks still stops at each kernel's door, in one line (issue 15)."""
    geo = Geometry(2, 2, 2, 2, 0, 1, 0, 1)._replace(**bad)
    good = Geometry(2, 2, 2, 2, 0, 1, 0, 1)
    x = np.random.default_rng(0).standard_normal((1, 2, 8, 8))
    _, (arg, shape, _) = fast_pool.maxpool_forward(x, good)
    calls = [
        lambda: fast_pool.maxpool_forward(x, geo),
        lambda: fast_pool.maxpool_backward(np.zeros(arg.shape), (arg, shape, geo)),
        lambda: fast_pool.avgpool_forward(x, geo),
        lambda: fast_pool.avgpool_backward(np.zeros(arg.shape), (shape, geo, True)),
    ]
    for call in calls:
        with pytest.raises(UserError):
            call()


def test_fast_kernels_refuse_gradients_of_the_wrong_shape():
    x = np.random.default_rng(1).standard_normal((1, 2, 8, 8))
    geo = Geometry(2, 2, 2, 2, 0, 0, 0, 0)
    _, cache = fast_pool.maxpool_forward(x, geo)
    with pytest.raises(UserError, match="dL/dy has shape"):
        fast_pool.maxpool_backward(np.zeros((1, 2, 5, 4)), cache)
    _, cache = fast_pool.avgpool_forward(x, geo)
    with pytest.raises(UserError, match="dL/dy has shape"):
        fast_pool.avgpool_backward(np.zeros((1, 2, 4, 40)), cache)
    _, cache = fast_pool.adaptive_avgpool_forward(x, (3, 3))
    with pytest.raises(UserError, match="dL/dy has shape"):
        fast_pool.adaptive_avgpool_backward(np.zeros((1, 3, 3, 3)), cache)


# ---- fast == reference ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_fast_equals_reference_with_ties(dtype):
    rng = np.random.default_rng(1)
    for shape, geo, _ in _cases(rng, 25):
        x = rng.integers(0, 3, size=shape).astype(dtype)  # three values only: ties in most windows
        y, (arg, x_shape, g) = fast_pool.maxpool_forward(x, geo)
        y_ref, (arg_ref, _, _) = pool.maxpool_forward(x, geo)
        assert y.dtype == y_ref.dtype == dtype and arg.dtype == arg_ref.dtype == np.uint8
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(arg, arg_ref)  # the same winner: the first maximum
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx = fast_pool.maxpool_backward(dy, (arg, x_shape, g))  # overlapping windows: sums in another order
        assert_close("maxpool backward", dx, pool.maxpool_backward(dy, (arg_ref, x_shape, g)), 1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avgpool_fast_equals_reference(dtype):
    rng = np.random.default_rng(2)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for shape, geo, count_pad in _cases(rng, 25):
        x = rng.standard_normal(shape).astype(dtype)
        y, cache = fast_pool.avgpool_forward(x, geo, count_pad)
        y_ref, cache_ref = pool.avgpool_forward(x, geo, count_pad)
        assert y.dtype == y_ref.dtype == dtype
        assert_close(f"avgpool forward {geo}", y, y_ref, tol)
        dy = rng.standard_normal(y.shape).astype(dtype)
        assert_close(
            "avgpool backward",
            fast_pool.avgpool_backward(dy, cache),
            pool.avgpool_backward(dy, cache_ref),
            tol,
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_fast_equals_reference(dtype):
    rng = np.random.default_rng(3)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for H, W, oh, ow in ((7, 7, 1, 1), (13, 11, 3, 4), (5, 9, 5, 9), (6, 10, 4, 7), (3, 3, 5, 6)):
        x = rng.standard_normal((2, 3, H, W)).astype(dtype)
        y, cache = fast_pool.adaptive_avgpool_forward(x, (oh, ow))
        assert y.shape == (2, 3, oh, ow) and y.dtype == dtype
        assert_close("adaptive forward", y, pool.adaptive_avgpool_forward(x, (oh, ow))[0], tol)
        dy = rng.standard_normal(y.shape).astype(dtype)
        assert_close(
            "adaptive backward",
            fast_pool.adaptive_avgpool_backward(dy, cache),
            pool.adaptive_avgpool_backward(dy, cache),
            tol,
        )


def test_maxpool_fast_equals_reference_with_nans_and_infinities():
    """The fast kernel pads with -inf and looks for NaNs band by band (16 output rows): planes and bands
    with and without NaNs, and windows of -inf only (padding must not win them), give the reference's
    values and winners. The tall cases cross band edges."""
    rng = np.random.default_rng(11)
    tall = [
        ((1, 3, 53, 12), Geometry(3, 3, 2, 2, 0, 0, 0, 0, ceil=True), None),
        ((2, 2, 40, 9), Geometry(3, 3, 1, 1, 1, 1, 1, 1), None),
        ((1, 2, 37, 7), Geometry(2, 3, 1, 2, 1, 0, 2, 1, ceil=True), None),
    ]
    for shape, geo, _ in _cases(rng, 25) + tall:
        x = rng.integers(0, 3, size=shape).astype(np.float32)
        x[rng.random(shape) < 0.3] = -np.inf
        x[0, 0].flat[rng.integers(0, x[0, 0].size)] = np.nan  # plane (0, 0) has a NaN, the others may not
        y, (arg, _, _) = fast_pool.maxpool_forward(x, geo)
        y_ref, (arg_ref, _, _) = pool.maxpool_forward(x, geo)
        np.testing.assert_array_equal(y, y_ref)  # NaNs in the same places
        np.testing.assert_array_equal(arg, arg_ref)


@pytest.mark.parametrize("impl", IMPLS)
def test_maxpool_nan_wins(impl):
    """A NaN activation must not hide behind a max: the first NaN of a window wins."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((1, 2, 9, 8))
    x[0, 0, 1, 2] = x[0, 0, 2, 1] = x[0, 1, 8, 7] = np.nan
    y, (arg, _, _) = IMPLS[impl].maxpool_forward(
        x, pool_geometry({"kernel": 3, "stride": 2, "pad": 1, "ceil": True})
    )
    assert np.isnan(y[0, 0, 1, 1]) and np.isnan(y[0, 1, -1, -1])
    # window (1, 1) starts at pixel (1, 1): its first NaN is (1, 2), u=0 v=1
    assert arg[0, 0, 1, 1] == 0 * 3 + 1
    assert np.isnan(y).sum() == 5


def test_parallel_path_matches_reference():
    # above PARALLEL_MIN elements the kernels run on every thread: planes must not interfere
    from scratchdream.layers.fast.threads import PARALLEL_MIN

    rng = np.random.default_rng(11)
    x = rng.integers(0, 5, size=(2, 8, 48, 47)).astype(np.float32)  # ties again
    assert x.size >= PARALLEL_MIN
    for geo, count_pad in (
        (Geometry(3, 3, 2, 2, 1, 1, 1, 1, ceil=True), False),
        (Geometry(3, 3, 1, 1, 1, 1, 1, 1), True),
    ):
        y, cache = fast_pool.maxpool_forward(x, geo)
        y_ref, cache_ref = pool.maxpool_forward(x, geo)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(cache[0], cache_ref[0])
        dy = rng.standard_normal(y.shape).astype(np.float32)
        dx, dx_ref = fast_pool.maxpool_backward(dy, cache), pool.maxpool_backward(dy, cache_ref)
        assert_close("maxpool dx parallel", dx, dx_ref, 1e-6)
        ya, ca = fast_pool.avgpool_forward(x, geo, count_pad)
        ya_ref, ca_ref = pool.avgpool_forward(x, geo, count_pad)
        assert_close("avgpool parallel", ya, ya_ref, 1e-6)
        assert_close(
            "avgpool dx parallel", fast_pool.avgpool_backward(dy, ca), pool.avgpool_backward(dy, ca_ref), 1e-6
        )
    y, cache = fast_pool.adaptive_avgpool_forward(x, (5, 7))
    assert_close("adaptive parallel", y, pool.adaptive_avgpool_forward(x, (5, 7))[0], 1e-6)


# ---- gradient checks (float64, central differences), of both kernel sets -------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_maxpool_gradient(impl):
    layer, rng = IMPLS[impl], np.random.default_rng(4)
    for shape, geo, _ in _cases(rng, 8):
        x = _spaced(rng, shape)  # distinct values 0.01 apart: no ties within +/-h
        y, cache = layer.maxpool_forward(x, geo)
        dy = rng.standard_normal(y.shape)
        num = numerical_vjp(lambda a, geo=geo: layer.maxpool_forward(a, geo)[0], x, dy)
        assert_close(f"maxpool dx {geo}", layer.maxpool_backward(dy, cache), num, 1e-6)


@pytest.mark.parametrize("impl", IMPLS)
def test_avgpool_gradient(impl):
    layer, rng = IMPLS[impl], np.random.default_rng(5)
    for shape, geo, count_pad in _cases(rng, 8):
        x = rng.standard_normal(shape)  # linear layer: no kinks to avoid
        y, cache = layer.avgpool_forward(x, geo, count_pad)
        dy = rng.standard_normal(y.shape)
        num = numerical_vjp(lambda a, geo=geo, c=count_pad: layer.avgpool_forward(a, geo, c)[0], x, dy)
        assert_close(f"avgpool dx {geo}", layer.avgpool_backward(dy, cache), num, 1e-6)


@pytest.mark.parametrize("impl", IMPLS)
def test_adaptive_gradient(impl):
    layer, rng = IMPLS[impl], np.random.default_rng(6)
    for H, W, oh, ow in ((7, 6, 3, 4), (5, 5, 1, 1), (4, 9, 3, 2)):
        x = rng.standard_normal((2, 2, H, W))
        y, cache = layer.adaptive_avgpool_forward(x, (oh, ow))
        dy = rng.standard_normal(y.shape)
        num = numerical_vjp(lambda a, size=(oh, ow): layer.adaptive_avgpool_forward(a, size)[0], x, dy)
        assert_close("adaptive dx", layer.adaptive_avgpool_backward(dy, cache), num, 1e-6)


# ---- PyTorch oracle ------------------------------------------------------------------------------
def _torch_pool(torch, fn, x, dy, **kw):
    t = torch.tensor(x, requires_grad=True)
    y = fn(t, **kw)
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("impl", IMPLS)
def test_maxpool_matches_torch_including_ties(impl, torch):
    layer, rng = IMPLS[impl], np.random.default_rng(7)
    for shape, geo, _ in _cases(rng, 25, symmetric=True):
        x = rng.integers(0, 3, size=shape).astype(np.float64)  # ties: torch also keeps the first maximum
        y, cache = layer.maxpool_forward(x, geo)
        dy = rng.standard_normal(y.shape)
        kw = dict(
            kernel_size=(geo.kh, geo.kw),
            stride=(geo.sh, geo.sw),
            padding=(geo.pt, geo.pl),
            ceil_mode=geo.ceil,
        )
        ty, tdx = _torch_pool(torch, torch.nn.functional.max_pool2d, x, dy, **kw)
        np.testing.assert_array_equal(y, ty)
        assert_close(f"maxpool dx vs torch {geo}", layer.maxpool_backward(dy, cache), tdx, 1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_avgpool_matches_torch(impl, torch):
    layer, rng = IMPLS[impl], np.random.default_rng(8)
    for shape, geo, count_pad in _cases(rng, 25, symmetric=True):
        x = rng.standard_normal(shape)
        y, cache = layer.avgpool_forward(x, geo, count_pad)
        dy = rng.standard_normal(y.shape)
        kw = dict(
            kernel_size=(geo.kh, geo.kw),
            stride=(geo.sh, geo.sw),
            padding=(geo.pt, geo.pl),
            ceil_mode=geo.ceil,
        )
        ty, tdx = _torch_pool(torch, torch.nn.functional.avg_pool2d, x, dy, count_include_pad=count_pad, **kw)
        assert_close(f"avgpool vs torch {geo}", y, ty, 1e-12)
        assert_close(f"avgpool dx vs torch {geo}", layer.avgpool_backward(dy, cache), tdx, 1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_adaptive_matches_torch(impl, torch):
    layer, rng = IMPLS[impl], np.random.default_rng(9)
    for H, W, oh, ow in ((7, 7, 1, 1), (13, 11, 3, 4), (6, 10, 4, 7), (3, 3, 5, 6), (14, 14, 6, 6)):
        x = rng.standard_normal((2, 3, H, W))
        y, cache = layer.adaptive_avgpool_forward(x, (oh, ow))
        dy = rng.standard_normal(y.shape)
        ty, tdx = _torch_pool(torch, torch.nn.functional.adaptive_avg_pool2d, x, dy, output_size=(oh, ow))
        assert_close("adaptive vs torch", y, ty, 1e-12)
        assert_close("adaptive dx vs torch", layer.adaptive_avgpool_backward(dy, cache), tdx, 1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_keras_same_padding_counts_only_real_pixels(impl):
    # 3x3 window, stride 1, pad 1, count_pad=False: the corner output averages the 4 real pixels it covers
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    geo = pool_geometry({"kernel": 3, "stride": 1, "pad": 1})
    assert IMPLS[impl].avgpool_forward(x, geo, count_pad=False)[0][0, 0, 0, 0] == (0 + 1 + 4 + 5) / 4
    assert IMPLS[impl].avgpool_forward(x, geo, count_pad=True)[0][0, 0, 0, 0] == (0 + 1 + 4 + 5) / 9
