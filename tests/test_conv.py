"""Convolution: fast path == NumPy reference, float64 gradient checks, float32 agreement, torch oracle."""

import numpy as np
import pytest
from gradcheck import assert_close, numerical_vjp

from scratchdream.errors import UserError
from scratchdream.layers import _blas, conv, winograd
from scratchdream.layers.conv import (
    _conv_ref,
    _conv_ref_backward,
    conv_backward,
    conv_forward,
    conv_params,
    conv_shape,
)

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


def _hp(K, k, s, p, d, g, bias, relu):
    return {
        "out": K,
        "kernel": list(k),
        "stride": list(s),
        "pad": list(p),
        "dilation": list(d),
        "groups": g,
        "bias": bias,
        "relu": relu,
    }


def _make(case, seed, dtype=np.float64):
    N, C, H, W, K, k, s, p, d, g, bias, relu = case
    rng = np.random.default_rng(seed)
    hp = _hp(K, k, s, p, d, g, bias, relu)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = (rng.standard_normal((K, C // g) + tuple(k)) / np.sqrt(C // g * k[0] * k[1])).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) * 0.1 if bias else None
    return x, w, b, hp


def _away_from_kink(case, seed):
    """Draw (x, w, b) whose pre-ReLU outputs all stay > 1e-3 from 0, trying successive seeds.

    A +/-h = 1e-6 step in any input moves a pre-activation by at most h * max|w| * taps << 1e-3,
    so no finite-difference step crosses the ReLU kink and the numerical gradient is exact.
    """
    for attempt in range(200):
        x, w, b, hp = _make(case, seed * 1000 + attempt)
        z = _conv_ref(x, w, b, dict(hp, relu=False))
        if not hp["relu"] or np.min(np.abs(z)) > 1e-3:
            return x, w, b, hp
    raise RuntimeError("no draw away from the ReLU kink")


@pytest.mark.parametrize("case", CASES)
def test_shape_and_params(case):
    x, w, b, hp = _make(case, 0)
    y = _conv_ref(x, w, b, hp)
    assert conv_shape([x.shape[1:]], hp) == y.shape[1:]
    shapes = conv_params([x.shape[1:]], hp)
    assert shapes["weight"] == w.shape
    assert ("bias" in shapes) == hp["bias"]


@pytest.mark.parametrize("case", CASES)
def test_kernel_equals_reference(case):
    x, w, b, hp = _make(case, 1)
    y, cache = conv_forward(x, w, b, hp)
    assert_close("forward", y, _conv_ref(x, w, b, hp), 1e-12)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    dx, grads = conv_backward(dy, cache, params=True)
    rdx, rdw, rdb = _conv_ref_backward(dy, x, w, hp, y=y)
    assert_close("dx", dx, rdx, 1e-12)
    assert_close("dw", grads["weight"], rdw, 1e-12)
    assert ("bias" in grads) == hp["bias"]
    if hp["bias"]:
        assert_close("db", grads["bias"], rdb, 1e-12)


@pytest.mark.parametrize("case", CASES)
def test_gradients_match_finite_differences(case):
    x, w, b, hp = _away_from_kink(case, 3)
    y, cache = conv_forward(x, w, b, hp)
    dy = np.random.default_rng(4).standard_normal(y.shape)
    dx, grads = conv_backward(dy, cache, params=True)
    assert_close("dL/dx", dx, numerical_vjp(lambda t: conv_forward(t, w, b, hp)[0], x, dy), 1e-6)
    assert_close("dL/dw", grads["weight"], numerical_vjp(lambda t: conv_forward(x, t, b, hp)[0], w, dy), 1e-6)
    if b is not None:
        assert_close(
            "dL/db", grads["bias"], numerical_vjp(lambda t: conv_forward(x, w, t, hp)[0], b, dy), 1e-6
        )


@pytest.mark.parametrize("case", CASES)
def test_float32_agrees_with_float64(case):
    x, w, b, hp = _make(case, 5)
    y64, c64 = conv_forward(x, w, b, hp)
    y32, c32 = conv_forward(
        x.astype(np.float32), w.astype(np.float32), None if b is None else b.astype(np.float32), hp
    )
    assert y32.dtype == np.float32
    assert_close("forward f32", y32, y64, 1e-5)
    dy = np.random.default_rng(6).standard_normal(y64.shape)
    dx32 = conv_backward(dy.astype(np.float32), c32)
    assert dx32.dtype == np.float32
    assert_close("dx f32", dx32, conv_backward(dy, c64), 1e-5)


def test_bands_give_the_same_result(monkeypatch):
    """Large images are unfolded a band of output rows at a time; a tiny budget forces many bands."""
    case = (1, 3, 17, 15, 4, (3, 3), (1, 1), (1, 2, 0, 1), (1, 1), 1, True, True)
    x, w, b, hp = _make(case, 7)
    y_one, cache = conv_forward(x, w, b, hp)
    dy = np.random.default_rng(8).standard_normal(y_one.shape)
    dx_one, g_one = conv_backward(dy, cache, params=True)
    monkeypatch.setattr(conv, "COLS_BUDGET", 60)
    y, cache = conv_forward(x, w, b, hp)
    dx, g = conv_backward(dy, cache, params=True)
    assert_close("banded forward", y, y_one, 1e-13)
    assert_close("banded dx", dx, dx_one, 1e-13)
    assert_close("banded dw", g["weight"], g_one["weight"], 1e-13)


def test_dreaming_never_computes_weight_gradients(monkeypatch):
    x, w, b, hp = _make(CASES[0], 9)
    y, cache = conv_forward(x, w, b, hp)

    def forbidden(*args, **kw):
        raise AssertionError("the weight gradient was computed although params=False")

    monkeypatch.setattr(conv, "_gemm_backward_weight", forbidden)
    dx = conv_backward(np.ones_like(y), cache)
    assert isinstance(dx, np.ndarray) and dx.shape == x.shape


def test_relu_mask_is_compact_and_gates_the_gradient():
    x, w, b, hp = _make(CASES[1], 10)
    y, cache = conv_forward(x, w, b, hp)
    masks = [c for c in cache if isinstance(c, np.ndarray) and c.dtype == np.bool_]
    assert masks and masks[0].shape == y.shape
    assert np.all(y >= 0) and np.any(y == 0)
    dy = np.random.default_rng(11).standard_normal(y.shape)
    dx_all = conv_backward(dy, cache)
    dx_live = conv_backward(dy * (y > 0), cache)
    assert_close("mask", dx_all, dx_live, 1e-14)


def test_wrong_weight_shape_is_a_one_line_user_error():
    x, w, b, hp = _make(CASES[0], 12)
    with pytest.raises(UserError, match="does not fit"):
        conv_forward(x, w[:, :2], b, hp)
    with pytest.raises(UserError, match="smaller than"):
        conv_forward(x[:, :, :1, :1], w, b, dict(hp, pad=[0, 0, 0, 0]))


@pytest.mark.parametrize("case", CASES)
def test_torch_oracle(case, torch):
    """F.conv2d (after F.pad for the four-sided padding) and its autograd input gradient."""
    import torch.nn.functional as F

    x, w, b, hp = _make(case, 13)
    t, bt, l, r = hp["pad"]
    xt = torch.tensor(x, requires_grad=True)
    yt = F.conv2d(
        F.pad(xt, (l, r, t, bt)),
        torch.tensor(w),
        None if b is None else torch.tensor(b),
        stride=tuple(hp["stride"]),
        dilation=tuple(hp["dilation"]),
        groups=hp["groups"],
    )
    if hp["relu"]:
        yt = torch.relu(yt)
    dy = np.random.default_rng(14).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(dy))
    y, cache = conv_forward(x, w, b, hp)
    assert_close("forward vs torch", y, yt.detach().numpy(), 1e-12)
    assert_close("dx vs torch", conv_backward(dy, cache), xt.grad.numpy(), 1e-12)


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
    x, w, b, hp = _wino_case(case, 20)
    assert winograd.applies(conv._geometry(hp), x.shape[1], w.shape[0])
    y, cache = conv_forward(x, w, b, hp)
    assert_close("winograd forward", y, _conv_ref(x, w, b, hp), 1e-12)
    dy = np.random.default_rng(21).standard_normal(y.shape)
    assert_close("winograd dx", conv_backward(dy, cache), _conv_ref_backward(dy, x, w, hp, y=y)[0], 1e-12)


@pytest.mark.parametrize("case", WINO)
def test_winograd_float32_tolerance(case):
    """float32 Winograd vs the float64 direct convolution: the transforms' 4, 5, 8 and 1/24 cost some
    digits; measured ~2e-6..1e-5 relative to the largest output; held under 1e-4."""
    x, w, b, hp = _wino_case(case, 22)
    y32, c32 = conv_forward(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), hp)
    assert_close("winograd f32 forward", y32, _conv_ref(x, w, b, hp), 1e-4)
    dy = np.random.default_rng(23).standard_normal(y32.shape)
    ref_dx = _conv_ref_backward(dy, x, w, hp, y=_conv_ref(x, w, b, hp))[0]
    assert_close("winograd f32 dx", conv_backward(dy.astype(np.float32), c32), ref_dx, 1e-4)


def test_winograd_float32_tolerance_at_vgg_width():
    """The error grows with the number of summed channels: a VGG conv4-wide layer still stays under 1e-4."""
    x, w, b, hp = _wino_case((1, 512, 12, 12, 64, (1, 1, 1, 1), False), 24)
    y32, _ = conv_forward(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), hp)
    assert_close("winograd f32, 512 channels", y32, _conv_ref(x, w, b, hp), 1e-4)


