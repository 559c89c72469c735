"""Photo-like skies that the toy world never painted (scenes.py draws its own): five kinds of sky, each a
gradient with clouds made of bicubic 1/f noise, film grain and a JPEG round trip, at any size and seed.

    clear    deep blue at the top to pale at the horizon, no cloud
    cumulus  heaped white clouds with grey undersides
    sunset   violet above, orange and pink at the horizon, pink-lit clouds
    cirrus   thin streaks drawn out sideways across a blue sky
    haze     a pale, low-contrast sky, white towards the horizon

Used to ask the toy world's nets about skies made by someone else (tests/test_toyworld_photos.py)."""

import io

import numpy as np
from PIL import Image

KINDS = ("clear", "cumulus", "sunset", "cirrus", "haze")

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
    img = img + rng.normal(0, 2.5, img.shape)  # film grain
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as im:
        return np.asarray(im.convert("RGB"))
