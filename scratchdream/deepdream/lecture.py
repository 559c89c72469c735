"""Slides 34 and 35, exactly, and nothing else: `scratchdream lecture IMG --layer L --neuron C,Y,X`.

    slide 34   max_I L(I),  L(I) = h_ij²
               dL/di_mn = dL/dh_ij · dh_ij/di_mn        first factor 2·h_ij, second factor Net.backward
    slide 35   i_mn <- i_mn + eta · dL/di_mn             then feed the image back to the network, repeat

No octaves, no jitter, no gradient normalisation. The one choice the slides leave open is the step
size eta (the slide uses eta = 1, whose effect depends entirely on the scale of the network). Unless
it is given, eta is chosen ONCE, before the first step, so that the first step moves no pixel by more
than `FIRST_STEP` grey levels (of 0..255), and it then stays fixed: plain gradient ascent with a
constant learning rate. The only other thing done to the image is keeping it an image: pixels are
clipped to 0..255 after each update, and, before the first step, given a noise of at most one grey level
seeded by `seed`, so that max-pooling ties on a flat picture do not depend on the kernels (ties.py).
"""

import numpy as np

from ..errors import SettingError, UserError
from . import objectives
from .ascent import climb
from .options import check, parse_neuron
from .plan import check_neuron, check_picture_size
from .ties import break_ties

FIRST_STEP = 8.0  # grey levels: the largest pixel change of the first step when eta is chosen for you


def most_active_neuron(net, img, layer, channel=None):
    """(c, i, j) of the largest activation of `layer` (within `channel` if given) on the picture."""
    h = net.forward(net.preprocess(img), upto=layer, keep=False)[0]
    if channel is not None:
        i, j = np.unravel_index(int(np.argmax(h[channel])), h.shape[1:])
        return int(channel), int(i), int(j)
    c, i, j = np.unravel_index(int(np.argmax(h)), h.shape)
    return int(c), int(i), int(j)


def choose_eta(net, dL_dI, first_step=FIRST_STEP):
    """eta such that eta·max|dL/dI| is `first_step` grey levels in the net's input units."""
    lo, hi = net.input_range(np.float64)
    grey_level = float(np.min(hi - lo)) / 255.0  # one grey level in input units
    largest = float(np.max(np.abs(dL_dI)))
    if largest == 0.0:
        raise UserError(
            "dL/dI = 0 at every pixel: this neuron does not depend on the picture, so the ascent cannot "
            "start; choose another neuron"
        )
    return first_step * grey_level / largest


def spatial_shape(net, layer, H, W):
    """(C, Hl, Wl) of `layer` on an H x W picture: the lecture needs channels, rows and columns."""
    shape = net.shapes(H, W)[layer]
    if len(shape) != 3:
        raise SettingError(
            "the lecture needs a {layer} with a spatial output (channels x rows x columns); "
            "{name} gives {shape}",
            name=layer,
            shape=shape,
        )
    return shape


def lecture(net, img, layer, neuron, steps=20, eta=None, on_step=None, seed=0):
    """Gradient ascent on L(I) = h_ij² from the picture img (H, W, 3) uint8.

    neuron = (c, i, j) at `layer`. on_step(t, h_ij, L, eta, picture) is called before every update and
    after the last one (t = 0..steps); seed seeds the tie-breaking noise (ties.py). Returns (final
    picture uint8, [h_ij at t = 0..steps], eta).
    """
    layer, (c, i, j), steps, eta = _checked(net, img, layer, neuron, steps, eta)
    I = net.preprocess(img)  # the image I: pixels i_mn in the net's input units
    I = break_ties(I, net, np.random.default_rng(seed))  # < 1 grey level: no max-pool ties (ties.py)
    lo, hi = net.input_range()
    history = []
    for t in range(steps + 1):
        h = net.forward(I, upto=layer)  # feed the image to the network
        L, dL_dh = objectives.neuron(h, c, i, j)  # L(I) = h_ij², dL/dh_ij = 2 h_ij
        h_ij = float(h[0, c, i, j])
        history.append(h_ij)
        if on_step is not None:
            on_step(t, h_ij, L, eta, net.deprocess(I))
        if t == steps:
            break
        if h_ij == 0.0:
            raise UserError(
                f"h_ij = 0 at neuron {c},{i},{j} of {layer} (its ReLU is off), so dL/dI = 2·h_ij·dh_ij/dI "
                "= 0 and the ascent cannot start; choose a neuron that fires (without one, the lecture "
                "follows the most active neuron)"
            )
        dL_dI = net.backward(dL_dh)  # dL/di_mn = dL/dh_ij · dh_ij/di_mn, for every pixel
        if eta is None:
            eta = choose_eta(net, dL_dI)
        climb(I, np.float32(eta), dL_dI, lo, hi)  # slide 35: i_mn <- i_mn + eta · dL/di_mn, kept in 0..255
    return net.deprocess(I), history, eta


def _checked(net, img, layer, neuron, steps, eta):
    """The lecture's arguments, checked: (the layer's own name, (c, i, j), steps, eta)."""
    layer, (H, W) = net.resolve(layer), img.shape[:2]
    check_picture_size(net, [layer], H, W)
    neuron = check_neuron(layer, spatial_shape(net, layer, H, W), parse_neuron(neuron), W, H)
    return layer, neuron, check("steps", steps), None if eta is None else check("eta", eta)
