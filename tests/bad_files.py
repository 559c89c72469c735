"""Makers of the files people really have on their disks, broken and odd, for tests/test_bad_inputs.py.

Each `make_*(folder, ...)` writes one file into `folder` and returns its path (str). Pictures are small
(a few dozen pixels) unless the name says otherwise, noisy so a PNG of them does not compress away, and
at least MIN_SIDE px on each side so the tiny test net can dream on them.

    pictures   rgb, grey, palette (+ transparency), RGBA, 16-bit grey PNG, CMYK JPEG, EXIF-rotated JPEG,
               text named .jpg, truncated JPEG/PNG, 1x1, a PNG header claiming 100000 x 100000 px (a
               decompression bomb in 67 bytes), a large JPEG (8000 x 6000 by default)
    weights    truncated HDF5, HDF5 from another program, wrong format_version, a weight of the wrong
               shape, NaN weights, enormous weights, a non-HDF5 file named .h5, a .pth pickle (legacy
               and zip) that would run a shell command
"""

import io
import os
import pickle
import shutil
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image

MIN_SIDE = 24  # pictures are at least this many px on each side (the tiny net needs 3)


def noise(H, W, channels=3, seed=0):
    shape = (H, W, channels) if channels > 1 else (H, W)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _save(folder, name, im, **kw):
    path = os.path.join(folder, name)
    im.save(path, **kw)
    return path


