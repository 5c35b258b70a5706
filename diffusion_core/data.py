"""MNIST IDX reading, the shipped example digits, and scaling between pixels and model space."""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.request
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
PRETRAINED_DIR = REPO_ROOT / "pretrained"
EXAMPLES_PATH = PRETRAINED_DIR / "mnist_examples.npz"
# Where our machines keep MNIST: ../shared/data/mnist beside the repository.
DEFAULT_MNIST_DIR = REPO_ROOT.parent / "shared" / "data" / "mnist"

Split = Literal["train", "test"]
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049


class DataError(ValueError):
    """A dataset file is missing, unreadable or malformed."""


def mnist_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """--data-dir if given, else $MNIST_DIR, else ../shared/data/mnist beside the repository."""
    chosen = data_dir or os.environ.get("MNIST_DIR") or DEFAULT_MNIST_DIR
    path = Path(chosen)
    if not path.is_dir():
        raise DataError(f"MNIST directory not found: {path} (pass --data-dir or set MNIST_DIR)")
    return path


def read_idx(path: str | os.PathLike, expected_magic: int) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) of unsigned bytes into a numpy array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4:
        raise DataError(f"IDX file {path} is too short ({len(raw)} bytes) to hold a header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise DataError(f"IDX file {path} has magic number {magic}, expected {expected_magic}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {path} is truncated inside its header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"IDX file {path} holds {len(raw) - header} data bytes, "
                        f"its header promises {expected} for shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(directory: Path, stem: str) -> Path:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    raise DataError(f"MNIST file {stem}(.gz) not found in {directory}")


def load_mnist(split: Split = "train", data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 with 0 = background, and labels (N,) uint8."""
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    directory = mnist_dir(data_dir)
    image_stem, label_stem = _FILES[split]
    images = read_idx(_find(directory, image_stem), _IMAGE_MAGIC)
    labels = read_idx(_find(directory, label_stem), _LABEL_MAGIC)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"MNIST {split} images {images.shape} and labels {labels.shape} do not match")
    if labels.size and labels.max() > 9:
        raise DataError(f"MNIST {split} labels must be digits 0-9, found {int(labels.max())}")
    return images, labels


# A mirror of the original files (yann.lecun.com often refuses downloads); MD5s of the official .gz files.
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def _md5(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def download_mnist(directory: str | os.PathLike, base_url: str = MNIST_URL, checksums: dict[str, str] | None = None,
                   timeout_s: float = 60.0, log=print) -> Path:
    """Fetch the four IDX files into ``directory`` (`python -m diffusion_core download`), with a
    progress bar. Each file is kept only if its MD5 matches; one already there and intact is not
    fetched again. The only code that downloads anything, and only when asked."""
    from tqdm import tqdm

    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"--url must start with http:// or https://, got {base_url!r}")
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    checksums = MNIST_MD5 if checksums is None else checksums
    directory = Path(directory)
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"--data-dir {directory}: cannot create it ({exc.strerror or exc})") from None
    for name, md5 in checksums.items():
        target, partial = directory / name, directory / f"{name}.part"
        if target.is_file() and _md5(target) == md5:
            log(f"{target}: already there, checksum matches")
            continue
        try:
            with urllib.request.urlopen(base_url + name, timeout=timeout_s) as response, open(partial, "wb") as out:
                size = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=size, unit="B", unit_scale=True, desc=name, mininterval=1) as bar:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        out.write(block)
                        bar.update(len(block))
            actual = _md5(partial)
            if actual != md5:
                raise DataError(f"{base_url + name} has MD5 {actual}, the official file {md5}: not kept")
        except (OSError, http.client.HTTPException, DataError) as exc:
            partial.unlink(missing_ok=True)
            if created and not any(directory.iterdir()):
                directory.rmdir()  # leave nothing behind
            if isinstance(exc, DataError):
                raise
            raise DataError(f"could not download {base_url + name}: {getattr(exc, 'reason', None) or exc}") from None
        partial.replace(target)
        log(f"{target}: downloaded, checksum matches")
    return directory


def to_model_space(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28), 0 = background -> float32 (N, 1, 28, 28) in [-1, 1]."""
    x = torch.tensor(np.asarray(images), dtype=torch.float32)
    return (x / 127.5 - 1.0).unsqueeze(1)


def to_pixels(x: np.ndarray | torch.Tensor, limit: float = 1.0) -> np.ndarray:
    """Model space -> uint8 pixels, element by element, any shape: [-limit, limit] maps to 0 … 255,
    clipped (-1 black, 1 white). How every image in model space is shown and saved."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.clip(np.asarray(x, dtype=np.float64), -limit, limit)
    return np.round((x / limit + 1.0) * 127.5).astype(np.uint8)


def load_examples(path: str | os.PathLike = EXAMPLES_PATH) -> tuple[np.ndarray, np.ndarray]:
    """The shipped example digits: images (N, 28, 28) uint8 and labels (N,)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["images"], data["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"cannot read the example digits {path}: {exc}") from None


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """uint8 (N, H, W) -> one uint8 image with the digits in rows of ``columns``, ``pad`` px apart."""
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(f"images must have shape (N, H, W) with N >= 1, got {images.shape}")
    n, h, w = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    grid = np.zeros((rows * (h + pad) + pad, columns * (w + pad) + pad), dtype=np.uint8)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = image
    return grid


# ---------------------------------------------------------------------------
# A user's image, made MNIST-like (LeCun et al.: "size normalized to fit in a 20x20 pixel box
# while preserving their aspect ratio ... centered in a 28x28 image by computing the center of
# mass of the pixels").
UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")  # the only decoders Pillow may use
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # a phone photo fits; anything larger is not a digit sketch
MAX_UPLOAD_PIXELS = 4096 * 4096  # checked from the header, before any pixel is decoded
MIN_UPLOAD_SIDE = 8  # smaller than this holds no digit
MNIST_BOX, MNIST_SIDE = 20, 28


def _ink(image) -> np.ndarray:
    """float (H, W): how much ink each pixel holds, background near 0 (any polarity, any mode)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = np.asarray(image.convert("RGBA").getchannel("A"), dtype=np.float64)
        if alpha.min() < 250:  # strokes on a transparent sheet: the alpha channel is the drawing
            return alpha
    gray = np.asarray(image.convert("L"), dtype=np.float64)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 127:  # dark digit on a light page: invert, as MNIST is light on dark
        gray, background = 255.0 - gray, 255.0 - background
    return np.clip(gray - background, 0, None)


def prepare_user_image(data: bytes) -> np.ndarray:
    """An uploaded PNG/JPEG/GIF/BMP/WEBP -> uint8 (28, 28), light digit on black, like MNIST.

    Grayscale, inverted if the background is light, cropped to the digit's bounding box, scaled
    to fit 20x20 and placed so its centre of mass sits at the centre of 28x28.
    Raises DataError naming the problem for empty, oversized, undecodable or blank input.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    if not data:
        raise DataError("the uploaded file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(f"the uploaded file is {len(data) / 2**20:.2f} MiB; "
                        f"at most {MAX_UPLOAD_BYTES // 2**20} MiB is accepted")
    try:
        with Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as image:
            width, height = image.size
            if width * height > MAX_UPLOAD_PIXELS:
                raise DataError(f"the image is {width}x{height} pixels; "
                                f"at most {MAX_UPLOAD_PIXELS:,} pixels are accepted")
            if min(width, height) < MIN_UPLOAD_SIDE:
                raise DataError(f"the image is {width}x{height} pixels; a digit needs at least "
                                f"{MIN_UPLOAD_SIDE}x{MIN_UPLOAD_SIDE}")
            image.seek(0)  # the first frame of a GIF or animated WEBP
            image.load()
            ink = _ink(image)
    except DataError:
        raise
    except Image.DecompressionBombError:  # over twice Image.MAX_IMAGE_PIXELS: refused before decoding
        raise DataError(f"the image has too many pixels; at most {MAX_UPLOAD_PIXELS:,} are accepted") from None
    except UnidentifiedImageError:
        raise DataError("the file is not an image in one of the accepted formats "
                        f"({', '.join(UPLOAD_FORMATS)})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DataError(f"the image could not be decoded ({exc}); it may be truncated or damaged") from None

    if ink.max() < 0.1 * 255:
        raise DataError("the image looks blank: no digit stands out from its background")
    ink *= 255.0 / ink.max()
    rows, cols = np.nonzero(ink > 0.1 * 255)  # the faint edge of a stroke or a JPEG halo is not the digit
    crop = ink[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]

    scale = MNIST_BOX / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))  # (W, H) for Pillow
    boxed = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(size, Image.Resampling.LANCZOS))
    boxed = np.clip(boxed, 0, 255)

    # Centre of mass to the centre of the 28x28 field (integer shift, kept inside the field).
    mass = boxed.sum()
    com_r = (boxed.sum(axis=1) * np.arange(boxed.shape[0])).sum() / mass
    com_c = (boxed.sum(axis=0) * np.arange(boxed.shape[1])).sum() / mass
    top = int(np.clip(round(MNIST_SIDE / 2 - 0.5 - com_r), 0, MNIST_SIDE - boxed.shape[0]))
    left = int(np.clip(round(MNIST_SIDE / 2 - 0.5 - com_c), 0, MNIST_SIDE - boxed.shape[1]))
    out = np.zeros((MNIST_SIDE, MNIST_SIDE), dtype=np.float64)
    out[top: top + boxed.shape[0], left: left + boxed.shape[1]] = boxed
    return np.round(out).astype(np.uint8)
