"""Latent diffusion: the autoencoder's shapes and KL, the latent sampler being the pixel sampler,
cards tied by sha256, the command line; and, with the shipped weights, what a user would notice."""
import json

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from diffusion_core.__main__ import main
from diffusion_core.autoencoder import Autoencoder, AutoencoderConfig, DiagonalGaussian, reconstruct, vae_loss
from diffusion_core.data import load_examples, to_model_space, to_pixels
from diffusion_core.latent import (
    LatentDiffusion,
    decoded_trajectory,
    generate,
    latent_process,
    latent_unet_config,
    load_latent_diffusion,
)
from diffusion_core.pretrained import (
    AUTOENCODER_MODEL,
    LATENT_MODEL,
    PretrainedError,
    load_classifier,
    paths_for,
    read_card,
    save_weights,
)
from diffusion_core.quality import read_digits
from diffusion_core.samplers import ReverseProcess, SamplerConfig, initial_noise
from diffusion_core.schedules import make_schedule
from diffusion_core.unet import UNet, UNetConfig

TINY_AE = AutoencoderConfig(latent_channels=4, base_channels=8, groups=4)
TINY_UNET = UNetConfig(in_channels=4, base_channels=8, channel_mults=(1,), num_res_blocks=1, time_emb_dim=16, groups=4)
SHIPPED = paths_for(AUTOENCODER_MODEL)[1].is_file() and paths_for(LATENT_MODEL)[1].is_file()
needs_weights = pytest.mark.skipif(not SHIPPED, reason="the latent diffusion weights are not in pretrained/")


def tiny_pair(seed: int = 0) -> LatentDiffusion:
    """Random weights, for shapes and plumbing only; the output layer is nudged off zero so eps is not 0."""
    torch.manual_seed(seed)
    model = UNet(TINY_UNET)
    torch.nn.init.normal_(model.conv_out.weight, std=0.05)
    return LatentDiffusion(Autoencoder(TINY_AE), model, scale_factor=0.5).eval()


def digits(n: int = 3) -> torch.Tensor:
    images, _ = load_examples()
    return to_model_space(images[:n])


def test_autoencoder_shapes_and_latent_grid():
    ae = Autoencoder(TINY_AE).eval()
    posterior = ae.encode(digits(3))
    assert posterior.mean.shape == posterior.logvar.shape == (3, 4, 7, 7) and ae.latent_shape == (4, 7, 7)
    assert ae.decode(posterior.mean).shape == (3, 1, 28, 28)
    assert reconstruct(ae, digits(3)).abs().max() <= 1.0
    assert AutoencoderConfig(latent_channels=1, channel_mults=(1, 2)).latent_shape == (1, 14, 14)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 28, 28\)"):
        ae.encode(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 4, 7, 7\)"):
        ae.decode(torch.zeros(2, 4, 8, 8))


@pytest.mark.parametrize("bad, message", [
    (dict(latent_channels=0), "latent_channels must be an integer >= 1"),
    (dict(channel_mults=(1, 2, 2, 2)), "channel_mults must have 1 to 3 levels"),
    (dict(base_channels=12), "multiple of groups=8"),
    (dict(kl_weight=-1.0), "kl_weight must be a number >= 0"),
])
def test_bad_autoencoder_configs_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        AutoencoderConfig(**bad)


def test_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(2, 4, 7, 7, generator=gen), torch.randn(2, 4, 7, 7, generator=gen)
    ours = DiagonalGaussian(mean, logvar).kl()
    reference = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)).flatten(1).sum(1)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-4)
    assert DiagonalGaussian(torch.zeros(1, 4, 7, 7), torch.zeros(1, 4, 7, 7)).kl().item() == 0.0  # q = prior


def test_vae_loss_is_sse_plus_beta_kl_per_pixel():
    ae, x = Autoencoder(TINY_AE), digits(2)
    loss = vae_loss(ae, x, torch.Generator().manual_seed(3))
    recon, posterior = ae(x, torch.Generator().manual_seed(3))
    sse = ((recon - x) ** 2).flatten(1).sum(1)
    torch.testing.assert_close(loss, ((sse + TINY_AE.kl_weight * posterior.kl()) / 784).mean())


def test_the_pixel_unet_runs_on_a_7x7_latent_and_still_refuses_odd_pixels():
    model = UNet(latent_unet_config())
    assert model(torch.zeros(2, 4, 7, 7), torch.tensor([0, 999])).shape == (2, 4, 7, 7)
    with pytest.raises(ValueError, match="divisible by 4"):
        UNet()(torch.zeros(1, 1, 30, 30), torch.tensor([0]))


def test_latent_sampling_is_reverse_process_then_decode():
    ld, schedule = tiny_pair(), make_schedule("linear", 1000)
    config = SamplerConfig("ddim", steps=5, guidance=2.0)
    process = latent_process(schedule, config)
    assert not process.config.clip_denoised and process.config.guidance == 2.0
    labels = torch.tensor([3, 7])
    gen = torch.Generator().manual_seed(4)
    ours = ld.sample(process, initial_noise(2, gen, shape=(4, 7, 7)), gen, labels=labels)
    gen = torch.Generator().manual_seed(4)
    direct = ReverseProcess(schedule, SamplerConfig("ddim", steps=5, guidance=2.0, clip_denoised=False))
    z0 = direct.sample(ld.model, initial_noise(2, gen, shape=(4, 7, 7)), gen, labels=labels, null_label=10)
    torch.testing.assert_close(ours, ld.autoencoder.decode(z0 / 0.5).clamp(-1, 1))
    again = generate(ld, schedule, config, 2, seed=4, labels=labels)
    torch.testing.assert_close(again, ours)


