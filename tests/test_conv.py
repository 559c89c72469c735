"""Convolution: fast kernel == NumPy reference, float64 gradient checks of both, float32 agreement, torch
oracle, Winograd's pieces, and the preconditions every fast kernel checks before it indexes memory."""

import numba
import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.errors import UserError
from scratchdream.layers import conv
from scratchdream.layers.fast import blas, winograd, winograd5
from scratchdream.layers.fast import conv as fast_conv
from scratchdream.layers.geometry import Geometry, conv_geometry, out_size

IMPLS = {"reference": conv, "fast": fast_conv}

# (N, C, H, W, K, kernel, stride, pad (t,b,l,r), dilation, groups, bias, relu)
CASES = [
    (2, 3, 7, 9, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, True, False),  # the common 3x3 'same'
    (1, 4, 11, 8, 6, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, True, True),  # stride 2, fused ReLU
    (2, 5, 9, 10, 3, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, True, True),  # 1x1: plain GEMM
    (1, 6, 10, 7, 4, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 2, False, False),  # 1x1 strided, groups, no bias
    (1, 3, 13, 12, 5, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1, True, True),  # GoogLeNet's 5x5 pad 2
    (1, 3, 15, 14, 2, (7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1, True, True),  # conv1/7x7_s2
    (2, 4, 9, 11, 6, (3, 2), (1, 2), (0, 2, 1, 0), (1, 1), 2, True, False),  # asymmetric kernel and padding
    (1, 4, 12, 13, 4, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1, True, True),  # dilation 2
    (1, 6, 8, 9, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 6, True, False),  # depthwise
    (1, 2, 9, 8, 3, (1, 7), (1, 1), (0, 0, 3, 3), (1, 1), 1, True, True),  # InceptionV3's 1x7
    (3, 3, 6, 5, 2, (3, 3), (3, 2), (0, 1, 2, 0), (2, 1), 1, False, True),  # everything odd at once
]


def _make(case, seed, dtype=np.float64):
    """(x, w, b, geo, relu) for a CASES row, drawn from default_rng(seed)."""
    N, C, H, W, K, k, s, p, d, g, bias, relu = case
    rng = np.random.default_rng(seed)
    geo = Geometry(*k, *s, *p, *d, g)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = (rng.standard_normal((K, C // g) + tuple(k)) / np.sqrt(C // g * k[0] * k[1])).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) * 0.1 if bias else None
    return x, w, b, geo, relu


def _random_case(rng):
    """A random conv: odd sizes, kernels 1-5, stride 1-3, dilation 1-2, groups 1-3, pads 0..extent-1."""
    while True:
        g = int(rng.integers(1, 4))
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        dh, dw = (int(v) for v in rng.integers(1, 3, 2))
        eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        pads = [
            int(rng.integers(0, eh)),
            int(rng.integers(0, eh)),
            int(rng.integers(0, ew)),
            int(rng.integers(0, ew)),
        ]
        shape = (
            int(rng.integers(1, 3)),
            g * int(rng.integers(1, 4)),
            int(rng.integers(1, 14)),
            int(rng.integers(1, 14)),
        )
        geo = Geometry(kh, kw, *(int(v) for v in rng.integers(1, 4, 2)), *pads, dh, dw, g)
        if min(out_size(shape[2], shape[3], geo)) >= 1:
            K = g * int(rng.integers(1, 4))
            return shape + (K,), geo, bool(rng.integers(0, 2)), bool(rng.integers(0, 2))


def _away_from_kink(case, seed):
    """Draw (x, w, b, geo, relu) whose pre-ReLU outputs all stay > 1e-3 from 0, trying successive seeds.

    A +/-h = 1e-6 step in any input moves a pre-activation by at most h * max|w| * taps << 1e-3,
    so no finite-difference step crosses the ReLU kink and the numerical gradient is exact.
    """
    for attempt in range(200):
        x, w, b, geo, relu = _make(case, seed * 1000 + attempt)
        z = conv.conv_forward(x, w, b, geo)[0]
        if not relu or np.min(np.abs(z)) > 1e-3:
            return x, w, b, geo, relu
    raise RuntimeError("no draw away from the ReLU kink")


# ---- sizes -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_shape_and_params(case):
    x, w, b, geo, relu = _make(case, 0)
    y = conv.conv_forward(x, w, b, geo, relu)[0]
    assert conv.conv_shape(x.shape[1:], geo, w.shape[0]) == y.shape[1:]
    shapes = conv.conv_params(x.shape[1:], geo, w.shape[0], b is not None)
    assert shapes["weight"] == w.shape
    assert ("bias" in shapes) == (b is not None)


def test_geometry_is_read_from_the_spec_forms():
    """kernel and stride as one int or a pair; pad as one int, [rows, cols] or [top, bottom, left, right]."""
    assert conv_geometry({"kernel": 3, "pad": 1}) == Geometry(3, 3, 1, 1, 1, 1, 1, 1)
    assert conv_geometry({"kernel": [1, 7], "pad": [0, 3]}) == Geometry(1, 7, 1, 1, 0, 0, 3, 3)
    assert conv_geometry(
        {"kernel": 3, "stride": 2, "pad": [0, 1, 2, 0], "dilation": 2, "groups": 3}
    ) == Geometry(3, 3, 2, 2, 0, 1, 2, 0, 2, 2, 3)


# ---- fast == reference ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_fast_equals_reference(case):
    x, w, b, geo, relu = _make(case, 1)
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    y_ref, cache_ref = conv.conv_forward(x, w, b, geo, relu)
    assert_close("forward", y, y_ref, 1e-12)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    dx, grads = fast_conv.conv_backward(dy, cache, params=True)
    rdx, rgrads = conv.conv_backward(dy, cache_ref, params=True)
    assert_close("dx", dx, rdx, 1e-12)
    assert_close("dw", grads["weight"], rgrads["weight"], 1e-12)
    assert set(grads) == set(rgrads) == ({"weight", "bias"} if b is not None else {"weight"})
    if b is not None:
        assert_close("db", grads["bias"], rgrads["bias"], 1e-12)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_fast_equals_reference_on_random_convolutions(dtype, tol):
    rng = np.random.default_rng(50)
    for _ in range(30):
        (N, C, H, W, K), geo, bias, relu = _random_case(rng)
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        w = rng.standard_normal((K, C // geo.groups, geo.kh, geo.kw)).astype(dtype)
        b = rng.standard_normal(K).astype(dtype) if bias else None
        y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
        y_ref, cache_ref = conv.conv_forward(x, w, b, geo, relu)
        assert y.dtype == y_ref.dtype == dtype
        assert_close(f"forward {geo}", y, y_ref, tol)
        dy = rng.standard_normal(y.shape).astype(dtype)
        assert_close(f"dx {geo}", fast_conv.conv_backward(dy, cache), conv.conv_backward(dy, cache_ref), tol)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES)
def test_gradients_match_finite_differences(case, impl):
    layer = IMPLS[impl]
    x, w, b, geo, relu = _away_from_kink(case, 3)
    y, cache = layer.conv_forward(x, w, b, geo, relu)
    dy = np.random.default_rng(4).standard_normal(y.shape)
    dx, grads = layer.conv_backward(dy, cache, params=True)
    f = layer.conv_forward
    assert_close("dL/dx", dx, numerical_vjp(lambda t: f(t, w, b, geo, relu)[0], x, dy), 1e-6)
    assert_close("dL/dw", grads["weight"], numerical_vjp(lambda t: f(x, t, b, geo, relu)[0], w, dy), 1e-6)
    if b is not None:
        assert_close("dL/db", grads["bias"], numerical_vjp(lambda t: f(x, w, t, geo, relu)[0], b, dy), 1e-6)


@pytest.mark.parametrize("case", CASES)
def test_float32_agrees_with_float64(case):
    x, w, b, geo, relu = _make(case, 5)
    y64, c64 = fast_conv.conv_forward(x, w, b, geo, relu)
    y32, c32 = fast_conv.conv_forward(
        x.astype(np.float32), w.astype(np.float32), None if b is None else b.astype(np.float32), geo, relu
    )
    assert y32.dtype == np.float32
    assert_close("forward f32", y32, y64, 1e-5)
    dy = np.random.default_rng(6).standard_normal(y64.shape)
    dx32 = fast_conv.conv_backward(dy.astype(np.float32), c32)
    assert dx32.dtype == np.float32
    assert_close("dx f32", dx32, fast_conv.conv_backward(dy, c64), 1e-5)


def test_bands_give_the_same_result(monkeypatch):
    """Large images are unfolded a band of output rows at a time; a tiny budget forces many bands."""
    case = (1, 3, 17, 15, 4, (3, 3), (1, 1), (1, 2, 0, 1), (1, 1), 1, True, True)
    x, w, b, geo, relu = _make(case, 7)
    y_one, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    dy = np.random.default_rng(8).standard_normal(y_one.shape)
    dx_one, g_one = fast_conv.conv_backward(dy, cache, params=True)
    monkeypatch.setattr(fast_conv, "COLS_BUDGET", 60)
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    dx, g = fast_conv.conv_backward(dy, cache, params=True)
    assert_close("banded forward", y, y_one, 1e-13)
    assert_close("banded dx", dx, dx_one, 1e-13)
    assert_close("banded dw", g["weight"], g_one["weight"], 1e-13)


def test_dreaming_never_computes_weight_gradients(monkeypatch):
    x, w, b, geo, relu = _make(CASES[0], 9)
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)

    def forbidden(*args, **kw):
        raise AssertionError("the weight gradient was computed although params=False")

    monkeypatch.setattr(fast_conv, "_gemm_backward_weight", forbidden)
    dx = fast_conv.conv_backward(np.ones_like(y), cache)
    assert isinstance(dx, np.ndarray) and dx.shape == x.shape


@pytest.mark.parametrize("impl", IMPLS)
def test_relu_mask_is_compact_and_gates_the_gradient(impl):
    layer = IMPLS[impl]
    x, w, b, geo, relu = _make(CASES[1], 10)
    y, cache = layer.conv_forward(x, w, b, geo, relu)
    masks = [c for c in cache if isinstance(c, np.ndarray) and c.dtype == np.bool_]
    assert masks and masks[0].shape == y.shape
    assert np.all(y >= 0) and np.any(y == 0)
    dy = np.random.default_rng(11).standard_normal(y.shape)
    assert_close("mask", layer.conv_backward(dy, cache), layer.conv_backward(dy * (y > 0), cache), 1e-14)


@pytest.mark.parametrize("impl", IMPLS)
def test_wrong_weight_shape_is_a_one_line_user_error(impl):
    layer = IMPLS[impl]
    x, w, b, geo, relu = _make(CASES[0], 12)
    with pytest.raises(UserError, match="does not fit"):
        layer.conv_forward(x, w[:, :2], b, geo)
    with pytest.raises(UserError, match="does not fit"):
        layer.conv_forward(x, w, b[:2], geo)
    with pytest.raises(UserError, match="smaller than"):
        layer.conv_forward(x[:, :, :1, :1], w, b, geo._replace(pt=0, pb=0, pl=0, pr=0))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES)
def test_torch_oracle(case, impl, torch):
    """F.conv2d (after F.pad for the four-sided padding) and its autograd input gradient."""
    import torch.nn.functional as F

    layer = IMPLS[impl]
    x, w, b, geo, relu = _make(case, 13)
    xt = torch.tensor(x, requires_grad=True)
    yt = F.conv2d(
        F.pad(xt, (geo.pl, geo.pr, geo.pt, geo.pb)),
        torch.tensor(w),
        None if b is None else torch.tensor(b),
        stride=(geo.sh, geo.sw),
        dilation=(geo.dh, geo.dw),
        groups=geo.groups,
    )
    if relu:
        yt = torch.relu(yt)
    dy = np.random.default_rng(14).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(dy))
    y, cache = layer.conv_forward(x, w, b, geo, relu)
    assert_close("forward vs torch", y, yt.detach().numpy(), 1e-12)
    assert_close("dx vs torch", layer.conv_backward(dy, cache), xt.grad.numpy(), 1e-12)


# ---- the kernels' preconditions (issue 15: a damaged file must not reach a kernel with a bad window) -----
BAD_WINDOWS = [
    dict(pl=-20),  # the crafted file's pad [1, 1, -20, 0]: Winograd wrote outside its arrays
    dict(pt=-1, pb=-1, pl=-1, pr=-1),
    dict(pb=3),  # as large as the 3x3 kernel
    dict(sh=0),
    dict(sw=-1),
    dict(dh=0),
    dict(kw=0),
    dict(groups=0),
]


@pytest.mark.parametrize("bad", BAD_WINDOWS, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()))
def test_every_fast_kernel_entry_refuses_a_bad_window(bad):
    """The geometry reaches the kernels only through these entries; each says what is wrong, in one line."""
    rng = np.random.default_rng(60)
    x, w = (
        rng.standard_normal((1, 8, 9, 9)).astype(np.float32),
        rng.standard_normal((8, 8, 3, 3)).astype(np.float32),
    )
    geo = Geometry(3, 3, 1, 1, 1, 1, 1, 1)._replace(**bad)
    _, cache = fast_conv.conv_forward(x, w, None, Geometry(3, 3, 1, 1, 1, 1, 1, 1))
    calls = {
        "conv_forward": lambda: fast_conv.conv_forward(x, w, None, geo),
        "conv_backward": lambda: fast_conv.conv_backward(
            np.zeros((1, 8, 9, 9), np.float32), cache[:3] + (geo, None)
        ),
        "winograd forward": lambda: winograd.conv3x3(x, w, geo),
        "winograd gradient": lambda: winograd.conv3x3_grad(
            np.zeros((1, 8, 9, 9), np.float32), w, geo, x.shape
        ),
    }
    for name, call in calls.items():
        with pytest.raises(UserError) as err:
            call()
        assert "\n" not in str(err.value), name


def test_kernels_refuse_arrays_that_disagree_with_the_geometry():
    rng = np.random.default_rng(61)
    x, w = (
        rng.standard_normal((1, 8, 9, 9)).astype(np.float32),
        rng.standard_normal((8, 8, 3, 3)).astype(np.float32),
    )
    geo = Geometry(3, 3, 1, 1, 1, 1, 1, 1)
    y, cache = fast_conv.conv_forward(x, w, None, geo, relu=True)
    with pytest.raises(UserError, match="dL/dy has shape"):
        fast_conv.conv_backward(np.zeros((1, 8, 9, 10), np.float32), cache)
    with pytest.raises(UserError, match="ReLU mask"):
        winograd.conv3x3_grad(y, w, geo, x.shape, mask=np.ones((1, 8, 9, 8), np.bool_))
    with pytest.raises(UserError, match="weight"):
        winograd.conv3x3(x, w[:, :4], geo)
    with pytest.raises(UserError, match="float32 or float64"):
        winograd.conv3x3(x, w.astype(np.float64), geo)
    with pytest.raises(UserError, match="disagree"):
        blas.matmul(np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32), np.zeros((2, 5), np.float32))


