"""MNIST IDX reading on small files written here, pixel <-> model-space scaling, image grids."""
import gzip
import struct

import numpy as np
import pytest
import torch

from diffusion_core.data import DataError, image_grid, load_mnist, read_idx, to_model_space, to_pixels

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format (LeCun's MNIST page): 0, 0, type 0x08 (ubyte), ndim, then big-endian sizes, then data."""
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write(path, data: bytes, gz: bool = False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def images():
    return np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_raw_and_gz(tmp_path, images, gz):
    path = write(tmp_path / ("imgs.gz" if gz else "imgs"), idx_bytes(images), gz)
    out = read_idx(path, IMAGE_MAGIC)
    assert out.dtype == np.uint8 and out.shape == (3, 28, 28)
    np.testing.assert_array_equal(out, images)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "lbl", idx_bytes(labels), gz), LABEL_MAGIC), labels)


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


@pytest.mark.parametrize("make, match", [
    (lambda imgs: idx_bytes(np.zeros(3, np.uint8)), r"magic number 2049, expected 2051"),
    (lambda imgs: b"\x00\x00\x0d\x03" + idx_bytes(imgs)[4:], r"magic number 3331, expected 2051"),  # float type
    (lambda imgs: idx_bytes(imgs)[:-10], r"holds 2342 data bytes, its header promises 2352 for shape \(3, 28, 28\)"),
    (lambda imgs: idx_bytes(imgs) + b"\x00", r"holds 2353 data bytes, its header promises 2352"),
    (lambda imgs: idx_bytes(imgs)[:9], r"truncated inside its header"),
    (lambda imgs: b"\x00\x00", r"too short \(2 bytes\)"),
    (lambda imgs: b"", r"too short \(0 bytes\)"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_rejects_malformed_files(tmp_path, images, make, match, gz):
    path = write(tmp_path / "bad", make(images), gz)
    with pytest.raises(DataError, match=match) as info:
        read_idx(path, IMAGE_MAGIC)
    assert str(path) in str(info.value), "the message must name the file"


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"cannot read IDX file .*nope"):
        read_idx(tmp_path / "nope", IMAGE_MAGIC)
    with pytest.raises(DataError, match=r"cannot read IDX file"):
        read_idx(tmp_path, IMAGE_MAGIC)  # a directory


def test_read_idx_truncated_gzip(tmp_path, images):
    path = write(tmp_path / "cut.gz", gzip.compress(idx_bytes(images))[:-20])
    with pytest.raises(DataError, match=r"cannot read IDX file .*cut\.gz"):
        read_idx(path, IMAGE_MAGIC)


def test_read_idx_corrupt_gzip_body(tmp_path):
    # a valid gzip header followed by garbage: zlib raises zlib.error, which must become a DataError
    path = write(tmp_path / "corrupt.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"not deflate data at all")
    with pytest.raises(DataError, match=r"cannot read IDX file .*corrupt\.gz"):
        read_idx(path, IMAGE_MAGIC)


def _fake_mnist(directory, n_train=4, n_test=2, gz_train=True):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    train_labels = np.arange(n_train, dtype=np.uint8) % 10
    test_labels = np.array([9, 3][:n_test], dtype=np.uint8)
    suffix = ".gz" if gz_train else ""
    write(directory / f"train-images-idx3-ubyte{suffix}", idx_bytes(train), gz_train)
    write(directory / f"train-labels-idx1-ubyte{suffix}", idx_bytes(train_labels), gz_train)
    write(directory / "t10k-images-idx3-ubyte", idx_bytes(test))
    write(directory / "t10k-labels-idx1-ubyte", idx_bytes(test_labels))
    return train, train_labels, test, test_labels


def test_load_mnist_from_a_tiny_directory(tmp_path):
    train, train_labels, test, test_labels = _fake_mnist(tmp_path)
    images, labels = load_mnist("train", data_dir=tmp_path)
    np.testing.assert_array_equal(images, train)
    np.testing.assert_array_equal(labels, train_labels)
    images, labels = load_mnist("test", data_dir=str(tmp_path))
    np.testing.assert_array_equal(images, test)
    np.testing.assert_array_equal(labels, test_labels)


def test_load_mnist_uses_mnist_dir_variable(tmp_path, monkeypatch):
    _, train_labels, _, _ = _fake_mnist(tmp_path)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    np.testing.assert_array_equal(load_mnist("train")[1], train_labels)


def test_load_mnist_errors(tmp_path):
    with pytest.raises(DataError, match=r"MNIST directory not found: .*missing.*MNIST_DIR"):
        load_mnist("train", data_dir=tmp_path / "missing")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\(\.gz\) not found in"):
        load_mnist("train", data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"split must be 'train' or 'test', got 'valid'"):
        load_mnist("valid", data_dir=tmp_path)


def test_load_mnist_rejects_mismatched_counts_and_bad_labels(tmp_path):
    _fake_mnist(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.array([1, 2, 3], np.uint8)))
    with pytest.raises(DataError, match=r"MNIST test images \(2, 28, 28\) and labels \(3,\) do not match"):
        load_mnist("test", data_dir=tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.array([1, 12], np.uint8)))
    with pytest.raises(DataError, match=r"labels must be digits 0-9, found 12"):
        load_mnist("test", data_dir=tmp_path)


def test_pixels_model_space_round_trip():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    x = to_model_space(pixels)
    assert x.shape == (1, 1, 16, 16) and x.dtype == torch.float32
    assert x.min().item() == -1.0 and x.max().item() == 1.0  # 0 = background -> -1, 255 = ink -> 1
    assert x[0, 0, 0, 0].item() == -1.0 and x[0, 0, -1, -1].item() == 1.0
    back = to_pixels(x[:, 0])
    assert back.dtype == np.uint8 and back.shape == (1, 16, 16)
    np.testing.assert_array_equal(back, pixels)


def test_to_pixels_clips_out_of_range():
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 5.0]).reshape(1, 1, 1, 5)
    np.testing.assert_array_equal(to_pixels(x), [[[[0, 0, 128, 255, 255]]]])
    np.testing.assert_array_equal(to_pixels(np.array([-2.0, 2.0]), limit=2.0), [0, 255])  # arrays too


def test_image_grid_shape_and_placement():
    digits = np.stack([np.full((28, 28), k + 1, np.uint8) for k in range(5)])
    grid = image_grid(digits, pad=2)
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * 30 + 2, 3 * 30 + 2)  # ceil(sqrt(5)) = 3 columns, 2 rows
    assert (grid[2:30, 2:30] == 1).all() and (grid[2:30, 32:60] == 2).all()
    assert (grid[32:60, 32:60] == 5).all()
    assert (grid[32:60, 62:90] == 0).all()  # the sixth cell stays empty
    assert (grid[:2] == 0).all() and (grid[:, 30:32] == 0).all()  # padding
    assert image_grid(digits, columns=5, pad=0).shape == (28, 140)
