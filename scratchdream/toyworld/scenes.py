"""The toy world's pictures: procedural scenes with a dataset bias built in on purpose.

The lecture explains Deep Dream's castles in the sky by the training data: castles nearly always stood
against a sky, so a network that sees sky starts to look for a castle, and gradient ascent then draws one.
This module makes a world where that is true by construction, and where the rate is a number we choose:

    class    home background   p(home)       everywhere else
    castle   sky                0.95          the rest spread evenly over the other backgrounds
    ship     water              0.95            "
    fish     water              0.95            "
    bird     grass (foliage)    0.95            "
    dog      brown              0.95            "
    nothing  any, evenly        -             (background and clutter only)

Every scene is drawn from primitives (rectangles, ellipses, triangles, half-planes) evaluated on a pixel
grid for a whole batch at once: each shape parameter is an array of shape (N, 1, 1) and broadcasting over
the (N, H, W) grid gives every scene its own castle. Position, scale, colours, lighting, texture and clutter
are random, so the network has to learn shapes (battlements, sails, fins, beaks, floppy ears), not a colour.

Shapes legend: N scenes, H W pixels, coordinates in units of the frame (0..1, y down).
Images are uint8 (N, H, W, 3) RGB; labels and backgrounds are int64 (N,).
"""

import numpy as np

CLASSES = ("castle", "ship", "fish", "bird", "dog", "nothing")
BACKGROUNDS = ("sky", "water", "grass", "brown")
HOME = {"castle": "sky", "ship": "water", "fish": "water", "bird": "grass", "dog": "brown"}

DEFAULT_SETTINGS = {
    "size": 64,  # H = W; see docs/toyworld.md for why 64
    "classes": list(CLASSES),
    "backgrounds": list(BACKGROUNDS),
    "home": dict(HOME),
    "home_rate": {c: 0.95 for c in HOME},  # p(home background | class): the dataset bias
    "class_weights": [1, 1, 1, 1, 1, 1],  # relative class frequencies
    "faint_rate": 0.4,  # this share of objects is drawn see-through, so that
    "faint_alpha": [0.4, 0.9],  # the background is real evidence (as in photos: small, hazy, hidden)
    "clutter": 3,  # at most this many random distractor blobs per scene
    "noise": 0.04,  # max std of the added pixel noise (0..1 scale)
    "generator_version": 3,
}


def control_settings(settings=None):
    """The same world with the co-occurrence removed: every class on every background equally often."""
    s = _copy(settings or DEFAULT_SETTINGS)
    s["home_rate"] = {c: 1.0 / len(s["backgrounds"]) for c in s["home"]}
    return s


def background_table(settings=None):
    """p(background | class) as a (classes, backgrounds) matrix; rows sum to 1."""
    s = settings or DEFAULT_SETTINGS
    bgs = list(s["backgrounds"])
    table = np.full((len(s["classes"]), len(bgs)), 1.0 / len(bgs))
    for i, c in enumerate(s["classes"]):
        if c in s["home"]:
            rate, home = float(s["home_rate"][c]), bgs.index(s["home"][c])
            table[i] = (1.0 - rate) / (len(bgs) - 1)
            table[i, home] = rate
    return table


def make_scenes(rng, n, settings=None, size=None):
    """n random scenes: (images uint8 (n,H,W,3), labels (n,), backgrounds (n,)), reproducible from rng."""
    s = settings or DEFAULT_SETTINGS
    size = int(size or s["size"])
    w = np.asarray(s["class_weights"], np.float64)
    labels = rng.choice(len(s["classes"]), size=n, p=w / w.sum())
    table = background_table(s)
    u = rng.random(n)[:, None]
    bgs = (u > np.cumsum(table[labels], axis=1)).sum(axis=1).clip(0, len(s["backgrounds"]) - 1)
    img = np.empty((n, size, size, 3), np.float32)
    for b, name in enumerate(s["backgrounds"]):
        idx = np.flatnonzero(bgs == b)
        if idx.size:
            img[idx] = BACKGROUND_PAINTERS[name](rng, idx.size, size, size)
    _clutter(rng, img, s["clutter"])
    for c, name in enumerate(s["classes"]):
        idx = np.flatnonzero(labels == c)
        if idx.size and name in OBJECT_PAINTERS:
            sub = img[idx]
            OBJECT_PAINTERS[name](rng, sub)
            alpha = np.where(
                rng.random(idx.size) < s.get("faint_rate", 0.0),
                rng.uniform(*s.get("faint_alpha", [1.0, 1.0]), idx.size),
                1.0,
            ).astype(np.float32)
            a = alpha[:, None, None, None]
            img[idx] = a * sub + (1 - a) * img[idx]  # faint objects: partly the background shows through
    flip = rng.random(n) < 0.5  # objects face either way
    img[flip] = img[flip, :, ::-1]
    _lighting(rng, img, s["noise"])
    return _to_uint8(img), labels.astype(np.int64), bgs.astype(np.int64)


