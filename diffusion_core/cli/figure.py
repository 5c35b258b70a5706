"""`figure`: the pages' main views as PNG, SVG or PDF for slides (diffusion_core/slides.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..pretrained import DEVICE_CHOICES, pick_device
from ..samplers import DEFAULT_GUIDANCE
from ..train import check_writable
from .args import add_engine_argument, finite_float, int_at_least, pixel_model, t_list

FIGURES = ("forward", "schedules", "reverse", "samples")  # the views the command line draws
MAX_FIGURE_SAMPLES = 256  # a grid on one slide


def add_parsers(sub) -> None:
    from ..samplers import SAMPLERS
    from ..schedules import DEFAULT_NUM_STEPS, SCHEDULE_NAMES
    from ..slides import CURVES

    figure = sub.add_parser("figure", help="a page's view as a figure for slides (.png, .svg or .pdf)")
    figure.add_argument("what", choices=FIGURES)
    figure.add_argument("--out", type=Path, required=True, help="the file; its suffix (.png, .svg, .pdf) is the format")
    figure.add_argument("--t", type=t_list, default=None,
                        help="paper t, comma-separated (t = 0 is x_0); forward default 0,5%%,25%%,50%%,100%% of T")
    figure.add_argument("--seed", type=int_at_least(0), default=0)
    figure.add_argument("--schedule", choices=SCHEDULE_NAMES, default="linear", help="forward: the beta schedule")
    figure.add_argument("--T", type=int_at_least(1), default=DEFAULT_NUM_STEPS, dest="num_steps",
                        help="forward, schedules: the number of steps T")
    figure.add_argument("--curve", choices=CURVES, default="alpha_bar", help="schedules: the curve drawn")
    figure.add_argument("--digit", type=int_at_least(0), default=0, help="forward: which shipped example digit")
    figure.add_argument("--sampler", choices=SAMPLERS, default="ddim", help="reverse, samples")
    figure.add_argument("--steps", type=int_at_least(1), default=None,
                        help="reverse steps (default: 50, or T for ddpm)")
    figure.add_argument("--label", type=int, choices=range(10), metavar="{0..9}", default=None)
    figure.add_argument("--guidance", type=finite_float, default=None, help="w, needs --label")
    figure.add_argument("--n", type=int_at_least(1), default=16,
                        help=f"samples: number of digits (1-{MAX_FIGURE_SAMPLES})")
    figure.add_argument("--show", choices=("x_t", "x0"), default="x_t", help="reverse: the states or the predicted x0")
    figure.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    add_engine_argument(figure)
    figure.set_defaults(handler=cmd_figure)


def cmd_figure(args) -> int:
    from .. import slides
    from ..data import load_examples
    from ..schedules import SCHEDULE_NAMES, ScheduleSpec

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
    from .. import slides
    from ..data import to_pixels
    from ..samplers import ReverseProcess, SamplerConfig, initial_noise
    from ..schedules import ScheduleSpec

    device = pick_device(args.device)
    model, card = pixel_model(args, device)
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
