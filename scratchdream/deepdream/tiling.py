"""Big pictures in bounded memory: the gradient dL/dI computed tile by tile.

A forward and backward pass keeps every activation of the picture, which for a 4000 x 3000 photo on
GoogLeNet is gigabytes. Yet dL/di_mn only depends on the pixels near i_mn (within the receptive field),
so the picture can be cut into tiles and each tile's gradient computed on its own:

    +-----+-----+--+         the grid is shifted by a random offset every step, so no pixel sits on a
    |  .--+--.  |  |         tile edge for more than the odd step and no seam can build up; pieces
    |  |  |  |  |  |         shorter than half a tile at the borders are merged into their neighbour
    +--+--+--+--+--+         (every tile is 0.5 to 1.5 tiles long, never a sliver too small for the net)
    |  '--+--'  |  |
    +-----+-----+--+         the dotted box: a tile plus its margin, what the network actually sees

Each tile is given to the network with a `margin` of context on every side (clipped at the picture's
edge); only the gradient of its core is kept. Every tile edge, margin and grid offset is a multiple
of the layer's total stride (`jump`: 16 for GoogLeNet's inception_4c), so a tile's activations sit on
the same grid as the whole picture's. Then a margin of one receptive field (RF) makes every core
gradient exact: a core pixel's gradient comes from activations whose view contains it, and those see
only pixels within RF of it. Smaller margins cost less and are wrong only near the tile edges (the
net sees zero padding where the neighbour tile's pixels should be). The price of a margin m on a tile
t is the extra area the net sees, up to (1 + 2m/t)² for a tile with neighbours on all sides.
Measured on GoogLeNet (random weights, inception_4c, RF 299 px, jump 16), one gradient of a 1024 x 768
picture in 512-px tiles, CPU time against the untiled gradient, and ||tiled - untiled|| / ||untiled||:
    margin        0      16     32     48     80 (RF/4)   >= RF
    extra time    0%     7%     12%    20%    46%         207% (304 px)
    error         36%    24%    15%    8.8%   2.9%        0.2% (float32 rounding; 1e-12 in float64)
and a 2048 x 1536 picture in the default 1024-px tiles: margin 16 (the default) +4% time and 17% error,
margin 80 +21% and 2.0%.
The default margin is the widest one that keeps the worst tile's extra work within 10% (MARGIN_BUDGET),
in whole strides, and never above RF/4 (where the error is already a few per cent): 16 px for
inception_4c at the default 1024-px tile, 0 at 512 px, 48 at 2048. The error left is not a fixed seam:
the grid is shifted by a random offset every step, so each pixel sits near a tile edge for the odd step
only, as in the original notebook (which tiles without any margin). `tile_margin` (--tile-margin)
overrides it: a number of pixels, or "exact" for one receptive field (exact gradients, 3x the work).
Pictures up to the tile size (1024 px by default) are not tiled at all.
Objective means use the whole picture's count (`counts`), so the tiles' gradients add up to the
picture's; each tile adds to L only the activations on its own core's grid positions, so the tiles'
L add up to the picture's too (exactly when the margin covers the receptive field). With the tile at
least as large as the picture there is one tile and the computation is exactly the untiled one.
"""

import numpy as np


def tile_spans(n, tile, offset=0):
    """Cut [0, n) into pieces at offset + k·tile; pieces under tile/2 at either end join their neighbour."""
    if tile <= 0 or n <= tile:
        return [(0, n)]
    bounds = [0] + [c for c in range(offset % tile, n, tile) if 0 < c < n] + [n]
    spans = list(zip(bounds[:-1], bounds[1:]))
    if len(spans) > 1 and spans[0][1] - spans[0][0] < tile / 2:
        spans[:2] = [(spans[0][0], spans[1][1])]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < tile / 2:
        spans[-2:] = [(spans[-2][0], spans[-1][1])]
    return spans