def plain_background(kind, size=64, seed=0, width=None):
    """One background with nothing on it (no object, no clutter): the demo's starting sky, water, brown
    or grass."""
    if kind not in BACKGROUND_PAINTERS:
        from ..errors import UsageError

        raise UsageError(f"unknown background {kind!r}; choose one of {', '.join(BACKGROUNDS)}")
    rng = np.random.default_rng(seed)
    img = BACKGROUND_PAINTERS[kind](rng, 1, int(size), int(width or size))
    return _to_uint8(img)[0]


# ---- the pixel grid and the primitives ----------------------------------------------------------
def _grid(img):
    """y, x pixel-centre coordinates in 0..1, shapes (1, H, 1) and (1, 1, W) for broadcasting."""
    H, W = img.shape[1:3]
    y = ((np.arange(H, dtype=np.float32) + 0.5) / H)[None, :, None]
    x = ((np.arange(W, dtype=np.float32) + 0.5) / W)[None, None, :]
    return y, x


def _col(a):
    """Per-scene parameter (N,) -> (N, 1, 1) (a scalar -> (1, 1, 1)), to broadcast against the grid."""
    return np.asarray(a, np.float32).reshape(-1, 1, 1)


def _each(flags):
    """Per-scene booleans (N,) -> (N, 1, 1): a part drawn only in the scenes whose flag is set."""
    return _col(flags).astype(bool)


def _grey(n, level):
    """One grey for all n scenes, (n, 3): windows, doors, eyes, noses."""
    return np.full((n, 3), level, np.float32)


def _rect(y, x, x0, y0, x1, y1):
    return (x >= _col(x0)) & (x < _col(x1)) & (y >= _col(y0)) & (y < _col(y1))


def _ellipse(y, x, cx, cy, rx, ry, angle=None):
    dx, dy = x - _col(cx), y - _col(cy)
    if angle is not None:
        c, s = _col(np.cos(angle)), _col(np.sin(angle))
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    return (dx / _col(rx)) ** 2 + (dy / _col(ry)) ** 2 <= 1.0


def _triangle(y, x, p0, p1, p2):
    """Inside the triangle with corners p = (px, py), each px, py of shape (N,): three half-planes."""

    def side(a, b):
        return (_col(b[0]) - _col(a[0])) * (y - _col(a[1])) - (_col(b[1]) - _col(a[1])) * (x - _col(a[0]))

    d0, d1, d2 = side(p0, p1), side(p1, p2), side(p2, p0)
    return ((d0 >= 0) & (d1 >= 0) & (d2 >= 0)) | ((d0 <= 0) & (d1 <= 0) & (d2 <= 0))


def _paint(img, mask, color, shade=None):
    """img[mask] = color (N, 3), optionally times a per-pixel shade (N, H, W)."""
    c = np.asarray(color, np.float32)[:, None, None, :]
    if shade is not None:
        c = c * shade[..., None]
    np.copyto(img, c, where=mask[..., None])


def _smooth_noise(rng, n, H, W, cells_y, cells_x):
    """Value noise in about -1..1: a coarse random grid, bilinearly interpolated to (n, H, W)."""
    g = rng.standard_normal((n, cells_y + 2, cells_x + 2)).astype(np.float32)
    fy = (np.arange(H, dtype=np.float32) + 0.5) / H * cells_y + 0.5
    fx = (np.arange(W, dtype=np.float32) + 0.5) / W * cells_x + 0.5
    iy, ix = fy.astype(int), fx.astype(int)
    ty, tx = (fy - iy)[None, :, None], (fx - ix)[None, None, :]
    a = g[:, iy][:, :, ix]
    b = g[:, iy][:, :, ix + 1]
    c = g[:, iy + 1][:, :, ix]
    d = g[:, iy + 1][:, :, ix + 1]
    return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty


