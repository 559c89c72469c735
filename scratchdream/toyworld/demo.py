"""The lecture's demonstration, end to end: dream on an empty sky and watch a castle appear.

Slides 34-35 with a *layer* objective (L = sum of h^2 over a deep layer, not a class score): start from a
plain generated background with no object in it, push up whatever the deep layer already sees there, feed
the picture back, repeat. The network was trained on a world where castles stood against skies 95% of
the time (scenes.py), so what it "sees" in a sky is a little castle, and the ascent draws it. We measure
that with the network's own softmax: p(castle) before and after, and the same for water (fish or ship),
brown (dog) and grass (bird). A control network, trained on the same world with the backgrounds
shuffled across classes, has no co-occurrence to learn; `mean_rise` measures both nets the same way, and
docs/toyworld.md reports where the two differ (brown, grass) and where they do not (sky, water).
"""
import os

import numpy as np

from . import scenes

# background -> the classes that lived on it in the training world (the ones the dream should grow)
EXPECTED = {"sky": ("castle",), "water": ("fish", "ship"), "brown": ("dog",), "grass": ("bird",)}
DREAM = {"octaves": 2, "octave_scale": 1.4, "steps": 6, "step_size": 1.0, "jitter": 4}   # gentle: see docs/toyworld.md
LAYER = "conv3"    # a deep layer (third of four conv blocks, 16 x 16 x 64 at 64 px); why not conv4: docs/toyworld.md
SEEDS = tuple(range(8))        # the plain backgrounds the bias is measured on (tests, `toyworld demo`, docs)
SIZE = 96          # dream canvas: bigger than the 64 px training scenes, so a whole castle fits


def classify(net, img):
    """Class probabilities (K,) for one uint8 picture (H, W, 3), at its own size (the net ends in global pooling)."""
    return net.forward(net.preprocess(img), upto="prob", keep=False)[0].astype(np.float64)


def dream_on(net, img, layer=None, seed=0, on_frame=None, progress=False, **opts):
    """Deep Dream with a layer objective (L = sum of h^2) at `layer` (default LAYER); uint8 in, uint8 out."""
    from ..dream.loop import dream
    settings = dict(DREAM, **opts)
    return dream(net, img, layers=[layer or LAYER], seed=seed, progress=progress,
                 on_frame=on_frame, **settings)


def bias_rise(net, background, size=SIZE, seed=0, layer=None, on_frame=None, progress=False, **opts):
    """Dream on a plain background; returns (p_before, p_after, picture before, picture after)."""
    before = scenes.plain_background(background, size=size, seed=seed)
    after = dream_on(net, before, layer=layer, seed=seed, on_frame=on_frame, progress=progress, **opts)
    return classify(net, before), classify(net, after), before, after


def expected_probability(net, background, p):
    """Summed probability of the classes that co-occurred with this background in training."""
    return float(sum(p[net.labels.index(c)] for c in EXPECTED[background]))


def mean_rise(net, background, seeds=SEEDS, **opts):
    """Mean p(co-occurring classes) before and after dreaming, over the plain backgrounds drawn from `seeds`.

    One plain background is one experiment whose answer is nearly all-or-nothing (the dream ends in one
    class or another), so the bias is a rate over several backgrounds, not one picture."""
    before, after = [], []
    for seed in seeds:
        pb, pa, _, _ = bias_rise(net, background, seed=seed, **opts)
        before.append(expected_probability(net, background, pb))
        after.append(expected_probability(net, background, pa))
    return float(np.mean(before)), float(np.mean(after))


def run_demo(net, out_dir, seed=0, backgrounds=("sky", "water", "brown", "grass"), gif=True, progress=True):
    """Dream on each plain background; write lecture_demo.png (side by side, with probabilities) and a GIF.

    Returns {background: (p_before, p_after)} and the paths written.
    """
    from ..image_io import save_gif, save_image
    results, tiles, frames = {}, [], []
    for k, bg in enumerate(backgrounds):
        grab = frames.append if (gif and bg == "sky") else None
        pb, pa, before, after = bias_rise(net, bg, seed=seed, on_frame=grab, progress=progress)
        results[bg] = (pb, pa)
        tiles.append(_tile(net, bg, before, after, pb, pa))
    sheet = np.concatenate(tiles, axis=1)
    png = os.path.join(out_dir, "lecture_demo.png")
    save_image(png, sheet, quiet=True)
    written = [png]
    if gif and frames:
        path = os.path.join(out_dir, "castle_emerging.gif")
        save_gif(path, [_upscale(f, 3) for f in [frames[0]] * 3 + frames + [frames[-1]] * 6], duration_ms=150, max_side=192)
        written.append(path)
    return results, written


def sample_sheet(out_dir, seed=0, per_class=8, settings=None):
    """A grid of training scenes, one row per class: what the network learned from (a 256-colour PNG, small)."""
    from PIL import Image
    from ..atomic import atomic_path
    s = settings or scenes.DEFAULT_SETTINGS
    img, y, _ = scenes.make_scenes(np.random.default_rng([seed, 9]), 60 * per_class, s)
    rows = [np.concatenate([img[i] for i in np.flatnonzero(y == c)[:per_class]], axis=1) for c in range(len(s["classes"]))]
    path = os.path.join(out_dir, "toyworld_scenes.png")
    with atomic_path(path) as tmp:
        Image.fromarray(np.concatenate(rows, axis=0)).quantize(256).save(tmp, format="PNG", optimize=True)
    return path


# ---- drawing -----------------------------------------------------------------------------------
def _upscale(img, k):
    from PIL import Image
    H, W = img.shape[:2]
    return np.asarray(Image.fromarray(img).resize((W * k, H * k), Image.NEAREST))


def _tile(net, bg, before, after, pb, pa, scale=2):
    """One column: the plain background, the dream, and the top probabilities under each."""
    from PIL import Image, ImageDraw
    a, b = _upscale(before, scale), _upscale(after, scale)
    W = a.shape[1]
    text_h = 64
    canvas = Image.new("RGB", (W + 8, 2 * (a.shape[0] + text_h) + 18), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), f"plain {bg}", fill=(0, 0, 0))
    y = 16
    for label, pic, p in (("before", a, pb), ("after dreaming", b, pa)):
        canvas.paste(Image.fromarray(pic), (4, y))
        y += pic.shape[0] + 2
        lines = [label] + [f"{net.labels[i]:8s} {p[i]:.3f}" for i in np.argsort(-p)[:3]]
        for j, line in enumerate(lines):
            hit = j > 0 and net.labels[np.argsort(-p)[j - 1]] in EXPECTED[bg]
            draw.text((4, y + 12 * j), line, fill=(180, 0, 0) if hit else (0, 0, 0))
        y += text_h
    return np.asarray(canvas)