@pytest.mark.parametrize("case", WINO[:2])
def test_winograd_gradients_match_finite_differences(case):
    x, w, b, hp = _wino_case(case, 25)
    if hp["relu"]:
        x, w, b, hp = _away_from_kink(
            (
                x.shape[0],
                x.shape[1],
                x.shape[2],
                x.shape[3],
                w.shape[0],
                (3, 3),
                (1, 1),
                tuple(hp["pad"]),
                (1, 1),
                1,
                True,
                True,
            ),
            26,
        )
    y, cache = conv_forward(x, w, b, hp)
    dy = np.random.default_rng(27).standard_normal(y.shape)
    assert_close(
        "winograd dL/dx",
        conv_backward(dy, cache),
        numerical_vjp(lambda t: conv_forward(t, w, b, hp)[0], x, dy),
        1e-6,
    )


def test_winograd_bands_and_weight_cache(monkeypatch):
    """Many bands (tiny budget) give the same result; changing the weights in place is seen (no stale cache)."""
    x, w, b, hp = _wino_case((1, 8, 17, 10, 8, (1, 1, 1, 1), True), 28)
    y_one, _ = conv_forward(x, w, b, hp)
    monkeypatch.setattr(winograd, "BAND_BUDGET", 1)
    y, _ = conv_forward(x, w, b, hp)
    assert_close("banded winograd", y, y_one, 1e-14)
    w *= 0.5  # training updates weights in place
    assert_close("after an in-place update", conv_forward(x, w, b, hp)[0], _conv_ref(x, w, b, hp), 1e-12)