# ---- Winograd F(4x4, 3x3): the fast path of every 3x3 stride-1 convolution with >= 8 channels -------------
# (N, C, H, W, K, pad (t,b,l,r), relu): odd sizes, sizes not a multiple of the 4x4 tile, asymmetric padding
WINO = [
    (1, 8, 9, 11, 12, (1, 1, 1, 1), True),
    (2, 16, 13, 6, 8, (0, 2, 1, 0), False),
    (1, 12, 7, 7, 10, (2, 2, 2, 2), True),
    (1, 9, 5, 14, 8, (0, 0, 0, 0), True),
]


def _wino_case(case, seed, dtype=np.float64):
    N, C, H, W, K, pad, relu = case
    return _make((N, C, H, W, K, (3, 3), (1, 1), pad, (1, 1), 1, True, relu), seed, dtype)


@pytest.mark.parametrize("case", WINO)
def test_winograd_is_taken_and_equals_reference(case):
    x, w, b, geo, relu = _wino_case(case, 20)
    assert fast_conv.path(geo, x.shape[1], w.shape[0]) == "winograd"
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    y_ref, cache_ref = conv.conv_forward(x, w, b, geo, relu)
    assert_close("winograd forward", y, y_ref, 1e-12)
    dy = np.random.default_rng(21).standard_normal(y.shape)
    assert_close("winograd dx", fast_conv.conv_backward(dy, cache), conv.conv_backward(dy, cache_ref), 1e-12)


