"""The command line: `python -m diffusion_core {info,sample,bench,download,train,train-classifier,train-latent,...}`.

Bad values exit with status 2 and one line naming the problem.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .autoencoder import AutoencoderConfig
from .data import MNIST_URL, DataError, download_mnist, load_mnist
from .pretrained import (
    AUTOENCODER_MODEL,
    CLASSIFIER_MODEL,
    DEVICE_CHOICES,
    DIFFUSION_MODEL,
    LATENT_MODEL,
    PretrainedError,
    pick_device,
)
from .samplers import DEFAULT_GUIDANCE
from .train import TrainConfig, check_writable
from .unet import UNetConfig

MAX_SAMPLES = 1024
DATA_DIR_HELP = "MNIST IDX files (default $MNIST_DIR or ../shared/data/mnist)"
MODEL_CHOICES = ("pixel", "latent")  # the U-Net on pixels, or latent diffusion (autoencoder + U-Net on its latents)
LATENT_SIDES = {7: (1, 2, 2), 14: (1, 2)}  # the autoencoder's latent grid side -> its channel_mults
FIGURES = ("forward", "schedules", "reverse", "samples")  # `figure`: the views the command line draws
MAX_FIGURE_SAMPLES = 256  # a grid on one slide


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + error
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    return parse


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m diffusion_core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("info", help="device, versions and the model cards")

    sample = sub.add_parser("sample", help="draw digits with the pretrained model")
    sample.add_argument("--n", type=_int_at_least(1), default=16, help="number of digits (1-1024)")
    sample.add_argument("--sampler", choices=("ddpm", "ddim", "dpmpp2m", "heun"), default="ddim",
                        help="dpmpp2m: DPM-Solver++(2M); heun: Heun on the probability-flow ODE (2 calls a step)")
    sample.add_argument("--steps", type=_int_at_least(1), default=None,
                        help="reverse steps, 1..T (default: T for ddpm, else 50)")
    sample.add_argument("--eta", type=_finite_float, default=0.0, help="DDIM eta in [0, 1]")
    sample.add_argument("--seed", type=_int_at_least(0), default=0)
    sample.add_argument("--label", type=int, choices=range(10), metavar="{0..9}", default=None)
    sample.add_argument("--guidance", type=_finite_float, default=None,
                        help=f"classifier-free guidance w in [0, 20], needs --label (default {DEFAULT_GUIDANCE:g})")
    sample.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    sample.add_argument("--out", type=Path, required=True, help=".npy (uint8 N x 28 x 28) or .png (grid)")
    sample.add_argument("--model", choices=MODEL_CHOICES, default="pixel", help="pixel U-Net, or latent diffusion")
    _add_engine_argument(sample)

    export = sub.add_parser("export", help="export the pixel U-Net to ONNX for ONNX Runtime (made at first use too)")
    export.add_argument("--cache", type=Path, default=None,
                        help="the folder (default $DIFFUSION_CORE_CACHE or ~/.cache/diffusion_core)")

    bench = sub.add_parser("bench", help="measure the pretrained model: sample quality, or speed")
    bench.add_argument("what", choices=("quality", "speed"))
    bench.add_argument("--data-dir", type=Path, default=None, help=DATA_DIR_HELP)
    bench.add_argument("--n-uncond", type=_int_at_least(0), default=1000, help="unconditional DDIM digits (0 skips)")
    bench.add_argument("--n-real", type=_int_at_least(10), default=1000,
                       help="real training digits for the Frechet floor")
    bench.add_argument("--n-per-class", type=_int_at_least(1), default=100)
    bench.add_argument("--steps", type=_int_at_least(1), default=100, help="DDIM steps")
    bench.add_argument("--guidances", type=_finite_float, nargs="*", default=[1.0, 2.0, 4.0])
    bench.add_argument("--n-ddpm", type=_int_at_least(0), default=300,
                       help="digits for the 1000-step DDPM run (0 skips)")
    bench.add_argument("--seed", type=_int_at_least(0), default=0)
    bench.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    bench.add_argument("--threads", type=_int_at_least(1), default=None, help="torch CPU threads")
    bench.add_argument("--repeats", type=_int_at_least(3), default=30, help="speed: timings per figure (median)")
    bench.add_argument("--no-peer", action="store_true", help="speed: skip the diffusers peer")
    bench.add_argument("--compile", action="store_true", help="speed: also time torch.compile (minutes on a CPU)")
    bench.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    bench.add_argument("--update-card", action="store_true", help="store the report in the model card")
    bench.add_argument("--steps-table", action="store_true",
                       help="quality: only the steps table (DDIM, DPM-Solver++(2M), Heun at 10, 20, 50 steps: "
                            "--n-uncond digits unconditional, --n-per-class labelled at w = 2), as quality.steps_table")
    bench.add_argument("--model", choices=MODEL_CHOICES, default="pixel",
                       help="quality: latent diffusion, beside the pixel model's card figures and both models' cost")
    _add_engine_argument(bench)

    download = sub.add_parser("download", help="fetch MNIST (needs the internet; nothing else downloads)")
    download.add_argument("--data-dir", type=Path, required=True, help="where to put the four IDX files")
    download.add_argument("--url", default=MNIST_URL, help=f"where the files are (default {MNIST_URL})")

    for name, default_out, epochs in (("train", DIFFUSION_MODEL, 6), ("train-classifier", CLASSIFIER_MODEL, 3),
                                      ("train-autoencoder", AUTOENCODER_MODEL, 10), ("train-latent", LATENT_MODEL, 30)):
        train = sub.add_parser(name, help=f"train {default_out} from MNIST")
        train.add_argument("--data-dir", type=Path, default=None, help=DATA_DIR_HELP)
        train.add_argument("--epochs", type=_int_at_least(1), default=epochs)
        train.add_argument("--batch-size", type=_int_at_least(1), default=64 if name == "train" else 128)
        train.add_argument("--seed", type=_int_at_least(0), default=0)
        train.add_argument("--limit", type=_int_at_least(1), default=None, help="train on the first N digits only")
        train.add_argument("--out", type=Path, default=Path("pretrained") / default_out,
                           help="path prefix of the weights and card")
        train.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
        train.add_argument("--threads", type=_int_at_least(1), default=None, help="torch CPU threads")
        train.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
        if name == "train":
            train.add_argument("--base-channels", type=_int_at_least(8), default=UNetConfig.base_channels,
                               help="U-Net width at 28x28, a multiple of 8 (the GroupNorm groups)")
            train.add_argument("--init-from", type=Path, default=None,
                               help="fine-tune: start from these weights (path prefix), with a fresh optimiser")
            train.add_argument("--label-dropout", type=_finite_float, default=TrainConfig.label_dropout,
                               help="share of examples trained without their label (classifier-free guidance)")
        if name == "train-latent":
            train.add_argument("--base-channels", type=_int_at_least(8), default=64,
                               help="latent U-Net width at 7x7, a multiple of 8 (the GroupNorm groups)")
            train.add_argument("--autoencoder", type=Path, default=Path("pretrained") / AUTOENCODER_MODEL,
                               help="the first stage whose latents it learns (path prefix of weights and card)")
            train.add_argument("--init-from", type=Path, default=None,
                               help="fine-tune: start from these latent weights (path prefix), with a fresh optimiser")
            train.add_argument("--label-dropout", type=_finite_float, default=0.3,
                               help="share of examples trained without their label (classifier-free guidance; "
                                    "the unconditional path is the one measured hardest)")
        if name == "train-autoencoder":
            train.add_argument("--latent-channels", type=_int_at_least(1), default=AutoencoderConfig.latent_channels)
            train.add_argument("--latent-side", type=int, choices=tuple(LATENT_SIDES), default=7,
                               help="side of the latent grid (28 halved twice or once)")
            train.add_argument("--kl-weight", type=_finite_float, default=AutoencoderConfig.kl_weight,
                               help="beta of the KL term, >= 0")
        train.add_argument("--lr", type=_finite_float, default=TrainConfig.lr, help="Adam's peak learning rate")
    _add_figure_parser(sub)
    return parser


def _t_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 0 separated by commas, got {text!r}") from None
    if min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 0 (the paper's t), got {text!r}")
    return values


def _add_figure_parser(sub) -> None:
    """`figure`: the pages' main views as PNG, SVG or PDF for slides (slides.py)."""
    from .samplers import SAMPLERS
    from .schedules import DEFAULT_NUM_STEPS, SCHEDULE_NAMES
    from .slides import CURVES

    figure = sub.add_parser("figure", help="a page's view as a figure for slides (.png, .svg or .pdf)")
    figure.add_argument("what", choices=FIGURES)
    figure.add_argument("--out", type=Path, required=True, help="the file; its suffix (.png, .svg, .pdf) is the format")
    figure.add_argument("--t", type=_t_list, default=None,
                        help="paper t, comma-separated (t = 0 is x_0); forward default 0,5%%,25%%,50%%,100%% of T")
    figure.add_argument("--seed", type=_int_at_least(0), default=0)
    figure.add_argument("--schedule", choices=SCHEDULE_NAMES, default="linear", help="forward: the beta schedule")
    figure.add_argument("--T", type=_int_at_least(1), default=DEFAULT_NUM_STEPS, dest="num_steps",
                        help="forward, schedules: the number of steps T")
    figure.add_argument("--curve", choices=CURVES, default="alpha_bar", help="schedules: the curve drawn")
    figure.add_argument("--digit", type=_int_at_least(0), default=0, help="forward: which shipped example digit")
    figure.add_argument("--sampler", choices=SAMPLERS, default="ddim", help="reverse, samples")
    figure.add_argument("--steps", type=_int_at_least(1), default=None,
                        help="reverse steps (default: 50, or T for ddpm)")
    figure.add_argument("--label", type=int, choices=range(10), metavar="{0..9}", default=None)
    figure.add_argument("--guidance", type=_finite_float, default=None, help="w, needs --label")
    figure.add_argument("--n", type=_int_at_least(1), default=16, help="samples: number of digits (1-256)")
    figure.add_argument("--show", choices=("x_t", "x0"), default="x_t", help="reverse: the states or the predicted x0")
    figure.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    _add_engine_argument(figure)


