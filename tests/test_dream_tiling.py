"""Tiling: the grid's geometry, exactness with a full margin, equality with the untiled dream, bounded
memory, and the decision to tile made once."""

import tracemalloc

import numpy as np
import pytest
from dream_pictures import sky
from nets_for_tests import tiny_inception_net

import scratchdream as sd
from scratchdream.deepdream import plan
from scratchdream.deepdream.ascent import gradient
from scratchdream.deepdream.options import DreamOptions
from scratchdream.deepdream.tiling import MARGIN_BUDGET, Tiler, default_margin, exact_margin, jump, tile_spans


@pytest.fixture(scope="module")
def net():
    return tiny_inception_net(0)


@pytest.mark.parametrize("n, tile", [(100, 24), (97, 32), (33, 32), (500, 64), (64, 64), (10, 64)])
def test_tile_spans_cover_the_line_without_slivers(n, tile):
    for offset in range(0, tile, 5):
        spans = tile_spans(n, tile, offset)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous, no overlap
        if n > tile:
            assert all(tile / 2 <= b - a < 1.5 * tile for a, b in spans)  # no sliver too small for the net
        else:
            assert spans == [(0, n)]
    assert tile_spans(100, 24, 0) != tile_spans(100, 24, 10)  # the offset moves the seams


def test_jump_is_the_total_stride(net):
    assert jump(net, ["conv1"]) == 1 and jump(net, ["inc/output"]) == 2 and jump(net, ["conv3"]) == 4
    assert jump(net, ["inc/output", "conv3"]) == 4


@pytest.mark.parametrize("layer", ["inc/output", "conv3"])
def test_tiled_gradient_is_exact_with_a_full_margin(net, layer):
    """Margin >= the receptive field, tiles on the layer's grid: every core pixel sees all it depends on,
    so the tiled dL/dI and L equal the untiled ones (float64; only the summation order differs)."""
    H, W = 90, 118
    objective = plan.build_objective(net, [(layer, 1.0)], H, W)
    x = net.preprocess(sky(H, W, seed=3), dtype=np.float64)
    L, g = gradient(net, x, objective)
    margin = exact_margin(net, [layer])
    assert margin >= net.receptive_field(layer) and margin % jump(net, [layer]) == 0
    tiler = Tiler(24, margin, np.random.default_rng(0), step=jump(net, [layer]))
    assert tiler.needed(H, W)
    Lt, gt = tiler.gradient(net, x, objective)
    assert np.abs(gt - g).max() <= 1e-12 * np.abs(g).max()
    assert abs(Lt - L) <= 1e-12 * abs(L)
    _, g0 = Tiler(24, 0, np.random.default_rng(0), step=jump(net, [layer])).gradient(net, x, objective)
    # without a margin the seams are real: the test can fail
    assert np.abs(g0 - g).max() > 1e-2 * np.abs(g).max()


@pytest.mark.parametrize("layer", ["inc/output", "conv3"])
def test_default_margin_is_the_widest_within_the_work_budget(net, layer):
    """The worst tile (neighbours on four sides) sees (1 + 2m/t)² of its area: at most 1.1 by default."""
    step, quarter_rf = jump(net, [layer]), net.receptive_field(layer) / 4
    for tile in (24, 64, 100, 512, 1024, 4096):
        m = default_margin(net, [layer], tile)
        assert m % step == 0 and 0 <= m <= quarter_rf
        assert (1 + 2 * m / tile) ** 2 <= 1 + MARGIN_BUDGET
        wider = m + step  # one more stride breaks the budget or passes RF/4
        assert (1 + 2 * wider / tile) ** 2 > 1 + MARGIN_BUDGET or wider > quarter_rf
    assert default_margin(net, ["conv3"], 100) == 0  # 100 · 0.0244 = 2.4 px < one stride of 4