def test_decoded_trajectory_ends_in_the_sample():
    ld, schedule = tiny_pair(), make_schedule("linear", 1000)
    process = latent_process(schedule, SamplerConfig("ddpm", steps=6))
    gen = torch.Generator().manual_seed(1)
    run = decoded_trajectory(ld, process, initial_noise(2, gen, shape=(4, 7, 7)), gen)
    assert run.xs_pixels.shape == (7, 2, 28, 28) and run.x0_pixels.shape == (6, 2, 28, 28)
    assert run.xs_pixels.dtype == run.x0_pixels.dtype == np.uint8 and run.latent.xs.shape == (7, 2, 4, 7, 7)
    gen = torch.Generator().manual_seed(1)
    final = ld.sample(process, initial_noise(2, gen, shape=(4, 7, 7)), gen)
    assert np.array_equal(run.xs_pixels[-1], to_pixels(final[:, 0]))


def save_pair(directory, ld: LatentDiffusion, ae_sha: str | None = None) -> None:
    ae_card = save_weights(ld.autoencoder, "ae", {"config": {**TINY_AE.__dict__, "channel_mults": [1, 2, 2]},
                                                  "scale_factor": ld.scale_factor}, directory)
    config = {**TINY_UNET.__dict__, "channel_mults": [1]}
    save_weights(ld.model, "lu", {"config": config, "autoencoder": {"sha256": ae_sha or ae_card["sha256"],
                                                                    "scale_factor": ld.scale_factor}}, directory)


def test_a_saved_pair_loads_and_samples_the_same(tmp_path):
    ld = tiny_pair()
    save_pair(tmp_path, ld)
    loaded, card, ae_card = load_latent_diffusion(directory=tmp_path, model_name="lu", autoencoder_name="ae")
    assert loaded.scale_factor == 0.5 and card["autoencoder"]["sha256"] == ae_card["sha256"]
    z = torch.randn(1, 4, 7, 7, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded.decode(z), ld.decode(z))


def test_a_latent_model_of_another_autoencoder_is_refused(tmp_path):
    save_pair(tmp_path, tiny_pair(), ae_sha="f" * 64)
    with pytest.raises(PretrainedError, match="trained on the autoencoder with sha256 ffffffffffff"):
        load_latent_diffusion(directory=tmp_path, model_name="lu", autoencoder_name="ae")


def test_a_tampered_autoencoder_or_a_card_without_scale_factor_is_refused(tmp_path):
    save_pair(tmp_path, tiny_pair())
    weights, card_path = paths_for("ae", tmp_path)
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({k: v for k, v in card.items() if k != "scale_factor"}))
    with pytest.raises(PretrainedError, match="lacks a positive 'scale_factor'"):
        load_latent_diffusion(directory=tmp_path, model_name="lu", autoencoder_name="ae")
    card_path.write_text(json.dumps(card))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(PretrainedError, match="truncated or was changed"):
        load_latent_diffusion(directory=tmp_path, model_name="lu", autoencoder_name="ae")


# With the shipped weights: figures a user would notice (the cards hold the full measurements).

@needs_weights
def test_shipped_autoencoder_keeps_the_example_digits_readable():
    classifier, _ = load_classifier()
    images, labels = load_examples()
    ld, card, ae_card = load_latent_diffusion()
    read = read_digits(classifier, reconstruct(ld.autoencoder, to_model_space(images)))
    assert (read.predictions == labels).mean() >= 0.98
    assert ae_card["reconstruction"]["classifier_accuracy_reconstructed"] >= 0.98
    z = ld.encode(to_model_space(images))
    assert 0.7 < float(z.std()) < 1.3  # the scale factor brings the latents near unit variance


@needs_weights
def test_shipped_latent_model_draws_the_asked_digit_at_w2(tmp_path):
    classifier, _ = load_classifier()
    ld, card, _ = load_latent_diffusion()
    schedule = make_schedule(card["schedule"]["name"], card["schedule"]["num_steps"])
    labels = torch.arange(10).repeat(2)
    x = generate(ld, schedule, SamplerConfig("ddim", steps=20, guidance=2.0), 20, seed=0, labels=labels)
    assert (read_digits(classifier, x).predictions == labels.numpy()).mean() >= 0.9
    assert read_card(LATENT_MODEL)["autoencoder"]["sha256"] == read_card(AUTOENCODER_MODEL)["sha256"]
    out = tmp_path / "d.npy"
    assert main(["sample", "--model", "latent", "--n", "2", "--steps", "10", "--label", "3", "--out", str(out)]) == 0
    assert np.load(out).shape == (2, 28, 28) and np.load(out).dtype == np.uint8
