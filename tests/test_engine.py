"""The ONNX Runtime engine (diffusion_core/engine.py) against the torch U-Net it is exported from."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from diffusion_core import engine
from diffusion_core.data import to_pixels
from diffusion_core.pretrained import DIFFUSION_MODEL, load_diffusion_model
from diffusion_core.samplers import ReverseProcess, SamplerConfig, initial_noise
from diffusion_core.schedules import ScheduleSpec


@pytest.fixture(scope="module")
def shipped():
    model, card = load_diffusion_model()
    return model, card


@pytest.fixture(scope="module")
def exported(shipped, tmp_path_factory):
    """One export of the shipped U-Net, made in a folder of this module."""
    model, card = shipped
    folder = tmp_path_factory.mktemp("onnx")
    return engine.ensure_onnx(model, card, DIFFUSION_MODEL, folder)


@pytest.mark.parametrize("batch", [1, 3, 16])
def test_the_engine_gives_torchs_eps_within_1e_4(shipped, exported, batch):
    model, _ = shipped
    fast = engine.OnnxRuntimeUNet(exported, model.config)
    gen = torch.Generator().manual_seed(batch)
    x = torch.randn((batch, 1, 28, 28), generator=gen)
    t = torch.randint(0, 1000, (batch,), generator=gen)
    y = torch.randint(0, 11, (batch,), generator=gen)  # 10 is "no label"
    with torch.inference_mode():
        expected = model(x, t, y)
        unlabelled = model(x, t, None)
    got = fast(x, t, y)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert float((got - expected).abs().max()) < 1e-4
    assert float((fast(x, t, None) - unlabelled).abs().max()) < 1e-4  # None: the "no label" class


@pytest.mark.parametrize("label", [None, 7])
def test_a_ddim_50_run_gives_the_same_uint8_digits(shipped, exported, label):
    model, card = shipped
    fast = engine.OnnxRuntimeUNet(exported, model.config)
    process = ReverseProcess(ScheduleSpec.from_dict(card["schedule"]).build(),
                             SamplerConfig("ddim", steps=50, guidance=2.0 if label is not None else 1.0))
    digits = []
    for eps_model in (model, fast):
        gen = torch.Generator().manual_seed(3)
        labels = None if label is None else torch.full((4,), label)
        x = process.sample(eps_model, initial_noise(4, gen), gen, labels=labels, null_label=10)
        digits.append(to_pixels(x[:, 0]).astype(int))
    assert np.abs(digits[0] - digits[1]).max() <= 1  # the same digits, to a grey level


def test_the_engine_refuses_what_the_network_refuses(shipped, exported):
    model, _ = shipped
    fast = engine.OnnxRuntimeUNet(exported, model.config)
    x, t = torch.zeros(2, 1, 28, 28), torch.tensor([1, 2])
    for bad in ((torch.zeros(2, 3, 28, 28), t, None), (x, torch.tensor([1]), None), (x, t, torch.tensor([0, 11]))):
        with pytest.raises(ValueError) as from_torch:
            model(*bad)
        with pytest.raises(ValueError) as from_engine:
            fast(*bad)
        assert str(from_engine.value) == str(from_torch.value)


def test_one_session_per_thread_count_following_torch(shipped, exported):
    model, _ = shipped
    fast = engine.OnnxRuntimeUNet(exported, model.config)
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 1):
            torch.set_num_threads(threads)
            fast(torch.zeros(1, 1, 28, 28), torch.tensor([10]))
    finally:
        torch.set_num_threads(before)
    assert sorted(fast._sessions) == [1, 2]


def test_batches_from_the_crossover_on_go_to_torch(shipped, exported):
    model, _ = shipped
    fast = engine.OnnxRuntimeUNet(exported, model.config, torch_model=model)
    big = engine.TORCH_FROM_BATCH
    x, t = torch.randn(big, 1, 28, 28), torch.full((big,), 400)
    with torch.inference_mode():
        assert torch.equal(fast(x, t), model(x, t)) and not fast._sessions  # torch's own answer, no session
    fast(x[:big - 1], t[:big - 1])
    assert fast._sessions  # smaller batches: ONNX Runtime


def test_the_cache_is_reused_and_made_again_when_stale_or_damaged(shipped, exported, tmp_path):
    model, card = shipped
    folder = tmp_path / "cache"
    folder.mkdir()
    for f in (exported, exported.with_suffix(".json")):
        shutil.copy(f, folder / f.name)
    path = engine.onnx_path(DIFFUSION_MODEL, card, folder)
    assert path.name == exported.name and engine.export_is_current(path, card)
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["source_sha256"] == card["sha256"] and record["source_weights"] == "mnist_unet.safetensors"
    other = {**card, "sha256": "f" * 64}  # other weights: another file, and this one is not theirs
    assert engine.onnx_path(DIFFUSION_MODEL, other, folder) != path
    assert not engine.export_is_current(path, other)

    stamp = path.stat().st_mtime_ns
    assert engine.ensure_onnx(model, card, DIFFUSION_MODEL, folder) == path and path.stat().st_mtime_ns == stamp

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights
    path.write_bytes(bytes(data))
    assert not engine.export_is_current(path, card)
    engine.ensure_onnx(model, card, DIFFUSION_MODEL, folder)
    assert engine.export_is_current(path, card) and path.read_bytes() == exported.read_bytes()
    assert not list(folder.glob(".*tmp"))  # no half-written files left behind


def test_for_sampling_picks_the_engine_and_falls_back_to_torch(shipped, exported, tmp_path):
    model, card = shipped
    assert engine.for_sampling(model, card, DIFFUSION_MODEL, "cpu", "torch") is model
    fast = engine.for_sampling(model, card, DIFFUSION_MODEL, "cpu", "onnxruntime", exported.parent)
    assert isinstance(fast, engine.OnnxRuntimeUNet) and fast.null_label == model.null_label
    with pytest.raises(ValueError, match="engine must be one of torch, onnxruntime"):
        engine.for_sampling(model, card, DIFFUSION_MODEL, "cpu", "tensorrt")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(OSError):
        engine.for_sampling(model, card, DIFFUSION_MODEL, "cpu", "onnxruntime", blocked)
    assert engine.for_sampling(model, card, DIFFUSION_MODEL, "cpu", "onnxruntime", blocked, fallback=True) is model
