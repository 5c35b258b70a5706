"""How fast sampling runs, against the machine's limit, across engines and against two peers: `bench speed`.

Every figure is a median of repeated timings taken in one run, so ratios compare like with like
on a noisy machine. The engines: torch eager (NCHW and channels-last), ONNX Runtime (engine.py) and,
if installed, OpenVINO in float32. The peers (random weights are fine for timing): the U-Net of the
Hugging Face diffusion course for MNIST, stepped by diffusers' DDPMScheduler, and a plain
1.06 M-parameter U-Net without attention (diffusers' UNet2DModel, eager), run by our samplers.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch import nn

from .samplers import ReverseProcess, SamplerConfig, initial_noise
from .schedules import NoiseSchedule

PEER_CONFIG = dict(sample_size=28, in_channels=1, out_channels=1, layers_per_block=2, block_out_channels=(32, 64, 64),
                   down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                   up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"))
PLAIN_CONFIG = dict(sample_size=28, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 64, 64),
                    down_block_types=("DownBlock2D",) * 3, up_block_types=("UpBlock2D",) * 3)
SCALING_BATCHES = (1, 2, 4, 8, 16, 32)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_seconds(fn: Callable[[], object], repeats: int, device: torch.device, warmup: int = 2,
                   budget_s: float = 20.0) -> float:
    """The median wall time of fn() over ``repeats`` calls (fewer if they pass budget_s), after warmup."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times, spent = [], 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
        spent += times[-1]
        if spent > budget_s and len(times) >= 3:
            break
    return statistics.median(times)


def forward_flops(model: nn.Module, x: torch.Tensor, *args) -> int:
    """FLOPs of one forward pass, counted by torch.utils.flop_counter (a multiply-add counts 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(x, *args)
    return counter.get_total_flops()


def matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """Achieved GFLOP/s of an n x n float32 matmul: the machine's practical limit on these threads."""
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn((n, n), generator=gen).to(device) for _ in range(2))
    seconds = median_seconds(lambda: a @ b, repeats, device)
    return 2 * n ** 3 / seconds / 1e9


def unet_forward(model: nn.Module, device: torch.device, batches=(1, 16, 64), repeats: int = 30) -> dict:
    """ms per forward pass and achieved GFLOP/s at each batch size (unconditional label)."""
    out = {}
    for batch in batches:
        x = torch.randn((batch, 1, 28, 28), device=device)
        t = torch.full((batch,), 500, dtype=torch.long, device=device)
        y = torch.full((batch,), model.null_label, dtype=torch.long, device=device)
        flops = forward_flops(model, x, t, y)
        with torch.inference_mode():
            seconds = median_seconds(lambda: model(x, t, y), repeats, device)
        out[batch] = {"ms": round(seconds * 1e3, 3), "gflop": round(flops / 1e9, 4),
                      "gflops": round(flops / seconds / 1e9, 2)}
    return out


def our_reverse_step(model: nn.Module, schedule: NoiseSchedule, device: torch.device, batches=(1, 16),
                     repeats: int = 30) -> dict:
    """ms per DDPM reverse step (network + update), unconditional, as the app takes them."""
    process = ReverseProcess(schedule, SamplerConfig(sampler="ddpm", steps=schedule.num_steps))
    out = {}
    for batch in batches:
        gen = torch.Generator().manual_seed(0)
        x = initial_noise(batch, gen).to(device)
        middle = process.num_steps // 2
        with torch.inference_mode():
            seconds = median_seconds(lambda: process.step(model, x, middle, gen, None, model.null_label), repeats,
                                     device)
        out[batch] = round(seconds * 1e3, 3)
    return out


def peer_reverse_step(device: torch.device, batches=(1, 16), repeats: int = 30) -> dict:
    """ms per reverse step of the diffusion-course U-Net + DDPMScheduler.step, and its size and FLOPs."""
    peer = _diffusers(PEER_CONFIG, device)
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(num_train_timesteps=1000)
    scheduler.set_timesteps(1000)
    t = scheduler.timesteps[500]
    out = {"parameters": sum(p.numel() for p in peer.parameters())}
    for batch in batches:
        x = torch.randn((batch, 1, 28, 28), device=device)

        def step():
            eps = peer(x, t).sample
            return scheduler.step(eps, t, x).prev_sample

        with torch.inference_mode():
            seconds = median_seconds(step, repeats, device)
        out[batch] = round(seconds * 1e3, 3)
    out["gflop_batch1"] = round(forward_flops(peer, torch.randn((1, 1, 28, 28), device=device), t) / 1e9, 4)
    return out


