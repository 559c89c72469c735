"""Pictures with captions: the survey's contact sheet and the explained dream's panel (Pillow only).

Text is drawn with Pillow's own bitmap font (ImageFont.load_default_imagefont: no font file from
outside, the same pixels on every machine), which has ASCII letters only, so arrows are written "->".
A small picture is enlarged by a whole factor with nearest-neighbour, so its pixels stay visible.

    contact_sheet([(picture, [line, ...]), ...], title) -> (sheet, boxes)
    side_panel([(picture, caption), ...], [line, ...], title) -> sheet
boxes: where each picture landed on the sheet, (x, y, w, h), for whoever wants to find it again.
"""

import math

import numpy as np

PAD, LINE = 6, 12  # px: space around everything, height of a line of the bitmap font
SHOWN = 128  # px: a picture smaller than this is enlarged by a whole factor to at least this long side
WHITE, INK, GREY = (255, 255, 255), (0, 0, 0), (90, 90, 90)


def _font():
    from PIL import ImageFont

    if hasattr(ImageFont, "load_default_imagefont"):  # Pillow >= 10.1: the bitmap font by name
        return ImageFont.load_default_imagefont()
    return ImageFont.load_default()  # older Pillow: this is the bitmap font


def text_width(text, font=None):
    font = font or _font()
    left, _, right, _ = font.getbbox(text)
    return right - left


def enlarged(picture):
    """The picture as a Pillow image, enlarged by the least whole factor that reaches SHOWN px."""
    from PIL import Image

    h, w = picture.shape[:2]
    k = max(1, math.ceil(SHOWN / max(h, w)))
    im = Image.fromarray(np.ascontiguousarray(picture, dtype=np.uint8), "RGB")
    return im if k == 1 else im.resize((w * k, h * k), Image.NEAREST)


def contact_sheet(cells, title, columns=None):
    """Cells [(picture (h, w, 3) uint8, [caption line, ...])] on a grid under a title, each picture with
    its lines beneath it; all pictures the same size. Returns (sheet (H, W, 3) uint8, boxes)."""
    from PIL import Image, ImageDraw

    font = _font()
    ims = [enlarged(p) for p, _ in cells]
    n_lines = max(len(lines) for _, lines in cells)
    widest = max(text_width(line, font) for _, lines in cells for line in lines)
    cw, ch = max(ims[0].width, widest), ims[0].height + LINE * n_lines  # one grid cell
    cols = columns or math.ceil(math.sqrt(len(cells)))
    rows = math.ceil(len(cells) / cols)
    top = PAD + LINE + PAD
    width = max(PAD + cols * (cw + PAD), 2 * PAD + text_width(title, font))
    sheet = Image.new("RGB", (width, top + rows * (ch + PAD)), WHITE)
    draw = ImageDraw.Draw(sheet)
    draw.text((PAD, PAD), title, fill=INK, font=font)
    boxes = []
    for k, (im, (_, lines)) in enumerate(zip(ims, cells)):
        x, y = PAD + (k % cols) * (cw + PAD), top + (k // cols) * (ch + PAD)
        sheet.paste(im, (x, y))
        boxes.append((x, y, im.width, im.height))
        for j, line in enumerate(lines):
            draw.text((x, y + im.height + 1 + LINE * j), line, fill=INK if j == 0 else GREY, font=font)
    return np.asarray(sheet), boxes


def side_panel(pictures, lines, title):
    """Pictures [(picture, caption)] side by side under a title, and beside them a column of text lines.
    Returns (sheet (H, W, 3) uint8, boxes of the pictures)."""
    from PIL import Image, ImageDraw

    font = _font()
    ims = [enlarged(p) for p, _ in pictures]
    top = PAD + LINE + PAD
    left = PAD + sum(im.width + PAD for im in ims)
    text_w = max([text_width(line, font) for line in lines] + [0])
    width = max(left + text_w + PAD, 2 * PAD + text_width(title, font))
    height = top + max(max(im.height for im in ims) + LINE + PAD, LINE * len(lines) + PAD)
    sheet = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(sheet)
    draw.text((PAD, PAD), title, fill=INK, font=font)
    boxes, x = [], PAD
    for im, (_, caption) in zip(ims, pictures):
        sheet.paste(im, (x, top))
        boxes.append((x, top, im.width, im.height))
        draw.text((x, top + im.height + 1), caption, fill=GREY, font=font)
        x += im.width + PAD
    for j, line in enumerate(lines):
        draw.text((left, top + LINE * j), line, fill=INK, font=font)
    return np.asarray(sheet), boxes