def _add_engine_argument(parser) -> None:
    from .engine import DEFAULT_ENGINE, ENGINES

    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                        help=f"what runs the pixel U-Net on a CPU (default {DEFAULT_ENGINE}; CUDA always runs torch)")


def _pixel_model(args, device):
    """The pixel U-Net and its card, as the chosen engine runs it (engine.for_sampling)."""
    from .engine import for_sampling
    from .pretrained import load_diffusion_model

    model, card = load_diffusion_model(device=device)
    return for_sampling(model, card, DIFFUSION_MODEL, device, args.engine), card


def cmd_info(args) -> int:
    from .pretrained import environment_summary, read_card

    print(f"device (auto): {pick_device('auto')}")
    for key, value in environment_summary().items():
        print(f"{key}: {value}")
    for name in (DIFFUSION_MODEL, CLASSIFIER_MODEL, AUTOENCODER_MODEL, LATENT_MODEL):
        try:
            card = read_card(name)
        except PretrainedError as exc:
            print(f"{name}: {exc}")
            continue
        headline = {k: card[k] for k in ("kind", "parameters", "schedule", "test_accuracy", "scale_factor", "quality")
                    if k in card}
        print(f"{name}: {json.dumps(headline)}")
    return 0


def cmd_sample(args) -> int:
    from .data import image_grid, to_pixels
    from .samplers import ReverseProcess, SamplerConfig, initial_noise
    from .schedules import ScheduleSpec

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
        from .latent import latent_process, load_latent_diffusion

        model, card, _ = load_latent_diffusion(device=device)
    else:
        model, card = _pixel_model(args, device)
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