def variants(model: nn.Module, device: torch.device, batches=(1, 16), repeats: int = 30,
             compile_too: bool = False) -> dict:
    """What was tried: ms per forward pass of the same weights run eagerly with NCHW (contiguous)
    and with channels_last weights, as a frozen TorchScript trace (optimize_for_inference) and, if
    asked, torch.compile'd (with its compile time, which a cold start would pay)."""
    import copy

    out: dict = {}
    nchw = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    last = copy.deepcopy(model).to(memory_format=torch.channels_last)
    for batch in batches:
        x = torch.randn((batch, 1, 28, 28), device=device)
        t = torch.full((batch,), 500, dtype=torch.long, device=device)
        y = torch.full((batch,), model.null_label, dtype=torch.long, device=device)
        runs: dict[str, Callable[[], object]] = {"eager": lambda: nchw(x, t, y), "channels_last": lambda: last(x, t, y)}
        with torch.inference_mode():
            traced = torch.jit.trace(nchw, (x, t, y), check_trace=False)
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
            runs["torchscript_frozen"] = lambda: frozen(x, t, y)
            out[batch] = {name: round(median_seconds(fn, repeats, device) * 1e3, 3) for name, fn in runs.items()}
    if compile_too:
        x, t, y = (torch.randn((1, 1, 28, 28), device=device), torch.tensor([500], device=device),
                   torch.tensor([model.null_label], device=device))
        compiled = torch.compile(model)
        start = time.perf_counter()
        with torch.inference_mode():
            compiled(x, t, y)
            out["compile_s"] = round(time.perf_counter() - start, 1)
            out[1]["torch_compile"] = round(median_seconds(lambda: compiled(x, t, y), repeats, device) * 1e3, 3)
    return out


def _diffusers(config: dict, device: torch.device) -> nn.Module:
    try:
        from diffusers import UNet2DModel
    except ImportError:
        raise ValueError("the peers need diffusers (pip install -r requirements-bench.txt), "
                         "or pass --no-peer") from None
    torch.manual_seed(0)
    return UNet2DModel(**config).to(device).eval()


def plain_unet(device: torch.device):
    """The plain U-Net as an eps model our samplers take (unconditional: it has no label input)."""
    net = _diffusers(PLAIN_CONFIG, device)

    def eps(x, t, y=None):
        return net(x, t).sample

    eps.null_label = 10
    eps.parameters = sum(p.numel() for p in net.parameters())
    return eps


def engine_runs(model: nn.Module, eps_engine, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor,
                openvino_path=None, threads: int = 1) -> dict[str, Callable[[], object]]:
    """One forward pass of each engine on the same inputs (the torch model is the channels-last one the
    app loads; an NCHW copy beside it; ONNX Runtime on its own, without handing large batches to torch).
    OpenVINO only when asked and installed: in float32, and in its default precision (bfloat16 on CPUs
    with bfloat16 units)."""
    import copy

    from .engine import OnnxRuntimeUNet

    nchw = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    pure = OnnxRuntimeUNet(eps_engine.path, eps_engine.config)
    runs: dict[str, Callable[[], object]] = {"torch_nchw": lambda: nchw(x, t, y), "torch": lambda: model(x, t, y),
                                            "onnxruntime": lambda: pure(x, t, y)}
    if openvino_path is not None:
        try:
            import openvino
        except ImportError:
            return runs
        feeds = {"x": x.numpy(), "t": t.numpy(), "y": y.numpy()}
        for name, precision in (("openvino_f32", {"INFERENCE_PRECISION_HINT": "f32"}), ("openvino_default", {})):
            request = openvino.Core().compile_model(str(openvino_path), "CPU", {
                "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", **precision}).create_infer_request()
            runs[name] = lambda request=request: request.infer(feeds)[0]  # its first output, eps
    return runs


def engines(model: nn.Module, eps_engine, device: torch.device, batches=(1, 16), repeats: int = 30,
            openvino_path=None) -> dict:
    """ms per forward pass of each engine, interleaved in one run, and each engine's ratio to torch;
    with the largest |eps - torch eps| of each."""
    out: dict = {}
    for batch in batches:
        gen = torch.Generator().manual_seed(batch)
        x = torch.randn((batch, 1, 28, 28), generator=gen)
        t = torch.randint(0, 1000, (batch,), generator=gen)
        y = torch.randint(0, 11, (batch,), generator=gen)
        runs = engine_runs(model, eps_engine, x, t, y, openvino_path, torch.get_num_threads())
        with torch.inference_mode():
            reference = model(x, t, y)
            ms = {name: [] for name in runs}
            for _ in range(2):  # twice, interleaved: drift shows up as a spread
                for name, fn in runs.items():
                    ms[name].append(median_seconds(fn, repeats, device) * 1e3)
            errors = {}
            for name, fn in runs.items():
                errors[name] = float((torch.as_tensor(fn()) - reference).abs().max())
        best = {name: min(v) for name, v in ms.items()}
        out[batch] = {"ms": {k: round(v, 3) for k, v in best.items()},
                      "over_torch": {k: round(v / best["torch"], 3) for k, v in best.items()},
                      "max_abs_eps_error": {k: float(f"{v:.2g}") for k, v in errors.items()}}
    return out


