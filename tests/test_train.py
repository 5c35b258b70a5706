"""The training loop: runs on a tiny synthetic set, checkpoints, resumes exactly, refuses bad set-ups."""
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from diffusion_core.pretrained import load_diffusion_model
from diffusion_core.train import TrainConfig, train_diffusion
from diffusion_core.unet import UNetConfig

TINY = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, time_emb_dim=16, groups=4)


@pytest.fixture
def synthetic():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(8, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=8)


def test_two_steps_write_weights_card_and_checkpoint(tmp_path, synthetic):
    out = tmp_path / "tiny"
    card = train_diffusion(*synthetic, out, TrainConfig(epochs=1, batch_size=4), TINY, log=lambda _: None)
    assert card["training"]["steps"] == 2 and len(card["training"]["loss_per_epoch"]) == 1
    assert (tmp_path / "tiny.ckpt.safetensors").is_file() and (tmp_path / "tiny.ckpt.json").is_file()
    model, loaded = load_diffusion_model("tiny", directory=tmp_path)
    assert loaded["sha256"] == card["sha256"] and model.config == TINY


class Interrupted(Exception):
    pass


def stop_after_first_epoch(message: str) -> None:
    if message.startswith("epoch 1:"):  # logged right after the epoch's checkpoint is written
        raise Interrupted


def test_an_interrupted_run_resumed_ends_with_the_same_weights(tmp_path, synthetic):
    cfg = TrainConfig(epochs=2, batch_size=4)
    straight = train_diffusion(*synthetic, tmp_path / "a", cfg, TINY, log=lambda _: None)
    with pytest.raises(Interrupted):
        train_diffusion(*synthetic, tmp_path / "b", cfg, TINY, log=stop_after_first_epoch)
    assert not (tmp_path / "b.safetensors").exists()
    resumed = train_diffusion(*synthetic, tmp_path / "b", cfg, TINY, resume=True, log=lambda _: None)
    assert resumed["training"]["steps"] == straight["training"]["steps"] == 4
    assert resumed["training"]["loss_per_epoch"] == straight["training"]["loss_per_epoch"]
    a, b = load_file(str(tmp_path / "a.safetensors")), load_file(str(tmp_path / "b.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)


def test_resume_refuses_a_checkpoint_of_another_architecture(tmp_path, synthetic):
    train_diffusion(*synthetic, tmp_path / "m", TrainConfig(epochs=1, batch_size=4), TINY, log=lambda _: None)
    other = UNetConfig(base_channels=16, channel_mults=(1, 2), num_res_blocks=1, time_emb_dim=16, groups=4)
    with pytest.raises(ValueError, match="another architecture"):
        train_diffusion(*synthetic, tmp_path / "m", TrainConfig(epochs=2, batch_size=4), other, resume=True)


def test_resume_without_checkpoint_and_unwritable_out_are_refused(tmp_path, synthetic):
    with pytest.raises(ValueError, match="no checkpoint"):
        train_diffusion(*synthetic, tmp_path / "none", TrainConfig(epochs=1, batch_size=4), TINY, resume=True)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="cannot write"):
        train_diffusion(*synthetic, blocker / "m", TrainConfig(epochs=1, batch_size=4), TINY)


@pytest.mark.parametrize("field,value", [("epochs", 0), ("batch_size", -1), ("lr", float("nan")), ("label_dropout", 2)])
def test_bad_train_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_init_from_starts_at_saved_weights_and_keeps_their_record(tmp_path, synthetic):
    one_epoch = TrainConfig(epochs=1, batch_size=4)
    first = train_diffusion(*synthetic, tmp_path / "base", one_epoch, TINY, log=lambda _: None)
    tuned = train_diffusion(*synthetic, tmp_path / "tuned", TrainConfig(epochs=1, batch_size=8, lr=1e-9), TINY,
                            log=lambda _: None, init_from=tmp_path / "base")
    assert tuned["initialised_from"]["sha256"] == first["sha256"]
    assert tuned["initialised_from"]["training"]["steps"] == 2 and tuned["training"]["steps"] == 1
    a, b = load_file(str(tmp_path / "base.safetensors")), load_file(str(tmp_path / "tuned.safetensors"))
    for key in a:  # one step at a vanishing rate: the fine-tune begins where the saved weights end
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-5)
    other = UNetConfig(base_channels=16, channel_mults=(1, 2), num_res_blocks=1, time_emb_dim=16, groups=4)
    with pytest.raises(ValueError, match="another architecture"):
        train_diffusion(*synthetic, tmp_path / "x", one_epoch, other, init_from=tmp_path / "base")
