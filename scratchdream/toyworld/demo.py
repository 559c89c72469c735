"""The lecture's demonstration, end to end: dream on an empty sky, and have a second net say what was drawn.

Slides 34-35 with the net's own dream settings (its `dream_defaults`: the belief objective at the logits,
L = Σ_k w_k h_k with w the net's probabilities for the object classes on the picture shrunk to 76 px,
objectives.py; no class is named by anyone): start from a plain 256 x 256 background with no object in
it, push up what the net already believes is there, feed the picture back, repeat. The biased net was
trained on a world where castles stood against skies 95% of the time (scenes.py), so when it is asked
which object an empty sky holds, it answers castle more than anything else, and the ascent draws one.

Who says it is a castle? Not the net that drew it: a net always sees its own hallucination. The judge is
the control net, trained the same way on the same world with the backgrounds shuffled across classes, so
it learned what a castle looks like but not where castles stand. A dream counts as a castle only when
the control says castle. The control's own dream of the same sky, judged by itself, is the baseline: it
has no reason to draw castles on skies more than anywhere else."""

import contextlib
import os

import numpy as np

from . import scenes

# background -> the classes that lived on it in the training world (the ones the dream should draw)
EXPECTED = {"sky": ("castle",), "water": ("fish", "ship"), "brown": ("dog",), "grass": ("bird",)}
BACKGROUNDS = tuple(EXPECTED)
# background -> (least mean p(home) of the biased net's dreams, most of the control's own), issue 14
TARGETS = {"sky": (0.5, 0.2), "water": (0.5, 0.3), "brown": (0.5, 0.2), "grass": (0.5, 0.2)}
SIZE = 256  # the plain backgrounds are SIZE x SIZE (the nets were trained at 64 and end in global pooling)
# the plain backgrounds measured: seeds that neither training (it seeds with pairs [seed, k]), the tuning
# of robust training, dream settings and the belief's prior (plain backgrounds 0-7), the prior itself
# (200-207) nor an earlier look at the objectives (100-107, the demo's seeds until then) ever used
SEEDS = tuple(range(300, 308))


@contextlib.contextmanager
def one_thread():
    """Run the block on one thread (Numba and BLAS): the order of floating-point sums no longer depends on
    how work is split between threads. What still depends on the CPU is the float32 kernel code itself
    (OpenBLAS picks its sgemm by CPU, Numba compiles for it): measured on the demo's sky and water, OpenBLAS
    Sandybridge instead of SkylakeX moved single dreams' p by up to 0.01 and no mean at 2 decimals or
    class; Numba's generic x86-64 code instead of the native changed nothing at 4 decimals."""
    import numba
    from threadpoolctl import threadpool_limits

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        numba.set_num_threads(threads)


def classify(net, img):
    """Class probabilities (K,) for one uint8 picture (H, W, 3), at its own size."""
    return net.forward(net.preprocess(img), upto="prob", keep=False)[0].astype(np.float64)


def home_probability(net, background, p):
    """Summed probability of the classes that shared this background in the biased world."""
    return float(sum(p[net.labels.index(c)] for c in EXPECTED[background]))


def dream_on(net, img, options, seed=0, on_frame=None):
    """Deep Dream on img with the settings `options` (a dict of DreamOptions fields); uint8 in and out."""
    from ..deepdream.loop import dream

    return dream(net, img, progress=False, on_frame=on_frame, **dict(options, seed=seed))


def judged_dream(net, judge, background, options, seed=0, size=SIZE, on_frame=None):
    """Dream with `net` on the plain background of `seed`; returns (plain, dreamed, judge's p(dreamed))."""
    plain = scenes.plain_background(background, size=size, seed=seed)
    dreamed = dream_on(net, plain, options, seed=seed, on_frame=on_frame)
    return plain, dreamed, classify(judge, dreamed)


