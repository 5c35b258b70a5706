"""`sample`: digits from the pretrained pixel or latent model; `export`: the pixel U-Net to ONNX."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..pretrained import DEVICE_CHOICES, DIFFUSION_MODEL, pick_device
from ..samplers import DEFAULT_GUIDANCE
from ..train import check_writable
from .args import MODEL_CHOICES, add_engine_argument, finite_float, int_at_least, pixel_model

MAX_SAMPLES = 1024


def add_parsers(sub) -> None:
    sample = sub.add_parser("sample", help="draw digits with the pretrained model")
    sample.add_argument("--n", type=int_at_least(1), default=16, help=f"number of digits (1-{MAX_SAMPLES})")
    sample.add_argument("--sampler", choices=("ddpm", "ddim", "dpmpp2m", "heun"), default="ddim",
                        help="dpmpp2m: DPM-Solver++(2M); heun: Heun on the probability-flow ODE (2 calls a step)")
    sample.add_argument("--steps", type=int_at_least(1), default=None,
                        help="reverse steps, 1..T (default: T for ddpm, else 50)")
    sample.add_argument("--eta", type=finite_float, default=0.0, help="DDIM eta in [0, 1]")
    sample.add_argument("--seed", type=int_at_least(0), default=0)
    sample.add_argument("--label", type=int, choices=range(10), metavar="{0..9}", default=None)
    sample.add_argument("--guidance", type=finite_float, default=None,
                        help=f"classifier-free guidance w in [0, 20], needs --label (default {DEFAULT_GUIDANCE:g})")
    sample.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    sample.add_argument("--out", type=Path, required=True, help=".npy (uint8 N x 28 x 28) or .png (grid)")
    sample.add_argument("--model", choices=MODEL_CHOICES, default="pixel", help="pixel U-Net, or latent diffusion")
    add_engine_argument(sample)
    sample.set_defaults(handler=cmd_sample)

    export = sub.add_parser("export", help="export the pixel U-Net to ONNX for ONNX Runtime (made at first use too)")
    export.add_argument("--cache", type=Path, default=None,
                        help="the folder (default $DIFFUSION_CORE_CACHE or ~/.cache/diffusion_core)")
    export.set_defaults(handler=cmd_export)


def cmd_sample(args) -> int:
    from ..data import image_grid, to_pixels
    from ..samplers import ReverseProcess, SamplerConfig, initial_noise
    from ..schedules import ScheduleSpec

    suffix = args.out.suffix.lower()
    if suffix not in (".npy", ".png"):
        raise ValueError(f"--out must end in .npy or .png, got {str(args.out)!r}")
    if not args.out.parent.is_dir():
        raise ValueError(f"--out {str(args.out)!r}: the folder {str(args.out.parent)!r} does not exist")
    if args.n > MAX_SAMPLES:
        raise ValueError(f"--n must be at most {MAX_SAMPLES}, got {args.n}")
    if args.guidance is not None and args.label is None:
        raise ValueError("--guidance needs --label: guidance steers towards a class")
    device = pick_device(args.device)
    if args.model == "latent":
        from ..latent import latent_process, load_latent_diffusion

        model, card, _ = load_latent_diffusion(device=device)
    else:
        model, card = pixel_model(args, device)
    schedule = ScheduleSpec.from_dict(card["schedule"]).build()
    steps = args.steps or (schedule.num_steps if args.sampler == "ddpm" else 50)
    guidance = DEFAULT_GUIDANCE if args.guidance is None else args.guidance
    guidance_used = guidance if args.label is not None else 1.0
    config = SamplerConfig(args.sampler, steps=steps, eta=args.eta, guidance=guidance_used)
    process = latent_process(schedule, config) if args.model == "latent" else ReverseProcess(schedule, config)
    check_writable(args.out)
    gen = torch.Generator().manual_seed(args.seed)
    labels = None if args.label is None else torch.full((args.n,), args.label, dtype=torch.long, device=device)
    if args.model == "latent":  # z_T ~ N(0, I) on the latent grid; the decoder turns z_0 into digits
        x = model.sample(process, initial_noise(args.n, gen, shape=model.latent_shape).to(device), gen, labels=labels)
    else:
        x = process.sample(model, initial_noise(args.n, gen).to(device), gen, labels=labels,
                           null_label=model.null_label)
    pixels = to_pixels(x[:, 0])  # (N, 28, 28)
    if suffix == ".npy":
        np.save(args.out, pixels)
    else:
        grid = image_grid(pixels)
        Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(args.out)
    what = "unconditional" if args.label is None else f"label {args.label}, guidance {guidance:g}"
    print(f"wrote {args.n} digits ({args.model}, {args.sampler}, {steps} steps, {what}, seed {args.seed}, {device}) "
          f"to {args.out}")
    return 0


def cmd_export(args) -> int:
    from ..engine import ensure_onnx, export_is_current, onnx_path
    from ..pretrained import load_diffusion_model

    model, card = load_diffusion_model()
    path = onnx_path(DIFFUSION_MODEL, card, args.cache)
    if export_is_current(path, card):
        print(f"{path} is current (the weights' sha256 {card['sha256'][:12]}... and its own check)")
        return 0
    try:
        ensure_onnx(model, card, DIFFUSION_MODEL, args.cache)
    except OSError as exc:
        raise ValueError(f"--cache {path.parent}: cannot write there ({exc.strerror or exc})") from None
    print(f"wrote {path} and its record {path.with_suffix('.json')} (from weights sha256 {card['sha256'][:12]}...)")
    return 0