def cmd_bench_speed(args) -> int:
    from .engine import ensure_onnx, for_sampling
    from .pretrained import load_diffusion_model
    from .schedules import ScheduleSpec
    from .speed import benchmark

    device = pick_device(args.device)
    model, card = load_diffusion_model(device=device)
    eps_engine = None if device.type != "cpu" else for_sampling(model, card, DIFFUSION_MODEL, device, "onnxruntime")
    schedule = ScheduleSpec.from_dict(card["schedule"]).build()
    report = benchmark(model, schedule, device, eps_engine, peer=not args.no_peer, repeats=args.repeats,
                       compile_too=args.compile, log=lambda line: print(line, file=sys.stderr),
                       openvino_path=None if eps_engine is None else ensure_onnx(model, card, DIFFUSION_MODEL))
    report["torch"] = torch.__version__
    report["cpu"] = _cpu_name()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def cmd_bench(args) -> int:
    if args.out:
        check_writable(args.out)  # before minutes of measuring, not after
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.what == "speed":
        if args.model == "latent":
            raise ValueError("--model latent: bench speed measures the pixel model; "
                             "bench quality --model latent times both models side by side")
        return cmd_bench_speed(args)
    from .data import to_model_space
    from .engine import for_sampling
    from .pretrained import load_classifier, load_diffusion_model, paths_for, read_card
    from .quality import evaluate, generate
    from .schedules import ScheduleSpec

    device = pick_device(args.device)
    pixel_model, card = load_diffusion_model(device=device)  # torch: compare_cost counts its FLOPs
    model, pixel_card, draw = for_sampling(pixel_model, card, DIFFUSION_MODEL, device, args.engine), card, generate
    if args.model == "latent":
        from .latent import generate as draw
        from .latent import load_latent_diffusion

        model, card, _ = load_latent_diffusion(device=device)
    classifier, _ = load_classifier(device=device)
    test_images, _ = load_mnist("test", args.data_dir)
    train_images, _ = load_mnist("train", args.data_dir)
    schedule = ScheduleSpec.from_dict(card["schedule"]).build()
    real = to_model_space(train_images[:args.n_real])
    if args.steps_table:
        return _steps_table(args, model, classifier, schedule, to_model_space(test_images), real, device)
    report = evaluate(model, classifier, schedule, to_model_space(test_images), real, n_uncond=args.n_uncond,
                      n_per_class=args.n_per_class, steps=args.steps, guidances=tuple(args.guidances),
                      n_ddpm=args.n_ddpm, seed=args.seed, device=device, draw=draw)
    report["device"] = str(device)
    if args.model == "latent":
        from .latent import compare_cost

        report["pixel_model_same_keys_from_its_card"] = {k: v for k, v in pixel_card.get("quality", {}).items()
                                                         if k in report and k != "device"}
        print("cost: pixel and latent U-Nets, one step and the default run ...", file=sys.stderr)
        report["cost"] = compare_cost(pixel_model, model, schedule, device, repeats=args.repeats)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.update_card:
        name = LATENT_MODEL if args.model == "latent" else DIFFUSION_MODEL
        _, card_path = paths_for(name)
        card = read_card(name)  # read again just before writing: parts may run in parallel
        card["quality"] = {**card.get("quality", {}), **report}
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        print(f"stored the report in {card_path}")
    return 0