@pytest.mark.parametrize("case", WINO)
def test_winograd_float32_tolerance(case):
    """float32 Winograd vs the float64 direct convolution: the transforms' 4, 5, 8 and 1/24 cost some
    digits; measured ~2e-6..1e-5 relative to the largest output; held under 1e-4."""
    x, w, b, geo, relu = _wino_case(case, 22)
    y32, c32 = fast_conv.conv_forward(
        x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), geo, relu
    )
    y_ref, c_ref = conv.conv_forward(x, w, b, geo, relu)
    assert_close("winograd f32 forward", y32, y_ref, 1e-4)
    dy = np.random.default_rng(23).standard_normal(y32.shape)
    dx32 = fast_conv.conv_backward(dy.astype(np.float32), c32)
    assert_close("winograd f32 dx", dx32, conv.conv_backward(dy, c_ref), 1e-4)


def test_winograd_float32_tolerance_at_vgg_width():
    """The error grows with the number of summed channels: a VGG conv4-wide layer still stays under 1e-4."""
    x, w, b, geo, relu = _wino_case((1, 512, 12, 12, 64, (1, 1, 1, 1), False), 24)
    y32, _ = fast_conv.conv_forward(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), geo)
    assert_close("winograd f32, 512 channels", y32, conv.conv_forward(x, w, b, geo)[0], 1e-4)


