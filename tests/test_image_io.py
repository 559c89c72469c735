"""image_io: every picture a user may have becomes RGB (with a note), every broken file one UserError line."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from scratchdream.errors import UsageError, UserError
from scratchdream.image_io import load_image, resize, save_gif, save_image, shrink


def _rgb(H=20, W=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _save(path, im, **kw):
    im.save(path, **kw)
    return str(path)


# ---- broken files: one line naming the file and the fix ------------------------------------------
@pytest.mark.parametrize(
    "case, prefix",
    [
        ("missing", "not found"),
        ("folder", "is a folder"),
        ("empty", "is empty"),
        ("text", "is not an image"),
        ("truncated_jpeg", "cannot be decoded"),
        ("truncated_png", "cannot be decoded"),
    ],
)
def test_broken_files_are_one_line_user_errors(tmp_path, case, prefix):
    path = tmp_path / "pic.jpg"
    if case == "folder":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("this is not a picture\n")
    elif case.startswith("truncated"):
        buf = io.BytesIO()
        Image.fromarray(_rgb(64, 64)).save(buf, format="JPEG" if case.endswith("jpeg") else "PNG")
        data = buf.getvalue()
        path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError) as e:
        load_image(path)
    msg = str(e.value)
    assert prefix in msg and str(path) in msg and "\n" not in msg


def test_decompression_bomb_is_reported_as_such(tmp_path, monkeypatch):
    path = _save(tmp_path / "big.png", Image.fromarray(_rgb(40, 50)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 2000 px > limit: Pillow warns; 4x would raise
    with pytest.raises(UserError, match="decompression-bomb limit"):
        load_image(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400)  # > 2x the limit: Pillow's own error
    with pytest.raises(UserError, match="decompression-bomb limit"):
        load_image(path)


# ---- every mode becomes RGB ----------------------------------------------------------------------
def test_rgb_png_round_trip_is_exact_and_atomic(tmp_path):
    img = _rgb()
    out = tmp_path / "out.png"
    save_image(out, img)
    rgb, alpha = load_image(out)
    assert np.array_equal(rgb, img) and alpha is None
    assert os.listdir(tmp_path) == ["out.png"]  # no temporary file left behind


def test_greyscale_becomes_rgb_with_a_note(tmp_path, capsys):
    grey = _rgb()[:, :, 0]
    rgb, alpha = load_image(_save(tmp_path / "g.png", Image.fromarray(grey, "L")))
    assert rgb.shape == (20, 30, 3) and alpha is None
    assert all(np.array_equal(rgb[:, :, k], grey) for k in range(3))
    assert "greyscale" in capsys.readouterr().err


def test_palette_becomes_rgb(tmp_path, capsys):
    img = _rgb()
    pal = Image.fromarray(img).quantize(16)
    rgb, alpha = load_image(_save(tmp_path / "p.png", pal))
    assert rgb.shape == img.shape and alpha is None
    assert np.array_equal(rgb, np.asarray(pal.convert("RGB")))
    assert "palette" in capsys.readouterr().err


def test_rgba_keeps_alpha_and_puts_it_back_in_png(tmp_path, capsys):
    img, a = _rgb(), _rgb()[:, :, 1]
    path = _save(tmp_path / "a.png", Image.fromarray(np.dstack([img, a]), "RGBA"))
    rgb, alpha = load_image(path)
    assert np.array_equal(rgb, img) and np.array_equal(alpha, a)
    assert "alpha" in capsys.readouterr().err
    save_image(tmp_path / "back.png", rgb, alpha)
    with Image.open(tmp_path / "back.png") as im:
        assert im.mode == "RGBA" and np.array_equal(np.asarray(im)[:, :, 3], a)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path, capsys):
    wide = np.array([[0, 257, 32896, 65535]], dtype=np.uint16).repeat(3, 0)
    rgb, _ = load_image(_save(tmp_path / "w.png", Image.fromarray(wide)))
    assert rgb[0, :, 0].tolist() == [0, 1, 128, 255]
    assert "16-bit" in capsys.readouterr().err


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    img = np.full((16, 24, 3), (200, 40, 40), np.uint8)
    rgb, _ = load_image(_save(tmp_path / "c.jpg", Image.fromarray(img).convert("CMYK"), quality=95))
    assert rgb.shape == (16, 24, 3)
    assert np.abs(rgb.astype(int) - img).max() < 12  # JPEG is lossy, the colour is the same


def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :10] = 255  # a white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    rgb, _ = load_image(_save(tmp_path / "r.jpg", Image.fromarray(img), exif=exif, quality=95))
    assert rgb.shape == (40, 20, 3)  # upright: taller than wide
    assert rgb[:10].mean() > 200 and rgb[-10:].mean() < 50  # the left band is now on top


# ---- writing -------------------------------------------------------------------------------------
def test_extension_decides_the_format(tmp_path):
    img = _rgb()
    save_image(tmp_path / "o.jpg", img)
    save_image(tmp_path / "o.JPEG", img)
    with Image.open(tmp_path / "o.jpg") as a, Image.open(tmp_path / "o.JPEG") as b:
        assert a.format == "JPEG" and b.format == "JPEG"
    with pytest.raises(UsageError, match="unknown image extension"):
        save_image(tmp_path / "o.bmp", img)
    assert not (tmp_path / "o.bmp").exists()


def test_gif_has_every_frame_and_is_shrunk(tmp_path):
    frames = [_rgb(600, 300, seed=k) for k in range(3)]
    save_gif(tmp_path / "a.gif", frames)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 3 and max(im.size) == 512
    assert shrink(frames[0]).shape == (512, 256, 3)


def test_resize_keeps_constants_and_signs():
    x = np.full((1, 3, 30, 41), -2.5, np.float32)
    y = resize(x, (17, 9))
    assert y.shape == (1, 3, 17, 9) and y.dtype == np.float32
    assert np.allclose(y, -2.5)
    ramp = np.tile(np.linspace(-1, 1, 40, dtype=np.float32), (1, 1, 20, 1))
    z = resize(ramp, (20, 80))
    assert np.all(np.diff(z[0, 0, 0]) >= -1e-6)  # bilinear keeps a ramp monotone
