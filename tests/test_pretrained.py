"""Loading weights: only safetensors, sha256 and config checked, clear errors; the shipped model works."""
import copy
import json
import pickle

import pytest
import torch

from diffusion_core.data import EXAMPLES_PATH
from diffusion_core.pretrained import (
    CLASSIFIER_MODEL,
    DIFFUSION_MODEL,
    PretrainedError,
    load_classifier,
    load_diffusion_model,
    paths_for,
    pick_device,
    read_card,
    save_weights,
    sha256_of,
    training_stages,
)
from diffusion_core.quality import read_digits
from diffusion_core.samplers import ReverseProcess, SamplerConfig, initial_noise
from diffusion_core.schedules import make_schedule
from diffusion_core.unet import UNet, UNetConfig

TINY = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, time_emb_dim=16, groups=4)


@pytest.fixture
def tiny_dir(tmp_path):
    save_weights(UNet(TINY), "tiny", {"config": TINY.__dict__ | {"channel_mults": list(TINY.channel_mults)}}, tmp_path)
    return tmp_path


def test_a_saved_model_loads_on_cpu_with_its_card(tiny_dir):
    model, card = load_diffusion_model("tiny", device="cpu", directory=tiny_dir)
    assert model.config == TINY and card["parameters"] == sum(p.numel() for p in model.parameters())
    assert next(model.parameters()).device.type == "cpu" and not model.training


def test_a_tampered_weight_file_is_refused(tiny_dir):
    weights, _ = paths_for("tiny", tiny_dir)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(PretrainedError, match="sha256 .* truncated or was changed"):
        load_diffusion_model("tiny", directory=tiny_dir)


def test_a_truncated_weight_file_is_refused(tiny_dir):
    weights, _ = paths_for("tiny", tiny_dir)
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(PretrainedError, match="sha256"):
        load_diffusion_model("tiny", directory=tiny_dir)


def test_missing_files_are_named(tiny_dir):
    weights, card = paths_for("tiny", tiny_dir)
    weights.unlink()
    with pytest.raises(PretrainedError, match="not found"):
        load_diffusion_model("tiny", directory=tiny_dir)
    card.unlink()
    with pytest.raises(PretrainedError, match="not installed"):
        load_diffusion_model("tiny", directory=tiny_dir)


def test_weights_of_another_architecture_are_refused(tiny_dir):
    _, card_path = paths_for("tiny", tiny_dir)
    card = json.loads(card_path.read_text())
    card["config"]["base_channels"] = 16
    card_path.write_text(json.dumps(card))
    with pytest.raises(PretrainedError, match="does not fit"):
        load_diffusion_model("tiny", directory=tiny_dir)


def test_a_pickle_is_never_unpickled(tiny_dir):
    weights, card_path = paths_for("tiny", tiny_dir)

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    weights.write_bytes(pickle.dumps(Boom()))
    card = json.loads(card_path.read_text())
    card["sha256"] = sha256_of(weights)  # even with a matching checksum
    card_path.write_text(json.dumps(card))
    with pytest.raises(PretrainedError, match="does not fit"):
        load_diffusion_model("tiny", directory=tiny_dir)


def test_bad_cards_are_refused(tiny_dir):
    _, card_path = paths_for("tiny", tiny_dir)
    card_path.write_text("{not json")
    with pytest.raises(PretrainedError, match="not valid JSON"):
        read_card("tiny", tiny_dir)
    card_path.write_text(json.dumps({"config": {"wings": 2}, "sha256": "0"}))
    with pytest.raises(PretrainedError, match="unknown config keys"):
        load_diffusion_model("tiny", directory=tiny_dir)


def test_device_choice():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cuda", "mps", "cpu")
    with pytest.raises(ValueError, match="device must be one of"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' was asked for but is not available"):
            pick_device("cuda")


def test_the_shipped_models_load_and_match_their_cards():
    model, card = load_diffusion_model()
    assert card["schedule"] == {"name": "linear", "num_steps": 1000, "beta_start": 1e-4, "beta_end": 0.02}
    assert 500_000 <= card["parameters"] <= 3_000_000
    classifier, classifier_card = load_classifier()
    assert classifier_card["test_accuracy"] >= 0.99


def test_on_a_cpu_the_unet_loads_channels_last_and_computes_the_same():
    model, _ = load_diffusion_model(device="cpu")
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    nchw = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    x, t, y = torch.randn((3, 1, 28, 28), generator=torch.Generator().manual_seed(0)), torch.tensor([1, 500, 999]), \
        torch.tensor([3, 10, 7])
    with torch.inference_mode():
        torch.testing.assert_close(model(x, t, y), nchw(x, t, y), rtol=1e-4, atol=1e-5)


def test_the_shipped_folder_is_under_20_mb():
    shipped = [*paths_for(DIFFUSION_MODEL), *paths_for(CLASSIFIER_MODEL), EXAMPLES_PATH]
    assert sum(path.stat().st_size for path in shipped) < 20_000_000


def test_shipped_model_draws_digits_the_classifier_recognises():
    """Smoke test (seconds): DDIM-20 samples are read as digits with mean confidence >= 0.8."""
    model, card = load_diffusion_model()
    classifier, _ = load_classifier()
    gen = torch.Generator().manual_seed(0)
    process = ReverseProcess(make_schedule("linear", 1000), SamplerConfig("ddim", steps=20, guidance=2.0))
    labels = torch.arange(10)
    x = process.sample(model, initial_noise(10, gen), gen, labels=labels, null_label=model.null_label)
    reading = read_digits(classifier, x)
    assert reading.mean_confidence >= 0.8
    assert (reading.predictions == labels.numpy()).mean() >= 0.8


def test_training_stages_follow_a_fine_tune_back_to_its_first_run():
    card = {"training": {"steps": 2}, "initialised_from": {"weights": "a", "training": {"steps": 5},
                                                          "initialised_from": {"training": {"steps": 7}}}}
    assert [stage["steps"] for stage in training_stages(card)] == [7, 5, 2]
    assert training_stages({"config": {}}) == []