@pytest.mark.parametrize("case", WINO[:2])
def test_winograd_gradients_match_finite_differences(case):
    N, C, H, W, K, pad, relu = case
    x, w, b, geo, relu = _away_from_kink((N, C, H, W, K, (3, 3), (1, 1), pad, (1, 1), 1, True, relu), 26)
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    dy = np.random.default_rng(27).standard_normal(y.shape)
    assert_close(
        "winograd dL/dx",
        fast_conv.conv_backward(dy, cache),
        numerical_vjp(lambda t: fast_conv.conv_forward(t, w, b, geo, relu)[0], x, dy),
        1e-6,
    )


def test_winograd_bands_and_weight_cache(monkeypatch):
    """Many bands (tiny budget) give the same result; weights changed in place are seen (no stale cache)."""
    x, w, b, geo, relu = _wino_case((1, 8, 17, 10, 8, (1, 1, 1, 1), True), 28)
    y_one, _ = fast_conv.conv_forward(x, w, b, geo, relu)
    monkeypatch.setattr(winograd, "BAND_BUDGET", 1)
    y, _ = fast_conv.conv_forward(x, w, b, geo, relu)
    assert_close("banded winograd", y, y_one, 1e-14)
    w *= 0.5  # training updates weights in place
    y_after = fast_conv.conv_forward(x, w, b, geo, relu)[0]
    assert_close("after an in-place update", y_after, conv.conv_forward(x, w, b, geo, relu)[0], 1e-12)


@pytest.mark.parametrize("case", WINO)
def test_winograd_matrix_reference_is_the_convolution(case):
    """The explicit-matrix reference (B^T, G, A^T and their transposes) == the direct conv, both ways."""
    x, w, _, geo, _ = _wino_case(case, 40)
    y, cache = conv.conv_forward(x, w, None, geo)
    dy = np.random.default_rng(41).standard_normal(y.shape)
    assert_close("matrix forward", winograd._conv3x3_ref(x, w, geo.pt, geo.pl, *y.shape[2:]), y, 1e-12)
    assert_close(
        "matrix adjoint",
        winograd._conv3x3_grad_ref(dy, w, geo.pt, geo.pl, *x.shape[2:]),
        conv.conv_backward(dy, cache),
        1e-12,
    )


@pytest.mark.parametrize("case", WINO)
def test_winograd_kernels_equal_matrix_reference(case):
    """conv3x3 / conv3x3_grad (Numba transforms + BLAS) == the einsum reference; the mask gates dy."""
    x, w, _, geo, _ = _wino_case(case, 42)
    Ho, Wo = out_size(*x.shape[2:], geo)
    y_ref = winograd._conv3x3_ref(x, w, geo.pt, geo.pl, Ho, Wo)
    y, _ = winograd.conv3x3(x, w, geo)
    assert_close("conv3x3 vs reference", y, y_ref, 1e-12)
    rng = np.random.default_rng(43)
    dy, mask = rng.standard_normal(y.shape), rng.random(y.shape) < 0.5
    grad_ref = winograd._conv3x3_grad_ref
    assert_close(
        "conv3x3_grad vs reference",
        winograd.conv3x3_grad(dy, w, geo, x.shape),
        grad_ref(dy, w, geo.pt, geo.pl, *x.shape[2:]),
        1e-12,
    )
    assert_close(
        "masked conv3x3_grad",
        winograd.conv3x3_grad(dy, w, geo, x.shape, mask=mask),
        grad_ref(dy * mask, w, geo.pt, geo.pl, *x.shape[2:]),
        1e-12,
    )


def test_winograd_weights_in_slices(monkeypatch):
    """U made a few output channels at a time (one band): rows of y, and dx summed over slices, as whole."""
    x, w, b, geo, relu = _wino_case((1, 12, 9, 10, 16, (1, 1, 1, 1), True), 48)
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    dy = np.random.default_rng(49).standard_normal(y.shape)
    dx = fast_conv.conv_backward(dy, cache)
    monkeypatch.setattr(winograd, "WEIGHT_BUDGET", 36 * 12 * 6)  # slices of 6, 6 and 4 of the 16 channels
    y_s, cache_s = fast_conv.conv_forward(x, w, b, geo, relu)
    assert_close("forward, sliced U", y_s, y, 1e-14)
    assert_close("gradient, sliced U", fast_conv.conv_backward(dy, cache_s), dx, 1e-14)


@pytest.mark.parametrize("case", WINO)
def test_winograd_adjoint_equals_rotated_kernel_route(case):
    """The input gradient two ways: the forward run backwards with U (what conv_backward does), and the
    textbook route, a forward Winograd conv of dy with w rotated 180°, in/out swapped, padded 2 - p."""
    x, w, _, geo, _ = _wino_case(case, 44)
    y, _ = winograd.conv3x3(x, w, geo)
    dy = np.random.default_rng(45).standard_normal(y.shape)
    w_rot = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C, K, 3, 3)
    flipped = geo._replace(pt=2 - geo.pt, pb=2 - geo.pb, pl=2 - geo.pl, pr=2 - geo.pr)
    textbook, _ = winograd.conv3x3(dy, w_rot, flipped)
    assert_close("adjoint vs rotated kernel", winograd.conv3x3_grad(dy, w, geo, x.shape), textbook, 1e-12)