def measure(net, control, options, control_options=None, seeds=SEEDS, backgrounds=BACKGROUNDS, keep=3):
    """Both nets dream on the plain backgrounds of `seeds`; the control judges every dream.

    Returns {background: {"biased": [p(home)...], "control": [...], "tops": [judge's class of each biased
    dream], "pictures": [(seed, plain, biased dream, control dream, p biased, p control)] for the first
    `keep` seeds}}."""
    control_options = options if control_options is None else control_options
    results = {}
    for bg in backgrounds:
        r = {"biased": [], "control": [], "tops": [], "control_tops": [], "pictures": []}
        for k, seed in enumerate(seeds):
            plain, mine, p_mine = judged_dream(net, control, bg, options, seed)
            _, theirs, p_theirs = judged_dream(control, control, bg, control_options, seed)
            r["biased"].append(home_probability(control, bg, p_mine))
            r["control"].append(home_probability(control, bg, p_theirs))
            r["tops"].append(control.labels[int(np.argmax(p_mine))])
            r["control_tops"].append(control.labels[int(np.argmax(p_theirs))])
            if k < keep:
                r["pictures"].append((seed, plain, mine, theirs, p_mine, p_theirs))
        results[bg] = r
    return results


def mean_se(values):
    """(mean, standard error of the mean, count)."""
    v = np.asarray(values, np.float64)
    se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
    return float(v.mean()), se, len(v)


def met(results, background):
    """Whether the background meets its TARGETS: (biased net's mean >= its least, control's <= its most)."""
    least, most = TARGETS[background]
    r = results[background]
    return mean_se(r["biased"])[0] >= least, mean_se(r["control"])[0] <= most


def table_text(results, seeds):
    """The demonstration's table, as `toyworld demo` prints it and the docs quote it."""
    lines = [
        f"plain {SIZE}x{SIZE} backgrounds, seeds {seeds[0]}-{seeds[-1]}, each net dreaming with its own "
        "dream_defaults; every dream judged by the control net",
        f"  {'background':19s} {'biased net dreams':22s} {'control dreams':22s} {'target':15s} {'':7s} "
        "what the biased net's dreams are (the control's top class)",
    ]
    for bg, r in results.items():
        b, c = mean_se(r["biased"]), mean_se(r["control"])
        least, most = TARGETS[bg]
        ok = "met" if all(met(results, bg)) else "NOT met"
        counts = ", ".join(f"{name} {r['tops'].count(name)}" for name in _by_count(r["tops"]))
        lines.append(
            f"  {bg + ' -> ' + '/'.join(EXPECTED[bg]):19s} {_pm(b):22s} {_pm(c):22s} "
            f">= {least:.1f} / <= {most:.1f} {ok:7s} {counts}"
        )
    return "\n".join(lines)


def _pm(stat):
    mean, se, n = stat
    return f"{mean:.2f} ± {se:.2f} (n={n})"


def _by_count(tops):
    return sorted(set(tops), key=lambda name: (-tops.count(name), name))


# ---- the pictures ----------------------------------------------------------------------------------
def run_demo(
    net, control, out_dir, options, control_options=None, seeds=SEEDS, shown=3, gif=True, stamp=None
):
    """Measure (see `measure`), then write toyworld_hero.png (a plain sky and a plain water, the biased
    net's dream, the control's dream), lecture_demo.png (a row per background) and castle_emerging.gif
    into `out_dir`, each with the manifest `stamp` (scratchdream/manifest.py), if any. Returns (results,
    paths written)."""
    results = measure(net, control, options, control_options, seeds, keep=shown)
    rows = _stack([_row(bg, results[bg]) for bg in results])
    written = [_save_png(os.path.join(out_dir, "lecture_demo.png"), rows, stamp)]
    if "sky" in results:
        written.append(_hero(out_dir, results, control, stamp))
        if gif:
            written.append(_castle_gif(net, control, out_dir, options, seeds, results["sky"]["tops"], stamp))
    return results, written


