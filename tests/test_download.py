"""`python -m diffusion_core download`, against a small mirror served on this machine (tests stay offline)."""
import functools
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest
from test_data import idx_bytes

from diffusion_core import data
from diffusion_core.__main__ import main
from diffusion_core.data import DataError, download_mnist, load_mnist


@pytest.fixture
def mirror(tmp_path):
    """A web server holding four tiny MNIST files; yields (url, their MD5s, the requests it answered)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, count in (("train", 5), ("t10k", 3)):
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(rng.integers(0, 256, (count, 28, 28)))))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.arange(count) % 10)))
    checksums = {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in data.MNIST_MD5}
    asked = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            asked.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", checksums, asked
    server.shutdown()


def test_download_fetches_checks_and_the_files_load(mirror, tmp_path):
    url, checksums, asked = mirror
    target = tmp_path / "mnist"
    download_mnist(target, url, checksums, log=lambda _: None)
    assert sorted(p.name for p in target.iterdir()) == sorted(checksums)  # no .part left
    images, labels = load_mnist("train", target)
    assert images.shape == (5, 28, 28) and labels.tolist() == [0, 1, 2, 3, 4]
    assert load_mnist("test", target)[0].shape == (3, 28, 28)
    assert len(asked) == 4
    lines = []
    download_mnist(target, url, checksums, log=lines.append)  # again: nothing is fetched twice
    assert len(asked) == 4 and all("already there" in line for line in lines)


def test_a_wrong_checksum_keeps_nothing(mirror, tmp_path):
    url, checksums, _ = mirror
    wrong = {**checksums, "t10k-images-idx3-ubyte.gz": "0" * 32}
    expected = r"t10k-images-idx3-ubyte.gz has MD5 [0-9a-f]{32}, the official file 0{32}: not kept"
    with pytest.raises(DataError, match=expected):
        download_mnist(tmp_path / "mnist", url, wrong, log=lambda _: None)
    kept = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    assert "t10k-images-idx3-ubyte.gz" not in kept and not [k for k in kept if k.endswith(".part")]


@pytest.mark.parametrize("where, match", [
    ("missing/", r"could not download http://127\.0\.0\.1:\d+/missing/train-images-idx3-ubyte\.gz: File not found"),
    ("ftp://example.org/", r"--url must start with http:// or https://"),
])
def test_a_bad_mirror_is_named_and_leaves_nothing(mirror, tmp_path, where, match):
    url, checksums, _ = mirror
    with pytest.raises((DataError, ValueError), match=match):
        download_mnist(tmp_path / "mnist", where if "://" in where else url + where, checksums, log=lambda _: None)
    assert not (tmp_path / "mnist").exists()


def test_cli_download(mirror, tmp_path, monkeypatch, capsys):
    url, checksums, _ = mirror
    monkeypatch.setattr(data, "MNIST_MD5", checksums)
    assert main(["download", "--data-dir", str(tmp_path / "mnist"), "--url", url]) == 0
    assert f"MNIST is in {tmp_path / 'mnist'}" in capsys.readouterr().out
    assert main(["download", "--data-dir", str(tmp_path / "other"), "--url", url + "nothing-here/"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not download" in err[0]
    assert not (tmp_path / "other").exists()
