"""Pictures in and out: load whatever is on the disk as RGB, write PNG/JPEG/GIF atomically.

The dream works on an H x W x 3 uint8 RGB array. Everything else a user may hand us is brought to
that form here, with a one-line note on stderr when we convert something:
    greyscale, palette, CMYK, 16-bit, float      -> RGB (16-bit is scaled by 255/65535, not clipped)
    RGBA / LA / palette with transparency        -> RGB, the alpha channel kept aside and put back on save
    EXIF orientation                             -> applied, so the picture dreams upright
Every way a file can be wrong (missing, a folder, empty, not a picture, truncated, a decompression
bomb) is one UserError line that names the file and the fix. Writes go through `atomic_path`, so an
output is either complete or absent.
"""

import os
import sys
import warnings

import numpy as np

from .atomic import atomic_path
from .errors import UsageError, UserError

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}  # output extension -> Pillow format
GIF_MAX_SIDE = 512  # GIF frames are shrunk to this long side: a GIF is for watching, not for printing


def watched():
    """Whether someone watches stderr: the run's estimate and the compile note are for a person at a
    terminal (as the progress bar is), so a pipe or a log gets only what went wrong; SCRATCHDREAM_NOTES=1
    shows them anyway."""
    return os.environ.get("SCRATCHDREAM_NOTES") == "1" or sys.stderr.isatty()


def note(message):
    """A one-line remark on stderr that is not an error (a conversion we made, a limit we applied)."""
    print(f"scratchdream: note: {message}", file=sys.stderr)


# ---- reading -------------------------------------------------------------------------------------
def load_image(path, quiet=False):
    """Read `path` as (rgb uint8 (H, W, 3), alpha uint8 (H, W) or None)."""
    from PIL import Image, ImageOps

    path = os.fspath(path)
    _check_file(path)
    try:
        with warnings.catch_warnings(record=True) as remarks:  # Pillow's own (corrupt EXIF, odd tags):
            warnings.simplefilter("always")  # one note below, not two lines of Python
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()  # decode now: truncation shows up here, not later
                im = ImageOps.exif_transpose(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(
            f"{path} is larger than Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS:,} "
            "pixels; if the file is genuine, shrink it with another tool first"
        ) from None
    except Image.UnidentifiedImageError:
        raise UserError(f"{path} is not an image Pillow can read; give a PNG or JPEG file") from None
    except MemoryError:
        raise UserError(f"{path} is too large to decode in the memory available; shrink it first") from None
    except Exception as e:  # truncated or damaged data: OSError, SyntaxError, ValueError, ...
        raise UserError(
            f"{path} cannot be decoded ({_why(e)}): the file is truncated or damaged; "
            "open and re-save it, or use another copy"
        ) from None
    if remarks and not quiet:
        note(f"{os.path.basename(path)}: Pillow says: {_why(remarks[0].message)} (read anyway)")
    return _to_rgb(im, path, quiet)


def _check_file(path):
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder, not an image; give an image file")
    if not os.path.exists(path):
        raise UserError(f"{path} not found; check the path")
    if os.path.getsize(path) == 0:
        raise UserError(f"{path} is empty (0 bytes); give a real image file")


def _why(e):
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:80]


def _to_rgb(im, path, quiet):
    """A decoded Pillow image of any mode -> (rgb uint8 (H, W, 3), alpha or None)."""
    mode, alpha = im.mode, None
    say = (lambda msg: None) if quiet else note
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    elif mode == "P":
        im = im.convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(im.getchannel("A"), dtype=np.uint8).copy()
        say(
            f"{os.path.basename(path)} has an alpha channel ({mode}); "
            "it is kept aside and put back in a PNG output"
        )
        im = im.convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        rgb = _wide_to_rgb(np.asarray(im), im.mode)
        depth = "16-bit" if im.mode.startswith("I;16") else "wide"
        say(f"{os.path.basename(path)} is {mode} ({depth} grey); scaled to 8-bit RGB")
        return rgb, alpha
    if im.mode != "RGB":
        kind = {"L": "greyscale", "1": "black and white", "CMYK": "CMYK", "P": "palette"}.get(mode, mode)
        say(f"{os.path.basename(path)} is {kind}; converted to RGB for dreaming")
        im = im.convert("RGB")
    elif mode == "P":
        say(f"{os.path.basename(path)} is a palette image; converted to RGB for dreaming")
    return np.asarray(im, dtype=np.uint8).copy(), alpha


