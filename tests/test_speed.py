"""The speed benchmark's pieces (the timings themselves are a record, never asserted)."""
import torch

from diffusion_core import speed
from diffusion_core.unet import UNet, UNetConfig


def test_flops_of_a_convolution_are_counted_as_multiply_adds_times_two():
    conv = torch.nn.Conv2d(1, 8, 3, padding=1, bias=False)
    assert speed.forward_flops(conv, torch.zeros((2, 1, 28, 28))) == 2 * 2 * 8 * 28 * 28 * 9


def test_the_default_unet_costs_0_138_gflop_per_digit():  # the shipped width 32: 0.551
    model = UNet(UNetConfig()).eval()
    x, t, y = torch.zeros((1, 1, 28, 28)), torch.tensor([500]), torch.tensor([10])
    assert round(speed.forward_flops(model, x, t, y) / 1e9, 3) == 0.138
    assert speed.forward_flops(model, x.repeat(4, 1, 1, 1), t.repeat(4), y.repeat(4)) == \
        4 * speed.forward_flops(model, x, t, y)


def test_median_seconds_and_the_matmul_reference_run():
    calls = []
    seconds = speed.median_seconds(lambda: calls.append(1), repeats=5, device=torch.device("cpu"), warmup=2)
    assert len(calls) == 7 and 0 <= seconds < 0.01
    assert speed.matmul_gflops(torch.device("cpu"), n=128, repeats=3) > 0


def test_the_reverse_step_and_forward_figures_have_their_shape():
    from diffusion_core import make_schedule

    model = UNet(UNetConfig(base_channels=8, channel_mults=(1, 2))).eval()
    forward = speed.unet_forward(model, torch.device("cpu"), batches=(1, 2), repeats=3)
    assert set(forward) == {1, 2} and forward[2]["gflop"] > forward[1]["gflop"] > 0
    steps = speed.our_reverse_step(model, make_schedule("linear", 100), torch.device("cpu"), batches=(1,), repeats=3)
    assert steps[1] > 0


def test_every_variant_tried_is_timed_at_each_batch():
    model = UNet(UNetConfig(base_channels=8, channel_mults=(1, 2))).eval()
    tried = speed.variants(model, torch.device("cpu"), batches=(2,), repeats=3)
    assert set(tried[2]) == {"eager", "channels_last", "torchscript_frozen"} and min(tried[2].values()) > 0


def test_engines_and_batch_scaling_are_measured_side_by_side(tmp_path):
    from diffusion_core import engine

    torch.manual_seed(0)
    model = UNet(UNetConfig(base_channels=8, channel_mults=(1, 2))).eval()
    torch.nn.init.normal_(model.conv_out.weight, std=0.05)  # not the all-zero output of a fresh U-Net
    card = {"sha256": "a" * 64}
    fast = engine.for_sampling(model, card, "tiny", "cpu", "onnxruntime", tmp_path)
    report = speed.engines(model, fast, torch.device("cpu"), batches=(2,), repeats=3)
    assert report[2]["over_torch"]["torch"] == 1.0 and set(report[2]["ms"]) == {"torch_nchw", "torch", "onnxruntime"}
    assert report[2]["max_abs_eps_error"]["onnxruntime"] < 1e-4
    scaling = speed.batch_scaling(model, fast, torch.device("cpu"), threads=(1,), batches=(1, 4), repeats=3)
    assert set(scaling) == {"torch_1_threads_ms_per_digit", "onnxruntime_1_threads_ms_per_digit"}
    assert all(set(row) == {1, 4} and min(row.values()) > 0 for row in scaling.values())
