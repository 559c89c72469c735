"""∂h_ij/∂i_mn made visible: `scratchdream lecture IMG --show-field`.

For one neuron h_ij the second factor of slide 34's chain rule, ∂h_ij/∂i_mn, is one number per input
value, and `Net.backward` computes exactly it when the upstream gradient is a one-hot at the neuron:

    e = one-hot at (c, i, j) of the layer;   dh_dI = net.backward(e)       (1, 3, H, W)

Only the whole layer's Jacobian ∂h/∂I (every neuron against every pixel) would be too large to build.
The picture shows |dh_dI| as a heat map on the image, with the neuron's receptive-field square drawn
around it: outside that square the exact derivative is zero. A kernel that rounds (the Winograd path)
leaves values of 1e-7 to 1e-6 of the maximum a little outside it, so `support` reports both what is != 0
and what is above 1e-5 of the maximum.
"""

import numpy as np

RELATIVE_FLOOR = 1e-5  # what `support` counts as rounding: below this fraction of the largest |dh_dI|
SQUARE = (0, 230, 255)  # the receptive-field square's colour (cyan)


def centre_neuron(net, img, layer, channel=None):
    """(c, i, j): the neuron at the centre of `layer`'s grid, in `channel` or the most active one there."""
    h = net.forward(net.preprocess(img), upto=layer, keep=False)[0]
    i, j = h.shape[1] // 2, h.shape[2] // 2
    c = int(np.argmax(h[:, i, j])) if channel is None else int(channel)
    return c, i, j


def field(net, img, layer, neuron):
    """dh_ij/dI (1, 3, H, W) for neuron (c, i, j) of `layer` on the picture img (H, W, 3) uint8."""
    c, i, j = neuron
    h = net.forward(net.preprocess(img), upto=layer)  # the tape backward needs
    e = np.zeros_like(h)
    e[0, c, i, j] = 1.0  # one-hot at the neuron: the row of the Jacobian that belongs to h_ij
    return net.backward(e)


def square(net, layer, i, j):
    """(top, left, side) in picture pixels of the receptive field of output pixel (i, j) of `layer`.

    Walks the layers as Net.receptive_field does, also keeping where the centre of output pixel 0 sits:
    a window of k taps, dilation d, padding p moves that centre by (d(k-1)/2 - p) input pixels."""
    layer = net.resolve(layer)
    state = {"data": (1.0, 1.0, 0.0, 0.0)}  # side, jump, centre row and column of pixel 0
    for spec in net.layers:
        side, jump, r0, c0 = max(state[s] for s in spec["inputs"])
        geo = spec.get("geo")
        if geo is not None:
            r0 += (geo.dh * (geo.kh - 1) / 2 - geo.pt) * jump
            c0 += (geo.dw * (geo.kw - 1) / 2 - geo.pl) * jump
            side += max(geo.dh * (geo.kh - 1), geo.dw * (geo.kw - 1)) * jump
            jump *= max(geo.sh, geo.sw)
        state[spec["name"]] = (side, jump, r0, c0)
        if spec["name"] == layer:
            break
    side, jump, r0, c0 = state[layer]
    return int(round(r0 + i * jump - (side - 1) / 2)), int(round(c0 + j * jump - (side - 1) / 2)), int(side)


def support(dh_dI, floor=RELATIVE_FLOOR):
    """((rows, cols) where dh_dI != 0, (rows, cols) where |dh_dI| > floor · its maximum): bounding boxes."""
    size = np.abs(dh_dI[0]).max(axis=0)

    def box(mask):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        return (0, 0) if rows.size == 0 else (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1))

    return box(size != 0), box(size > floor * size.max())


def heat_map(img, dh_dI, box):
    """The picture (H, W, 3) uint8 greyed and dimmed, |dh_dI| on it from dark red to yellow, and the
    square box = (top, left, side) drawn one pixel outside the receptive field."""
    heat = np.abs(dh_dI[0]).sum(axis=0)
    heat = np.sqrt(heat / max(float(heat.max()), 1e-30))[..., None]  # sqrt: the weak edge stays visible
    grey = img.astype(np.float32).mean(axis=2, keepdims=True) * 0.45
    colour = np.concatenate([np.full_like(heat, 255.0), 255.0 * heat, 40.0 * heat], axis=2)
    out = np.clip(grey * (1 - heat) + colour * heat, 0, 255).astype(np.uint8)
    draw_square(out, *box)
    return out


def draw_square(out, top, left, side):
    """A one-pixel outline just outside rows top..top+side-1 and columns left..left+side-1 (clipped)."""
    H, W = out.shape[:2]
    t, b, lft, r = top - 1, top + side, left - 1, left + side
    rows, cols = slice(max(t, 0), min(b, H - 1) + 1), slice(max(lft, 0), min(r, W - 1) + 1)
    for y in (t, b):
        if 0 <= y < H:
            out[y, cols] = SQUARE
    for x in (lft, r):
        if 0 <= x < W:
            out[rows, x] = SQUARE
