"""`bench quality` (sample quality, the steps table, latent beside pixel) and `bench speed`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from ..data import load_mnist
from ..pretrained import DEVICE_CHOICES, DIFFUSION_MODEL, LATENT_MODEL, pick_device
from ..train import check_writable
from .args import DATA_DIR_HELP, MODEL_CHOICES, add_engine_argument, cpu_name, finite_float, int_at_least


def add_parsers(sub) -> None:
    bench = sub.add_parser("bench", help="measure the pretrained model: sample quality, or speed")
    bench.add_argument("what", choices=("quality", "speed"))
    bench.add_argument("--data-dir", type=Path, default=None, help=DATA_DIR_HELP)
    bench.add_argument("--n-uncond", type=int_at_least(0), default=1000, help="unconditional DDIM digits (0 skips)")
    bench.add_argument("--n-real", type=int_at_least(10), default=1000,
                       help="real training digits for the Frechet floor")
    bench.add_argument("--n-per-class", type=int_at_least(1), default=100)
    bench.add_argument("--steps", type=int_at_least(1), default=100, help="DDIM steps")
    bench.add_argument("--guidances", type=finite_float, nargs="*", default=[1.0, 2.0, 4.0])
    bench.add_argument("--n-ddpm", type=int_at_least(0), default=300,
                       help="digits for the 1000-step DDPM run (0 skips)")
    bench.add_argument("--seed", type=int_at_least(0), default=0)
    bench.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    bench.add_argument("--threads", type=int_at_least(1), default=None, help="torch CPU threads")
    bench.add_argument("--repeats", type=int_at_least(3), default=30, help="speed: timings per figure (median)")
    bench.add_argument("--no-peer", action="store_true", help="speed: skip the diffusers peer")
    bench.add_argument("--compile", action="store_true", help="speed: also time torch.compile (minutes on a CPU)")
    bench.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    bench.add_argument("--update-card", action="store_true", help="store the report in the model card")
    bench.add_argument("--steps-table", action="store_true",
                       help="quality: only the steps table (DDIM, DPM-Solver++(2M), Heun at 10, 20, 50 steps: "
                            "--n-uncond digits unconditional, --n-per-class labelled at w = 2), as quality.steps_table")
    bench.add_argument("--model", choices=MODEL_CHOICES, default="pixel",
                       help="quality: latent diffusion, beside the pixel model's card figures and both models' cost")
    add_engine_argument(bench)
    bench.set_defaults(handler=cmd_bench)


def cmd_bench(args) -> int:
    if args.out:
        check_writable(args.out)  # before minutes of measuring, not after
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.what == "speed":
        if args.model == "latent":
            raise ValueError("--model latent: bench speed measures the pixel model; "
                             "bench quality --model latent times both models side by side")
        return _speed(args)
    from ..data import to_model_space
    from ..engine import for_sampling
    from ..pretrained import load_classifier, load_diffusion_model, paths_for, read_card
    from ..quality import evaluate, generate
    from ..schedules import ScheduleSpec

    device = pick_device(args.device)
    pixel_model, card = load_diffusion_model(device=device)  # torch: compare_cost counts its FLOPs
    model, pixel_card, draw = for_sampling(pixel_model, card, DIFFUSION_MODEL, device, args.engine), card, generate
    if args.model == "latent":
        from ..latent import generate as draw
        from ..latent import load_latent_diffusion

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
        from ..latent import compare_cost

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


def _speed(args) -> int:
    from ..engine import ensure_onnx, for_sampling
    from ..pretrained import load_diffusion_model
    from ..schedules import ScheduleSpec
    from ..speed import benchmark

    device = pick_device(args.device)
    model, card = load_diffusion_model(device=device)
    eps_engine = None if device.type != "cpu" else for_sampling(model, card, DIFFUSION_MODEL, device, "onnxruntime")
    schedule = ScheduleSpec.from_dict(card["schedule"]).build()
    report = benchmark(model, schedule, device, eps_engine, peer=not args.no_peer, repeats=args.repeats,
                       compile_too=args.compile, log=lambda line: print(line, file=sys.stderr),
                       openvino_path=None if eps_engine is None else ensure_onnx(model, card, DIFFUSION_MODEL))
    report["torch"] = torch.__version__
    report["cpu"] = cpu_name()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


def _steps_table(args, model, classifier, schedule, test_images, real, device) -> int:
    """bench quality --steps-table: stored as quality.steps_table, with the command and date, leaving the rest."""
    import datetime
    import time

    from ..pretrained import paths_for, read_card
    from ..quality import steps_table

    if args.model != "pixel":
        raise ValueError("--steps-table measures the pixel model; drop --model latent")
    if args.n_uncond < 2:
        raise ValueError(f"--steps-table needs --n-uncond >= 2 for the Frechet distance, got {args.n_uncond}")
    started = time.perf_counter()
    table = steps_table(model, classifier, schedule, test_images, real, n_uncond=args.n_uncond,
                        n_per_class=args.n_per_class, seed=args.seed, device=device,
                        log=lambda line: print(line, file=sys.stderr))
    table.update(seed=args.seed, engine=args.engine, device=str(device),
                 cpu=cpu_name() if device.type == "cpu" else None,
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