def test_winograd_gradient_bands(monkeypatch):
    """conv3x3_grad band by band (tiny budget: one tile row each, rows overlapping by 2) == in one band."""
    x, w, b, geo, relu = _wino_case((1, 8, 17, 10, 8, (1, 1, 1, 1), True), 46)
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    dy = np.random.default_rng(47).standard_normal(y.shape)
    dx_one = fast_conv.conv_backward(dy, cache)
    monkeypatch.setattr(winograd, "BAND_BUDGET", 1)
    assert_close("banded winograd dx", fast_conv.conv_backward(dy, cache), dx_one, 1e-14)


# ---- the fused im2col path: unfold, sgemm and epilogue band by band (float32 with OpenBLAS's sgemm) -------
@pytest.mark.skipif(blas.SGEMM is None, reason="the fused path needs OpenBLAS's sgemm")
@pytest.mark.parametrize("case", [c for c in CASES if c[9] == 1 and c[5:7] != ((1, 1), (1, 1))])  # not gemm
def test_fused_im2col_equals_reference(case, monkeypatch):
    """Tiny bands (FUSED_COLS 1: d(kh-1) rows each, the least that keeps bands two apart from writing the
    same input rows) == the float64 reference and the unfused float32 path, forward and masked dx."""
    x, w, b, geo, relu = _make(case, 90)
    assert fast_conv.path(geo, x.shape[1], w.shape[0]) == "im2col"
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    b32 = None if b is None else b.astype(np.float32)
    y_ref, c_ref = conv.conv_forward(x, w, b, geo, relu)
    dy = np.random.default_rng(91).standard_normal(y_ref.shape).astype(np.float32)
    monkeypatch.setattr(fast_conv, "FUSED", False)
    y_plain, c_plain = fast_conv.conv_forward(x32, w32, b32, geo, relu)
    dx_plain = fast_conv.conv_backward(dy, c_plain)
    monkeypatch.setattr(fast_conv, "FUSED", True)
    monkeypatch.setattr(fast_conv, "FUSED_COLS", 1)
    monkeypatch.setattr(fast_conv, "FUSED_MIN_TAPS", 1)
    assert fast_conv.fused(geo, x.shape[1], w.shape[0], np.float32)
    y, cache = fast_conv.conv_forward(x32, w32, b32, geo, relu)
    dx = fast_conv.conv_backward(dy, cache)
    assert_close("fused forward vs reference", y, y_ref, 1e-5)
    assert_close("fused dx vs reference", dx, conv.conv_backward(dy.astype(np.float64), c_ref), 1e-5)
    assert_close("fused forward vs plain", y, y_plain, 1e-6)
    assert_close("fused dx vs plain", dx, dx_plain, 1e-6)


# (C, H, W, K, kernel, stride, pad, dilation, FUSED_COLS, rows): first layers, bands as thin as allowed
FUSED = [
    (3, 40, 37, 16, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 100, 3),  # VGG's first layer
    (3, 31, 30, 8, (7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1, 3),  # GoogLeNet's conv1/7x7_s2: rows >= 6//2
    (2, 30, 21, 5, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1, 4),  # dilation 2: rows >= 4
    (4, 25, 18, 6, (5, 3), (3, 1), (0, 2, 1, 1), (1, 1), 1, 1),  # stride 3 over a 5-row kernel: rows >= 1
]


@pytest.mark.parametrize("case", FUSED)
def test_fused_im2col_thin_bands(case, monkeypatch):
    """Bands as thin as _fused_rows allows (neighbours two apart just miss each other's input rows), several
    pictures, the fused ReLU: the fused path == the float64 reference."""
    if blas.SGEMM is None:
        pytest.skip("the fused path needs OpenBLAS's sgemm")
    C, H, W, K, k, s, p, d, cols, rows = case
    x, w, b, geo, relu = _make((2, C, H, W, K, k, s, p, d, 1, True, True), 92)
    x32, w32, b32 = x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)
    monkeypatch.setattr(fast_conv, "FUSED", True)  # off by default (layers/fast/conv.py says why)
    monkeypatch.setattr(fast_conv, "FUSED_COLS", cols)
    monkeypatch.setattr(fast_conv, "FUSED_MIN_TAPS", 1)
    assert fast_conv.fused(geo, C, K, np.float32)
    Ho, Wo = out_size(H, W, geo)
    assert fast_conv._fused_rows(geo, Ho, Wo) == rows
    y, cache = fast_conv.conv_forward(x32, w32, b32, geo, relu)
    dy = np.random.default_rng(93).standard_normal(y.shape).astype(np.float32)
    y_ref, c_ref = conv.conv_forward(x, w, b, geo, relu)
    assert_close("fused forward", y, y_ref, 1e-5)
    dx_ref = conv.conv_backward(dy.astype(np.float64), c_ref)
    assert_close("fused dx", fast_conv.conv_backward(dy, cache), dx_ref, 1e-5)


def _resnet_stem(x, params, impl, relu_out):
    """ResNet's first layers at odd sizes: 7x7/2 conv + ReLU, then a 3x3/2 conv (+ ReLU) and a 1x1/2
    downsample of the same activation, added. Returns (out, backward(dout) -> dx, pre-ReLU values)."""
    (w1, b1), (w2, b2), (w3, b3) = params
    g1, g2, g3 = (
        Geometry(7, 7, 2, 2, 3, 3, 3, 3),
        Geometry(3, 3, 2, 2, 1, 1, 1, 1),
        Geometry(1, 1, 2, 2, 0, 0, 0, 0),
    )
    a, c1 = impl.conv_forward(x, w1, b1, g1, True)
    y2, c2 = impl.conv_forward(a, w2, b2, g2, relu_out)
    y3, c3 = impl.conv_forward(a, w3, b3, g3)

    def backward(dout):
        da = impl.conv_backward(dout, c2) + impl.conv_backward(dout, c3)
        return impl.conv_backward(da, c1)

    pre = [conv.conv_forward(x, w1, b1, g1)[0], conv.conv_forward(a, w2, b2, g2)[0]]
    return y2 + y3, backward, pre


