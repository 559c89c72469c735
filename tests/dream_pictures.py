"""Pictures for the dream tests: photo-like, made from a seed (no binary files in the repo).

`sky(H, W, seed)` is a blue-to-pale vertical gradient with soft 1/f clouds and a dark ridge of hills
along the bottom: smooth regions, soft edges and texture at every scale, like a landscape photo.
"""

import numpy as np


def _fractal_noise(H, W, rng, octaves=5):
    """Sum of upsampled random grids, each octave twice as fine and half as strong: 1/f-like texture."""
    from PIL import Image

    out = np.zeros((H, W))
    for k in range(octaves):
        n = 2 ** (k + 2)
        grid = rng.standard_normal((n, n)).astype(np.float32)
        up = np.asarray(Image.fromarray(grid, "F").resize((W, H), Image.BICUBIC), np.float64)
        out += up / 2**k
    return out / np.abs(out).max()


def sky(H=48, W=64, seed=0):
    """An H x W x 3 uint8 RGB landscape-like picture."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, H)[:, None, None]
    top, horizon = np.array([40, 90, 200.0]), np.array([170, 200, 235.0])
    img = top + (horizon - top) * y + np.zeros((1, W, 1))
    clouds = np.clip(_fractal_noise(H, W, rng), 0, None)[:, :, None] * (1 - y)
    img = img + clouds * (np.array([250, 250, 250.0]) - img) * 0.9
    ridge = (
        0.75
        + 0.08 * np.sin(np.linspace(0, 3 * np.pi, W) + rng.uniform(0, 6))
        + 0.04 * _fractal_noise(1, W, rng)[0]
    )
    hills = (y[:, :, 0] > ridge[None, :])[:, :, None]
    ground = np.array([50, 80, 40.0]) * (1 + 0.3 * _fractal_noise(H, W, rng)[:, :, None])
    img = np.where(hills, ground, img)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
