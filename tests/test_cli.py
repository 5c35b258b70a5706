"""The command line: every bad value exits 2 with one line; sample writes what it promises."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from diffusion_core.__main__ import main

BAD = [
    ["sample", "--n", "0", "--out", "x.npy"],
    ["sample", "--n", "abc", "--out", "x.npy"],
    ["sample", "--n", "5000", "--out", "x.npy"],
    ["sample", "--steps", "0", "--out", "x.npy"],
    ["sample", "--steps", "2000", "--out", "x.npy"],
    ["sample", "--sampler", "euler", "--out", "x.npy"],
    ["sample", "--label", "11", "--out", "x.npy"],
    ["sample", "--label", "3", "--guidance", "nan", "--out", "x.npy"],
    ["sample", "--label", "3", "--guidance", "1e9", "--out", "x.npy"],
    ["sample", "--guidance", "2", "--out", "x.npy"],
    ["sample", "--eta", "2", "--out", "x.npy"],
    ["sample", "--seed", "-1", "--out", "x.npy"],
    ["sample", "--device", "tpu", "--out", "x.npy"],
    ["sample", "--out", "x.jpg"],
    ["sample", "--out", "no/such/dir/x.npy"],
    ["sample"],
    ["train", "--data-dir", "does-not-exist"],
    ["train", "--epochs", "-3"],
    ["train-classifier", "--batch-size", "0"],
    ["sample", "--steps", "ten", "--out", "x.npy"],
    ["sample", "--eta", "-0.5", "--out", "x.npy"],
    ["sample", "--seed", "x", "--out", "x.npy"],
    ["sample", "--label", "seven", "--out", "x.npy"],
    ["info", "--verbose"],
    ["train", "--batch-size", "many"],
    ["train", "--seed", "-2"],
    ["train", "--threads", "0"],
    ["train", "--limit", "0"],
    ["train", "--out", "/proc/no-writing-here/model", "--limit", "10"],
    ["train", "--resume", "--out", "fresh", "--limit", "10"],
    ["train-classifier", "--epochs", "0"],
    ["train", "--device", "tpu"],
    ["train-classifier", "--device", "gpu"],
    ["train", "--base-channels", "4"],
    ["train", "--base-channels", "12", "--limit", "10"],
    ["download"],
    ["download", "--data-dir", "mnist", "--url", "ftp://example.org/mnist/"],
    ["bench", "sharpness"],
    ["bench", "quality", "--n-uncond", "-1"],
    ["bench", "quality", "--n-real", "5"],
    ["bench", "quality", "--n-per-class", "0"],
    ["bench", "quality", "--steps", "0"],
    ["bench", "quality", "--guidances", "strong"],
    ["bench", "quality", "--n-ddpm", "-1"],
    ["bench", "quality", "--device", "tpu"],
    ["bench", "quality", "--data-dir", "does-not-exist"],
    ["bench", "speed", "--repeats", "1"],
    ["bench", "speed", "--threads", "0"],
    ["bench", "speed", "--out", "/proc/no-writing-here/speed.json"],
    ["bench", "quality", "--out", "/proc/no-writing-here/quality.json"],
    ["fly"],
    # latent diffusion
    ["sample", "--model", "diffusion", "--out", "x.npy"],
    ["bench", "quality", "--model", "vae"],
    ["bench", "speed", "--model", "latent"],
    ["train-autoencoder", "--latent-side", "5"],
    ["train-autoencoder", "--latent-channels", "0"],
    ["train-autoencoder", "--kl-weight", "-1"],
    ["train-autoencoder", "--data-dir", "does-not-exist"],
    ["train-latent", "--base-channels", "12"],
    ["train-latent", "--autoencoder", "no/such/autoencoder"],
    ["train-latent", "--epochs", "0"],
    # figures for slides
    ["figure", "forward", "--out", "x.jpg"],
    ["figure", "forward", "--out", "no/such/dir/x.png"],
    ["figure", "forward", "--t", "0,2000", "--out", "x.png"],
    ["figure", "forward", "--t", "0,-5", "--out", "x.png"],
    ["figure", "forward", "--t", "ten", "--out", "x.png"],
    ["figure", "forward", "--T", "0", "--out", "x.png"],
    ["figure", "forward", "--schedule", "exponential", "--out", "x.png"],
    ["figure", "forward", "--digit", "100000", "--out", "x.png"],
    ["figure", "schedules", "--curve", "sigma", "--out", "x.svg"],
    ["figure", "samples", "--n", "1000", "--out", "x.pdf"],
    ["figure", "samples", "--guidance", "2", "--out", "x.pdf"],
    ["figure", "reverse", "--sampler", "lms", "--out", "x.png"],
    ["figure", "reverse", "--t", "0,5000", "--out", "x.png"],
    ["figure", "histogram", "--out", "x.png"],
    ["figure", "forward"],
    ["sample", "--engine", "tensorrt", "--out", "x.npy"],
    ["export", "--cache", "/proc/no-such-folder"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_values_exit_2_with_one_line(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and "error" in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_real_process_exit_status_and_message():
    result = subprocess.run([sys.executable, "-m", "diffusion_core", "sample", "--n", "-2", "--out", "x.npy"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "python -m diffusion_core sample: error: argument --n: expected an integer >= 1, got -2"]


def test_info_runs(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "device (auto):" in out and "torch:" in out and "mnist_unet:" in out


def test_sample_writes_mnist_convention_npy_and_png(tmp_path, capsys):
    npy, png = tmp_path / "d.npy", tmp_path / "d.png"
    assert main(["sample", "--n", "3", "--steps", "10", "--seed", "1", "--label", "7", "--out", str(npy)]) == 0
    digits = np.load(npy)
    assert digits.dtype == np.uint8 and digits.shape == (3, 28, 28)
    assert np.median(digits) < 30 and digits.max() > 200  # dark background, bright ink
    assert main(["sample", "--n", "4", "--steps", "10", "--seed", "1", "--out", str(png)]) == 0
    assert Image.open(png).size[0] > 56
    again = tmp_path / "e.npy"
    assert main(["sample", "--n", "3", "--steps", "10", "--seed", "1", "--label", "7", "--out", str(again)]) == 0
    assert np.array_equal(np.load(again), digits)  # same seed, same digits


def test_export_then_sample_with_either_engine_gives_the_same_digits(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("DIFFUSION_CORE_CACHE", str(cache))
    assert main(["export"]) == 0
    assert "wrote" in capsys.readouterr().out and len(list(cache.glob("mnist_unet-*.onnx"))) == 1
    assert main(["export"]) == 0
    assert "is current" in capsys.readouterr().out
    digits = {}
    for name in ("torch", "onnxruntime"):
        out = tmp_path / f"{name}.npy"
        assert main(["sample", "--n", "4", "--seed", "2", "--label", "5", "--engine", name, "--out", str(out)]) == 0
        digits[name] = np.load(out).astype(int)
    assert np.abs(digits["torch"] - digits["onnxruntime"]).max() <= 1