@pytest.mark.parametrize("relu_out", [False, True])
def test_fused_chain_at_odd_sizes_is_as_accurate_as_unfused(relu_out, monkeypatch):
    """Issue 18: with FUSED on, ResNet-18's float32 dL/dx (test_zoo_resnet, 75x98) came 5.1e-3 from the
    float64 truth. The cause was no fused-path bug: one ReLU input of layer2.1 lies 7.5e-6 below 0 (1.5e-7
    of the layer's largest value), inside every float32 path's rounding (rms error there 7e-6 unfused,
    7.9e-6 torch); the fused rounding lands it above 0 and the whole gradient of that unit goes through.
    Unfused, fused, Winograd on or off each flip it for 2-3 of 8 input perturbations of 2e-7
    (docs/performance.md). This holds the fused path on the shapes that were suspected (odd sizes after
    stride 2, short last bands, 1x1/2 downsample, two fused convs reading one activation, buffers freed
    between calls) to the float64 reference and the unfused path, where no pre-activation is near a kink."""
    if blas.SGEMM is None:
        pytest.skip("the fused path needs OpenBLAS's sgemm")
    rng = np.random.default_rng(94)
    x = rng.standard_normal((1, 3, 75, 98))
    params = [
        (rng.standard_normal((K, C, k, k)) / np.sqrt(C * k * k), rng.standard_normal(K) * 0.1)
        for K, C, k in ((16, 3, 7), (24, 16, 3), (24, 16, 1))
    ]
    out64, back64, pre = _resnet_stem(x, params, conv, relu_out)
    dout = rng.standard_normal(out64.shape)
    scale = min(np.abs(p).max() for p in pre)
    assert min(np.abs(p).min() for p in pre) > 1e-5 * scale  # no float32 rounding crosses a kink here
    dx64 = back64(dout)
    x32, dout32 = x.astype(np.float32), dout.astype(np.float32)
    p32 = [(w.astype(np.float32), b.astype(np.float32)) for w, b in params]
    monkeypatch.setattr(fast_conv, "FUSED_MIN_TAPS", 1)
    results = {}
    for on in (False, True):
        monkeypatch.setattr(fast_conv, "FUSED", on)
        out, back, _ = _resnet_stem(x32, p32, fast_conv, relu_out)
        results[on] = out.copy(), back(dout32)
    g = Geometry(3, 3, 2, 2, 1, 1, 1, 1)
    assert fast_conv.fused(g, 16, 24, np.float32) and fast_conv.fused(
        Geometry(1, 1, 2, 2, 0, 0, 0, 0), 16, 24, np.float32
    )
    for on, (out, dx) in results.items():
        assert_close(f"stem forward (fused {on})", out, out64, 2e-6)
        assert_close(f"stem dx (fused {on})", dx, dx64, 2e-6)
    assert_close("fused vs unfused forward", results[True][0], results[False][0], 1e-6)
    assert_close("fused vs unfused dx", results[True][1], results[False][1], 1e-6)


# ---- Winograd F(2x2, 5x5): the fast path of every 5x5 stride-1 convolution with >= 8 channels -----------
# (N, C, H, W, K, pad (t,b,l,r), relu): odd sizes, sizes not a multiple of the 2x2 tile, pads 0..4, asymmetric
WINO5 = [
    (1, 8, 9, 11, 12, (2, 2, 2, 2), True),  # GoogLeNet's 5x5 pad 2
    (2, 16, 13, 6, 8, (0, 4, 1, 3), False),
    (1, 9, 5, 7, 8, (0, 0, 0, 0), True),  # one output row
    (1, 12, 14, 14, 10, (4, 4, 4, 4), True),
]


def _wino5_case(case, seed, dtype=np.float64):
    N, C, H, W, K, pad, relu = case
    return _make((N, C, H, W, K, (5, 5), (1, 1), pad, (1, 1), 1, True, relu), seed, dtype)


@pytest.mark.parametrize("case", WINO5)
def test_winograd5_is_taken_and_equals_reference(case):
    x, w, b, geo, relu = _wino5_case(case, 70)
    assert fast_conv.path(geo, x.shape[1], w.shape[0]) == "winograd"
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    y_ref, cache_ref = conv.conv_forward(x, w, b, geo, relu)
    assert_close("winograd 5x5 forward", y, y_ref, 1e-12)
    dy = np.random.default_rng(71).standard_normal(y.shape)
    assert_close(
        "winograd 5x5 dx", fast_conv.conv_backward(dy, cache), conv.conv_backward(dy, cache_ref), 1e-12
    )


@pytest.mark.parametrize("case", WINO5)
def test_winograd5_matrix_reference_is_the_convolution(case):
    """The explicit-matrix reference (B^T, G, A^T of F(2x2,5x5)) == the direct conv, both ways."""
    x, w, _, geo, _ = _wino5_case(case, 72)
    y, cache = conv.conv_forward(x, w, None, geo)
    dy = np.random.default_rng(73).standard_normal(y.shape)
    assert_close("matrix forward", winograd5._conv5x5_ref(x, w, geo.pt, geo.pl, *y.shape[2:]), y, 1e-12)
    assert_close(
        "matrix adjoint",
        winograd5._conv5x5_grad_ref(dy, w, geo.pt, geo.pl, *x.shape[2:]),
        conv.conv_backward(dy, cache),
        1e-12,
    )


