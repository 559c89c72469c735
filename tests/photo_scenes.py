"""Photo-like pictures that the toy world never painted (scenes.py draws its own), at any size and seed,
each with film grain and a JPEG round trip. Five kinds of sky, a gradient with clouds of bicubic 1/f noise:

    clear    deep blue at the top to pale at the horizon, no cloud
    cumulus  heaped white clouds with grey undersides
    sunset   violet above, orange and pink at the horizon, pink-lit clouds
    cirrus   thin streaks drawn out sideways across a blue sky
    haze     a pale, low-contrast sky, white towards the horizon

and the toy world's three other backgrounds as a camera might see them (`photo_background`):

    brown    brown cloth: a mottled brown with a fine woven grid (the lecture's brown suit)
    water    a lake: lighter blue-green at the top, darker below, ripples drawn out sideways
    grass    a lawn: green with tall thin streaks of light and shade

Used to ask the toy world's nets about pictures made by someone else (tests/test_toyworld_photos.py)."""

import io

import numpy as np
from PIL import Image

KINDS = ("clear", "cumulus", "sunset", "cirrus", "haze")
BACKGROUNDS = ("brown", "water", "grass")

# kind -> (colour at the top, colour at the horizon, cloud colour lit, cloud colour in shade), RGB 0-255
PALETTES = {
    "clear": ((28, 78, 170), (150, 190, 230), None, None),
    "cumulus": ((45, 100, 190), (160, 200, 235), (250, 250, 248), (150, 155, 170)),
    "sunset": ((60, 50, 120), (250, 150, 80), (255, 170, 150), (120, 70, 110)),
    "cirrus": ((35, 95, 185), (170, 205, 235), (245, 245, 250), (200, 210, 230)),
    "haze": ((150, 175, 205), (225, 228, 230), (240, 240, 240), (210, 212, 215)),
}


def noise(H, W, rng, coarsest=3, levels=5, stretch=1.0):
    """1/f-like noise in about [-1, 1]: random grids, each twice as fine and half as strong as the last,
    grown to H x W bicubically; stretch > 1 draws the features out sideways."""
    out = np.zeros((H, W))
    for k in range(levels):
        rows = 2 ** (k + coarsest) // 2 + 1
        cols = max(2, int(round(2 ** (k + coarsest) / stretch)))
        grid = rng.standard_normal((rows, cols)).astype(np.float32)
        out += np.asarray(Image.fromarray(grid, "F").resize((W, H), Image.BICUBIC), np.float64) / 2**k
    return out / (np.abs(out).max() + 1e-12)


def photo_sky(kind="cumulus", H=240, W=320, seed=0, quality=85):
    """An H x W x 3 uint8 photo-like sky of `kind` (one of KINDS), the same for the same arguments."""
    top, horizon, lit, shade = (np.array(c, np.float64) if c else None for c in PALETTES[kind])
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    y = np.linspace(0, 1, H)[:, None, None] ** rng.uniform(0.7, 1.3)
    img = top + (horizon - top) * y + np.zeros((1, W, 1))
    if lit is not None:
        stretch = 4.0 if kind == "cirrus" else 1.0
        body = noise(H, W, rng, levels=2, stretch=stretch)  # the clouds' shapes
        field = body + 0.35 * noise(H, W, rng, coarsest=5, levels=3, stretch=stretch)  # their ragged edges
        cover = {"cumulus": 0.2, "sunset": 0.25, "cirrus": 0.2, "haze": 0.0}[kind] + rng.uniform(-0.1, 0.1)
        density = np.clip((field - cover) / 0.35, 0, 1)[:, :, None]
        light = np.clip(0.6 - 0.5 * np.gradient(body, axis=0)[:, :, None] * H / 4, 0, 1)  # lit from above
        cloud = shade + (lit - shade) * light
        strength = 0.5 if kind == "haze" else 0.95
        img = img + density * strength * (cloud - img)
    return _photo(img + rng.normal(0, 2.5, img.shape), quality)  # film grain


def photo_background(kind="brown", H=240, W=320, seed=0, quality=85):
    """An H x W x 3 uint8 photo-like picture of brown cloth, water or grass (`kind`, one of BACKGROUNDS)."""
    rng = np.random.default_rng([seed, len(KINDS) + BACKGROUNDS.index(kind)])
    if kind == "brown":
        base = np.array([110, 72, 45.0]) * rng.uniform(0.8, 1.2)
        weave = np.sin(np.arange(H)[:, None, None] * 1.3) * np.sin(np.arange(W)[None, :, None] * 1.3)
        img = base * (1 + 0.25 * noise(H, W, rng, coarsest=2, levels=6)[:, :, None]) + 6 * weave
    elif kind == "water":
        y = np.linspace(0, 1, H)[:, None, None]
        top, deep = np.array([70, 130, 170.0]), np.array([20, 70, 110.0])
        ripples = np.clip(noise(H, W, rng, stretch=6.0), 0, 1)[:, :, None]
        img = top + (deep - top) * y + 40 * ripples
    else:
        blades = noise(H, W, rng, coarsest=4, levels=4, stretch=0.2)[:, :, None]
        img = np.array([70, 120, 45.0]) * (1 + 0.35 * blades)
    return _photo(img + rng.normal(0, 3.5, (H, W, 3)), quality)


def _photo(img, quality):
    """float RGB -> uint8, through a JPEG at `quality` as a camera would save it."""
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as im:
        return np.asarray(im.convert("RGB"))
