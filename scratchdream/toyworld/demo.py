"""The lecture's demonstration, end to end: dream on an empty sky and watch a castle appear.

Slides 34-35 with a *layer* objective (L = mean of h^2 over a deep layer, not a class score): start from a
plain generated background with no object in it, push up whatever the deep layer already sees there, feed
the picture back, repeat. The network was trained on a world where castles stood against skies 95% of
the time (scenes.py), so what it "sees" in a sky is a little castle, and the ascent draws it. We measure
that with the network's own softmax: p(castle) before and after, and the same for water (fish or ship),
brown (dog) and grass (bird). A control network, trained on the same world with the backgrounds
shuffled across classes, has no co-occurrence to learn; `mean_rise` measures both nets the same way
(docs/toyworld.md has the numbers, for the bundled pair and for pairs trained from other seeds).
"""

import os

import numpy as np

from . import scenes

# background -> the classes that lived on it in the training world (the ones the dream should grow)
EXPECTED = {"sky": ("castle",), "water": ("fish", "ship"), "brown": ("dog",), "grass": ("bird",)}
# the demo's dream settings: see docs/toyworld.md
DREAM = {"octaves": 2, "octave_scale": 1.4, "steps": 12, "step_size": 1.0, "jitter": 4}
# a deep layer (third of four conv blocks, 16 x 16 x 64 at 64 px); why not conv4: docs/toyworld.md
LAYER = "conv3"
SEEDS = tuple(range(16))  # the plain backgrounds the bias is measured on (tests, `toyworld demo`, docs)
SIZE = 96  # the picture measured and shown: bigger than the 64 px training scenes, so a whole castle fits
BORDER = 16  # the dream runs on SIZE + 2 BORDER px and the centre is kept: see `dream_framed`


def classify(net, img):
    """Class probabilities (K,) for one uint8 picture (H, W, 3), at its own size (the net ends in global
    pooling)."""
    return net.forward(net.preprocess(img), upto="prob", keep=False)[0].astype(np.float64)


def dream_on(net, img, layer=None, seed=0, on_frame=None, progress=False, **opts):
    """Deep Dream with a layer objective (L = mean of h^2) at `layer` (default LAYER); uint8 in, uint8 out."""
    from ..deepdream.loop import dream

    settings = dict(DREAM, **opts)
    return dream(
        net, img, layers=[layer or LAYER], seed=seed, progress=progress, on_frame=on_frame, **settings
    )


def dream_framed(net, background, size=SIZE, border=BORDER, seed=0, on_frame=None, **opts):
    """Dream on a plain background of size + 2 border px; returns the centre (size x size) before and after.

    The convolutions pad with zeros, so to the network the edge of a picture is a hard edge, and a dream
    amplifies it: on a bare background the ascent draws its patterns along the frame (the bottom edge
    above all, where castles and hulls stand in the training scenes). Those patterns say nothing about the
    background. Dreaming on a larger canvas and keeping the centre leaves them outside the picture."""
    canvas = scenes.plain_background(background, size=size + 2 * border, seed=seed)
    inner = (slice(border, border + size), slice(border, border + size))
    grab = None if on_frame is None else (lambda frame: on_frame(frame[inner]))
    after = dream_on(net, canvas, seed=seed, on_frame=grab, **opts)
    return canvas[inner], after[inner]


def bias_rise(net, background, size=SIZE, seed=0, layer=None, on_frame=None, progress=False, **opts):
    """Dream on a plain background; returns (p_before, p_after, picture before, picture after)."""
    before, after = dream_framed(
        net, background, size=size, seed=seed, layer=layer, on_frame=on_frame, progress=progress, **opts
    )
    return classify(net, before), classify(net, after), before, after


def expected_probability(net, background, p):
    """Summed probability of the classes that co-occurred with this background in training."""
    return float(sum(p[net.labels.index(c)] for c in EXPECTED[background]))


def mean_rise(net, background, seeds=SEEDS, **opts):
    """Mean p(co-occurring classes) before and after dreaming, over the plain backgrounds drawn from `seeds`.

    One plain background is one experiment whose answer is nearly all-or-nothing (the dream ends in one
    class or another), so the bias is a rate over several backgrounds, not one picture."""
    return _mean_expected(net, background, [bias_rise(net, background, seed=seed, **opts) for seed in seeds])


def run_demo(
    net,
    out_dir,
    control=None,
    seeds=SEEDS,
    backgrounds=("sky", "water", "brown", "grass"),
    shown=5,
    gif=True,
    progress=True,
    stamp=None,
):
    """Dream on the plain backgrounds of `seeds`; write lecture_demo.png and a GIF of a castle emerging.

    The picture has a row per background: the first plain background, the first `shown` dreams with the
    top class and p(home classes) under each, and the means over all `seeds` for this net and the
    control (what tests/test_toyworld.py checks). One dream is one draw, so the row shows several.
    The GIF replays the first sky whose dream ends in a castle, and its caption says which one.
    Returns ({background: {"net": (mean before, mean after), "control": ... or None, "top": [class, ...]}},
    paths written). `stamp`: the manifest each picture carries (scratchdream/manifest.py), or None."""
    from tqdm import tqdm

    bar = tqdm(
        total=len(seeds) * len(backgrounds) * (2 if control is not None else 1),
        desc="dreams",
        disable=not progress,
        dynamic_ncols=True,
    )
    results, rows = {}, []
    for bg in backgrounds:
        runs = []
        for seed in seeds:
            runs.append(bias_rise(net, bg, seed=seed))
            bar.update(1)
        mean = _mean_expected(net, bg, runs)
        other = None
        if control is not None:
            other = _mean_expected(control, bg, [bias_rise(control, bg, seed=seed) for seed in seeds])
            bar.update(len(seeds))
        results[bg] = {"net": mean, "control": other, "top": [net.labels[int(np.argmax(r[1]))] for r in runs]}
        rows.append(_row(net, bg, runs[:shown], seeds[:shown], mean, other, len(seeds)))
    bar.close()
    png = _save_png(os.path.join(out_dir, "lecture_demo.png"), _stack(rows), stamp)
    written = [png]
    if gif and "sky" in results:
        written.append(_castle_gif(net, out_dir, seeds, results["sky"]["top"], stamp))
    return results, written


