"""data.prepare_user_image: an uploaded image made MNIST-like, and bad uploads refused with a reason."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from diffusion_core import data


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    mass = image.sum()
    return (rows * image).sum() / mass, (cols * image).sum() / mass


def test_a_dark_sketch_on_white_becomes_a_light_centred_digit_in_a_20px_box():
    sketch = Image.new("RGB", (400, 300), "white")
    ImageDraw.Draw(sketch).line([(250, 40), (350, 40), (280, 260)], fill="black", width=20)  # a 7, off centre
    out = data.prepare_user_image(encode(sketch, "JPEG"))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() == 255 and np.median(out) == 0  # light digit on black
    rows, cols = np.nonzero(out > 25)
    assert rows.max() - rows.min() + 1 <= 21 and cols.max() - cols.min() + 1 <= 21
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 >= 19  # the long side fills the box
    r, c = centre_of_mass(out.astype(float))
    assert abs(r - 13.5) <= 1 and abs(c - 13.5) <= 1


def test_aspect_ratio_is_kept():
    bar = Image.new("L", (40, 200), 0)
    ImageDraw.Draw(bar).rectangle([10, 20, 29, 179], fill=255)  # 20 wide, 160 tall: 1 to 8
    rows, cols = np.nonzero(data.prepare_user_image(encode(bar)) > 127)
    assert rows.max() - rows.min() + 1 == 20
    assert 2 <= cols.max() - cols.min() + 1 <= 4


def test_strokes_on_a_transparent_sheet_are_read_from_the_alpha_channel():
    sheet = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    ImageDraw.Draw(sheet).ellipse([25, 10, 75, 90], outline=(255, 255, 255, 255), width=8)  # white on clear
    out = data.prepare_user_image(encode(sheet))
    assert out.max() == 255 and out[14, 14] < 50  # a 0: a ring with a dark hole


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"just some text, not pixels", "not an image"),
    (encode(Image.new("L", (50, 50)), "TIFF"), "not an image"),
    (encode(Image.new("1", (5000, 5000))), "pixels"),
    (encode(Image.new("L", (60, 60), 255)), "blank"),
    (encode(Image.new("L", (60, 60), 0))[:60], "decoded"),
    (b"\x89PNG" + bytes(data.MAX_UPLOAD_BYTES), "MiB"),
])
def test_bad_uploads_are_refused_with_a_reason(content, reason):
    with pytest.raises(data.DataError, match=reason):
        data.prepare_user_image(content)