def _steps_table(args, model, classifier, schedule, test_images, real, device) -> int:
    """bench quality --steps-table: stored as quality.steps_table, with the command and date, leaving the rest."""
    import datetime
    import time

    from .pretrained import paths_for, read_card
    from .quality import steps_table

    if args.model != "pixel":
        raise ValueError("--steps-table measures the pixel model; drop --model latent")
    if args.n_uncond < 2:
        raise ValueError(f"--steps-table needs --n-uncond >= 2 for the Frechet distance, got {args.n_uncond}")
    started = time.perf_counter()
    table = steps_table(model, classifier, schedule, test_images, real, n_uncond=args.n_uncond,
                        n_per_class=args.n_per_class, seed=args.seed, device=device,
                        log=lambda line: print(line, file=sys.stderr))
    table.update(seed=args.seed, engine=args.engine, device=str(device),
                 cpu=_cpu_name() if device.type == "cpu" else None,
                 seconds=round(time.perf_counter() - started, 1), date=datetime.date.today().isoformat(),
                 command="python -m diffusion_core " + " ".join(sys.argv[1:]))
    text = json.dumps(table, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.update_card:  # seed 0 is the table the page draws; other seeds give the spread (quality.choose_default)
        _, card_path = paths_for(DIFFUSION_MODEL)
        card = read_card(DIFFUSION_MODEL)  # read again just before writing
        key = "steps_table" if args.seed == 0 else f"steps_table_seed{args.seed}"
        card["quality"] = {**card.get("quality", {}), key: table}
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        print(f"stored the steps table in {card_path}")
    return 0


def cmd_train(args) -> int:
    from .train import TrainConfig, train_classifier, train_diffusion

    if args.threads:
        torch.set_num_threads(args.threads)
    extra = {"label_dropout": args.label_dropout} if args.command in ("train", "train-latent") else {}
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, lr=args.lr, **extra)
    device = pick_device(args.device)
    if args.command in ("train", "train-latent") and args.base_channels % UNetConfig.groups:
        raise ValueError(f"--base-channels must be a multiple of {UNetConfig.groups} (the GroupNorm groups), "
                         f"got {args.base_channels}")
    if args.command == "train-autoencoder":
        net = AutoencoderConfig(latent_channels=args.latent_channels, channel_mults=LATENT_SIDES[args.latent_side],
                                kl_weight=args.kl_weight)  # raises on a bad value before any data is read
    if args.command == "train-latent":
        from .latent import latent_unet_config
        from .pretrained import read_card

        latent_channels = read_card(args.autoencoder.name, args.autoencoder.parent)["config"]["latent_channels"]
        net = latent_unet_config(latent_channels, args.base_channels)
    images, labels = load_mnist("train", args.data_dir)
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    if args.command == "train":
        net = UNetConfig(base_channels=args.base_channels)
        card = train_diffusion(images, labels, args.out, cfg, net, resume=args.resume, device=device,
                               init_from=args.init_from)
    elif args.command == "train-autoencoder":
        from .train_latent import train_autoencoder

        card = train_autoencoder((images, labels), load_mnist("test", args.data_dir), args.out, cfg, net,
                                 resume=args.resume, device=device)
    elif args.command == "train-latent":
        from .train_latent import train_latent

        card = train_latent(images, labels, args.out, cfg, net, args.autoencoder, resume=args.resume, device=device,
                            init_from=args.init_from)
    else:
        card = train_classifier((images, labels), load_mnist("test", args.data_dir), args.out, cfg,
                                resume=args.resume, device=device)
    print(f"wrote {args.out}.safetensors (sha256 {card['sha256'][:12]}...) and {args.out}.json")
    return 0