def batch_scaling(model: nn.Module, eps_engine, device: torch.device, threads=(1, 2), batches=SCALING_BATCHES,
                  repeats: int = 20) -> dict:
    """ms per digit of one forward pass against the batch size, for torch and the engine on each thread
    count: whether one network call for many students' steps pays on this machine."""
    from .engine import OnnxRuntimeUNet

    pure = OnnxRuntimeUNet(eps_engine.path, eps_engine.config)  # at every batch, none handed to torch
    before, out = torch.get_num_threads(), {}
    try:
        for count in threads:
            torch.set_num_threads(count)
            for name, run in (("torch", model), ("onnxruntime", pure)):
                row = {}
                for batch in batches:
                    x = torch.randn((batch, 1, 28, 28))
                    t = torch.full((batch,), 500, dtype=torch.long)
                    y = torch.full((batch,), 10, dtype=torch.long)
                    with torch.inference_mode():
                        row[batch] = round(median_seconds(lambda: run(x, t, y), repeats, device) * 1e3 / batch, 3)
                out[f"{name}_{count}_threads_ms_per_digit"] = row
    finally:
        torch.set_num_threads(before)
    return out


def end_to_end(models: dict, schedule: NoiseSchedule, device: torch.device, repeats: int = 3) -> dict:
    """Seconds for the command line's two heavy runs, for each eps model in ``models``: one digit
    through all 1000 DDPM steps with every frame recorded, and a DDIM-50 4x4 grid."""
    ddpm = ReverseProcess(schedule, SamplerConfig(sampler="ddpm", steps=schedule.num_steps))
    ddim = ReverseProcess(schedule, SamplerConfig(sampler="ddim", steps=50))

    def run(model, process: ReverseProcess, batch: int, record: bool):
        gen = torch.Generator().manual_seed(0)
        return process.sample(model, initial_noise(batch, gen).to(device), gen, null_label=model.null_label,
                              record=record)

    out = {}
    for name, model in models.items():
        out[name] = {
            "ddpm1000_one_digit_recorded_s": round(median_seconds(lambda: run(model, ddpm, 1, True), repeats, device,
                                                                  warmup=1, budget_s=120), 3),
            "ddim50_grid16_s": round(median_seconds(lambda: run(model, ddim, 16, False), repeats, device,
                                                    warmup=1), 3)}
    return out


def benchmark(model: nn.Module, schedule: NoiseSchedule, device: torch.device, eps_engine=None, peer: bool = True,
              repeats: int = 30, compile_too: bool = False, openvino_path=None,
              log: Callable[[str], None] = print) -> dict:
    """All of the above, in one run on the same threads. ``eps_engine``: the U-Net as engine.py runs it
    (None on a GPU, where torch runs it)."""
    report: dict = {"device": str(device), "threads": torch.get_num_threads()}
    log("matmul ...")
    report["matmul_gflops"] = round(matmul_gflops(device), 2)
    log("U-Net forward ...")
    report["unet_forward"] = unet_forward(model, device, repeats=repeats)
    report["batch64_share_of_matmul"] = round(report["unet_forward"][64]["gflops"] / report["matmul_gflops"], 3)
    sampling = {"torch": model}
    if eps_engine is not None:
        log("engines ...")
        report["engines"] = engines(model, eps_engine, device, repeats=repeats, openvino_path=openvino_path)
        log("batch scaling ...")
        report["batch_scaling"] = batch_scaling(model, eps_engine, device, repeats=max(3, repeats // 2))
        sampling["onnxruntime"] = eps_engine
    log("reverse step, ours ...")
    report["reverse_step_ms"] = {name: our_reverse_step(m, schedule, device, repeats=repeats)
                                 for name, m in sampling.items()}
    fastest = "onnxruntime" if eps_engine is not None else "torch"  # as the app runs it: large batches on torch
    if peer:
        log("reverse step, the course's U-Net ...")
        report["peer_reverse_step_ms"] = peer_reverse_step(device, repeats=repeats)
        report["ours_over_peer"] = {b: round(report["reverse_step_ms"][fastest][b] /
                                             report["peer_reverse_step_ms"][b], 3) for b in (1, 16)}
        sampling["plain_unet"] = plain_unet(device)
        report["plain_unet"] = {"parameters": sampling["plain_unet"].parameters, "gflop_batch1": round(forward_flops(
            sampling["plain_unet"], torch.zeros((1, 1, 28, 28), device=device), torch.tensor([500], device=device))
            / 1e9, 4)}
    log("variants tried ...")
    report["forward_ms_variants"] = variants(model, device, repeats=repeats, compile_too=compile_too)
    log("end to end ...")
    report["end_to_end"] = end_to_end(sampling, schedule, device)
    if peer:
        plain = report["end_to_end"]["plain_unet"]
        report["ours_over_plain"] = {k: round(v / plain[k], 3) for k, v in report["end_to_end"][fastest].items()}
    return report