def _wide_to_rgb(a, mode):
    """16-bit or 32-bit single-channel pixels -> uint8 RGB. Pillow's own convert would clip at 255."""
    with np.errstate(invalid="ignore"):  # a damaged float TIFF may hold (signalling) NaN and inf:
        a = a.astype(np.float64)
    a[~np.isfinite(a)] = 0.0  # those pixels become black, not uint8 garbage
    if mode.startswith("I;16"):
        top = 65535.0
    else:  # 'I' or 'F': guess the range from the data
        top = (
            1.0
            if mode == "F" and a.size and a.max() <= 1.0
            else (65535.0 if a.size and a.max() > 255 else 255.0)
        )
    grey = np.clip(np.round(a * (255.0 / top)), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


# ---- writing -------------------------------------------------------------------------------------
def output_format(path):
    """The Pillow format for an output path, decided by its extension; UsageError for anything else."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise UsageError(
            f"cannot write {path}: unknown image extension {ext or '(none)'!r}; use .png, .jpg or .jpeg"
        )
    return FORMATS[ext]


def save_image(path, rgb, alpha=None, quiet=False, manifest=None):
    """Write uint8 RGB (H, W, 3) to `path` as PNG or JPEG (by extension), atomically; alpha goes back
    into a PNG; `manifest` (manifest.py), if given, goes into its metadata."""
    from PIL import Image

    from .manifest import save_options

    fmt = output_format(path)
    im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    if alpha is not None:
        if fmt == "PNG":
            im.putalpha(Image.fromarray(_fit(alpha, im.size), "L"))
        elif not quiet:
            note(
                f"{os.path.basename(os.fspath(path))}: JPEG has no alpha channel; "
                "the input's transparency is dropped"
            )
    with atomic_path(path) as tmp:
        if fmt == "JPEG":
            im.save(tmp, format=fmt, quality=95, subsampling=0, **save_options(fmt, manifest))
        else:
            im.save(tmp, format=fmt, **save_options(fmt, manifest))


def _fit(alpha, size):
    """The alpha plane at the output's size (W, H) (the same unless the image was resized)."""
    from PIL import Image

    a = Image.fromarray(np.ascontiguousarray(alpha, dtype=np.uint8), "L")
    return np.asarray(a if a.size == size else a.resize(size, Image.BILINEAR))


def shrink(rgb, max_side=GIF_MAX_SIDE):
    """A copy of uint8 RGB (H, W, 3) whose long side is at most `max_side` (for GIF frames)."""
    from PIL import Image

    H, W = rgb.shape[:2]
    if max(H, W) <= max_side:
        return np.array(rgb, dtype=np.uint8)
    k = max_side / max(H, W)
    im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    return np.asarray(im.resize((max(1, round(W * k)), max(1, round(H * k))), Image.LANCZOS))


def save_gif(path, frames, duration_ms=120, max_side=GIF_MAX_SIDE, manifest=None):
    """Write uint8 RGB frames (all the same size) as a looping animated GIF, atomically; `manifest`
    (manifest.py), if given, goes into its comment."""
    from PIL import Image

    from .manifest import save_options

    if not frames:
        raise ValueError("save_gif needs at least one frame")
    ims = [Image.fromarray(shrink(f, max_side), "RGB") for f in frames]  # keep the GIF small
    with atomic_path(path) as tmp:
        ims[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=ims[1:],
            duration=duration_ms,
            loop=0,
            **save_options("GIF", manifest),
        )


# ---- resizing (octaves, zoom) --------------------------------------------------------------------
def resize(x, size):
    """Bilinear resize of float planes (..., H, W) to size (Ho, Wo), channel by channel (Pillow mode 'F').

    Pillow's bilinear filter widens its support when shrinking (it averages, so no aliasing) and is
    deterministic. Values are float32 and may be negative (the dream's accumulated detail is).
    """
    from PIL import Image

    x = np.asarray(x)
    Ho, Wo = int(size[0]), int(size[1])
    if x.shape[-2:] == (Ho, Wo):
        return x.copy()
    planes = x.reshape(-1, *x.shape[-2:])
    out = np.empty((planes.shape[0], Ho, Wo), dtype=x.dtype)
    for k, plane in enumerate(planes):
        im = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), "F")
        out[k] = np.asarray(im.resize((Wo, Ho), Image.BILINEAR), dtype=np.float32)
    return out.reshape(*x.shape[:-2], Ho, Wo)
