"""The latent model's unconditional quality over several noise seeds: how far one 1,000-digit figure moves.

    python3 bench/latent_seeds.py                    # the shipped model, seeds 0 to 4
    python3 bench/latent_seeds.py --seeds 0 1 2 --directory /path/to/other/pretrained

For each seed, `--n` unconditional DDIM digits (the same draw as `bench quality --model latent --seed S`)
and their classifier confidence, class entropy and Fréchet distance, printed as JSON with the mean.
Measures, asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from diffusion_core.data import load_mnist, to_model_space  # noqa: E402
from diffusion_core.latent import generate, load_latent_diffusion  # noqa: E402
from diffusion_core.pretrained import PRETRAINED_DIR, load_classifier  # noqa: E402
from diffusion_core.quality import evaluate  # noqa: E402
from diffusion_core.schedules import ScheduleSpec  # noqa: E402

FIGURES = ("mean_confidence", "class_entropy", "frechet_distance")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n", type=int, default=1000, help="unconditional digits a seed")
    parser.add_argument("--steps", type=int, default=100, help="DDIM steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--directory", type=Path, default=PRETRAINED_DIR,
                        help="where the latent model and its autoencoder are")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    classifier, _ = load_classifier()
    test = to_model_space(load_mnist("test", args.data_dir)[0])
    real = to_model_space(load_mnist("train", args.data_dir)[0][:1000])
    model, card, _ = load_latent_diffusion(directory=args.directory)
    schedule = ScheduleSpec.from_dict(card["schedule"]).build()
    rows = {}
    for seed in args.seeds:
        report = evaluate(model, classifier, schedule, test, real, n_uncond=args.n, n_per_class=1, steps=args.steps,
                          guidances=(), n_ddpm=0, seed=seed, device=torch.device("cpu"), draw=generate,
                          log=lambda line: print(line, file=sys.stderr))
        rows[seed] = {k: report[f"unconditional_ddim{args.steps}"][k] for k in FIGURES}
        print(f"seed {seed}: {rows[seed]}", file=sys.stderr)
    mean = {k: round(sum(r[k] for r in rows.values()) / len(rows), 4) for k in FIGURES}
    print(json.dumps({"model": card["sha256"][:12], "n": args.n, "steps": args.steps, "seeds": rows, "mean": mean},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