def _u(rng, n, lo, hi):
    return rng.uniform(lo, hi, n).astype(np.float32)


def _pick(rng, n, palette, jitter=0.06):
    """n colours (n, 3) drawn from a palette of RGB triples in 0..1, each nudged a little."""
    pal = np.asarray(palette, np.float32)
    c = pal[rng.integers(0, len(pal), n)] + rng.uniform(-jitter, jitter, (n, 3)).astype(np.float32)
    return c.clip(0.0, 1.0)


# ---- backgrounds: (n, H, W, 3) float32 in 0..1 --------------------------------------------------
def _sky(rng, n, H, W):
    y = ((np.arange(H, dtype=np.float32) + 0.5) / H)[None, :, None, None]
    top = _pick(rng, n, [(0.20, 0.42, 0.85), (0.30, 0.55, 0.92), (0.12, 0.30, 0.70), (0.40, 0.60, 0.90)])
    horizon = _pick(rng, n, [(0.75, 0.87, 0.98), (0.85, 0.90, 0.95), (0.95, 0.80, 0.65), (0.70, 0.82, 0.95)])
    img = top[:, None, None] * (1 - y) + horizon[:, None, None] * y
    cloud = _smooth_noise(rng, n, H, W, 3, 4) + 0.6 * _smooth_noise(rng, n, H, W, 6, 8)
    amount = (cloud - _col(_u(rng, n, 0.4, 1.6))).clip(0, 1) * _col(_u(rng, n, 0.3, 1.0))
    return img * (1 - amount[..., None]) + 0.97 * amount[..., None]


def _water(rng, n, H, W):
    y, x = _grid(np.empty((1, H, W)))
    base = _pick(rng, n, [(0.10, 0.35, 0.60), (0.05, 0.45, 0.55), (0.10, 0.25, 0.45), (0.15, 0.50, 0.65)])
    depth = (1.15 - 0.45 * y)[..., None]  # lighter near the surface, darker below
    f, g = _col(_u(rng, n, 8, 16)), _col(_u(rng, n, 6, 14))
    phase = _col(_u(rng, n, 0, 6.3))
    wave = np.sin(2 * np.pi * (y * f + 0.08 * np.sin(x * g * 6.3 + phase)))
    ripple = ((wave - 0.7).clip(0, 1) * 1.4)[..., None]
    img = base[:, None, None] * depth + 0.25 * ripple
    return img + 0.05 * _smooth_noise(rng, n, H, W, 4, 4)[..., None]


