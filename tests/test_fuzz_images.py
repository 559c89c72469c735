"""Fuzzing the image loader: whatever bytes a user's "picture" holds, load_image returns a valid RGB picture
or raises one UserError line, in bounded time. Never another exception, a crash or a hang.

Seeded mutation fuzzing (numpy's default_rng(seed + i) per example, so every run sees the same files and
a failure names the one example to replay). Four kinds of input, ITERATIONS of each:
    random          random bytes of random length (0..4 KiB)
    magic           random bytes behind a real signature (PNG, JPEG, GIF, BMP, TIFF, WebP), which gets them
                    past Pillow's format sniffing and into the decoders
    mutated         real files in a dozen modes and formats (below) with 1-8 random edits: bit flips, byte
                    sets, inserts, deletes, duplicated runs, truncation, a length field made enormous
    header          real PNG/JPEG files whose width/height fields are rewritten (with the PNG CRC fixed, so
                    the decoder believes them): 0, 1, 65535, 2^31 - 1 px; this is how decompression bombs
                    and zero-size pictures look
Each example runs under a SIGALRM timer (SECONDS_PER_EXAMPLE) and the whole kind under a wall-clock budget.
"""

import contextlib
import io
import os
import struct
import time
import warnings
import zlib

import numpy as np
import pytest
import timebox
from byte_edits import OPS, apply_edit
from PIL import Image

from scratchdream.errors import UserError
from scratchdream.image_io import load_image

ITERATIONS = {"random": 500, "magic": 1000, "mutated": 2500, "header": 400}
SECONDS_PER_EXAMPLE = 10
SECONDS_PER_KIND = 240
MAGICS = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"\xff\xd8\xff\xdb",
    b"GIF89a",
    b"GIF87a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
]


def _picture(H=24, W=32, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    smooth = np.stack([x * 255 // W, y * 255 // H, (x + y) * 255 // (H + W)], axis=2).astype(np.uint8)
    return np.clip(smooth + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)


def _encode(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def seeds():
    """{name: bytes}: the pictures people have, in the modes and formats Pillow hands load_image."""
    rgb = Image.fromarray(_picture())
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(_picture(seed=1)[:, :, 0]))
    exif = Image.Exif()
    exif[0x0112] = 6
    grey16 = Image.frombytes(
        "I;16", rgb.size, (np.asarray(rgb.convert("L"), np.uint16) * 257).astype("<u2").tobytes()
    )
    out = {
        "png_rgb": _encode(rgb, "PNG"),
        "png_rgba": _encode(rgba, "PNG"),
        "png_grey": _encode(rgb.convert("L"), "PNG"),
        "png_grey16": _encode(grey16, "PNG"),
        "png_palette_trns": _encode(rgb.quantize(16), "PNG", transparency=0),
        "png_interlaced_la": _encode(rgba.convert("LA"), "PNG", interlace=1),
        "png_1bit": _encode(rgb.convert("1"), "PNG"),
        "jpeg": _encode(rgb, "JPEG", quality=90),
        "jpeg_progressive": _encode(rgb, "JPEG", quality=80, progressive=True),
        "jpeg_cmyk": _encode(rgb.convert("CMYK"), "JPEG"),
        "jpeg_grey_exif": _encode(rgb.convert("L"), "JPEG", exif=exif.tobytes()),
        "gif": _encode(rgb.quantize(32), "GIF"),
        "bmp": _encode(rgb, "BMP"),
        "tiff_float": _encode(Image.fromarray(np.asarray(rgb.convert("L"), np.float32) / 255), "TIFF"),
        "tiff_rgb_lzw": _encode(rgb, "TIFF", compression="tiff_lzw"),
    }
    with contextlib.suppress(Exception):  # WebP is optional in Pillow builds
        out["webp"] = _encode(rgb, "WEBP", quality=80)
    return out


# ---- the property ------------------------------------------------------------------------------------------
def bounded(seconds=SECONDS_PER_EXAMPLE):
    return timebox.bounded(seconds, "load_image")


def check(path, data, label):
    """load_image on `data`: a valid (rgb, alpha) or one UserError line naming the file, and no warning
    escaping (Pillow's remarks on damaged files become one note inside load_image). Returns the outcome."""
    with open(path, "wb") as f:
        f.write(data)
    try:
        with bounded(), warnings.catch_warnings(record=True) as escaped:
            warnings.simplefilter("always")
            rgb, alpha = load_image(path, quiet=True)
    except UserError as e:
        msg = str(e)
        assert msg and "\n" not in msg and path in msg, f"{label}: {msg!r}"
        return "refused"
    except Exception as e:  # the bug this file hunts for
        raise AssertionError(
            f"{label}: load_image raised {type(e).__name__}: {e} ({_keep(path, data)})"
        ) from e
    assert not escaped, (
        f"{label}: a warning escaped load_image (the CLI would print it as lines of Python): "
        f"{escaped[0].message} ({_keep(path, data)})"
    )
    assert isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, (
        label
    )
    assert rgb.shape[0] >= 1 and rgb.shape[1] >= 1, label
    if alpha is not None:
        assert alpha.dtype == np.uint8 and alpha.shape == rgb.shape[:2], label
    return "loaded"


def _keep(path, data):
    with open(path + ".fail", "wb") as f:
        f.write(data)
    return f"bytes kept in {path}.fail"


def fuzz(tmp_path, kind, make):
    """Run ITERATIONS[kind] examples of make(rng) -> (label, bytes); report the count and the outcomes."""
    path = str(tmp_path / "picture.img")
    counts = {"loaded": 0, "refused": 0}
    t0 = time.perf_counter()
    for i in range(ITERATIONS[kind]):
        label, data = make(np.random.default_rng(1000 * len(kind) + i))
        counts[check(path, data, f"{kind} #{i} ({label})")] += 1
        assert time.perf_counter() - t0 < SECONDS_PER_KIND, (
            f"{kind}: over {SECONDS_PER_KIND} s after {i + 1} examples"
        )
    print(
        f"image fuzz {kind}: {ITERATIONS[kind]} examples, {counts['loaded']} loaded, "
        f"{counts['refused']} refused, {time.perf_counter() - t0:.1f} s"
    )
    return counts


# ---- the four kinds -------------------------------------------------------------------------------------
def mutate(seed, rng):
    b = bytearray(seed)
    for _ in range(int(rng.integers(1, 9))):
        apply_edit(
            b,
            str(rng.choice(OPS)),
            int(rng.integers(0, len(b) + 1)),
            int(rng.integers(0, 256)),
            int(rng.integers(1, 65)),
        )
    return bytes(b)


def _png_with_size(data, W, H):
    """The PNG with IHDR's width and height replaced and its CRC recomputed."""
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", W, H)
    return data[:16] + bytes(ihdr) + struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr))) + data[33:]