@pytest.mark.parametrize("case", WINO)
def test_winograd_matrix_reference_is_the_convolution(case):
    """The explicit-matrix reference (B^T, G, A^T and their transposes) == the direct convolution, both ways."""
    x, w, _, hp = _wino_case(case, 40)
    pt, pl = hp["pad"][0], hp["pad"][2]
    y = _conv_ref(x, w, None, dict(hp, relu=False))
    dy = np.random.default_rng(41).standard_normal(y.shape)
    assert_close("matrix forward", winograd._conv3x3_ref(x, w, pt, pl, *y.shape[2:]), y, 1e-12)
    assert_close(
        "matrix adjoint",
        winograd._conv3x3_grad_ref(dy, w, pt, pl, *x.shape[2:]),
        _conv_ref_backward(dy, x, w, dict(hp, relu=False))[0],
        1e-12,
    )


@pytest.mark.parametrize("case", WINO)
def test_winograd_kernels_equal_matrix_reference(case):
    """conv3x3 / conv3x3_grad (Numba transforms + BLAS) == the einsum reference; the mask gates dy as it is read."""
    x, w, _, hp = _wino_case(case, 42)
    pt, pl = hp["pad"][0], hp["pad"][2]
    y_ref = winograd._conv3x3_ref(x, w, pt, pl, *_conv_ref(x, w, None, dict(hp, relu=False)).shape[2:])
    y, _ = winograd.conv3x3(x, w, pt, pl, *y_ref.shape[2:])
    assert_close("conv3x3 vs reference", y, y_ref, 1e-12)
    rng = np.random.default_rng(43)
    dy, mask = rng.standard_normal(y.shape), rng.random(y.shape) < 0.5
    assert_close(
        "conv3x3_grad vs reference",
        winograd.conv3x3_grad(dy, w, pt, pl, *x.shape[2:]),
        winograd._conv3x3_grad_ref(dy, w, pt, pl, *x.shape[2:]),
        1e-12,
    )
    assert_close(
        "masked conv3x3_grad",
        winograd.conv3x3_grad(dy, w, pt, pl, *x.shape[2:], mask=mask),
        winograd._conv3x3_grad_ref(dy * mask, w, pt, pl, *x.shape[2:]),
        1e-12,
    )