def _write(folder, name, data):
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _encoded(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


# ---- pictures that must dream ------------------------------------------------------------------------
def make_rgb_png(folder, name="pic.png", H=32, W=40, seed=0):
    return _save(folder, name, Image.fromarray(noise(H, W, seed=seed)))


def make_grey_png(folder, name="grey.png"):
    return _save(folder, name, Image.fromarray(noise(32, 40, channels=1), "L"))


def make_palette_png(folder, name="palette.png", transparent=False):
    im = Image.fromarray(noise(32, 40)).quantize(colors=16)
    kw = {"transparency": 0} if transparent else {}
    return _save(folder, name, im, **kw)


def make_rgba_png(folder, name="rgba.png"):
    """RGBA whose alpha is a left-to-right ramp, so "alpha preserved" is a real check."""
    rgba = noise(32, 40, channels=4)
    rgba[:, :, 3] = np.linspace(0, 255, 40).astype(np.uint8)[None, :]
    return _save(folder, name, Image.fromarray(rgba, "RGBA"))


def make_png16(folder, name="grey16.png"):
    """16-bit greyscale with values above 255 (Pillow's own convert would clip them all to white)."""
    a = np.random.default_rng(1).integers(0, 65536, (32, 40), dtype=np.uint16)
    return _save(folder, name, Image.frombytes("I;16", (40, 32), a.astype("<u2").tobytes()))


def make_cmyk_jpeg(folder, name="cmyk.jpg"):
    return _save(folder, name, Image.fromarray(noise(32, 40)).convert("CMYK"), format="JPEG", quality=90)


def make_exif_rotated_jpeg(folder, name="rotated.jpg", H=28, W=44):
    """Stored W x H (landscape) with EXIF orientation 6 ("rotate 90 clockwise to view"): upright it is
    H x W."""
    im = Image.fromarray(noise(H, W))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(folder, name, im, format="JPEG", quality=90, exif=exif.tobytes())


def make_large_jpeg(folder, name="large.jpg", H=6000, W=8000):
    """A big smooth picture (cheap to encode and decode) with a little texture for the net to find."""
    y = np.linspace(0, 255, H, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, W, dtype=np.float32)[None, :]
    rgb = np.empty((H, W, 3), np.uint8)
    rgb[:, :, 0] = (0.5 * y + 0.5 * x).astype(np.uint8)
    rgb[:, :, 1] = (255 - y).astype(np.uint8)
    rgb[:, :, 2] = ((np.arange(W)[None, :] // 16 + np.arange(H)[:, None] // 16) % 2 * 200).astype(np.uint8)
    im = Image.fromarray(rgb)
    del rgb
    return _save(folder, name, im, format="JPEG", quality=80)


# ---- pictures that must be refused ---------------------------------------------------------------------
def make_text_named_jpg(folder, name="notes.jpg"):
    return _write(folder, name, b"these are my holiday notes, not a picture\n" * 10)


def make_empty(folder, name="empty.jpg"):
    return _write(folder, name, b"")


def make_truncated_jpeg(folder, name="cut.jpg"):
    data = _encoded(Image.fromarray(noise(64, 64)), "JPEG", quality=90)
    return _write(folder, name, data[: len(data) // 2])


def make_truncated_png(folder, name="cut.png"):
    data = _encoded(Image.fromarray(noise(64, 64)), "PNG")
    return _write(folder, name, data[: len(data) // 2])


def make_tiny_png(folder, name="one.png", side=1):
    return _save(folder, name, Image.fromarray(noise(side, side)))


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bomb_png_bytes(W=100_000, H=100_000):
    """A valid PNG header claiming W x H RGB pixels (10^10 by default), with one tiny IDAT: the file is
    67 bytes, the picture it promises would need 30 GB. Pillow refuses it on open (> 2x its limit)."""
    ihdr = struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + png_chunk(b"IEND", b"")
    )


def make_bomb_png(folder, name="bomb.png"):
    return _write(folder, name, bomb_png_bytes())


# ---- weights --------------------------------------------------------------------------------------------
def make_truncated_h5(folder, good, name="truncated.h5"):
    with open(good, "rb") as f:
        data = f.read()
    return _write(folder, name, data[: len(data) // 2])


def make_foreign_h5(folder, name="keras_model.h5"):
    """An HDF5 file as another program writes it: a Keras-like model_weights group, no scratchdream attrs."""
    import h5py

    path = os.path.join(folder, name)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.4.0"
        f.attrs["backend"] = "tensorflow"
        g = f.create_group("model_weights/dense")
        g.create_dataset("kernel:0", data=np.zeros((4, 3), np.float32))
    return path


def _edited_copy(folder, good, name, edit):
    import h5py

    path = os.path.join(folder, name)
    shutil.copyfile(good, path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def make_wrong_version_h5(folder, good, name="version99.h5"):
    def edit(f):
        f.attrs["format_version"] = 99

    return _edited_copy(folder, good, name, edit)


def make_wrong_shape_h5(folder, good, layer="conv1", name="wrong_shape.h5"):
    """The layer's weight replaced by one with an extra output channel."""

    def edit(f):
        w = f[f"params/{layer}/weight"][()]
        del f[f"params/{layer}/weight"]
        f.create_dataset(f"params/{layer}/weight", data=np.concatenate([w, w[:1]], axis=0))

    return _edited_copy(folder, good, name, edit)


def make_nan_h5(folder, good, layer="conv1", name="nan_weights.h5"):
    """Weights with NaN in them (a diverged training run): the dream must stop, not write garbage."""

    def edit(f):
        ds = f[f"params/{layer}/weight"]
        w = ds[()]
        w.reshape(-1)[::2] = np.nan
        ds[...] = w

    return _edited_copy(folder, good, name, edit)


def make_huge_h5(folder, good, layer="inc/1x1", name="huge_weights.h5"):
    """Finite but enormous weights (x 1e30): activations overflow float32 to inf mid-dream, which is what
    the dream loop's NaN guard is for."""

    def edit(f):
        ds = f[f"params/{layer}/weight"]
        ds[...] = ds[()] * np.float32(1e30)

    return _edited_copy(folder, good, name, edit)


def make_not_hdf5_named_h5(folder, name="weights.h5"):
    return _write(folder, name, b"<html><body>404 Not Found</body></html>\n")


class _Evil:
    """Pickles as `os.system(command)`: what a forged checkpoint does to torch.load(weights_only=False)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def evil_pickle_bytes(marker):
    """A state-dict-looking pickle whose one value, if unpickled, creates the file `marker`."""
    return pickle.dumps({"conv1.weight": _Evil(f"touch {marker}")}, protocol=2)


def make_evil_pth(folder, marker, name="evil.pth"):
    """Legacy-style .pth: a bare pickle stream starting with the protocol-2 header \\x80\\x02."""
    return _write(folder, name, evil_pickle_bytes(marker))


def make_evil_zip_pth(folder, marker, name="evil_zip.pth"):
    """torch >= 1.6 layout: a zip with archive/data.pkl (the evil pickle) and archive/version."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", evil_pickle_bytes(marker))
        z.writestr("archive/version", "3\n")
    return _write(folder, name, buf.getvalue())
