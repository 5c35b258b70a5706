"""Regenerate the README's screenshots: `python3 docs/screenshots.py`.

Runs the browser test that opens every page (tests/test_browser.py, which saves a full-page
screenshot of each to out/screens/), then keeps the top of each page, scaled down and reduced to
a small palette, in docs/screens/NAME.png.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHOTS, OUT = REPO / "out" / "screens", REPO / "docs" / "screens"
WIDTH, MAX_HEIGHT = 900, 1250  # of the saved picture, in pixels (the page is shot 1440 wide)


def shrink(shot: Path, out: Path) -> None:
    """The page down to its last non-white row (at most MAX_HEIGHT once scaled), WIDTH wide, 256 colours."""
    image = Image.open(shot).convert("RGB")
    ink = np.nonzero((np.asarray(image.convert("L"))[:, 300:] < 245).any(axis=1))[0]  # right of the sidebar
    scale = WIDTH / image.width
    bottom = min(image.height, int(ink.max()) + 40 if ink.size else image.height, int(MAX_HEIGHT / scale))
    small = image.crop((0, 0, image.width, bottom)).resize((WIDTH, round(bottom * scale)), Image.LANCZOS)
    small.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)


def main() -> int:
    test = "tests/test_browser.py::test_every_page_opens_without_an_exception"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=REPO)
    if result.returncode:
        return result.returncode
    OUT.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO / "tests"))
    from test_browser import PAGES

    for name in PAGES:
        shrink(SHOTS / f"{name}.png", OUT / f"{name}.png")
        print(f"{OUT / name}.png: {(OUT / f'{name}.png').stat().st_size // 1024} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
