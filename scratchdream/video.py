"""Video dreams: each frame starts from the dream of the frame before it, so the patterns persist.

    start_k = blend * warp(dream_{k-1}) + (1 - blend) * frame_k        (DeepDreamVideo, pytorch-deepdream)
    dream_k = the whole dream (deepdream/loop.py) of start_k, with seed + k

blend 0 dreams every frame on its own; near 1 the first dream is carried through the clip. warp is the
identity without --flow; with it the previous dream is moved along the dense optical flow between the two
input frames (OpenCV's Farneback), so that the patterns ride on what moves instead of staying painted on
the screen. Frame k's seed depends on k alone, so a frame's dream is the same whoever dreams it.
Decoding and encoding: video_io.py; cutting a clip into chunks for many workers: distributed.py.
"""

from dataclasses import replace

import numpy as np

from .deepdream import loop
from .errors import UserError


def frame_seed(seed, k):
    """The seed of frame k (counted from the clip's first frame) in a run seeded `seed`."""
    return seed + k


def mix(prev_dream, frame, blend):
    """blend * prev_dream + (1 - blend) * frame, both (H, W, 3) uint8, rounded back to uint8."""
    out = np.float32(blend) * prev_dream.astype(np.float32) + np.float32(1 - blend) * frame.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# ---- optical flow (OpenCV) ------------------------------------------------------------------------
def _cv2():
    try:
        import cv2
    except ImportError:
        raise UserError("--flow needs OpenCV: pip install 'scratchdream[flow]'") from None
    return cv2


def flow(prev_frame, frame):
    """Dense flow (H, W, 2) float32 (dx, dy): pixel (y, x) of `frame` was at (y + dy, x + dx) in
    `prev_frame`. Farneback on the grey pictures (pyramid 0.5 x 3 levels, 15-px windows)."""
    cv2 = _cv2()
    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in (frame, prev_frame)]
    return cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)


def warp(picture, flow_field):
    """picture (H, W, 3) uint8 moved along flow_field: out[y, x] = picture[y + dy, x + dx] (bilinear,
    the border repeated where the flow points outside)."""
    cv2 = _cv2()
    H, W = picture.shape[:2]
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    map_x, map_y = xs + flow_field[..., 0], ys + flow_field[..., 1]
    return cv2.remap(picture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# ---- the sequence ----------------------------------------------------------------------------------
def dream_frames(net, frames, options, blend=0.5, use_flow=False, first=0, keep_from=0, prev=None):
    """Dream `frames` (uint8 pictures, frame `first` of the clip first) in order; yields (k, dream) for
    each frame from position keep_from on (those before are a warm-up: dreamed for their carry-over,
    then dropped). prev: (dream, input frame) of frame first - 1 when it is known (a resumed run)."""
    for j, frame in enumerate(frames):
        k = first + j
        start = frame
        if prev is not None and blend > 0:
            carried = warp(prev[0], flow(prev[1], frame)) if use_flow else prev[0]
            start = mix(carried, frame, blend)
        dream = loop.run(net, start, replace(options, seed=frame_seed(options.seed, k)), progress=False)
        if j >= keep_from:
            yield k, dream
        prev = (dream, frame)