@pytest.mark.parametrize("case", WINO5)
def test_winograd5_kernels_equal_matrix_reference(case):
    """conv5x5 / conv5x5_grad (Numba transforms + BLAS) == the einsum reference; the mask gates dy."""
    x, w, _, geo, _ = _wino5_case(case, 74)
    Ho, Wo = out_size(*x.shape[2:], geo)
    y, _ = winograd5.conv5x5(x, w, geo)
    assert_close("conv5x5 vs reference", y, winograd5._conv5x5_ref(x, w, geo.pt, geo.pl, Ho, Wo), 1e-12)
    rng = np.random.default_rng(75)
    dy, mask = rng.standard_normal(y.shape), rng.random(y.shape) < 0.5
    grad_ref = winograd5._conv5x5_grad_ref
    assert_close(
        "conv5x5_grad vs reference",
        winograd5.conv5x5_grad(dy, w, geo, x.shape),
        grad_ref(dy, w, geo.pt, geo.pl, *x.shape[2:]),
        1e-12,
    )
    assert_close(
        "masked conv5x5_grad",
        winograd5.conv5x5_grad(dy, w, geo, x.shape, mask=mask),
        grad_ref(dy * mask, w, geo.pt, geo.pl, *x.shape[2:]),
        1e-12,
    )


@pytest.mark.parametrize("case", WINO5)
def test_winograd5_float32_tolerance(case):
    """float32 F(2x2,5x5) vs the float64 direct convolution, held under 1e-4 as F(4x4,3x3)."""
    x, w, b, geo, relu = _wino5_case(case, 76)
    y32, c32 = fast_conv.conv_forward(
        x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), geo, relu
    )
    y_ref, c_ref = conv.conv_forward(x, w, b, geo, relu)
    assert_close("winograd 5x5 f32 forward", y32, y_ref, 1e-4)
    dy = np.random.default_rng(77).standard_normal(y32.shape)
    dx32 = fast_conv.conv_backward(dy.astype(np.float32), c32)
    assert_close("winograd 5x5 f32 dx", dx32, conv.conv_backward(dy, c_ref), 1e-4)


@pytest.mark.parametrize("case", WINO5[:2])
def test_winograd5_gradients_match_finite_differences(case):
    N, C, H, W, K, pad, relu = case
    x, w, b, geo, relu = _away_from_kink((N, C, H, W, K, (5, 5), (1, 1), pad, (1, 1), 1, True, relu), 78)
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    dy = np.random.default_rng(79).standard_normal(y.shape)
    assert_close(
        "winograd 5x5 dL/dx",
        fast_conv.conv_backward(dy, cache),
        numerical_vjp(lambda t: fast_conv.conv_forward(t, w, b, geo, relu)[0], x, dy),
        1e-6,
    )


def test_winograd5_bands_and_weight_slices(monkeypatch):
    """Many bands (one tile row each, input rows overlapping by 4) and U in slices give the same numbers."""
    x, w, b, geo, relu = _wino5_case((2, 8, 17, 10, 16, (2, 2, 2, 2), True), 80)
    y_one, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    dy = np.random.default_rng(81).standard_normal(y_one.shape)
    dx_one = fast_conv.conv_backward(dy, cache)
    monkeypatch.setattr(winograd, "BAND_BUDGET", 1)
    monkeypatch.setattr(winograd, "WEIGHT_BUDGET", 36 * 8 * 6)  # not kept; slices of 6, 6 and 4 channels
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    assert cache[-1] is None
    assert_close("banded winograd 5x5", y, y_one, 1e-14)
    assert_close("banded winograd 5x5 dx", fast_conv.conv_backward(dy, cache), dx_one, 1e-14)