def _mean_expected(net, background, runs):
    """(mean p before, mean p after) of the background's home classes over bias_rise results."""
    return (
        float(np.mean([expected_probability(net, background, r[0]) for r in runs])),
        float(np.mean([expected_probability(net, background, r[1]) for r in runs])),
    )


def _castle_gif(net, out_dir, seeds, tops, stamp=None):
    """Replay the first sky of `seeds` whose dream ended in a castle (or the first sky if none did)."""
    from ..image_io import save_gif
    from ..manifest import with_output

    seed = next((s for s, top in zip(seeds, tops) if top == "castle"), seeds[0])
    frames = []
    bias_rise(net, "sky", seed=seed, on_frame=frames.append)
    path = os.path.join(out_dir, "castle_emerging.gif")
    caption = f"sky {seed}: {tops.count('castle')} of {len(tops)} skies end in a castle"
    frames = [_caption(_upscale(f, 2), caption) for f in [frames[0]] * 3 + frames[1::2] + [frames[-1]] * 6]
    side = max(frames[0].shape[:2])  # every other step, unresized
    save_gif(path, frames, duration_ms=200, max_side=side, manifest=stamp and with_output(stamp, "gif"))
    return path


def sample_sheet(out_dir, seed=0, per_class=8, settings=None, stamp=None):
    """A grid of training scenes, one row per class: what the network learned from (a small 256-colour
    PNG)."""
    s = settings or scenes.DEFAULT_SETTINGS
    img, y, _ = scenes.make_scenes(np.random.default_rng([seed, 9]), 60 * per_class, s)
    rows = [
        np.concatenate([img[i] for i in np.flatnonzero(y == c)[:per_class]], axis=1)
        for c in range(len(s["classes"]))
    ]
    return _save_png(os.path.join(out_dir, "toyworld_scenes.png"), np.concatenate(rows, axis=0), stamp)


def _save_png(path, img, stamp=None):
    """A 256-colour PNG, written atomically: small enough to commit; with the manifest `stamp`, if any."""
    from PIL import Image

    from ..atomic import atomic_path
    from ..manifest import save_options

    with atomic_path(path) as tmp:
        Image.fromarray(img).quantize(256).save(
            tmp, format="PNG", optimize=True, **save_options("PNG", stamp)
        )
    return path


# ---- drawing -----------------------------------------------------------------------------------
def _upscale(img, k):
    from PIL import Image

    H, W = img.shape[:2]
    return np.asarray(Image.fromarray(img).resize((W * k, H * k), Image.NEAREST))


def _caption(img, text):
    """The picture with a line of text under it."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (img.shape[1], img.shape[0] + 14), (255, 255, 255))
    canvas.paste(Image.fromarray(img), (0, 0))
    ImageDraw.Draw(canvas).text((2, img.shape[0] + 1), text, fill=(0, 0, 0))
    return np.asarray(canvas)


def _row(net, bg, runs, seeds, mean, other, n):
    """One background: its plain picture, then the dreams with the top class and p(home) under each, and
    the means."""
    from PIL import Image, ImageDraw

    want = "+".join(EXPECTED[bg])
    size = runs[0][2].shape[0]
    cells = [(runs[0][2], ["plain " + bg, f"p({want}) {expected_probability(net, bg, runs[0][0]):.2f}"])]
    for seed, (_, pa, _, after) in zip(seeds, runs):
        top = net.labels[int(np.argmax(pa))]
        cells.append((after, [f"{bg} {seed}: {top}", f"p({want}) {expected_probability(net, bg, pa):.2f}"]))
    head = (
        f"plain {bg}, dreamed at {LAYER}: mean p({want}) over {n} backgrounds {mean[0]:.2f} -> {mean[1]:.2f}"
    )
    if other is not None:
        head += f";  control net {other[0]:.2f} -> {other[1]:.2f}"
    canvas = Image.new("RGB", (len(cells) * (size + 6) + 6, size + 46), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((6, 2), head, fill=(0, 0, 0))
    for k, (pic, lines) in enumerate(cells):
        x = 6 + k * (size + 6)
        canvas.paste(Image.fromarray(pic), (x, 16))
        hit = k > 0 and lines[0].split(": ")[1] in EXPECTED[bg]
        for j, line in enumerate(lines):
            draw.text((x, 18 + size + 12 * j), line, fill=(180, 0, 0) if hit else (0, 0, 0))
    return np.asarray(canvas)


def _stack(rows):
    """Rows of possibly different widths, one under the other, on white."""
    width = max(r.shape[1] for r in rows)
    return np.concatenate(
        [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    )
