""" "Why dogs?": which classes a dream made more likely, in the net's own words (its class probabilities).

A net trained on photos of dogs finds dogs everywhere; the lecture calls this dataset bias. Here it is
measured on the user's own picture: the net classifies the picture before and after the dream, and the
classes whose probability rose most are the ones the dream drew. A second net (`--compare-net`)
classifies the same two pictures, to show that another training set sees other things.

    p = softmax(net(picture))                          # (K,) one probability per class
    rise_k = p_k(dream) - p_k(input)                   # the classes with the largest rises, rise > 0

A net "has a classifier" when its spec names its classes (labels) and its last layer gives one number
per class. A classifier with a fixed input (VGG, AlexNet: flatten -> linear) sees the picture resized to
the size its weights were made for; one that pools globally (the toy-world net, GoogLeNet) sees it at
its own size, shrunk when its long side is more than twice the net's input side (a classifier needs no
more, and the cost stays that of a few dream steps).
"""

from typing import NamedTuple

import numpy as np

from .errors import UserError
from .image_io import resize


class Rise(NamedTuple):
    """One class whose probability rose: its label, the probability before and after."""

    label: str
    before: float
    after: float


def has_classifier(net):
    """True when the net names its classes and its last layer gives one value per class."""
    labels = net.labels or []
    shape = net.shapes(*net.spec["input"].get("size", [224, 224]))[net.layer_names[-1]]
    return len(labels) > 0 and tuple(shape) == (len(labels),)


def require_classifier(net, flag):
    """One line when the net cannot say what a picture shows."""
    if not has_classifier(net):
        raise UserError(
            f"{flag} needs a net that classifies pictures; {net.name} has no class labels on its last "
            "layer; use a classifier such as toyworld or googlenet"
        )


def probabilities(net, img):
    """The class probabilities (K,) float64 of one uint8 picture (H, W, 3)."""
    x = net.preprocess(img)
    size = _view(net, *x.shape[2:])
    if size != x.shape[2:]:
        x = resize(x, size)
    out = net.forward(x, keep=False)[0].astype(np.float64)
    if net.layers[-1]["kind"] == "softmax":
        return out
    e = np.exp(out - out.max())  # a net that ends at its scores: softmax here
    return e / e.sum()


def rises(net, before, after, top=3):
    """The `top` classes whose probability rose most from picture `before` to picture `after` (only those
    that rose), largest rise first."""
    p0, p1 = probabilities(net, before), probabilities(net, after)
    order = np.argsort(-(p1 - p0), kind="stable")
    return [Rise(net.labels[k], float(p0[k]), float(p1[k])) for k in order[:top] if p1[k] > p0[k]]


def worded(rise):
    """A Rise as a caption line: "dog 0.12->0.47"."""
    return f"{rise.label} {rise.before:.2f}->{rise.after:.2f}"


def _view(net, h, w):
    """The size (h, w) at which the net classifies an h x w picture: its input size when a linear layer's
    weights fix it, else the picture's own size, shrunk to a long side of at most twice the net's."""
    from .layers import KINDS

    size = tuple(net.spec["input"].get("size", [224, 224]))
    shapes = net.shapes(h, w)
    for layer in net.layers:
        if layer["kind"] == "linear":
            needs = KINDS["linear"].params([shapes[s] for s in layer["inputs"]], layer)
            if needs != net.param_shapes[layer["name"]]:
                return size
    k = min(1.0, 2 * max(size) / max(h, w))
    return (max(1, round(h * k)), max(1, round(w * k)))


# ---- what the command line shows ------------------------------------------------------------------------
def explain(nets, before, after, top=3):
    """[(net name, [Rise, ...])]: each net's rising classes from picture `before` to picture `after`."""
    return [(net.name, rises(net, before, after, top)) for net in nets]


def panel_lines(sections):
    """The text beside the pictures: per net, its rising classes with before -> after."""
    lines = []
    for name, found in sections:
        lines += [f"{name}: rose most, input -> dream"]
        lines += [f"  {worded(r)}" for r in found] or ["  no class rose"]
        lines += [""]
    return lines[:-1]


def panel(before, after, sections):
    """The explain picture: the input and the dream (shrunk to a long side of 256 px), and beside them
    each net's rising classes. (H, W, 3) uint8."""
    from .image_io import shrink
    from .sheet import side_panel

    pictures = [(shrink(before, 256), "input"), (shrink(after, 256), "dream")]
    title = "why these shapes? the classes the dream made more likely"
    return side_panel(pictures, panel_lines(sections), title)[0]