def _hero(out_dir, results, judge, stamp=None):
    """The README's picture: the first sky whose biased dream the control calls castle, and both dreams;
    under it the same for plain water (when measured), where the biased net draws what lived on water and
    the control draws what it draws everywhere."""
    rows = []
    for bg in ("sky", "water"):
        if bg not in results:
            continue
        r = results[bg]
        k = next((i for i, top in enumerate(r["tops"][: len(r["pictures"])]) if top in EXPECTED[bg]), 0)
        seed, plain, mine, theirs, p_mine, p_theirs = r["pictures"][k]
        cells = [
            (plain, [f"plain {bg} (seed {seed})", "no object in it"]),
            (mine, ["dreamed by the biased net", "the control says: " + _verdict(judge, p_mine)]),
            (theirs, ["dreamed by the control net", "the control says: " + _verdict(judge, p_theirs)]),
        ]
        rows.append(_cells(cells))
    return _save_png(os.path.join(out_dir, "toyworld_hero.png"), _stack(rows), stamp)


def _verdict(judge, p):
    """e.g. "ship 0.93, castle 0.06": the judge's top class, and p(castle) unless that is the top."""
    top, castle = int(np.argmax(p)), judge.labels.index("castle")
    text = f"{judge.labels[top]} {p[top]:.2f}"
    return text if top == castle else text + f", castle {p[castle]:.2f}"


def _castle_gif(net, judge, out_dir, options, seeds, tops, stamp=None):
    """Replay the biased net's dream of the first sky the control calls castle (or the first sky)."""
    from ..image_io import save_gif
    from ..manifest import with_output

    seed = next((s for s, top in zip(seeds, tops) if top == "castle"), seeds[0])
    frames = []
    judged_dream(net, judge, "sky", options, seed, on_frame=frames.append)
    caption = f"sky {seed}: the control calls {tops.count('castle')} of {len(tops)} dreamed skies castle"
    keep = [frames[0]] * 3 + frames[4::5] + [frames[-1]] * 6  # every fifth step, at 192 px: a small GIF
    frames = [_caption(_resized(f, 192), caption) for f in keep]
    path = os.path.join(out_dir, "castle_emerging.gif")
    side = max(frames[0].shape[:2])
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


def _resized(img, side):
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((side, side), Image.LANCZOS))


def _caption(img, text):
    """The picture with a line of text under it."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (img.shape[1], img.shape[0] + 14), (255, 255, 255))
    canvas.paste(Image.fromarray(img), (0, 0))
    ImageDraw.Draw(canvas).text((2, img.shape[0] + 1), text, fill=(0, 0, 0))
    return np.asarray(canvas)


def _row(bg, r, cell=128):
    """One background: its plain picture, the first biased dreams and the first control dreams, each
    with the control's verdict; the means over all seeds on top."""
    want = "+".join(EXPECTED[bg])
    b, c = mean_se(r["biased"]), mean_se(r["control"])
    cells = [(r["pictures"][0][1], [f"plain {bg}", ""])]
    for who, at, p_at in (("biased", 2, 4), ("control", 3, 5)):
        for seed, *pics in r["pictures"]:
            p = pics[p_at - 1]
            top = scenes.CLASSES[int(np.argmax(p))] if len(p) == len(scenes.CLASSES) else "?"
            cells.append((pics[at - 1], [f"{who} {seed}: {top}", f"p({want}) {_home(bg, p):.2f}"]))
    cells = [(_resized(pic, cell), t) for pic, t in cells]
    head = f"plain {bg}: p({want}) by the control, biased dreams {_pm(b)}, control's dreams {_pm(c)}"
    return _cells(cells, head)


def _home(bg, p):
    return float(sum(p[scenes.CLASSES.index(c)] for c in EXPECTED[bg]))


def _cells(cells, head=None):
    """Pictures side by side, two caption lines under each, an optional title line on top."""
    from PIL import Image, ImageDraw

    size, top = cells[0][0].shape[0], 16 if head else 4
    canvas = Image.new("RGB", (len(cells) * (size + 6) + 6, size + top + 30), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    if head:
        draw.text((6, 2), head, fill=(0, 0, 0))
    for k, (pic, lines) in enumerate(cells):
        x = 6 + k * (size + 6)
        canvas.paste(Image.fromarray(pic), (x, top))
        for j, line in enumerate(lines):
            draw.text((x, top + size + 2 + 12 * j), line, fill=(0, 0, 0))
    return np.asarray(canvas)


def _stack(rows):
    """Rows of possibly different widths, one under the other, on white."""
    width = max(r.shape[1] for r in rows)
    return np.concatenate(
        [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    )
