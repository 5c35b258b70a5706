"""What the commands' flags share: the parser that errs in one line, the value types, the engine flag."""
from __future__ import annotations

import argparse
from pathlib import Path

MODEL_CHOICES = ("pixel", "latent")  # the U-Net on pixels, or latent diffusion (autoencoder + U-Net on its latents)
DATA_DIR_HELP = "MNIST IDX files (default $MNIST_DIR or ../shared/data/mnist)"


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + error
        self.exit(2, f"{self.prog}: error: {message}\n")


def int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    return parse


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def t_list(text: str) -> tuple[int, ...]:
    """Paper t's, comma-separated (t = 0 is x_0)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 0 separated by commas, got {text!r}") from None
    if min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 0 (the paper's t), got {text!r}")
    return values


def add_engine_argument(parser) -> None:
    from ..engine import DEFAULT_ENGINE, ENGINES

    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                        help=f"what runs the pixel U-Net on a CPU (default {DEFAULT_ENGINE}; CUDA always runs torch)")


def pixel_model(args, device):
    """The pixel U-Net and its card, as the chosen engine runs it (engine.for_sampling)."""
    from ..engine import for_sampling
    from ..pretrained import DIFFUSION_MODEL, load_diffusion_model

    model, card = load_diffusion_model(device=device)
    return for_sampling(model, card, DIFFUSION_MODEL, device, args.engine), card


def cpu_name() -> str:
    """The CPU's model name, for benchmark records."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"