@pytest.mark.parametrize("kernel, K", [(3, 50), (5, 16)])
def test_winograd_transforms_in_several_channel_blocks(kernel, K):
    """The transforms run over blocks of FLAT // T channels of T tiles each (all but F(2,5)'s input
    transform): here three blocks of input and of output channels, the last one short, against the
    direct convolution."""
    x, w, b, geo, relu = _make(
        (1, K, 18, 18, K, (kernel,) * 2, (1, 1), (kernel // 2,) * 4, (1, 1), 1, True, True), 84
    )
    T = (-(-18 // (7 - kernel))) ** 2  # 18x18 outputs in tiles of 4 (3x3) or 2 (5x5)
    kb = winograd.FLAT // T
    assert 2 * kb < K < 3 * kb
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    y_ref, cache_ref = conv.conv_forward(x, w, b, geo, relu)
    assert_close("winograd forward, channel blocks", y, y_ref, 1e-12)
    dy = np.random.default_rng(85).standard_normal(y.shape)
    dx = fast_conv.conv_backward(dy, cache)
    assert_close("winograd dx, channel blocks", dx, conv.conv_backward(dy, cache_ref), 1e-12)


@pytest.mark.parametrize("kernel", [3, 5])
def test_small_layers_keep_their_transformed_weights(monkeypatch, kernel):
    """kept_weights: a layer of few tiles keeps U in its cache (forward made it, backward reuses it, same
    numbers); one of more than KEEP_TILES tiles keeps none, nor does one whose U is over WEIGHT_BUDGET."""
    x, w, b, geo, relu = _make((1, 8, 12, 12, 8, (kernel,) * 2, (1, 1), (1,) * 4, (1, 1), 1, True, True), 82)
    y, cache = fast_conv.conv_forward(x, w, b, geo, relu)
    U = cache[-1]
    assert U is not None and U.shape == (36, 8, 8)
    dy = np.random.default_rng(83).standard_normal(y.shape)
    dx = fast_conv.conv_backward(dy, cache)
    Ho, Wo = y.shape[2:]
    monkeypatch.setattr(winograd, "KEEP_TILES", -(-Ho // (7 - kernel)) * -(-Wo // (7 - kernel)) - 1)
    y_big, cache_big = fast_conv.conv_forward(x, w, b, geo, relu)
    assert cache_big[-1] is None
    assert_close("forward, U not kept", y_big, y, 1e-14)
    assert_close("dx, U not kept", fast_conv.conv_backward(dy, cache_big), dx, 1e-14)
    monkeypatch.setattr(winograd, "KEEP_TILES", 10**6)
    monkeypatch.setattr(winograd, "WEIGHT_BUDGET", 36 * 8 * 8 - 1)
    assert fast_conv.conv_forward(x, w, b, geo, relu)[1][-1] is None
    with pytest.raises(UserError, match="transformed weight"):
        fast_conv.conv_backward(dy, cache[:-1] + (U[:, :4],))


def test_winograd_off_gives_the_same_numbers(monkeypatch):
    x, w, b, geo, relu = _wino_case(WINO[0], 29, np.float32)
    y_w, c_w = fast_conv.conv_forward(x, w, b, geo, relu)
    dy = np.random.default_rng(30).standard_normal(y_w.shape).astype(np.float32)
    dx_w = fast_conv.conv_backward(dy, c_w)
    monkeypatch.setattr(fast_conv, "WINOGRAD", False)
    assert fast_conv.path(geo, x.shape[1], w.shape[0]) == "im2col"
    y_g, c_g = fast_conv.conv_forward(x, w, b, geo, relu)
    assert_close("forward: winograd vs im2col", y_w, y_g, 1e-5)
    assert_close("dx: winograd vs col2im", dx_w, fast_conv.conv_backward(dy, c_g), 1e-5)


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
def test_blas_matmul_on_numba_threads(trans_a, accumulate):
    """blas.matmul (OpenBLAS sgemm per Numba thread, or NumPy) == NumPy, on strided column bands; with
    accumulate the product is added to what out held."""
    rng = np.random.default_rng(31)
    for B, M, K, N in [(1, 64, 300, 1000), (36, 7, 5, 11), (3, 130, 64, 97), (1, 27, 64, 1500)]:  # last: thin
        a = rng.standard_normal((B, K, M) if trans_a else (B, M, K)).astype(np.float32)
        bm = rng.standard_normal((B, K, N)).astype(np.float32)
        big = np.zeros((B, M, N + 9), np.float32)
        before = rng.standard_normal((B, M, N)).astype(np.float32)
        big[:, :, 4 : N + 4] = before
        blas.matmul(a, bm, big[:, :, 4 : N + 4], trans_a=trans_a, accumulate=accumulate)
        ref = np.matmul(a.transpose(0, 2, 1) if trans_a else a, bm) + (before if accumulate else 0)
        assert_close("sgemm blocks", big[:, :, 4 : N + 4], ref, 1e-5)
        assert not big[:, :, :4].any() and not big[:, :, N + 4 :].any()  # nothing written outside the band


@pytest.mark.skipif(blas.SGEMM is None, reason="only OpenBLAS's sgemm runs inside Numba threads")
def test_sgemm_blocks_leave_numpys_blas_threads_as_they_were():
    """NumPy's OpenBLAS (pthreads) makes the per-thread setting process-wide: the blocks' set-and-restore
    raced and left NumPy's own matmul on one thread after a dream step (2048^3: 208 -> 101 GFLOP/s).
    Whatever the count was, the products, and a fused im2col conv, put it back."""
    from threadpoolctl import threadpool_info, threadpool_limits

    threads = numba.config.NUMBA_NUM_THREADS
    a = np.random.default_rng(32).standard_normal((36, 64, 64)).astype(np.float32)
    b = np.random.default_rng(33).standard_normal((36, 64, 500)).astype(np.float32)
    x = np.random.default_rng(34).standard_normal((1, 3, 40, 40)).astype(np.float32)
    w = np.random.default_rng(35).standard_normal((16, 3, 3, 3)).astype(np.float32)
    for count in sorted({1, 2, threads}):
        with threadpool_limits(count, user_api="blas"):
            for _ in range(20):
                blas.matmul(a, b, np.empty((36, 64, 500), np.float32))
                fast_conv._fused_forward(x, w, None, conv_geometry({"kernel": 3, "pad": 1}), True)
            (now,) = [i["num_threads"] for i in threadpool_info() if i.get("internal_api") == "openblas"]
            assert now == count


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "hp, C",
    [({"kernel": 3, "pad": 1}, 8), ({"kernel": 1}, 4), ({"kernel": 3, "stride": 2, "pad": [1, 0, 2, 1]}, 3)],
)  # winograd, 1x1 gemm, im2col
def test_input_only_cache_gives_the_same_dx_and_refuses_weight_gradients(impl, hp, C):
    """A dream's tape keeps a conv's cache without x (input_only): dx needs only w, the mask and x's shape.
    The weight gradient does need x, and is refused in one line."""
    from scratchdream.errors import UsageError

    layer, rng, geo = IMPLS[impl], np.random.default_rng(5), conv_geometry(hp)
    x = rng.standard_normal((2, C, 9, 10))
    w, b = rng.standard_normal((8, C, geo.kh, geo.kw)), rng.standard_normal(8)
    y, cache = layer.conv_forward(x, w, b, geo, relu=True)
    dy = rng.standard_normal(y.shape)
    stripped = layer.input_only(cache)
    assert isinstance(stripped[0], conv.Shape) and stripped[0].shape == x.shape
    np.testing.assert_array_equal(layer.conv_backward(dy, stripped), layer.conv_backward(dy, cache))
    with pytest.raises(UsageError, match="weight_grads=True"):
        layer.conv_backward(dy, stripped, params=True)