def _jpeg_with_size(data, W, H):
    """The JPEG with its SOF0/SOF2 frame header's height and width replaced."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0:
            size = struct.pack(">HH", min(H, 65535), min(W, 65535))  # 16-bit fields
            return data[: at + 5] + size + data[at + 9 :]
    raise AssertionError("no SOF marker in the seed JPEG")


SIDES = [0, 1, 2, 65535, 30000, 2**31 - 1]


def test_random_bytes(tmp_path):
    def make(rng):
        return "random", rng.integers(0, 256, int(rng.integers(0, 4097)), dtype=np.uint8).tobytes()

    counts = fuzz(tmp_path, "random", make)
    assert counts["refused"] > 0


def test_random_bytes_behind_a_real_signature(tmp_path):
    def make(rng):
        magic = MAGICS[int(rng.integers(0, len(MAGICS)))]
        return magic[:4].decode("latin-1"), magic + rng.integers(
            0, 256, int(rng.integers(0, 2049)), dtype=np.uint8
        ).tobytes()

    counts = fuzz(tmp_path, "magic", make)
    assert counts["refused"] > 0


def test_mutated_real_pictures(tmp_path):
    pool = seeds()
    names = sorted(pool)
    for name in names:  # the unmutated seeds load: the harness itself is sound
        assert check(str(tmp_path / "seed.img"), pool[name], f"seed {name}") == "loaded"

    def make(rng):
        name = names[int(rng.integers(0, len(names)))]
        return name, mutate(pool[name], rng)

    counts = fuzz(tmp_path, "mutated", make)
    assert counts["loaded"] > 0 and counts["refused"] > 0  # both roads were taken


def test_lying_width_and_height(tmp_path):
    pool = seeds()
    bases = [
        ("png_rgb", _png_with_size),
        ("png_grey16", _png_with_size),
        ("png_palette_trns", _png_with_size),
        ("jpeg", _jpeg_with_size),
        ("jpeg_progressive", _jpeg_with_size),
    ]

    def make(rng):
        name, rewrite = bases[int(rng.integers(0, len(bases)))]
        W, H = (SIDES[int(rng.integers(0, len(SIDES)))] for _ in range(2))
        data = rewrite(pool[name], W, H)
        if rng.random() < 0.3:
            data = mutate(data, rng)
        return f"{name} {W}x{H}", data

    counts = fuzz(tmp_path, "header", make)
    assert counts["refused"] > 0


def test_decompression_bomb_header_is_refused_as_such(tmp_path):
    """The 100000 x 100000 PNG header of tests/bad_files.py: refused on open, named as a bomb, nothing
    allocated."""
    import bad_files

    path = str(tmp_path / "bomb.png")
    with open(path, "wb") as f:
        f.write(bad_files.bomb_png_bytes())
    with bounded(), pytest.raises(UserError, match="decompression-bomb limit"):
        load_image(path)
    assert os.path.getsize(path) < 100


def test_float_tiff_with_nan_and_inf_loads_black_there(tmp_path):
    """Found by the mutation fuzzer (mutated #38): NaN pixels in a float TIFF were cast to uint8 garbage
    with numpy's "invalid value" warning; now they are black and the rest is scaled as usual."""
    a = np.full((4, 5), 0.5, np.float32)
    a[0, 0], a[1, 1], a[2, 2] = np.nan, np.inf, -np.inf
    path = str(tmp_path / "float.tif")
    Image.fromarray(a).save(path, format="TIFF")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb, alpha = load_image(path, quiet=True)
    assert alpha is None and rgb.shape == (4, 5, 3)
    assert rgb[0, 0].tolist() == rgb[1, 1].tolist() == rgb[2, 2].tolist() == [0, 0, 0]
    assert rgb[3, 3].tolist() == [128, 128, 128]  # 0.5 of a 0..1 float picture
