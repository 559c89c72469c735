"""Octaves: dream at several scales, small to large, carrying the detail from each scale to the next.

A network's neurons see patterns of a fixed size in pixels. Dreaming on the picture shrunk by
octave_scale^k lets them draw patterns octave_scale^k times larger, so the original notebook dreams
at `octaves` scales, smallest first, and re-injects what it has drawn:

    base_k   = the picture resized to scale k          (k = n-1 is the smallest, k = 0 the full size)
    detail   = 0 at the smallest scale
    for each scale k, smallest first:
        x = base_k + resize(detail, size_k)            # the detail so far, upscaled onto this scale
        dream on x for `steps` steps
        detail = x - base_k                            # what the dream added at this scale and below
Only the detail is upscaled, never the dreamed picture itself, so the full-size result keeps the
picture's own sharpness. Resizing is bilinear (Pillow, float32; see image_io.resize).
"""

from ..image_io import resize


def octave_sizes(H, W, octaves, scale, min_side=1):
    """Sizes (h, w) from the smallest scale to the full size; scales whose short side would fall
    below `min_side` are left out. Returns (sizes, how many were left out)."""
    sizes = []
    for k in range(octaves - 1, -1, -1):
        h, w = max(1, round(H / scale**k)), max(1, round(W / scale**k))
        if min(h, w) >= min_side or k == 0:
            sizes.append((h, w))
    return sizes, octaves - len(sizes)


def pyramid(base, sizes):
    """The picture base (1, 3, H, W) at every size, each resized from the full size (no blur build-up)."""
    return [base if tuple(s) == base.shape[2:] else resize(base, s) for s in sizes]


def reinject(detail, base_k):
    """The detail dreamed so far, upscaled onto the next scale: the starting point x of that scale."""
    return base_k + resize(detail, base_k.shape[2:])