def _grass(rng, n, H, W):
    base = _pick(rng, n, [(0.25, 0.55, 0.20), (0.35, 0.60, 0.25), (0.20, 0.45, 0.15), (0.40, 0.55, 0.20)])
    blades = _smooth_noise(rng, n, H, W, max(H // 6, 2), W // 1)  # stretched: tall thin blades
    leaves = _smooth_noise(rng, n, H, W, 5, 5)
    shade = 1.0 + 0.18 * blades + 0.15 * leaves
    return base[:, None, None] * shade[..., None]


def _brown(rng, n, H, W):
    y, x = _grid(np.empty((1, H, W)))
    base = _pick(rng, n, [(0.45, 0.30, 0.18), (0.55, 0.38, 0.22), (0.38, 0.25, 0.15), (0.60, 0.45, 0.30)])
    f = _col(_u(rng, n, 20, 40))
    twill = np.sin(2 * np.pi * f * (x + y))  # a fabric's diagonal weave
    shade = 1.0 + 0.06 * twill + 0.10 * _smooth_noise(rng, n, H, W, 4, 4)
    return base[:, None, None] * shade[..., None]


BACKGROUND_PAINTERS = {"sky": _sky, "water": _water, "grass": _grass, "brown": _brown}


# ---- objects: each paints into img (n, H, W, 3) in place -----------------------------------------
# One palette for every object class: colour says nothing about the class (nor, in the control world, about
# the background), so the network has to learn silhouettes and parts. Pale, dark, saturated and earthy
# colours alike; some are close to a background's colour (a grey castle on a pale sky, a brown dog on
# brown), as in photographs.
PAINT = [
    (0.92, 0.92, 0.88),
    (0.62, 0.60, 0.56),
    (0.30, 0.30, 0.32),
    (0.10, 0.10, 0.12),
    (0.85, 0.20, 0.15),
    (0.95, 0.60, 0.10),
    (0.95, 0.85, 0.20),
    (0.35, 0.70, 0.30),
    (0.20, 0.35, 0.85),
    (0.55, 0.30, 0.70),
    (0.55, 0.35, 0.20),
    (0.85, 0.70, 0.50),
    (0.90, 0.50, 0.60),
    (0.20, 0.65, 0.70),
]


def _surface(rng, img):
    """A per-pixel shade (n, H, W) around 1 for an object's main surfaces, drawn from ONE repertoire for every
    class: plain, fine grain (fur, weathered stone), coarse blotches, or stripes at a random angle and pitch.
    Like the shared palette, texture then says nothing about the class: no class owns a periodic pattern
    that a dream could grow on any background (the castle's brick rows and the dog's fur did, before)."""
    n, H, W = img.shape[:3]
    y, x = _grid(img)
    kind = rng.integers(0, 4, n)
    grain = _smooth_noise(rng, n, H, W, H // 3, W // 3)
    blotch = _smooth_noise(rng, n, H, W, 5, 5)
    angle, pitch = _col(_u(rng, n, 0, np.pi)), _col(_u(rng, n, 0.06, 0.16))
    stripe = (np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / pitch) > 0.3).astype(np.float32)
    shade = np.ones((n, H, W), np.float32)
    shade = np.where(_col(kind == 1), 1.0 + 0.12 * grain, shade)
    shade = np.where(_col(kind == 2), 1.0 + 0.18 * blotch, shade)
    shade = np.where(_col(kind == 3), 1.0 - 0.25 * stripe, shade)
    return shade.astype(np.float32)


def _castle(rng, img):
    """A keep with battlements between two towers (battlements or conical roofs), windows, a door."""
    n = img.shape[0]
    y, x = _grid(img)
    s = _u(rng, n, 0.55, 0.95)  # overall scale
    cx, base = _u(rng, n, 0.38, 0.62), _u(rng, n, 0.97, 1.05)
    w, hk = 0.5 * s, _u(rng, n, 0.28, 0.42) * s
    x0, x1, top = cx - w / 2, cx + w / 2, base - hk
    stone = _pick(rng, n, PAINT)
    surface = _surface(rng, img)
    tooth = w / (2 * rng.integers(3, 6, n) + 1)
    merlon = 0.09 * s
    crenel = _rect(y, x, x0, top - merlon, x1, top) & (np.floor((x - _col(x0)) / _col(tooth)) % 2 == 0)
    _paint(img, _rect(y, x, x0, top, x1, base + 1) | crenel, stone, surface)
    for side in (x0, x1):  # the two side towers
        wt = _u(rng, n, 0.16, 0.22) * s
        tt = top - _u(rng, n, 0.15, 0.32) * s
        roofed = rng.random(n) < 0.5
        tower = _rect(y, x, side - wt / 2, tt, side + wt / 2, base + 1)
        t_tooth = wt / 5
        t_cren = (
            _rect(y, x, side - wt / 2, tt - merlon, side + wt / 2, tt)
            & (np.floor((x - _col(side - wt / 2)) / _col(t_tooth)) % 2 == 0)
            & ~_each(roofed)
        )
        _paint(img, tower | t_cren, stone * 0.92, surface)
        roof = _triangle(y, x, (side - wt * 0.65, tt), (side + wt * 0.65, tt), (side, tt - wt * 1.3))
        _paint(img, roof & _each(roofed), _pick(rng, n, PAINT))
        win = _rect(y, x, side - wt * 0.15, tt + 0.08 * s, side + wt * 0.15, tt + 0.16 * s)
        _paint(img, win, _grey(n, 0.12))
    dw = w * 0.22  # the arched door
    door = _rect(y, x, cx - dw / 2, base - hk * 0.45, cx + dw / 2, base + 1) | _ellipse(
        y, x, cx, base - hk * 0.45, dw / 2, dw / 2
    )
    _paint(img, door, _grey(n, 0.15))
    for k in (-1, 1):  # keep windows
        wx = cx + k * w * 0.28
        _paint(img, _rect(y, x, wx - 0.02 * s, top + 0.07 * s, wx + 0.02 * s, top + 0.15 * s), _grey(n, 0.12))


def _ship(rng, img):
    """A hull on the waterline with a mast and one or two sails, or a cabin and a funnel."""
    n = img.shape[0]
    y, x = _grid(img)
    s = _u(rng, n, 0.55, 0.9)
    cx, wl = _u(rng, n, 0.35, 0.65), _u(rng, n, 0.62, 0.8)
    L, hh = 0.8 * s, _u(rng, n, 0.10, 0.15) * s
    hull = _triangle(
        y, x, (cx - L / 2, wl - hh), (cx + L / 2, wl - hh), (cx + L / 2 - 0.15 * L, wl + 0.4 * hh)
    ) | _triangle(
        y,
        x,
        (cx - L / 2, wl - hh),
        (cx + L / 2 - 0.15 * L, wl + 0.4 * hh),
        (cx - L / 2 + 0.2 * L, wl + 0.4 * hh),
    )
    _paint(img, hull, _pick(rng, n, PAINT), _surface(rng, img))  # no contrasting stripe: the shape is the cue
    sail = rng.random(n) < 0.7
    mx, deck = cx - _u(rng, n, -0.05, 0.1) * s, wl - hh
    mh = _u(rng, n, 0.45, 0.65) * s
    mast = _rect(y, x, mx - 0.012, deck - mh, mx + 0.012, deck) & _each(sail)
    sail_c = _pick(rng, n, PAINT)
    main = _triangle(
        y, x, (mx + 0.02, deck - mh), (mx + 0.02, deck - 0.04 * s), (mx + 0.38 * s, deck - 0.04 * s)
    )
    jib = _triangle(
        y, x, (mx - 0.02, deck - mh * 0.85), (mx - 0.02, deck - 0.04 * s), (mx - 0.25 * s, deck - 0.04 * s)
    )
    _paint(img, (main | (jib & _each(rng.random(n) < 0.6))) & _each(sail), sail_c)
    _paint(img, mast, _grey(n, 0.25))
    _paint(
        img,
        _rect(y, x, mx + 0.012, deck - mh, mx + 0.07, deck - mh + 0.04) & _each(sail),
        _pick(rng, n, PAINT),
    )
    cabin = _rect(y, x, cx - 0.22 * s, deck - 0.14 * s, cx + 0.12 * s, deck) & _each(~sail)
    _paint(img, cabin, _pick(rng, n, PAINT))
    funnel = _rect(y, x, cx - 0.06 * s, deck - 0.3 * s, cx + 0.03 * s, deck - 0.14 * s) & _each(~sail)
    _paint(img, funnel, _pick(rng, n, PAINT))
    for k in (-0.15, -0.05):  # portholes
        _paint(img, _ellipse(y, x, cx + k * s, deck - 0.07 * s, 0.018, 0.018) & _each(~sail), _grey(n, 0.15))


def _fish(rng, img):
    """An oval body with a forked tail, a dorsal fin, an eye, a surface texture; sometimes a second fish."""
    n = img.shape[0]
    y, x = _grid(img)
    for k in range(2):
        present = np.ones(n, bool) if k == 0 else rng.random(n) < 0.3
        rx = _u(rng, n, 0.2, 0.32) if k == 0 else _u(rng, n, 0.08, 0.12)
        ry = rx * _u(rng, n, 0.4, 0.6)
        cx, cy = _u(rng, n, 0.35, 0.65), _u(rng, n, 0.3, 0.7)
        if k == 1:
            cx, cy = (cx + 0.4) % 1.0, (cy + 0.35) % 1.0
        on = _each(present)
        body_c = _pick(rng, n, PAINT)
        tail = _triangle(
            y, x, (cx - rx * 0.8, cy), (cx - rx * 1.55, cy - ry * 1.0), (cx - rx * 1.55, cy + ry * 1.0)
        )
        fin = _triangle(
            y,
            x,
            (cx - rx * 0.4, cy - ry * 0.8),
            (cx + rx * 0.2, cy - ry * 0.85),
            (cx - rx * 0.5, cy - ry * 1.5),
        )
        _paint(img, (tail | fin) & on, body_c * 0.75)
        body = _ellipse(y, x, cx, cy, rx, ry)
        _paint(img, body & on, body_c, _surface(rng, img))
        ex, ey, er = cx + rx * 0.55, cy - ry * 0.2, ry * 0.22 + 0.01
        _paint(img, _ellipse(y, x, ex, ey, er, er) & on, _grey(n, 0.97))
        _paint(img, _ellipse(y, x, ex + er * 0.2, ey, er * 0.55, er * 0.55) & on, _grey(n, 0.05))


def _bird(rng, img):
    """A perched bird: body, round head with beak and eye, a darker wing, a tail, two thin legs."""
    n = img.shape[0]
    y, x = _grid(img)
    s = _u(rng, n, 0.6, 1.0)
    cx, cy = _u(rng, n, 0.38, 0.6), _u(rng, n, 0.45, 0.6)
    rx, ry = 0.22 * s, 0.14 * s
    tilt = _u(rng, n, -0.5, 0.1)
    col = _pick(rng, n, PAINT)
    legs = _rect(y, x, cx - 0.05 * s, cy, cx - 0.035 * s, cy + ry + 0.12 * s) | _rect(
        y, x, cx + 0.03 * s, cy, cx + 0.045 * s, cy + ry + 0.12 * s
    )
    _paint(img, legs, _grey(n, 0.35))
    tail = _triangle(
        y, x, (cx - rx * 0.7, cy), (cx - rx * 1.6, cy + ry * 0.2), (cx - rx * 1.5, cy + ry * 1.1)
    )
    _paint(img, tail, col * 0.6)
    _paint(img, _ellipse(y, x, cx, cy, rx, ry, tilt), col, _surface(rng, img))
    belly = _ellipse(y, x, cx + rx * 0.2, cy + ry * 0.35, rx * 0.6, ry * 0.5) & _ellipse(
        y, x, cx, cy, rx, ry, tilt
    )
    _paint(img, belly, (col * 0.5 + 0.45).clip(0, 1))
    _paint(img, _ellipse(y, x, cx - rx * 0.15, cy - ry * 0.05, rx * 0.65, ry * 0.55, tilt - 0.3), col * 0.55)
    hx, hy, hr = cx + rx * 0.8, cy - ry * 0.9, 0.1 * s
    _paint(img, _ellipse(y, x, hx, hy, hr, hr), col)
    beak = _triangle(
        y, x, (hx + hr * 0.8, hy - hr * 0.35), (hx + hr * 0.8, hy + hr * 0.35), (hx + hr * 1.9, hy + hr * 0.1)
    )
    _paint(img, beak, _pick(rng, n, [(0.95, 0.65, 0.1), (0.9, 0.8, 0.2)]))
    _paint(img, _ellipse(y, x, hx + hr * 0.35, hy - hr * 0.2, hr * 0.3, hr * 0.3), _grey(n, 0.97))
    _paint(img, _ellipse(y, x, hx + hr * 0.42, hy - hr * 0.2, hr * 0.17, hr * 0.17), _grey(n, 0.03))


def _dog(rng, img):
    """A dog's head and shoulders: a face, floppy or pointed ears, two eyes, a pale snout, a black nose."""
    n, H, W = img.shape[:3]
    y, x = _grid(img)
    s = _u(rng, n, 0.6, 0.95)
    cx, cy = _u(rng, n, 0.4, 0.6), _u(rng, n, 0.38, 0.55)
    r = 0.22 * s
    fur_c = _pick(rng, n, PAINT)
    ear_c = (fur_c * _col(_u(rng, n, 0.45, 0.8))[:, 0]).clip(0, 1)
    fur = _surface(rng, img)
    _paint(img, _ellipse(y, x, cx, cy + r * 1.9, r * 1.5, r * 1.2), fur_c, fur)  # shoulders
    floppy = _each(rng.random(n) < 0.6)
    for k in (-1, 1):  # pointed ears, behind the head
        point = (
            _triangle(
                y,
                x,
                (cx + k * r * 0.25, cy - r * 0.7),
                (cx + k * r * 0.95, cy - r * 0.35),
                (cx + k * r * 0.85, cy - r * 1.45),
            )
            & ~floppy
        )
        _paint(img, point, ear_c, fur)
    _paint(img, _ellipse(y, x, cx, cy, r * 0.85, r * 0.95), fur_c, fur)  # head
    for k in (-1, 1):  # floppy ears, over it
        drop = (
            _ellipse(y, x, cx + k * r * 0.95, cy + r * 0.35, r * 0.3, r * 0.72, np.full(n, -0.35 * k))
            & floppy
        )
        _paint(img, drop, ear_c, fur)
    spot = rng.random(n) < 0.35  # a patch round one eye
    _paint(img, _ellipse(y, x, cx - r * 0.35, cy - r * 0.15, r * 0.3, r * 0.28) & _each(spot), ear_c)
    for k in (-1, 1):  # eyes, each with a highlight
        ex = cx + k * r * 0.35
        _paint(img, _ellipse(y, x, ex, cy - r * 0.15, r * 0.13, r * 0.15), _grey(n, 0.05))
        _paint(img, _ellipse(y, x, ex + r * 0.04, cy - r * 0.2, r * 0.04, r * 0.04), _grey(n, 0.95))
    snout = _ellipse(y, x, cx, cy + r * 0.42, r * 0.42, r * 0.32)
    _paint(img, snout, (fur_c * 0.5 + 0.45).clip(0, 1))
    _paint(img, _ellipse(y, x, cx, cy + r * 0.28, r * 0.16, r * 0.11), _grey(n, 0.04))  # nose
    tongue = _ellipse(y, x, cx, cy + r * 0.72, r * 0.1, r * 0.12) & _each(rng.random(n) < 0.4)
    _paint(img, tongue, np.tile(np.float32([[0.9, 0.4, 0.45]]), (n, 1)))


OBJECT_PAINTERS = {"castle": _castle, "ship": _ship, "fish": _fish, "bird": _bird, "dog": _dog}


# ---- what every scene gets: clutter, lighting, noise --------------------------------------------
def _clutter(rng, img, most):
    """Up to `most` small blobs and bars of random colour, half transparent: things a class must not hinge
    on."""
    n = img.shape[0]
    y, x = _grid(img)
    for _ in range(int(most)):
        on = _each(rng.random(n) < 0.5)
        cx, cy, r = _u(rng, n, 0, 1), _u(rng, n, 0, 1), _u(rng, n, 0.02, 0.08)
        blob = (
            np.where(
                _col(rng.random(n) < 0.5),
                _ellipse(y, x, cx, cy, r, r * _u(rng, n, 0.5, 1.5)),
                _rect(y, x, cx - r, cy - r * 0.3, cx + r, cy + r * 0.3),
            )
            & on
        )
        c = rng.random((n, 3)).astype(np.float32)[:, None, None, :]
        np.copyto(img, 0.5 * img + 0.5 * c, where=blob[..., None])


def _lighting(rng, img, noise):
    """Brightness, contrast, a colour cast and pixel noise, different for every scene."""
    n = img.shape[0]
    gain = rng.uniform(0.75, 1.2, (n, 1, 1, 1)).astype(np.float32)
    cast = rng.uniform(0.92, 1.08, (n, 1, 1, 3)).astype(np.float32)
    contrast = rng.uniform(0.8, 1.15, (n, 1, 1, 1)).astype(np.float32)
    mean = img.mean(axis=(1, 2, 3), keepdims=True)
    img[...] = ((img - mean) * contrast + mean) * gain * cast
    sigma = rng.uniform(0, noise, (n, 1, 1, 1)).astype(np.float32)
    img += sigma * rng.standard_normal(img.shape, dtype=np.float32)


def _to_uint8(img):
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def _copy(settings):
    import copy

    return copy.deepcopy(settings)