def test_exact_margin_option_reproduces_the_untiled_dream(net):
    """tile_margin='exact' (--tile-margin exact): tiles of a float64 gradient equal the whole picture's."""
    H, W = 90, 118
    objective = plan.build_objective(net, [("conv3", 1.0)], H, W)
    x = net.preprocess(sky(H, W, seed=7), dtype=np.float64)
    options = DreamOptions(layers="conv3", tile=48, tile_margin="exact")
    min_side = plan.min_input_side(net, ["conv3"])
    tiler = plan.choose_tiler(net, objective, options, min_side, np.random.default_rng(1), H, W)
    assert tiler.needed(H, W) and tiler.margin == exact_margin(net, ["conv3"])
    _, g = gradient(net, x, objective)
    _, gt = tiler.gradient(net, x, objective)
    assert np.abs(gt - g).max() <= 1e-12 * np.abs(g).max()
    with pytest.raises(sd.errors.UsageError, match="tile_margin must be a whole number from 0"):
        DreamOptions(tile=48, tile_margin="wide")


def test_no_tiler_when_the_picture_fits_one_tile_or_tile_is_0(net):
    """Whether to tile is decided once, before the first step: None means one pass over the picture."""
    H, W = 60, 80
    objective = plan.build_objective(net, [("conv3", 1.0)], H, W)
    rng, min_side = np.random.default_rng(1), plan.min_input_side(net, ["conv3"])
    for tile in (0, 80, 200):
        options = DreamOptions(layers="conv3", tile=tile)
        assert plan.choose_tiler(net, objective, options, min_side, rng, H, W) is None, tile
    tiler = plan.choose_tiler(net, objective, DreamOptions(tile=48), min_side, rng, H, W)
    assert isinstance(tiler, Tiler) and tiler.tile == 48


def test_tiled_and_untiled_dreams_are_bit_identical_when_one_tile_covers(net):
    pic = sky(41, 57, seed=4)
    opts = dict(layers="conv3", octaves=2, steps=3, jitter=0, progress=False, seed=1)
    assert sd.dream(net, pic, tile=0, **opts).tobytes() == sd.dream(net, pic, tile=64, **opts).tobytes()


def test_tiled_dream_keeps_size_and_differs_little(net):
    """With a margin of RF/4 (8 px; conv3's RF is 21) the tiled dream stays within half of what the dream
    changed of the untiled one (measured 0.36; two untiled dreams with other jitter seeds differ by 1.4x
    the change, and margin 0 with these 32-px tiles, where every pixel is near a seam, by 0.77x)."""
    pic = sky(70, 101, seed=5)
    opts = dict(layers="conv3", octaves=2, steps=3, progress=False, seed=2)
    tiled = sd.dream(net, pic, tile=32, tile_margin=8, **opts)
    whole = sd.dream(net, pic, tile=0, **opts)
    assert tiled.shape == pic.shape and tiled.dtype == np.uint8
    change = np.abs(whole.astype(int) - pic).mean()  # what the untiled dream changed
    assert np.abs(tiled.astype(int) - pic).mean() > 0.5 * change  # the tiled one dreamed as much
    assert np.abs(tiled.astype(int) - whole).mean() < 0.5 * change  # ... and mostly the same


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tiled_dream_of_a_large_picture_has_bounded_memory(net):
    """Peak memory (tracemalloc: NumPy's allocations) of one step on a 480 x 640 picture: tiles of 128 px
    keep only a tile's activations alive, the whole-picture pass keeps all of them.
    (Measured: tiled 6.0, untiled 19.8 float32 copies of the picture.)"""
    pic = sky(480, 640, seed=6)
    opts = dict(layers="conv3", octaves=1, steps=1, jitter=0, progress=False)
    sd.dream(net, pic[:64, :64], **opts)  # compile and warm up first
    untiled = _peak(lambda: sd.dream(net, pic, tile=0, **opts))
    tiled = _peak(lambda: sd.dream(net, pic, tile=128, **opts))
    picture = pic.size * 4  # one float32 copy of the picture
    assert tiled < 0.5 * untiled, (tiled, untiled)
    assert tiled < 10 * picture, (tiled, picture)  # a handful of picture-sized buffers, nothing per layer