def test_winograd_weights_in_slices(monkeypatch):
    """U made a few output channels at a time (one band): rows of y, and dx summed over the slices, as whole."""
    x, w, b, hp = _wino_case((1, 12, 9, 10, 16, (1, 1, 1, 1), True), 48)
    y, cache = conv_forward(x, w, b, hp)
    dy = np.random.default_rng(49).standard_normal(y.shape)
    dx = conv_backward(dy, cache)
    monkeypatch.setattr(winograd, "WEIGHT_BUDGET", 36 * 12 * 6)  # slices of 6, 6 and 4 of the 16 channels
    y_s, cache_s = conv_forward(x, w, b, hp)
    assert_close("forward, sliced U", y_s, y, 1e-14)
    assert_close("gradient, sliced U", conv_backward(dy, cache_s), dx, 1e-14)


@pytest.mark.parametrize("case", WINO)
def test_winograd_adjoint_equals_rotated_kernel_route(case):
    """The input gradient two ways: the forward run backwards with U (what conv_backward does), and the
    textbook route, a forward Winograd conv of dy with w rotated 180°, in/out swapped, padded 2 - p."""
    x, w, _, hp = _wino_case(case, 44)
    pt, pl = hp["pad"][0], hp["pad"][2]
    y, _ = winograd.conv3x3(x, w, pt, pl, *_conv_ref(x, w, None, hp).shape[2:])
    dy = np.random.default_rng(45).standard_normal(y.shape)
    w_rot = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C, K, 3, 3)
    textbook, _ = winograd.conv3x3(dy, w_rot, 2 - pt, 2 - pl, *x.shape[2:])
    assert_close(
        "adjoint vs rotated kernel", winograd.conv3x3_grad(dy, w, pt, pl, *x.shape[2:]), textbook, 1e-12
    )


def test_winograd_gradient_bands(monkeypatch):
    """conv3x3_grad band by band (tiny budget: one tile row each, rows overlapping by 2) == in one band."""
    x, w, b, hp = _wino_case((1, 8, 17, 10, 8, (1, 1, 1, 1), True), 46)
    y, cache = conv_forward(x, w, b, hp)
    dy = np.random.default_rng(47).standard_normal(y.shape)
    dx_one = conv_backward(dy, cache)
    monkeypatch.setattr(winograd, "BAND_BUDGET", 1)
    assert_close("banded winograd dx", conv_backward(dy, cache), dx_one, 1e-14)


def test_winograd_off_gives_the_same_numbers(monkeypatch):
    x, w, b, hp = _wino_case(WINO[0], 29, np.float32)
    y_w, c_w = conv_forward(x, w, b, hp)
    dy = np.random.default_rng(30).standard_normal(y_w.shape).astype(np.float32)
    dx_w = conv_backward(dy, c_w)
    monkeypatch.setattr(conv, "WINOGRAD", False)
    y_g, c_g = conv_forward(x, w, b, hp)
    assert_close("forward: winograd vs im2col", y_w, y_g, 1e-5)
    assert_close("dx: winograd vs col2im", dx_w, conv_backward(dy, c_g), 1e-5)


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
def test_blas_matmul_on_numba_threads(trans_a, accumulate):
    """_blas.matmul (OpenBLAS sgemm per Numba thread, or NumPy) == NumPy, on strided column bands; with
    accumulate the product is added to what out held."""
    rng = np.random.default_rng(31)
    for B, M, K, N in [(1, 64, 300, 1000), (36, 7, 5, 11), (3, 130, 64, 97)]:
        a = rng.standard_normal((B, K, M) if trans_a else (B, M, K)).astype(np.float32)
        bm = rng.standard_normal((B, K, N)).astype(np.float32)
        big = np.zeros((B, M, N + 9), np.float32)
        before = rng.standard_normal((B, M, N)).astype(np.float32)
        big[:, :, 4 : N + 4] = before
        _blas.matmul(a, bm, big[:, :, 4 : N + 4], trans_a=trans_a, accumulate=accumulate)
        ref = np.matmul(a.transpose(0, 2, 1) if trans_a else a, bm) + (before if accumulate else 0)
        assert_close("sgemm blocks", big[:, :, 4 : N + 4], ref, 1e-5)
        assert not big[:, :, :4].any() and not big[:, :, N + 4 :].any()  # nothing written outside the band