def cmd_figure(args) -> int:
    from . import slides
    from .data import load_examples
    from .schedules import SCHEDULE_NAMES, ScheduleSpec

    fmt = args.out.suffix.lower().removeprefix(".")
    if fmt not in slides.FORMATS:
        raise ValueError(f"--out must end in .png, .svg or .pdf, got {str(args.out)!r}")
    if not args.out.parent.is_dir():
        raise ValueError(f"--out {str(args.out)!r}: the folder {str(args.out.parent)!r} does not exist")
    if args.what == "samples" and args.n > MAX_FIGURE_SAMPLES:
        raise ValueError(f"--n must be at most {MAX_FIGURE_SAMPLES} for a figure, got {args.n}")
    if args.guidance is not None and args.label is None:
        raise ValueError("--guidance needs --label: guidance steers towards a class")
    if args.what == "forward":
        spec = ScheduleSpec(args.schedule, args.num_steps)
        t = args.t or tuple(sorted({round(f * spec.num_steps) for f in (0, 0.05, 0.25, 0.5, 1.0)}))
        if max(t) > spec.num_steps:
            raise ValueError(f"--t must lie in [0, {spec.num_steps}] (T), got {max(t)}")
        images, _ = load_examples()
        if args.digit >= len(images):
            raise ValueError(f"--digit must lie in [0, {len(images) - 1}], got {args.digit}")
        figure = slides.forward_strip(images[args.digit], spec, t, args.seed)
    elif args.what == "schedules":
        figure = slides.schedule_curves({name: ScheduleSpec(name, args.num_steps) for name in SCHEDULE_NAMES},
                                        args.curve)
    else:
        figure = _reverse_figure(args)
    check_writable(args.out)
    args.out.write_bytes(slides.save(figure, fmt))
    print(f"wrote the {args.what} figure to {args.out}")
    return 0