MARGIN_BUDGET = 0.10  # the default margin may add at most this share of work to a tile


def default_margin(net, layers, tile, budget=MARGIN_BUDGET):
    """The widest margin, in whole strides of `layers`, with (1 + 2m/tile)² <= 1 + budget; at most RF/4."""
    step = jump(net, layers)
    widest = tile * (np.sqrt(1.0 + budget) - 1.0) / 2.0
    rf = receptive_field(net, layers)
    if np.isfinite(rf):
        widest = min(widest, rf / 4)
    return int(widest // step) * step


def exact_margin(net, layers):
    """One receptive field, rounded up to whole strides: tiled gradients equal the untiled ones."""
    return _round_up(np.ceil(receptive_field(net, layers)), jump(net, layers))


def receptive_field(net, layers):
    """The widest receptive field among `layers`, in pixels (inf where a layer sees the whole picture)."""
    return max(net.receptive_field(name) for name in layers)


def jump(net, layers):
    """The total stride from the pixels to `layers`: one step on their grid is this many pixels."""
    step = {"data": 1}
    for layer in net.layers:
        j = max(step[s] for s in layer["inputs"])
        if layer["kind"] in ("conv", "maxpool", "avgpool"):
            j *= max(layer["hp"]["stride"])
        step[layer["name"]] = j
    return int(np.lcm.reduce([step[name] for name in layers]))


def _round_up(v, k):
    return -(-int(v) // k) * k


class Tiler:
    """Computes (L, dL/dI) of a picture tile by tile; `rng` shifts the grid at every call.
    tile, margin and the grid offsets are rounded to multiples of `step` (the layers' jump)."""

    def __init__(self, tile, margin, rng, step=1):
        self.step = max(1, int(step))
        self.tile = _round_up(tile, self.step) if tile else 0
        self.margin, self.rng = _round_up(margin, self.step), rng

    def needed(self, H, W):
        return self.tile > 0 and (H > self.tile or W > self.tile)

    def gradient(self, net, x, objective, shift=(0.0, 0.0)):
        """(L, dL/dI) of x (1, 3, H, W), tile by tile (one tile over all of x: exactly `ascent.gradient`)."""
        H, W = x.shape[2:]
        oy, ox = (int(v) * self.step for v in self.rng.integers(0, self.tile // self.step, size=2))
        shapes = net.shapes(H, W)
        counts = {name: shapes[name] for name in objective.layers}
        jumps = {name: jump(net, [name]) for name in objective.layers}
        dL_dI, total, m = np.empty_like(x), 0.0, self.margin
        for y0, y1 in tile_spans(H, self.tile, oy):
            for x0, x1 in tile_spans(W, self.tile, ox):
                a0, a1, b0, b1 = max(0, y0 - m), min(H, y1 + m), max(0, x0 - m), min(W, x1 + m)
                rows, cols = (y0 - a0, None if y1 == H else y1 - a0), (x0 - b0, None if x1 == W else x1 - b0)
                h = net.forward(x[:, :, a0:a1, b0:b1], upto=objective.layers)  # the tile and its margin
                own = {name: _crop(h[name], rows, cols, jumps[name]) for name in h}
                total += objective(own, shift, counts)[0]  # L of the activations this tile owns
                _, dL_dh = objective(h, shift, counts)  # the gradient of all it sees
                g = net.backward(dL_dh)
                dL_dI[:, :, y0:y1, x0:x1] = g[:, :, y0 - a0 : y1 - a0, x0 - b0 : x1 - b0]  # keep the core
                del h, own, dL_dh, g
        return total, dL_dI


def _crop(h, rows, cols, j):
    """The activations of h (1, C, Hl, Wl) whose grid positions fall in the core (pixel ranges / jump)."""
    r1 = None if rows[1] is None else rows[1] // j
    c1 = None if cols[1] is None else cols[1] // j
    return h[:, :, rows[0] // j : r1, cols[0] // j : c1]