def _reverse_figure(args):
    """The reverse strip or the sample grid, from the pretrained model."""
    from . import slides
    from .data import to_pixels
    from .samplers import ReverseProcess, SamplerConfig, initial_noise
    from .schedules import ScheduleSpec

    device = pick_device(args.device)
    model, card = _pixel_model(args, device)
    schedule = ScheduleSpec.from_dict(card["schedule"]).build()
    if args.t and max(args.t) > schedule.num_steps:
        raise ValueError(f"--t must lie in [0, {schedule.num_steps}] (the model's T), got {max(args.t)}")
    steps = args.steps or (schedule.num_steps if args.sampler == "ddpm" else 50)
    guidance = DEFAULT_GUIDANCE if args.guidance is None else args.guidance
    config = SamplerConfig(args.sampler, steps=steps, guidance=guidance if args.label is not None else 1.0)
    process = ReverseProcess(schedule, config)
    count = args.n if args.what == "samples" else 1
    gen = torch.Generator().manual_seed(args.seed)
    labels = None if args.label is None else torch.full((count,), args.label, dtype=torch.long, device=device)
    what = "unconditional" if args.label is None else f"label {args.label}, guidance w = {guidance:g}"
    settings = f"{args.sampler}, {steps} steps, {what}, seed {args.seed}"
    x_start = initial_noise(count, gen).to(device)
    if args.what == "samples":
        x = process.sample(model, x_start, gen, labels=labels, null_label=model.null_label)
        return slides.sample_grid(to_pixels(x[:, 0]), settings)
    run = process.sample(model, x_start, gen, labels=labels, null_label=model.null_label, record=True)
    if args.show == "x_t":  # xs[k] is the state at run.t[k]; the last one is x_0
        states, state_t = run.xs[:, 0, 0], np.append(run.t.numpy(), 0)
    else:
        states, state_t = run.x0[:, 0, 0], run.t.numpy()
    picked = slides.states_near(state_t, args.t)  # the recorded state nearest each t
    return slides.trajectory_strip(to_pixels(states[picked]), state_t[picked], settings,
                                   what="x_t" if args.show == "x_t" else "x̂_0")


def cmd_export(args) -> int:
    from .engine import ensure_onnx, export_is_current, onnx_path
    from .pretrained import load_diffusion_model

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


def cmd_download(args) -> int:
    directory = download_mnist(args.data_dir, args.url)
    print(f"MNIST is in {directory}: pass --data-dir {directory} or set MNIST_DIR={directory}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"info": cmd_info, "sample": cmd_sample, "bench": cmd_bench, "train": cmd_train,
                "train-classifier": cmd_train, "train-autoencoder": cmd_train, "train-latent": cmd_train,
                "download": cmd_download, "figure": cmd_figure, "export": cmd_export}
    try:
        return handlers[args.command](args)
    except (ValueError, DataError, PretrainedError) as exc:
        print(f"python -m diffusion_core {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
